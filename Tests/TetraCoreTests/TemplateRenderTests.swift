import Foundation
import XCTest
@testable import TetraCore

final class TemplateRenderTests: TemplateTestCase {
    // MARK: Text and variables

    func testPlainTextIsCopiedExactly() throws {
        let text = "a = 1\n# ünïcødé ✓ { } }} {\n\r\n\ttab\n"
        XCTAssertEqual(try render(text), text)
        XCTAssertEqual(try render(""), "")
    }

    func testVariablesAndDottedPaths() throws {
        let c = ctx(["domain": .string("acme.example"),
                     "env": tbl(["name": .string("prod"), "target": .string("/srv")]),
                     "ports": tbl(["api": .integer(5001)])])
        XCTAssertEqual(try render("{{domain}}|{{ domain }}|{{  env.name\t}}|{{ ports.api }}|{{{ env.target }}}", c),
                       "acme.example|acme.example|prod|5001|/srv")
    }

    func testNoEscapingOfAnyKind() throws {
        let c = ctx(["v": .string("<a href=\"x\">&amp;'</a>\n{{ not a tag }}")])
        XCTAssertEqual(try render("{{ v }}", c), "<a href=\"x\">&amp;'</a>\n{{ not a tag }}")
    }

    func testBracketSegmentsAndArrayIndex() throws {
        let c = ctx(["hosts": tbl(["example.com": .string("1.2.3.4"), "a b": .string("x")]),
                     "list": strs("zero", "one")])
        XCTAssertEqual(try render("{{ hosts.[example.com] }} {{ hosts.[a b] }} {{ list.1 }} {{ list.[0] }}", c),
                       "1.2.3.4 x one zero")
    }

    func testValueFormatting() throws {
        let c = ctx(["i": .integer(42), "neg": .integer(-7), "zero": .integer(0), "big": .integer(Int64.max),
                     "f": .float(1.5), "two": .float(2.0), "tiny": .float(1e-7), "huge": .float(1e20),
                     "nz": .float(-0.0), "inf": .float(.infinity), "ninf": .float(-.infinity), "nan": .float(.nan),
                     "t": .boolean(true), "fa": .boolean(false)])
        XCTAssertEqual(try render("{{i}} {{neg}} {{zero}} {{big}}", c), "42 -7 0 9223372036854775807")
        XCTAssertEqual(try render("{{f}} {{two}} {{tiny}} {{huge}} {{nz}}", c), "1.5 2.0 1e-07 1e+20 -0.0")
        XCTAssertEqual(try render("{{inf}} {{ninf}} {{nan}}", c), "inf -inf nan")
        XCTAssertEqual(try render("{{t}} {{fa}}", c), "true false")
        // Shortest round-trip.
        XCTAssertEqual(try render("{{x}}", ctx(["x": .float(0.1)])), "0.1")
        XCTAssertEqual(try render("{{x}}", ctx(["x": .float(1.0 / 3.0)])), "0.3333333333333333")
    }

    func testDateTimeFormatting() throws {
        typealias D = TOMLDateTime
        let date = D.Date(year: 2026, month: 11, day: 21)
        let c = ctx([
            "utc": .datetime(D(date: date, time: .init(hour: 16, minute: 3, second: 1), offsetMinutes: 0)),
            "off": .datetime(D(date: date, time: .init(hour: 7, minute: 0, second: 0, fraction: "250"), offsetMinutes: -330)),
            "plus": .datetime(D(date: date, time: .init(hour: 7, minute: 0, second: 0), offsetMinutes: 60)),
            "local": .datetime(D(date: date, time: .init(hour: 7, minute: 5, second: 9), offsetMinutes: nil)),
            "day": .datetime(D(date: D.Date(year: 99, month: 1, day: 2), time: nil, offsetMinutes: nil)),
            "time": .datetime(D(date: nil, time: .init(hour: 0, minute: 32, second: 0, fraction: "999999"), offsetMinutes: nil)),
        ])
        XCTAssertEqual(try render("{{utc}}|{{off}}|{{plus}}|{{local}}|{{day}}|{{time}}", c),
                       "2026-11-21T16:03:01Z|2026-11-21T07:00:00.250-05:30|2026-11-21T07:00:00+01:00|2026-11-21T07:05:09|0099-01-02|00:32:00.999999")
    }

    // MARK: Conditionals

    func testIfElseUnless() throws {
        let c = ctx(["yes": .boolean(true), "no": .boolean(false)])
        XCTAssertEqual(try render("{{#if yes}}A{{/if}}{{#if no}}B{{/if}}", c), "A")
        XCTAssertEqual(try render("{{#if no}}A{{else}}B{{/if}}", c), "B")
        XCTAssertEqual(try render("{{#unless no}}A{{/unless}}{{#unless yes}}B{{else}}C{{/unless}}", c), "AC")
        XCTAssertEqual(try render("{{ #if yes }}spaces{{ /if }}", c), "spaces")
    }

    func testElseIfChains() throws {
        let src = "{{#if a}}A{{else if b}}B{{else unless c}}notC{{else}}other{{/if}}"
        func run(_ a: Bool, _ b: Bool, _ c: Bool) throws -> String {
            try render(src, ctx(["a": .boolean(a), "b": .boolean(b), "c": .boolean(c)]))
        }
        XCTAssertEqual(try run(true, true, true), "A")
        XCTAssertEqual(try run(false, true, true), "B")
        XCTAssertEqual(try run(false, false, false), "notC")
        XCTAssertEqual(try run(false, false, true), "other")
        // An {{else if}} after {{#each}}'s else branch.
        XCTAssertEqual(try render("{{#each xs}}x{{else if b}}none-b{{/each}}", ctx(["xs": .array([]), "b": .boolean(true)])), "none-b")
    }

    func testTruthiness() throws {
        let falsy: [TOMLValue] = [.boolean(false), .string(""), .integer(0), .float(0), .float(-0.0), .float(.nan), .array([]), .table(TOMLTable())]
        let truthy: [TOMLValue] = [.boolean(true), .string("0"), .string("false"), .string(" "), .integer(-1), .float(0.5),
                                   .array([.boolean(false)]), tbl(["a": .integer(0)]),
                                   .datetime(TOMLDateTime(date: .init(year: 1, month: 1, day: 1), time: nil, offsetMinutes: nil))]
        for v in falsy { XCTAssertEqual(try render("{{#if v}}T{{else}}F{{/if}}", ctx(["v": v])), "F", "\(v)") }
        for v in truthy { XCTAssertEqual(try render("{{#if v}}T{{else}}F{{/if}}", ctx(["v": v])), "T", "\(v)") }
        for v in falsy { XCTAssertEqual(try render("{{#unless v}}T{{else}}F{{/unless}}", ctx(["v": v])), "T", "\(v)") }
    }

    // MARK: each

    func testEachOverScalarsWithDataVariables() throws {
        let c = ctx(["xs": strs("a", "b", "c")])
        XCTAssertEqual(try render("{{#each xs}}{{@index}}={{.}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}};{{/each}}", c),
                       "0=a(first);1=b;2=c(last);")
        XCTAssertEqual(try render("{{#each xs}}{{this}}{{#unless @last}}, {{/unless}}{{/each}}", c), "a, b, c")
        XCTAssertEqual(try render("{{#each xs}}{{ @first }}/{{ @last }} {{/each}}", ctx(["xs": strs("x")])), "true/true ")
    }

    func testEachOverArrayOfTables() throws {
        let c = ctx(["upstreams": .array([tbl(["name": .string("api"), "port": .integer(5001)]),
                                          tbl(["name": .string("web"), "port": .integer(5002)])])])
        XCTAssertEqual(try render("{{#each upstreams}}{{name}}:{{port}}/{{./name}}/{{this.port}} {{/each}}", c),
                       "api:5001/api/5001 web:5002/web/5002 ")
    }

    func testEachOverTableKeepsOrderAndExposesKey() throws {
        let c = ctx(["ports": tbl(["web": .integer(80), "api": .integer(5001), "db": .integer(5432)])])
        XCTAssertEqual(try render("{{#each ports}}{{@index}}:{{@key}}={{.}} {{/each}}", c), "0:web=80 1:api=5001 2:db=5432 ")
        // Values that are tables: their fields resolve as bare names.
        let s = ctx(["services": tbl(["api": tbl(["port": .integer(1)]), "web": tbl(["port": .integer(2)])])])
        XCTAssertEqual(try render("{{#each services}}{{@key}}->{{port}}{{#unless @last}},{{/unless}}{{/each}}", s), "api->1,web->2")
    }

    func testEachElseBranch() throws {
        XCTAssertEqual(try render("{{#each xs}}x{{else}}empty{{/each}}", ctx(["xs": .array([])])), "empty")
        XCTAssertEqual(try render("{{#each t}}x{{else}}empty{{/each}}", ctx(["t": .table(TOMLTable())])), "empty")
        XCTAssertEqual(try render("{{#each xs}}{{.}}{{else}}empty{{/each}}", ctx(["xs": strs("a")])), "a")
    }

    func testNestedEachAndIf() throws {
        let c = ctx([
            "domain": .string("acme.example"),
            "sites": .array([
                tbl(["name": .string("www"), "paths": strs("/", "/static"), "tls": .boolean(true)]),
                tbl(["name": .string("api"), "paths": .array([]), "tls": .boolean(false)]),
            ]),
        ])
        let src = "{{#each sites}}[{{@index}} {{name}}.{{domain}}{{#if tls}} tls{{/if}}:{{#each paths}} {{../name}}{{.}}#{{@index}}{{else}} none{{/each}}]{{/each}}"
        XCTAssertEqual(try render(src, c), "[0 www.acme.example tls: www/#0 www/static#1][1 api.acme.example: none]")
    }

    func testScopeLookupGoesOutwardAndItemFieldsShadow() throws {
        let c = ctx(["name": .string("root-name"), "region": .string("eu"),
                     "outer": .array([tbl(["name": .string("o1"), "inner": .array([tbl(["id": .integer(1)]), tbl(["name": .string("i2")])])])])])
        let src = "{{#each outer}}{{#each inner}}{{name}}/{{region}}/{{../name}}/{{../../name}}/{{@root.name}} {{/each}}{{/each}}"
        XCTAssertEqual(try render(src, c), "o1/eu/o1/root-name/root-name i2/eu/o1/root-name/root-name ")
        // Scalar items are skipped by bare-name lookup.
        XCTAssertEqual(try render("{{#each xs}}{{region}}{{.}} {{/each}}", ctx(["region": .string("eu-"), "xs": strs("1", "2")])), "eu-1 eu-2 ")
        // `..` alone is the enclosing item.
        XCTAssertEqual(try render("{{#each xs}}{{#each ../ys}}{{..}}{{.}} {{/each}}{{/each}}",
                                  ctx(["xs": strs("a", "b"), "ys": strs("1", "2")])), "a1 a2 b1 b2 ")
    }

    func testDataVariablesReferToInnermostEach() throws {
        let c = ctx(["rows": .array([strs("a", "b"), strs("c")])])
        XCTAssertEqual(try render("{{#each rows}}{{#each .}}{{@index}}{{.}}{{/each}}|{{@index}};{{/each}}", c), "0a1b|0;0c|1;")
    }

    func testTemplateIsReusableAcrossRendersAndThreads() throws {
        let t = try Template(source: "{{#each xs}}{{.}}{{/each}}", name: "t")
        XCTAssertEqual(try t.render(ctx(["xs": strs("a")])), "a")
        XCTAssertEqual(try t.render(ctx(["xs": strs("b", "c")])), "bc")
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var ok = 0
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let context = TOMLTable([("xs", .array([.string("\(i)")]))])
            if (try? t.render(context)) == "\(i)" { results.lock.lock(); results.ok += 1; results.lock.unlock() }
        }
        XCTAssertEqual(results.ok, 8)
    }

    func testStaticConvenience() throws {
        XCTAssertEqual(try Template.render(source: "{{ a }}", name: "x", context: ctx(["a": .integer(1)])), "1")
    }
}
