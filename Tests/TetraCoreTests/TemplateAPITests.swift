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
