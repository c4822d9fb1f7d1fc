import Foundation
import XCTest
@testable import TetraCore

/// Typed decoding: exact error messages with file, key path and position; unknown keys
/// as warnings.
final class TOMLDecoderTests: XCTestCase {
    struct Registry: Decodable, Equatable {
        var ports: [String: Int]
    }

    struct Org: Decodable, Equatable {
        struct Info: Decodable, Equatable {
            var name: String
            var description: String?
        }
        struct Environment: Decodable, Equatable {
            var target: String
            var port_range: String?
            var promote_from: String?
            var protected: Bool?
            var keep_releases: Int?
            var checks: [[String]]?
            var vars: [String: String]?
        }
        var org: Info
        var vars: [String: Int]?
        var environments: TOMLOrderedDictionary<Environment>
    }

    static let orgText = """
    [org]
    name = "acme"
    description = "Acme web platform"

    [vars]                      # defaults for every environment
    replicas = 1

    [environments.dev]
    target = "/srv/acme/dev"                  # a local directory
    port_range = "development"                # a range in ports.toml

    [environments.staging]
    target = "ssh://deploy@staging.example.com:22/srv/acme"
    promote_from = "dev"
    vars = { domain = "staging.acme.example" }

    [environments.prod]
    target = "ssh://deploy@prod.example.com/srv/acme"
    promote_from = "staging"
    protected = true                           # promote/push/rollback need --approve
    keep_releases = 10
    checks = [["nginx", "-t", "-c", "{release}/nginx.conf"]]   # run by --validate

    """

    func decodeError<T: Decodable>(_ type: T.Type, _ text: String, file: String,
                                   line: UInt = #line) -> String? {
        do {
            let doc = try TOMLDocument(parsing: text, fileName: file)
            _ = try TOMLDecoder().decode(type, from: doc)
            XCTFail("expected an error", line: line)
            return nil
        } catch let e as ConfigError {
            XCTAssertEqual(e.exitCode, .invalidConfig, line: line)
            return e.message
        } catch {
            XCTFail("unexpected error \(error)", line: line)
            return nil
        }
    }

    func testDecodesTheSpecOrg() throws {
        let doc = try TOMLDocument(parsing: Self.orgText, fileName: "org.toml")
        let (org, warnings) = try TOMLDecoder().decode(Org.self, from: doc)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(org.org.name, "acme")
        XCTAssertEqual(org.vars, ["replicas": 1])
        XCTAssertEqual(org.environments.keys, ["dev", "staging", "prod"])
        XCTAssertEqual(org.environments["staging"]?.vars, ["domain": "staging.acme.example"])
        XCTAssertEqual(org.environments["prod"]?.protected, true)
        XCTAssertEqual(org.environments["prod"]?.keep_releases, 10)
        XCTAssertEqual(org.environments["prod"]?.checks, [["nginx", "-t", "-c", "{release}/nginx.conf"]])
        XCTAssertNil(org.environments["dev"]?.promote_from)
    }

    func testTypeMismatchNamesFileKeyPathAndPosition() {
        var text = ""
        for i in 1...10 { text += "# line \(i)\n" }
        text += "[ports]\napi   = \"8080\"\n"
        XCTAssertEqual(decodeError(Registry.self, text, file: "ports.toml"),
                       "ports.toml:12:9: ports.api: expected an integer, found a string")
    }

    func testMissingRequiredKeyPointsAtTheTable() {
        let text = "[org]\nname = \"acme\"\n[environments.dev]\nport_range = \"development\"\n"
        XCTAssertEqual(decodeError(Org.self, text, file: "org.toml"),
                       "org.toml:3:1: environments.dev: missing required key 'target'")
        XCTAssertEqual(decodeError(Org.self, "[environments]\n", file: "org.toml"),
                       "org.toml: missing required key 'org'")
        XCTAssertEqual(decodeError(Org.self, "org = { description = 'x' }\n[environments]\n", file: "org.toml"),
                       "org.toml:1:7: org: missing required key 'name'")
    }

    func testOtherTypeErrors() {
        struct S: Decodable {
            var small: UInt8?
            var flag: Bool?
            var ratio: Double?
            var list: [Int]?
            var sub: [String: String]?
            var when: Date?
        }
        XCTAssertEqual(decodeError(S.self, "small = 300\n", file: "s.toml"),
                       "s.toml:1:9: small: expected an integer between 0 and 255, found 300")
        XCTAssertEqual(decodeError(S.self, "flag = \"yes\"\n", file: "s.toml"),
                       "s.toml:1:8: flag: expected a boolean, found a string")
        XCTAssertEqual(decodeError(S.self, "ratio = 1979-05-27\n", file: "s.toml"),
                       "s.toml:1:9: ratio: expected a number, found a local date")
        XCTAssertEqual(decodeError(S.self, "list = [1, 2,\n  \"three\"]\n", file: "s.toml"),
                       "s.toml:2:3: list[2]: expected an integer, found a string")
        XCTAssertEqual(decodeError(S.self, "list = 5\n", file: "s.toml"),
                       "s.toml:1:8: list: expected an array, found an integer")
        XCTAssertEqual(decodeError(S.self, "[sub]\na = 1\n", file: "s.toml"),
                       "s.toml:2:5: sub.a: expected a string, found an integer")
        XCTAssertEqual(decodeError(S.self, "sub = [1]\n", file: "s.toml"),
                       "s.toml:1:7: sub: expected a table, found an array")
        XCTAssertEqual(decodeError(S.self, "when = 1979-05-27T07:32:00\n", file: "s.toml"),
                       "s.toml:1:8: when: expected a date-time with an offset, found a local date-time")
    }

    func testErrorsInArraysOfTables() {
        struct Backup: Decodable { var name: String; var keep: Int }
        struct B: Decodable { var backups: [Backup] }
        let text = "[[backups]]\nname = \"daily\"\nkeep = 7\n\n[[backups]]\nname = \"weekly\"\nkeep = \"4\"\n"
        XCTAssertEqual(decodeError(B.self, text, file: "b.toml"),
                       "b.toml:7:8: backups[1].keep: expected an integer, found a string")
        XCTAssertEqual(decodeError(B.self, "[[backups]]\nname = \"x\"\n", file: "b.toml"),
                       "b.toml:1:1: backups[0]: missing required key 'keep'")
    }

    func testModelErrorsGetPositions() {
        enum Mode: String, Decodable { case fast, safe }
        struct M: Decodable { var mode: Mode }
        let msg = decodeError(M.self, "\nmode = \"turbo\"\n", file: "m.toml")
        XCTAssertEqual(msg?.hasPrefix("m.toml:2:8: mode: "), true, msg ?? "")
        XCTAssertEqual(msg?.contains("turbo"), true, msg ?? "")

        struct V: Decodable {
            var port: Int
            init(from decoder: Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                port = try c.decode(Int.self, forKey: .port)
                guard (1...65535).contains(port) else {
                    throw DecodingError.dataCorruptedError(forKey: .port, in: c, debugDescription: "port must be 1-65535")
                }
            }
            enum CodingKeys: String, CodingKey { case port }
        }
        XCTAssertEqual(decodeError(V.self, "[x]\n", file: "v.toml"), "v.toml: missing required key 'port'")
        XCTAssertEqual(decodeError(V.self, "port = 70000\n", file: "v.toml"), "v.toml:1:8: port: port must be 1-65535")
    }

    func testUnknownKeysAreWarnings() throws {
        let text = """
        [org]
        name = "acme"
        colour = "red"

        [environments.dev]
        target = "/srv"
        tagret = "/typo"
        extra = { a = 1 }

        """
        let doc = try TOMLDocument(parsing: text, fileName: "org.toml")
        let (org, warnings) = try TOMLDecoder().decode(Org.self, from: doc)
        XCTAssertEqual(org.environments["dev"]?.target, "/srv")
        XCTAssertEqual(warnings.map(\.description), [
            "org.toml:3:1: org: unknown key 'colour'",
            "org.toml:7:1: environments.dev: unknown key 'tagret' (did you mean 'target'?)",
            "org.toml:8:1: environments.dev: unknown key 'extra'",
        ])
        XCTAssertEqual(warnings[1].position, SourcePosition(line: 7, column: 1))
        XCTAssertEqual(warnings[1].keyPath, "environments.dev")
    }

    func testDictionariesAndRawValuesDoNotWarn() throws {
        struct Loose: Decodable {
            var anything: TOMLValue
            var table: TOMLTable
            var map: [String: [Int]]
        }
        let doc = try TOMLDocument(parsing: "anything = { x = [1, { y = 2 }] }\ntable = { a = 1 }\n[map]\na = [1]\nb = []\n")
        let (v, warnings) = try TOMLDecoder().decode(Loose.self, from: doc)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(v.map, ["a": [1], "b": []])
        XCTAssertEqual(v.table["a"], .integer(1))
        XCTAssertEqual(v.anything.tableValue?["x"]?.arrayValue?.count, 2)
    }

    func testScalarsNumbersAndDates() throws {
        struct All: Decodable {
            var i: Int; var i8: Int8; var u16: UInt16; var i64: Int64; var u: UInt
            var d: Double; var f: Float; var fromInt: Double
            var s: String; var b: Bool
            var dt: TOMLDateTime; var date: Date; var local: TOMLDateTime
            var opt: String?; var arr: [Bool]; var nested: [[String: Int]]
        }
        let text = """
        i = -42
        i8 = -128
        u16 = 65535
        i64 = 9223372036854775807
        u = 0x10
        d = 1.5e3
        f = -0.25
        fromInt = 7
        s = 'x'
        b = true
        dt = 1979-05-27T07:32:00-07:00
        date = 1970-01-01T00:00:01.5Z
        local = 07:32:00
        arr = [true, false]
        nested = [{ a = 1 }, { b = 2 }]
        """
        let (v, w) = try TOMLDecoder().decode(All.self, from: try TOMLDocument(parsing: text))
        XCTAssertEqual(w, [])
        XCTAssertEqual(v.i, -42); XCTAssertEqual(v.i8, -128); XCTAssertEqual(v.u16, 65535)
        XCTAssertEqual(v.i64, .max); XCTAssertEqual(v.u, 16)
        XCTAssertEqual(v.d, 1500); XCTAssertEqual(v.f, -0.25); XCTAssertEqual(v.fromInt, 7)
        XCTAssertEqual(v.s, "x"); XCTAssertEqual(v.b, true)
        XCTAssertEqual(v.dt.offsetMinutes, -420)
        XCTAssertEqual(v.date.timeIntervalSince1970, 1.5)
        XCTAssertEqual(v.local.kind, .localTime)
        XCTAssertNil(v.opt)
        XCTAssertEqual(v.arr, [true, false])
        XCTAssertEqual(v.nested, [["a": 1], ["b": 2]])
    }

    func testDecodeFromTableAndSubPath() throws {
        let doc = try TOMLDocument(parsing: Self.orgText, fileName: "org.toml")
        let (dev, _) = try TOMLDecoder().decode(Org.Environment.self, from: doc, at: ["environments", "dev"])
        XCTAssertEqual(dev.target, "/srv/acme/dev")
        XCTAssertThrowsError(try TOMLDecoder().decode(Org.Environment.self, from: doc, at: ["environments", "qa"])) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "org.toml: environments.qa: missing required table 'environments.qa'")
        }
        // From a bare table: same messages without positions.
        XCTAssertThrowsError(try TOMLDecoder().decode(Registry.self, from: try TOMLParser.parse("[ports]\napi = true\n"), file: "p.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "p.toml: ports.api: expected an integer, found a boolean")
        }
    }
}
