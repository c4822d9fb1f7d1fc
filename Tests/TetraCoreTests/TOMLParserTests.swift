import Foundation
import XCTest
@testable import TetraCore

/// Parser errors, limits, serializer output and JSON output.
final class TOMLParserTests: XCTestCase {
    func parseError(_ text: String, line: UInt = #line) -> String? {
        parseError(bytes: Array(text.utf8), line: line)
    }

    func parseError(bytes: [UInt8], line: UInt = #line) -> String? {
        do {
            _ = try TOMLParser.parse(bytes: bytes, file: "t.toml")
            XCTFail("expected a parse error", line: line)
            return nil
        } catch let e as ConfigError {
            XCTAssertEqual(e.exitCode, .invalidConfig, line: line)
            XCTAssertNotNil(e.problems.first?.position, line: line)
            return e.message
        } catch {
            XCTFail("unexpected error \(error)", line: line)
            return nil
        }
    }

    func testErrorMessages() {
        XCTAssertEqual(parseError("[ports]\nweb = 1\n\napi = 1\napi = 2\n"), "t.toml:5:1: duplicate key 'api' (first defined at 4:1)")
        XCTAssertEqual(parseError("name \"x\"\n"), "t.toml:1:6: expected '=' after key 'name', found '\"'")
        XCTAssertEqual(parseError("s = \"a\\xb\"\n"), "t.toml:1:7: invalid escape '\\x' in string")
        XCTAssertEqual(parseError("[a]\nx = 1\n[a]\n"), "t.toml:3:1: table 'a' is already defined (at 1:1)")
        XCTAssertEqual(parseError("a = {x = 1}\na.y = 2\n"),
                       "t.toml:2:1: cannot add 'a.y': 'a' is an inline table (defined at 1:1), which cannot be extended")
        XCTAssertEqual(parseError("a = [1]\n[[a]]\n"),
                       "t.toml:2:3: cannot define array of tables 'a': 'a' is already an array (defined at 1:1)")
        XCTAssertEqual(parseError("[a.b]\nx = 1\n[a]\nb.y = 2\n"),
                       "t.toml:4:1: cannot add 'b.y' with dotted keys: table 'b' is defined by a [table] header (at 1:1)")
        XCTAssertEqual(parseError("x = 1 2\n"), "t.toml:1:7: expected a newline after the value, found '2'")
        XCTAssertEqual(parseError("x = hello\n"), "t.toml:1:5: invalid value 'hello' (strings must be quoted)")
        XCTAssertEqual(parseError("x = 0123\n"), "t.toml:1:5: invalid number '0123': leading zeros are not allowed")
        XCTAssertEqual(parseError("x = 1__0\n"), "t.toml:1:5: invalid number '1__0': underscores must be between digits")
        XCTAssertEqual(parseError("x = 9223372036854775808\n"), "t.toml:1:5: integer '9223372036854775808' is out of range (64-bit signed)")
        XCTAssertEqual(parseError("d = 2023-02-29\n"), "t.toml:1:5: invalid date '2023-02-29': day out of range for the month")
        XCTAssertEqual(parseError("t = 24:00:00\n"), "t.toml:1:5: invalid time '24:00:00': hour must be 00 to 23")
        XCTAssertEqual(parseError("s = \"abc\n"), "t.toml:1:9: unterminated string (opened at 1:5)")
        XCTAssertEqual(parseError("s = \"\"\"abc\n\n"), "t.toml:3:1: unterminated multi-line string (opened at 1:5)")
        XCTAssertEqual(parseError("a = [1,\n2\n"), "t.toml:3:1: unterminated array (opened at 1:5)")
        XCTAssertEqual(parseError("a = {x = 1,}\n"), "t.toml:1:12: trailing comma is not allowed in an inline table")
        XCTAssertEqual(parseError("a = {x = 1\n}\n"), "t.toml:1:11: newlines are not allowed in inline tables")
        XCTAssertEqual(parseError("# bell \u{7}\n"), "t.toml:1:8: control character U+0007 is not allowed in a comment")
        XCTAssertEqual(parseError("a = 1\r\r\n"), "t.toml:1:6: bare carriage return (expected a newline)")
        XCTAssertEqual(parseError(bytes: [0x61, 0x20, 0x3D, 0x20, 0x22, 0xC3, 0x28, 0x22, 0x0A]), "t.toml:1:6: invalid UTF-8 byte 0xC3")
        XCTAssertEqual(parseError("[a]]\n"), "t.toml:1:4: expected a newline after the table header, found ']'")
        XCTAssertEqual(parseError("a.\n"), "t.toml:1:3: expected a key after '.', found newline")
        XCTAssertEqual(parseError("\"\"\"k\"\"\" = 1\n"), "t.toml:1:1: multi-line strings cannot be used as keys")
    }

    func testDeepNestingIsAnErrorNotACrash() {
        let n = 10_000
        XCTAssertEqual(parseError("a = " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "\n")?
            .hasSuffix("nesting too deep (more than 512 levels)"), true)
        XCTAssertEqual(parseError("a = " + String(repeating: "{b=", count: n) + "1" + String(repeating: "}", count: n) + "\n")?
            .contains("nesting too deep"), true)
        XCTAssertEqual(parseError("a = " + String(repeating: "[{b=", count: n) + "\n")?.contains("nesting too deep"), true)
        XCTAssertEqual(parseError("[" + Array(repeating: "a", count: n).joined(separator: ".") + "]\n")?
            .contains("too many parts"), true)
        XCTAssertEqual(parseError(Array(repeating: "a", count: n).joined(separator: ".") + " = 1\n")?
            .contains("too many parts"), true)
        // Nested through headers and dotted keys together.
        let half = Array(repeating: "a", count: 400).joined(separator: ".")
        XCTAssertEqual(parseError("[\(half)]\n\(half) = 1\n")?.contains("too deeply"), true)
        // Below the limit: fine, and everything downstream copes.
        let ok = "a = " + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "\n"
        let t = try? TOMLParser.parse(ok)
        XCTAssertNotNil(t)
        if let t {
            XCTAssertEqual(try? TOMLParser.parse(TOMLSerializer.serialize(t)), t)
            XCTAssertEqual(try? TOMLTaggedJSON.decode(TOMLTaggedJSON.encode(t)), t)
        }
    }

    func testValuesAndEdgeCases() throws {
        let t = try TOMLParser.parse("""
        int = +1_000
        hex = 0xDEAD_beef
        oct = 0o755
        bin = 0b1101
        min = -9223372036854775808
        flt = 6.626e-34
        neg0 = -0.0
        inf = -inf
        nan = +nan
        lit = 'C:\\path'
        ml = \"\"\"
        a \\
          b\"\"\"
        uni = "\\u00E9\\U0001F600"
        odt = 1979-05-27 07:32:00.123456789z
        ld = 1979-05-27
        lt = 00:32:00.5
        leap = 2000-02-29T00:00:60
        "quoted key" = 1
        '' = 2
        """)
        XCTAssertEqual(t["int"], .integer(1000))
        XCTAssertEqual(t["hex"], .integer(0xDEADBEEF))
        XCTAssertEqual(t["oct"], .integer(0o755))
        XCTAssertEqual(t["bin"], .integer(13))
        XCTAssertEqual(t["min"], .integer(.min))
        XCTAssertEqual(t["flt"], .float(6.626e-34))
        XCTAssertEqual(t["neg0"]?.doubleValue?.sign, .minus)
        XCTAssertEqual(t["inf"], .float(-.infinity))
        XCTAssertEqual(t["nan"]?.doubleValue?.isNaN, true)
        XCTAssertEqual(t["lit"], .string("C:\\path"))
        XCTAssertEqual(t["ml"], .string("a b"))
        XCTAssertEqual(t["uni"], .string("é😀"))
        XCTAssertEqual(t["odt"]?.dateTimeValue, TOMLDateTime(date: .init(year: 1979, month: 5, day: 27),
                                                              time: .init(hour: 7, minute: 32, second: 0, fraction: "123456789"),
                                                              offsetMinutes: 0))
        XCTAssertEqual(t["ld"]?.dateTimeValue?.kind, .localDate)
        XCTAssertEqual(t["lt"]?.dateTimeValue?.time?.fraction, "5")
        XCTAssertEqual(t["leap"]?.dateTimeValue?.time?.second, 60)
        XCTAssertEqual(t["quoted key"], .integer(1))
        XCTAssertEqual(t[""], .integer(2))
        XCTAssertEqual(t.keys.first, "int")
    }

    /// Short ASCII keys and strings are built directly in the small-string form; they must
    /// be indistinguishable from ordinary strings (equality, hashing, bytes, appending).
    func testShortStringsAreOrdinaryStrings() throws {
        XCTAssertTrue(_SmallASCII.works)
        for len in 0...16 {
            let word = String("abcdefghijklmnopq".prefix(len))
            let text = (len > 0 ? "\(word) = 1\n" : "") + "s\(len) = \"\(word)\"\nl\(len) = '\(word)'\n"
            let t = try TOMLParser.parse(text)
            var dict: [String: Int] = [:]
            for k in t.keys { dict[k] = 1 }
            if len > 0 {
                XCTAssertEqual(dict[word], 1)
                XCTAssertEqual(t[word], .integer(1))
            }
            let s = try XCTUnwrap(t["s\(len)"]?.stringValue)
            XCTAssertEqual(s, word)
            XCTAssertEqual(s.hashValue, word.hashValue)
            XCTAssertEqual(Array(s.utf8), Array(word.utf8))
            XCTAssertEqual(s + "!", word + "!")
            XCTAssertEqual(t["l\(len)"]?.stringValue, word)
        }
        // At the very end of the input (no bytes to read past the key).
        XCTAssertEqual(try TOMLParser.parse("[t]\nab = 1")["t"]?.tableValue?["ab"], .integer(1))
        XCTAssertEqual(try TOMLParser.parse("x = 'é'\ny = \"ab\"")["x"], .string("é"))
    }

    func testLargeTablesUseTheIndex() throws {
        var text = "[t]\n"
        for i in 0..<2000 { text += "k\(i) = \(i)\n" }
        let t = try TOMLParser.parse(text)
        let inner = try XCTUnwrap(t["t"]?.tableValue)
        XCTAssertEqual(inner.count, 2000)
        XCTAssertEqual(inner["k1999"], .integer(1999))
        XCTAssertNil(inner["k2000"])
        XCTAssertEqual(parseError(text + "k1500 = 1\n"), "t.toml:2002:1: duplicate key 'k1500' (first defined at 1502:1)")
        var copy = inner
        copy["k5"] = nil
        XCTAssertNil(copy["k5"])
        XCTAssertEqual(copy["k6"], .integer(6))
        copy["new"] = .boolean(true)
        XCTAssertEqual(copy["new"], .boolean(true))
        XCTAssertNotEqual(copy, inner)
        // Equality does not depend on order.
        var a = TOMLTable(), b = TOMLTable()
        for i in 0..<20 { a["x\(i)"] = .integer(Int64(i)) }
        for i in (0..<20).reversed() { b["x\(i)"] = .integer(Int64(i)) }
        XCTAssertEqual(a, b)
    }

    // MARK: serializer

    func testSerializerOutput() throws {
        var t = TOMLTable()
        t["title"] = .string("q\"uote\\ tab\t nl\n del\u{7F} bell\u{7} zwsp\u{200B} é")
        t["path"] = .string("C:\\dir")
        t["key with space"] = .integer(1)
        t[""] = .boolean(false)
        t["f"] = .array([.float(1), .float(-0.0), .float(1e300), .float(5e-324), .float(.infinity), .float(-.infinity), .float(.nan), .float(0.1)])
        t["dt"] = .array([
            .datetime(TOMLDateTime(date: .init(year: 1979, month: 5, day: 27), time: .init(hour: 7, minute: 32, second: 0), offsetMinutes: -420)),
            .datetime(TOMLDateTime(date: .init(year: 1, month: 1, day: 1), time: nil, offsetMinutes: nil)),
            .datetime(TOMLDateTime(date: nil, time: .init(hour: 0, minute: 0, second: 0, fraction: "25"), offsetMinutes: nil)),
        ])
        t["mixed"] = .array([.integer(1), .table(TOMLTable([("a", .integer(1))])), .array([.table(TOMLTable())])])
        t["empty"] = .table(TOMLTable())
        t["srv"] = .table(TOMLTable([("name", .string("x")), ("sub", .table(TOMLTable([("z", .integer(1))])))]))
        t["only_sub"] = .table(TOMLTable([("inner", .table(TOMLTable([("k", .integer(2))])))]))
        t["aot"] = .array([.table(TOMLTable([("n", .integer(1))])), .table(TOMLTable([("m", .table(TOMLTable([("deep", .boolean(true))])))]))])
        t["noarr"] = .array([])
        let text = TOMLSerializer.serialize(t)
        XCTAssertEqual(text, """
        title = "q\\"uote\\\\ tab\\t nl\\n del\\u007F bell\\u0007 zwsp\\u200B é"
        path = 'C:\\dir'
        "key with space" = 1
        "" = false
        f = [1.0, -0.0, 1e+300, 5e-324, inf, -inf, nan, 0.1]
        dt = [1979-05-27T07:32:00-07:00, 0001-01-01, 00:00:00.25]
        mixed = [1, { a = 1 }, [{}]]
        noarr = []

        [empty]

        [srv]
        name = "x"

        [srv.sub]
        z = 1

        [only_sub.inner]
        k = 2

        [[aot]]
        n = 1

        [[aot]]

        [aot.m]
        deep = true

        """)
        XCTAssertEqual(try TOMLParser.parse(text), t)
        XCTAssertEqual(TOMLSerializer.formatValue(.table(TOMLTable([("a.b", .integer(1))]))), "{ \"a.b\" = 1 }")
        XCTAssertEqual(TOMLSerializer.formatKeyPath(["a", "b c", "d"]), "a.\"b c\".d")
    }

    func testSerializerRoundTripsStrings() throws {
        var samples: [String] = ["", "'", "\"", "\\", "'\\'", "a'b\\c", "\u{0}\u{1F}\u{7F}\u{80}\u{9F}", "\u{FEFF}x\u{2028}\u{2029}",
                                 "\r\n", "🙂", "\u{10FFFF}", "\u{E000}"]
        for c in 0..<0x80 { samples.append(String(UnicodeScalar(UInt8(c)))) }
        for s in samples {
            var t = TOMLTable()
            t[s] = .string(s)
            let text = TOMLSerializer.serialize(t)
            XCTAssertEqual(try TOMLParser.parse(text), t, text)
            XCTAssertFalse(text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F }, text)
        }
    }

    // MARK: JSON

    func testPlainJSON() throws {
        let t = try TOMLParser.parse("""
        b = "x\\"y\\u0001\\n"
        a = 1
        [t]
        f = 1.5
        n = nan
        d = 1979-05-27T07:32:00Z
        arr = [true, [], {}]
        e = {}
        """)
        XCTAssertEqual(TOMLJSON.encode(t, pretty: false),
                       #"{"b":"x\"y\u0001\n","a":1,"t":{"f":1.5,"n":"nan","d":"1979-05-27T07:32:00Z","arr":[true,[],{}],"e":{}}}"#)
        XCTAssertEqual(TOMLJSON.encode(t, pretty: true), """
        {
          "b": "x\\"y\\u0001\\n",
          "a": 1,
          "t": {
            "f": 1.5,
            "n": "nan",
            "d": "1979-05-27T07:32:00Z",
            "arr": [
              true,
              [],
              {}
            ],
            "e": {}
          }
        }
        """)
        var chunks: [UInt8] = []
        TOMLJSON.write(t, pretty: true) { chunks.append(contentsOf: $0) }
        XCTAssertEqual(String(decoding: chunks, as: UTF8.self), TOMLJSON.encode(t, pretty: true))
        XCTAssertEqual(TOMLJSON.encode(TOMLTable(), pretty: true), "{}")
    }

    /// Strings of every length up to 40 with a special character at every position
    /// round-trip through the JSON writer (which copies clean runs 8 bytes at a time).
    func testJSONStringEscapingAtWordBoundaries() throws {
        let specials: [Character] = ["\"", "\\", "\n", "\u{1}", "\u{7F}", "é", "😀"]
        for len in 0...40 {
            var samples = [String(repeating: "a", count: len)]
            for pos in 0..<max(len, 1) {
                for sp in specials {
                    var chars = Array(repeating: Character("b"), count: max(len, 1))
                    chars[pos] = sp
                    samples.append(String(chars))
                }
            }
            for sample in samples {
                var t = TOMLTable()
                t[sample] = .string(sample)
                for pretty in [false, true] {
                    let json = TOMLJSON.encode(t, pretty: pretty)
                    let parsed = try _JSONReader.parse(json)
                    XCTAssertEqual(parsed, .object([(sample, .string(sample))]), json)
                }
            }
        }
    }

    func testStreamingJSONOfALargeTable() throws {
        var text = "[ports]\n"
        for i in 0..<20_000 { text += "svc\(i) = \(i)  # c\n" }
        let t = try TOMLParser.parse(text)
        var out: [UInt8] = []
        var calls = 0
        TOMLJSON.write(t, pretty: false) { calls += 1; out.append(contentsOf: $0) }
        XCTAssertGreaterThan(calls, 1)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), TOMLJSON.encode(t, pretty: false))
    }

    func testTaggedJSON() throws {
        let t = try TOMLParser.parse("a = 1\nb = [1.5, 'x']\n[c]\nd = 1979-05-27\nt = 07:00:00\nl = 1979-05-27T00:00:00\no = 1979-05-27T00:00:00+01:30\nx = true\n")
        XCTAssertEqual(TOMLTaggedJSON.encode(t), #"{"a":{"type":"integer","value":"1"},"b":[{"type":"float","value":"1.5"},{"type":"string","value":"x"}],"c":{"d":{"type":"date-local","value":"1979-05-27"},"t":{"type":"time-local","value":"07:00:00"},"l":{"type":"datetime-local","value":"1979-05-27T00:00:00"},"o":{"type":"datetime","value":"1979-05-27T00:00:00+01:30"},"x":{"type":"bool","value":"true"}}}"#)
        XCTAssertEqual(try TOMLTaggedJSON.decode(TOMLTaggedJSON.encode(t, pretty: true)), t)
        XCTAssertThrowsError(try TOMLTaggedJSON.decode(#"{"a": {"type": "integer", "value": "x"}}"#)) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "a: tagged JSON: invalid integer 'x'")
        }
        XCTAssertThrowsError(try TOMLTaggedJSON.decode("{\"a\": \n [1,]}")) { e in
            XCTAssertEqual((e as? ConfigError)?.problems.first?.position, SourcePosition(line: 2, column: 5))
        }
        XCTAssertEqual(try TOMLTaggedJSON.decode(#"{"s": {"type": "string", "value": "\ud83d\ude00\u00e9"}}"#)["s"], .string("😀é"))
    }

    // MARK: fuzz regressions

    /// Inputs found by scripts/fuzz-toml.sh; each must satisfy the fuzzer's invariants.
    static let fuzzCrashers: [[UInt8]] = [
        // Large table (index) + inline table value: the key's index hash was computed
        // after the value had re-entered the key parser.
        [
            0x5B, 0x73, 0x65, 0x63, 0x74, 0x69, 0x6F, 0x6E, 0x5D, 0x23, 0x61, 0x74, 0x74, 0x61, 0x63, 0x68,
            0x65, 0x64, 0x20, 0x63, 0x6F, 0x6D, 0x6D, 0x65, 0x6E, 0x74, 0x0A, 0x23, 0x5B, 0x6E, 0x6F, 0x74,
            0x73, 0x65, 0x63, 0x74, 0x69, 0x6F, 0x6E, 0x5D, 0x0A, 0x6F, 0x6E, 0x65, 0x20, 0x3D, 0x20, 0x22,
            0x31, 0x31, 0x22, 0x23, 0x63, 0x6D, 0x74, 0x0A, 0x74, 0x77, 0x6F, 0x20, 0x3D, 0x20, 0x22, 0x32,
            0x32, 0x23, 0x22, 0x0A, 0x74, 0x68, 0x72, 0x65, 0x65, 0x20, 0x3D, 0x20, 0x27, 0x23, 0x27, 0x0A,
            0x0A, 0x66, 0x6F, 0x75, 0x72, 0x20, 0x3D, 0x20, 0x22, 0x22, 0x22, 0x23, 0x20, 0x6E, 0x6F, 0x20,
            0x63, 0x6F, 0x6D, 0x6D, 0x65, 0x6E, 0x74, 0x0A, 0x23, 0x20, 0x6E, 0x6F, 0x72, 0x20, 0x74, 0x68,
            0x69, 0x73, 0x0A, 0x23, 0x31, 0x65, 0x31, 0x30, 0x61, 0x6C, 0x73, 0x6F, 0x20, 0x6E, 0x6F, 0x74,
            0x20, 0x63, 0x6F, 0x6D, 0x6D, 0x65, 0x6E, 0x74, 0x22, 0x22, 0x22, 0x23, 0x69, 0x73, 0x5F, 0x63,
            0x6F, 0x6D, 0x6D, 0x65, 0x6E, 0x74, 0x0A, 0x0A, 0x66, 0x33, 0x2E, 0x31, 0x34, 0x3D, 0x20, 0x30,
            0x78, 0x35, 0x23, 0x36, 0x36, 0x0A, 0x73, 0x69, 0x78, 0x20, 0x3D, 0x20, 0x36, 0x23, 0x37, 0x0A,
            0x38, 0x20, 0x3D, 0x20, 0x22, 0x65, 0x69, 0x67, 0x68, 0x74, 0x22, 0x0A, 0x23, 0x6E, 0x22, 0x23,
            0x21, 0x22, 0x20, 0x3D, 0x20, 0x22, 0x68, 0x61, 0x73, 0x68, 0x20, 0x62, 0x61, 0x6E, 0x67, 0x22,
            0x0A, 0x61, 0x72, 0x72, 0x33, 0x20, 0x3D, 0x20, 0x5B, 0x20, 0x22, 0x23, 0x22, 0x2C, 0x20, 0x27,
            0x23, 0x27, 0x2C, 0x20, 0x22, 0x22, 0x22, 0x23, 0x23, 0x23, 0x22, 0x22, 0x22, 0x20, 0x5D, 0x0A,
            0x61, 0x72, 0x72, 0x34, 0x20, 0x3D, 0x20, 0x5B, 0x20, 0x31, 0x2C, 0x23, 0x20, 0x39, 0x2C, 0x20,
            0x39, 0x2C, 0x0A, 0x32, 0x23, 0x2C, 0x39, 0x0A, 0x2C, 0x23, 0x39, 0x0A, 0x33, 0x23, 0x5D, 0x0A,
            0x2C, 0x34, 0x5D, 0x0A, 0x61, 0x72, 0x72, 0x35, 0x20, 0x3D, 0x20, 0x5B, 0x5B, 0x5B, 0x5B, 0x23,
            0x5B, 0x22, 0x23, 0x22, 0x5D, 0x2C, 0x0A, 0x5B, 0x22, 0x23, 0x22, 0x5D, 0x5D, 0x5D, 0x5D, 0x23,
            0x5D, 0x0A, 0x5D, 0x0A, 0x74, 0x62, 0x6C, 0x31, 0x20, 0x3D, 0x20, 0x7B, 0x20, 0x22, 0x23, 0x22,
            0x20, 0x3D, 0x20, 0x27, 0x7D, 0x23, 0x27, 0x7D, 0x23, 0x7D, 0x7D, 0x0A, 0x0A, 0x0A,
        ],
        // Removing the only dotted key also removes its implicit parent table.
        Array("23.01 = true\n".utf8),
    ]

    func testFuzzRegressions() throws {
        for input in Self.fuzzCrashers {
            let doc = try TOMLDocument(bytes: input)
            XCTAssertEqual(doc.renderBytes(), input)
            XCTAssertEqual(try TOMLParser.parse(bytes: input), doc.table)
            XCTAssertEqual(try TOMLParser.parse(TOMLSerializer.serialize(doc.table)), doc.table)
            XCTAssertEqual(try TOMLTaggedJSON.decode(TOMLTaggedJSON.encode(doc.table)), doc.table)
            for key in doc.table.keys {
                var d = doc
                _ = try d.remove([key])
                XCTAssertNil(d.table[key])
            }
        }
        var d = try TOMLDocument(bytes: Self.fuzzCrashers[1])
        XCTAssertTrue(try d.remove(["23", "01"]))
        XCTAssertEqual(d.render(), "")
    }
}
