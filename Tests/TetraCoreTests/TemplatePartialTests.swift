import Foundation
import XCTest
@testable import TetraCore

final class TemplatePartialTests: TemplateTestCase {
    func testPartialSeesTheScopeOfItsTag() throws {
        let c = ctx(["domain": .string("acme.example"), "xs": .array([tbl(["name": .string("a")]), tbl(["name": .string("b")])])])
        XCTAssertEqual(try render("{{> head}}|{{#each xs}}{{> item}}{{/each}}", c,
                                  partials: ["head": "host={{domain}}", "item": "[{{@index}}:{{name}}@{{domain}}]"]),
                       "host=acme.example|[0:a@acme.example][1:b@acme.example]")
    }

    func testPartialNamesMayContainPathCharacters() throws {
        XCTAssertEqual(try render("{{> nginx/tls.conf }}", partials: ["nginx/tls.conf": "ok"]), "ok")
    }

    func testUndefinedPartial() {
        assertError("x\n {{> nope}}", partials: ["other": ""], "t.tmpl:2:2: undefined partial 'nope'")
        assertError("{{> nope}}", "t.tmpl:1:1: undefined partial 'nope' (no partials are available here)")
        assertError("{{>}}", partials: [:], "t.tmpl:1:1: missing partial name after '{{>'")
        assertError("{{> p ctx}}", partials: [:],
                    "t.tmpl:1:1: partial arguments are not supported: '{{> p ctx}}'; a partial sees the variables of the place it is included from")
    }

    func testErrorsInsideAPartialNameThePartialAndTheInclusion() {
        assertError("line\n  {{> p}}\n", partials: ["p": "ok\n{{ missing }}\n"],
                    "p:2:1: undefined variable 'missing' (in a partial included from t.tmpl:2:3)")
        assertError("x {{> p}}", partials: ["p": "{{ q }}"], "p:1:1: undefined variable 'q' (in a partial included from t.tmpl:1:3)")
        assertError("{{> a}}", partials: ["a": "{{> b}}", "b": "  {{ z }}"],
                    "b:1:3: undefined variable 'z' (in a partial included from a:1:1, t.tmpl:1:1)")
    }

    func testSyntaxErrorInALazilyLoadedPartial() {
        let provider = TemplatePartials(lookup: { name in
            try Template(source: "fine\n  {{#if x}}", name: "partials/\(name).tmpl")
        })
        XCTAssertThrowsError(try Template(source: "{{> broken}}", name: "t.tmpl").render(TOMLTable(), partials: provider)) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "partials/broken.tmpl:2:3: unclosed {{#if x}}: missing {{/if}}")
        }
        XCTAssertThrowsError(try TemplatePartials(sources: ["p": "{{ a"])) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "p:1:1: unterminated tag: '{{' without a matching '}}'")
        }
    }

    func testRecursionIsLimited() {
        XCTAssertThrowsError(try render("{{> loop}}", partials: ["loop": "x{{> loop}}"])) { error in
            let message = (error as? ConfigError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("loop:1:2: partials nested more than 32 levels deep (loop > loop > loop > ... > loop > loop > loop); does 'loop' include itself without an end?"), message)
            XCTAssertTrue(message.hasSuffix("(in a partial included from loop:1:2, loop:1:2, ..., t.tmpl:1:1)"), message)
        }
        // Mutual recursion too.
        XCTAssertThrowsError(try render("{{> a}}", partials: ["a": "{{> b}}", "b": "{{> a}}"])) { error in
            XCTAssertTrue(((error as? ConfigError)?.message ?? "").contains("a > b > a > ... > a > b > a"), "\(error)")
        }
    }

    func testRecursionThatEndsIsFine() throws {
        let tree = tbl(["name": .string("root"), "children": .array([
            tbl(["name": .string("a"), "children": .array([tbl(["name": .string("a1"), "children": .array([])])])]),
            tbl(["name": .string("b"), "children": .array([])]),
        ])])
        let node = "{{name}}{{#if children}}({{#each children}}{{> node}}{{#unless @last}},{{/unless}}{{/each}}){{/if}}"
        XCTAssertEqual(try render("{{> node}}", ctx(["name": .string("top"), "children": .array([tree])]), partials: ["node": node]),
                       "top(root(a(a1),b))")
    }

    func testProviderIsAskedOncePerNameAndRender() throws {
        final class Counting: TemplatePartialProvider, @unchecked Sendable {
            let lock = NSLock()
            var calls: [String] = []
            func partial(named name: String) throws -> Template? {
                lock.lock(); calls.append(name); lock.unlock()
                return try Template(source: "<{{.}}>", name: name)
            }
        }
        let provider = Counting()
        let t = try Template(source: "{{#each xs}}{{> p}}\n  {{> p}}\n{{/each}}", name: "t")
        XCTAssertEqual(try t.render(ctx(["xs": strs("1", "2", "3")]), partials: provider), "<1>\n  <1><2>\n  <2><3>\n  <3>")
        XCTAssertEqual(provider.calls, ["p"])
    }
}
