import XCTest
@testable import TetraCore

final class TemplateErrorTests: TemplateTestCase {
    // MARK: Undefined variables

    func testUndefinedVariableHasPositionAndSuggestion() {
        let c = ctx(["domain": .string("acme.example"), "items": strs("a"),
                     "env": tbl(["name": .string("prod")]), "secrets": tbl(["DATABASE_URL": .string("x")])])
        assertError("[server]\nname = \"{{ domian }}\"\n", c, "t.tmpl:2:9: undefined variable 'domian'; did you mean 'domain'?")
        assertError("{{ zzz }}", c, "t.tmpl:1:1: undefined variable 'zzz'")
        assertError("x\n\n  {{ env.nmae }}", c, "t.tmpl:3:3: undefined variable 'env.nmae'; did you mean 'env.name'?")
        assertError("{{ secrets.database_url }}", c, "t.tmpl:1:1: undefined variable 'secrets.database_url'; did you mean 'secrets.DATABASE_URL'?")
        assertError("{{ env.name.first }}", c, "t.tmpl:1:1: undefined variable 'env.name.first': 'env.name' is a string, not a table")
        assertError("{{ items.5 }}", c, "t.tmpl:1:1: undefined variable 'items.5': 'items' is an array of 1 item, indexed from 0")
        assertError("{{ @root.envv.name }}", c, "t.tmpl:1:1: undefined variable '@root.envv'; did you mean '@root.env'?")
    }

    func testUndefinedIsAnErrorInBlocksToo() {
        let c = ctx(["items": .array([tbl(["name": .string("a")])])])
        assertError("a\n  {{#if enabled}}x{{/if}}", c, "t.tmpl:2:3: undefined variable 'enabled'")
        assertError("{{#unless enabled}}x{{/unless}}", c, "t.tmpl:1:1: undefined variable 'enabled'")
        assertError("{{#each itmes}}{{/each}}", c, "t.tmpl:1:1: undefined variable 'itmes'; did you mean 'items'?")
        // Inside an each, the item's fields are candidates as well.
        assertError("{{#each items}}{{ nmae }}{{/each}}", c, "t.tmpl:1:16: undefined variable 'nmae'; did you mean 'name'?")
        // An error in a branch that is not taken is not reported.
        XCTAssertEqual(try render("{{#if items}}ok{{else}}{{ nope }}{{/if}}", c), "ok")
    }

    func testColumnsCountCharactersNotBytes() {
        assertError("é✓ {{ x }}", "t.tmpl:1:4: undefined variable 'x'")
        assertError("a\r\n\t{{ x }}", "t.tmpl:2:2: undefined variable 'x'")
    }

    func testDataVariableErrors() {
        assertError("{{ @index }}", "t.tmpl:1:1: '@index' is only defined inside {{#each}}")
        assertError("{{#each xs}}{{@key}}{{/each}}", ctx(["xs": strs("a")]),
                    "t.tmpl:1:13: '@key' is only defined in {{#each}} over a table; this {{#each}} is over an array (use @index)")
        assertError("{{ @foo }}", "t.tmpl:1:1: unknown data variable '@foo'; known: @index, @key, @first, @last, @root")
        assertError("{{ @index.x }}", "t.tmpl:1:1: '@index' has no fields: '@index.x'")
        assertError("{{ ../x }}", ctx(["x": .integer(1)]), "t.tmpl:1:1: '../x' goes above the root context (only 0 enclosing {{#each}} here)")
    }

    // MARK: Values that cannot be rendered or iterated

    func testRenderingATableOrArrayIsAnError() {
        let c = ctx(["env": tbl(["name": .string("prod")]), "xs": strs("a")])
        assertError("ok\n {{ env }}", c, "t.tmpl:2:2: cannot render a table as text ('env'); use {{#each env}} ... {{/each}} or a field such as 'env.name'")
        assertError("{{ xs }}", c, "t.tmpl:1:1: cannot render an array as text ('xs'); use {{#each xs}} ... {{/each}}")
        assertError("{{ . }}", c, "t.tmpl:1:1: cannot render a table as text ('.'); use {{#each .}} ... {{/each}} or a field such as 'env'")
    }

    func testEachOverAScalarIsAnError() {
        assertError("{{#each n}}{{/each}}", ctx(["n": .integer(3)]),
                    "t.tmpl:1:1: cannot iterate over 'n': it is an integer; {{#each}} needs an array or a table")
    }

    // MARK: Block structure

    func testUnclosedBlockIsReportedAtTheOpeningTag() {
        let c = ctx(["x": .boolean(true), "xs": strs("a")])
        assertError("line\n\n  {{#if x}}\nbody\n", c, "t.tmpl:3:3: unclosed {{#if x}}: missing {{/if}}")
        assertError("{{#each xs}}{{#if x}}{{/if}}", c, "t.tmpl:1:1: unclosed {{#each xs}}: missing {{/each}}")
        assertError("{{#if x}}a{{else if xs}}b", c, "t.tmpl:1:1: unclosed {{#if x}}: missing {{/if}}")
        assertError("{{#unless x}}", c, "t.tmpl:1:1: unclosed {{#unless x}}: missing {{/unless}}")
    }

    func testMismatchedClose() {
        assertError("{{#if x}}\n{{/each}}", "t.tmpl:2:1: {{/each}} does not match {{#if x}} opened at 1:1; close it with {{/if}}")
        assertError("{{#each a}}{{#if b}}{{/each}}{{/if}}", "t.tmpl:1:21: {{/each}} does not match {{#if b}} opened at 1:12; close it with {{/if}}")
        assertError("x {{/if}}", "t.tmpl:1:3: {{/if}} without a matching {{#if}}")
        assertError("{{#if a}}{{/with}}", "t.tmpl:1:10: {{/with}} does not match {{#if a}} opened at 1:1; close it with {{/if}}")
        assertError("{{#if a}}{{/if a}}", "t.tmpl:1:10: unexpected 'a' in closing tag '{{/if}}'")
    }

    func testElseErrors() {
        assertError("{{else}}", "t.tmpl:1:1: {{else}} outside of a block")
        assertError("{{#if a}}{{else}}{{else}}{{/if}}", "t.tmpl:1:18: a second {{else}} in the {{#if}} block opened at 1:1")
        assertError("{{#if a}}{{else each b}}{{/if}}",
                    "t.tmpl:1:10: unexpected 'each b' after 'else'; only {{else}}, {{else if x}} and {{else unless x}} are supported")
    }

    func testUnknownHelpers() {
        assertError("{{#with x}}{{/with}}", "t.tmpl:1:1: unknown block helper '{{#with}}'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
        assertError("a {{ upper name }}",
                    "t.tmpl:1:3: unknown helper 'upper' in '{{ upper name }}': templates have no helpers, only variables, {{#if}}, {{#unless}}, {{#each}} and {{> partial}}")
        assertError("{{^x}}{{/x}}", "t.tmpl:1:1: '{{^' is not supported; use {{#unless x}} or {{else}}")
        assertError("{{& x}}", "t.tmpl:1:1: '{{&' is not supported; values are never escaped, write {{ x }}")
    }

    func testBlockArgumentErrors() {
        assertError("{{#if}}{{/if}}", "t.tmpl:1:1: {{#if}} needs a variable, e.g. {{#if name}}")
        assertError("{{#if a b}}{{/if}}", "t.tmpl:1:1: {{#if}} takes one variable, found 'a b'")
        assertError("{{#each xs as |x|}}{{/each}}",
                    "t.tmpl:1:1: block parameters ('as |x|') are not supported; inside {{#each}} use {{ . }}, {{ @index }} and {{ @key }}")
        assertError("{{#}}", "t.tmpl:1:1: missing block name after '{{#'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
    }

    // MARK: Lexical errors

    func testUnterminatedAndEmptyTags() {
        assertError("a\nb {{ name\n", "t.tmpl:2:3: unterminated tag: '{{' without a matching '}}'")
        assertError("{{ a }\n{{ b }}", "t.tmpl:1:1: unterminated tag: '{{' without a matching '}}' before the next '{{'")
        assertError("x{{ }}", "t.tmpl:1:2: empty tag '{{ }}': write a variable name between '{{' and '}}'")
        assertError("{{}}", "t.tmpl:1:1: empty tag '{{ }}': write a variable name between '{{' and '}}'")
        assertError("{{{ }}}", "t.tmpl:1:1: empty tag '{{{}}}': write a variable name inside")
        assertError("{{{ x }}", "t.tmpl:1:1: unterminated '{{{' (missing '}}}')")
        assertError("ok {{!-- x }}", "t.tmpl:1:4: unterminated comment '{{!--' (missing '--}}')")
        assertError("{{! x", "t.tmpl:1:1: unterminated comment '{{!' (missing '}}')")
        assertError("{{{{raw}}}} x", "t.tmpl:1:1: unclosed {{{{raw}}}} block: missing {{{{/raw}}}}")
        assertError("{{{{foo}}}}", "t.tmpl:1:1: unknown raw block '{{{{foo}}}}'; only {{{{raw}}}} ... {{{{/raw}}}} is supported")
    }

    func testInvalidVariableNames() {
        assertError("{{ a..b }}", "t.tmpl:1:1: invalid variable name 'a..b': a name is missing")
        assertError("{{ a. }}", "t.tmpl:1:1: invalid variable name 'a.': a name is missing after '.'")
        assertError("{{ $x }}", "t.tmpl:1:1: invalid variable name '$x': '$x' is not a name (letters, digits, '_' and '-'; use [ ] around other keys: a.[b c])")
        assertError("{{ a.[b }}", "t.tmpl:1:1: invalid variable name 'a.[b': missing ']'")
        assertError("{{ a/b }}", "t.tmpl:1:1: invalid variable name 'a/b': unexpected '/b' (letters, digits, '_' and '-'; use [ ] around other keys: a.[b c])")
    }

    func testParseErrorsAreThrownByInit() {
        XCTAssertThrowsError(try Template(source: "{{#if x}}", name: "app.env.tmpl")) { error in
            XCTAssertEqual((error as? ConfigError)?.problems.first?.file, "app.env.tmpl")
            XCTAssertEqual((error as? ConfigError)?.problems.first?.position, SourcePosition(line: 1, column: 1))
            XCTAssertEqual((error as? ConfigError)?.message, "app.env.tmpl:1:1: unclosed {{#if x}}: missing {{/if}}")
        }
    }
}
