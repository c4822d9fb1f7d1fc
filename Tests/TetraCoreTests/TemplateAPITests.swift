import XCTest
@testable import TetraCore

final class TemplateAPITests: TemplateTestCase {
    func testReferencedVariables() throws {
        let t = try Template(source: """
        {{ a }}{{#if b.c}}{{ ./d }}{{/if}}{{! {{ comment }} }}
        {{#each items}}{{ name }}{{ ../top }}{{ @root.r.x }}{{ . }}{{#each sub}}{{ ../../deep }}{{ ../notroot }}{{/each}}{{else}}{{ empty }}{{/each}}
        {{ @index }}{{> part}}{{#unless u}}{{/unless}}{{ @root }}{{ this }}
        """, name: "t")
        XCTAssertEqual(t.referencedVariables(), ["a", "b", "d", "deep", "empty", "items", "r", "top", "u"])
        XCTAssertEqual(t.referencedPartials(), ["part"])
    }

    func testUsedRootsTrackSecrets() throws {
        let c = ctx(["domain": .string("d"), "debug": .boolean(false),
                     "secrets": tbl(["KEY": .string("s3cr3t")]), "ports": tbl(["api": .integer(1)])])
        let t = try Template(source: "{{ domain }}{{#if debug}}{{ secrets.KEY }}{{/if}}", name: "t")
        let plain = try t.renderResult(c)
        XCTAssertEqual(plain.text, "d")
        XCTAssertEqual(plain.usedRoots, ["domain", "debug"])
        XCTAssertFalse(plain.usesSecrets)

        var on = c
        on["debug"] = .boolean(true)
        let secret = try t.renderResult(on)
        XCTAssertEqual(secret.text, "ds3cr3t")
        XCTAssertTrue(secret.usesSecrets)

        // Through each, partials, @root, and iterating the root itself.
        let each = try Template(source: "{{#each secrets}}{{@key}}{{/each}}", name: "t").renderResult(c)
        XCTAssertEqual(each.usedRoots, ["secrets"])
        let viaPartial = try Template(source: "{{> env}}", name: "t")
            .renderResult(c, partials: try TemplatePartials(sources: ["env": "DB={{ @root.secrets.KEY }}\n"]))
        XCTAssertEqual(viaPartial.text, "DB=s3cr3t\n")
        XCTAssertTrue(viaPartial.usesSecrets)
        XCTAssertEqual(viaPartial.usedPartials, ["env"])
        let all = try Template(source: "{{#each .}}{{@key}} {{/each}}", name: "t").renderResult(c)
        XCTAssertEqual(all.text, "domain debug secrets ports ")
        XCTAssertTrue(all.usesSecrets)
        // An item field is not a root name.
        let items = try Template(source: "{{#each list}}{{ secrets }}{{/each}}", name: "t")
            .renderResult(ctx(["list": .array([tbl(["secrets": .string("not really")])])]))
        XCTAssertEqual(items.usedRoots, ["list"])
    }

    func testTemplateKeepsNameAndSource() throws {
        let t = try Template(source: "x", name: "files/app.env.tmpl")
        XCTAssertEqual(t.name, "files/app.env.tmpl")
        XCTAssertEqual(t.source, "x")
        XCTAssertEqual(Template.maxPartialDepth, 32)
    }
}

final class TemplateValidateTests: TemplateTestCase {
    func testValidateReportsEveryProblemOnce() throws {
        let t = try Template(source: """
        host = {{ domian }}
        {{#each servers}}
        {{ name }}:{{ prot }}
        {{/each}}
        {{#if tls}}
        cert = {{ cert }}
        {{else}}
        plain = {{ env }}
        {{/if}}
        {{#each nothing}}{{ inside }}{{/each}}
        {{> missing}}
        {{> broken}}
        ok = {{ domain }}
        """, name: "app.conf.tmpl")
        let c = ctx(["domain": .string("d"), "env": tbl(["name": .string("prod")]),
                     "servers": .array([tbl(["name": .string("a"), "port": .integer(1)]), tbl(["name": .string("b"), "port": .integer(2)])])])
        let partials = TemplatePartials(names: ["mising", "broken"], lookup: { name in
            name == "broken" ? try Template(source: "{{#if x}}", name: "broken.tmpl") : nil
        })
        let problems = try t.validate(c, partials: partials)
        XCTAssertEqual(problems.map(\.description), [
            "app.conf.tmpl:1:8: undefined variable 'domian'; did you mean 'domain'?",
            "app.conf.tmpl:3:12: undefined variable 'prot'; did you mean 'port'?",
            "app.conf.tmpl:5:1: undefined variable 'tls'",
            "app.conf.tmpl:8:9: cannot render a table as text ('env'); use {{#each env}} ... {{/each}} or a field such as 'env.name'",
            "app.conf.tmpl:10:1: undefined variable 'nothing'",
            "app.conf.tmpl:11:1: undefined partial 'missing'; did you mean 'mising'?",
            "broken.tmpl:1:1: unclosed {{#if x}}: missing {{/if}}",
        ])
        // A template that renders has no problems.
        XCTAssertEqual(try Template(source: "{{ a }}", name: "t").validate(ctx(["a": .integer(1)])), [])
    }

    func testProviderErrorsThatAreNotConfigErrorsAreThrown() {
        struct Boom: Error {}
        let t = try? Template(source: "{{> p}}", name: "t")
        XCTAssertThrowsError(try t?.validate(TOMLTable(), partials: TemplatePartials(lookup: { _ in throw Boom() }))) { error in
            XCTAssertTrue(error is Boom)
        }
    }
}
