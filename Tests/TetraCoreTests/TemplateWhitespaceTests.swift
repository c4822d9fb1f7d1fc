import XCTest
@testable import TetraCore

final class TemplateWhitespaceTests: TemplateTestCase {
    func testCleanTOMLFile() throws {
        let src = """
        # generated for {{ env.name }}
        [server]
        host = "{{ domain }}"
        port = {{ ports.api }}
        {{#if debug}}
        debug = true
        {{/if}}

        {{#each upstreams}}
        [[upstream]]
        name = "{{ name }}"
        {{#if weight}}
        weight = {{ weight }}
        {{/if}}
        {{#unless @last}}

        {{/unless}}
        {{/each}}
        {{! nothing after this comment line }}

        """
        let c = ctx(["env": tbl(["name": .string("prod")]), "domain": .string("acme.example"),
                     "ports": tbl(["api": .integer(5001)]), "debug": .boolean(false),
                     "upstreams": .array([tbl(["name": .string("a"), "weight": .integer(2)]),
                                          tbl(["name": .string("b"), "weight": .integer(0)])])])
        XCTAssertEqual(try render(src, c), """
        # generated for prod
        [server]
        host = "acme.example"
        port = 5001

        [[upstream]]
        name = "a"
        weight = 2

        [[upstream]]
        name = "b"

        """)
    }

    func testCleanNginxServerBlock() throws {
        let src = """
        server {
            listen 443 ssl;
            server_name {{ domain }}{{#each aliases}} {{ . }}{{/each}};

            {{#each locations}}
            location {{ path }} {
                proxy_pass http://127.0.0.1:{{ port }};
                {{#if websocket}}
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                {{/if}}
            }
            {{/each}}
            {{> tls}}
        }

        """
        let tls = """
        {{! TLS settings, shared by every server block }}
        ssl_certificate /etc/ssl/{{ domain }}/fullchain.pem;
        ssl_certificate_key /etc/ssl/{{ domain }}/key.pem;

        """
        let c = ctx(["domain": .string("acme.example"), "aliases": strs("www.acme.example"),
                     "locations": .array([tbl(["path": .string("/"), "port": .integer(5002), "websocket": .boolean(false)]),
                                          tbl(["path": .string("/ws"), "port": .integer(5003), "websocket": .boolean(true)])])])
        XCTAssertEqual(try render(src, c, partials: ["tls": tls]), """
        server {
            listen 443 ssl;
            server_name acme.example www.acme.example;

            location / {
                proxy_pass http://127.0.0.1:5002;
            }
            location /ws {
                proxy_pass http://127.0.0.1:5003;
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
            }
            ssl_certificate /etc/ssl/acme.example/fullchain.pem;
            ssl_certificate_key /etc/ssl/acme.example/key.pem;
        }

        """)
    }

    func testStandaloneLineRules() throws {
        let t = ctx(["x": .boolean(true), "v": .string("V")])
        // Indented block tags on their own lines vanish with their newline.
        XCTAssertEqual(try render("a\n  {{#if x}}\n  b\n  {{/if}}\nc\n", t), "a\n  b\nc\n")
        // At the start of the file, and on the last line without a newline.
        XCTAssertEqual(try render("{{#if x}}\nb\n{{/if}}", t), "b\n")
        XCTAssertEqual(try render("\t{{#if x}}  \nb\n {{/if}} ", t), "b\n")
        // CRLF line ends.
        XCTAssertEqual(try render("a\r\n  {{#if x}}\r\nb\r\n{{/if}}\r\nc\r\n", t), "a\r\nb\r\nc\r\n")
        // {{else}} on its own line.
        XCTAssertEqual(try render("{{#unless x}}\nno\n{{else}}\nyes\n{{/unless}}\n", t), "yes\n")
        // Two tags on one line, or a tag next to text: not standalone.
        XCTAssertEqual(try render("{{#if x}}{{/if}}\nz", t), "\nz")
        XCTAssertEqual(try render("a {{#if x}}\nb{{/if}} c\n", t), "a \nb c\n")
        // Variables are never standalone.
        XCTAssertEqual(try render("  {{ v }}\nz", t), "  V\nz")
        // Blank lines are kept.
        XCTAssertEqual(try render("a\n\n{{#if x}}\n\nb\n{{/if}}\n\n", t), "a\n\n\nb\n\n")
    }

    func testCommentsAndStandaloneComments() throws {
        XCTAssertEqual(try render("a{{! c }}b{{!c}}"), "ab")
        XCTAssertEqual(try render("a{{!-- has }} and {{ inside --}}b"), "ab")
        XCTAssertEqual(try render("a\n  {{! whole line }}\nb\n"), "a\nb\n")
        XCTAssertEqual(try render("a\n{{!--\n  several\n  lines }}\n--}}\nb\n"), "a\nb\n")
        XCTAssertEqual(try render("a {{! inline }} b\n"), "a  b\n")
        // A comment may mention an undefined variable: it is never evaluated.
        XCTAssertEqual(try render("{{! {{ nope }} }}x"), " }}x")
    }

    func testTrimMarkers() throws {
        let c = ctx(["v": .string("V"), "xs": strs("a", "b")])
        XCTAssertEqual(try render("a  \n  {{~ v ~}}  \n b", c), "aVb")
        XCTAssertEqual(try render("[{{#each xs~}}\n  {{.}}\n{{~/each}}]", c), "[ab]")
        XCTAssertEqual(try render("a \n{{~! c ~}}\n b", c), "ab")
        XCTAssertEqual(try render("a \n{{~!-- c --~}}\n b", c), "ab")
        XCTAssertEqual(try render("{{v~}}   x {{~ v}}", c), "VxV")
        XCTAssertEqual(try render("a\n{{{~ v ~}}}\nb", c), "aVb")
        // A tag with a trim marker is not standalone: only the marked side is trimmed.
        XCTAssertEqual(try render("x\n{{~#if v}}\ny\n{{/if}}\n", c), "x\ny\n")
    }

    func testLiteralBracesAndRawBlocks() throws {
        let c = ctx(["dir": .string("app"), "x": .string("X")])
        XCTAssertEqual(try render("\\{{ dir }} and \\{{#if}}", c), "{{ dir }} and {{#if}}")
        XCTAssertEqual(try render("C:\\\\{{ dir }}", c), "C:\\app")
        XCTAssertEqual(try render("a \\ b \\n {x} }} {", c), "a \\ b \\n {x} }} {")
        XCTAssertEqual(try render("{{{{raw}}}}{{ x }} {{#if}} \\{{ {{{{/raw}}}}!{{x}}", c), "{{ x }} {{#if}} \\{{ !X")
        XCTAssertEqual(try render("a\n{{{{raw}}}}\n{{ x }}\n{{{{/raw}}}}\nb\n", c), "a\n{{ x }}\nb\n")
    }

    func testStandalonePartialIsIndented() throws {
        let p = "a\n{{#if t}}\nb\n{{/if}}\n\nc\n"
        XCTAssertEqual(try render("begin\n  {{> p}}\nend\n", ctx(["t": .boolean(true)]), partials: ["p": p]),
                       "begin\n  a\n  b\n\n  c\nend\n")
        // Nested standalone partials add up their indentation.
        XCTAssertEqual(try render("root:\n  {{> p1}}\n", partials: ["p1": "x:\n  {{> p2}}\n", "p2": "y: 1\nz: 2\n"]),
                       "root:\n  x:\n    y: 1\n    z: 2\n")
        // Only the partial's own lines are indented, not multi-line values.
        XCTAssertEqual(try render("  {{> p}}\n", ctx(["v": .string("1\n2")]), partials: ["p": "|{{v}}|\n"]), "  |1\n2|\n")
        // A partial inside text is not standalone and not indented.
        XCTAssertEqual(try render("a {{> p}} b", partials: ["p": "X\nY"]), "a X\nY b")
        // The same partial at two indentations, in a loop.
        XCTAssertEqual(try render("{{#each xs}}\n  {{> p}}\n    {{> p}}\n{{/each}}\n", ctx(["xs": strs("1", "2")]), partials: ["p": "- {{.}}\n"]),
                       "  - 1\n    - 1\n  - 2\n    - 2\n")
    }
}
