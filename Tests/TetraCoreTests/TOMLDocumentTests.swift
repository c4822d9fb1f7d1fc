import Foundation
import XCTest
@testable import TetraCore

/// Edits on commented, oddly formatted files: only the edited lines change.
final class TOMLDocumentTests: XCTestCase {
    static let registry = """
    # Port registry — edited by `tetra ports set`
       # (an indented comment)

    [ports]
    api      = 8080   # the public API
    "web.ui" = 3000
    db=5432#no spaces
      cache = 6379    # indented key

    [ranges]
    development = { start = 10000, end = 10999 }   # dev range
    staging     = {start=11000,end=11999}
    empty = {}

    [environments.dev]
    target = "/srv/acme/dev"                  # a local directory
    port_range = 'development'
    checks = [
        ["nginx", "-t"],   # syntax
        ["true"],
    ]
    hosts = [ "a", "b" ]
    tight = [1,2]
    desc = \"\"\"
    multi
    line\"\"\"

    [[backups]]
    name = "daily"
    keep = 7

    [[backups]]
    name = "weekly"
    keep = 4

    """

    func lines(_ s: String) -> [String] { s.components(separatedBy: "\n") }

    /// The lines that differ between two texts: (removed from old, added in new), found by
    /// trimming the common prefix and suffix.
    func changed(_ old: String, _ new: String) -> (removed: [String], added: [String]) {
        let a = lines(old), b = lines(new)
        var p = 0
        while p < a.count && p < b.count && a[p] == b[p] { p += 1 }
        var s = 0
        while s < a.count - p && s < b.count - p && a[a.count - 1 - s] == b[b.count - 1 - s] { s += 1 }
        return (Array(a[p..<(a.count - s)]), Array(b[p..<(b.count - s)]))
    }

    func assertEdit(_ text: String = registry, file: StaticString = #filePath, line: UInt = #line,
                    removed: [String], added: [String], _ edit: (inout TOMLDocument) throws -> Void) throws {
        var doc = try TOMLDocument(parsing: text, fileName: "ports.toml")
        try edit(&doc)
        let out = doc.render()
        let diff = changed(text, out)
        XCTAssertEqual(diff.removed, removed, "removed lines", file: file, line: line)
        XCTAssertEqual(diff.added, added, "added lines", file: file, line: line)
        // The result is valid TOML and equals the edited model.
        XCTAssertEqual(try TOMLParser.parse(out), doc.table, file: file, line: line)
    }

    func testUntouchedRenderIsByteIdentical() throws {
        let doc = try TOMLDocument(parsing: Self.registry)
        XCTAssertEqual(doc.render(), Self.registry)
        let crlf = Self.registry.replacingOccurrences(of: "\n", with: "\r\n")
        XCTAssertEqual(try TOMLDocument(parsing: crlf).render(), crlf)
    }

    // MARK: set

    func testReplaceValueKeepsKeyWhitespaceAndComment() throws {
        try assertEdit(removed: ["api      = 8080   # the public API"], added: ["api      = 9090   # the public API"]) {
            try $0.set(["ports", "api"], to: .integer(9090))
        }
        try assertEdit(removed: ["\"web.ui\" = 3000"], added: ["\"web.ui\" = 3001"]) {
            try $0.set(["ports", "web.ui"], to: .integer(3001))
        }
        try assertEdit(removed: ["db=5432#no spaces"], added: ["db=6543#no spaces"]) {
            try $0.set(["ports", "db"], to: .integer(6543))
        }
        try assertEdit(removed: ["port_range = 'development'"], added: ["port_range = \"staging\""]) {
            try $0.set(["environments", "dev", "port_range"], to: .string("staging"))
        }
    }

    func testReplaceMultiLineValue() throws {
        try assertEdit(removed: ["desc = \"\"\"", "multi", "line\"\"\""], added: ["desc = \"one line\""]) {
            try $0.set(["environments", "dev", "desc"], to: .string("one line"))
        }
        try assertEdit(removed: ["checks = [", "    [\"nginx\", \"-t\"],   # syntax", "    [\"true\"],", "]"],
                       added: ["checks = []"]) {
            try $0.set(["environments", "dev", "checks"], to: .array([]))
        }
    }

    func testInsertNewKeyAfterLastKeyWithSiblingIndentation() throws {
        try assertEdit(removed: [], added: ["  web = 8000"]) {
            try $0.set(["ports", "web"], to: .integer(8000))
        }
        try assertEdit(removed: [], added: ["owner = \"ops\""]) {
            try $0.set(["environments", "dev", "owner"], to: .string("ops"))
        }
        var doc = try TOMLDocument(parsing: Self.registry)
        try doc.set(["ports", "web"], to: .integer(8000))
        let ls = lines(doc.render())
        XCTAssertEqual(ls[ls.firstIndex(of: "  cache = 6379    # indented key")! + 1], "  web = 8000")
        try doc.set(["environments", "dev", "owner"], to: .string("ops"))
        let ls2 = lines(doc.render())
        XCTAssertEqual(ls2[ls2.firstIndex(of: "line\"\"\"")! + 1], "owner = \"ops\"")
    }

    func testInsertIntoArrayOfTablesElement() throws {
        var doc = try TOMLDocument(parsing: Self.registry)
        try doc.set(["backups", "0", "hour"], to: .integer(3))
        let ls = lines(doc.render())
        XCTAssertEqual(ls[ls.firstIndex(of: "keep = 7")! + 1], "hour = 3")
        XCTAssertEqual(doc.table[path: ["backups"]]?.arrayValue?[0].tableValue?["hour"], .integer(3))
        XCTAssertEqual(changed(Self.registry, doc.render()).removed, [])
    }

    func testCreateMissingTableAtEnd() throws {
        var doc = try TOMLDocument(parsing: Self.registry)
        try doc.set(["environments", "prod", "target"], to: .string("ssh://prod"))
        XCTAssertTrue(doc.render().hasSuffix("keep = 4\n\n[environments.prod]\ntarget = \"ssh://prod\"\n"), doc.render())
        XCTAssertEqual(changed(Self.registry, doc.render()).removed, [])

        var doc2 = try TOMLDocument(parsing: "a = 1")
        try doc2.set(["t", "k"], to: .boolean(true))
        XCTAssertEqual(doc2.render(), "a = 1\n\n[t]\nk = true\n")

        var doc3 = try TOMLDocument(parsing: "")
        try doc3.set(["t", "k"], to: .boolean(true))
        XCTAssertEqual(doc3.render(), "[t]\nk = true\n")

        var doc4 = try TOMLDocument(parsing: "")
        try doc4.set(["k"], to: .string("v"))
        XCTAssertEqual(doc4.render(), "k = \"v\"\n")
    }

    func testSetTableValueCreatesSections() throws {
        var doc = try TOMLDocument(parsing: "[a]\nx = 1\n")
        try doc.set(["a", "sub"], to: .table(TOMLTable([("k", .integer(1)), ("deep", .table(TOMLTable([("z", .boolean(false))])))])))
        XCTAssertEqual(doc.render(), "[a]\nx = 1\n\n[a.sub]\nk = 1\n\n[a.sub.deep]\nz = false\n")
    }

    func testInsertRootKeyBeforeFirstTable() throws {
        var doc = try TOMLDocument(parsing: "# file comment\n\n# about a\n[a]\nx = 1\n")
        try doc.set(["version"], to: .integer(2))
        XCTAssertEqual(doc.render(), "# file comment\n\nversion = 2\n\n# about a\n[a]\nx = 1\n")
        var doc2 = try TOMLDocument(parsing: "top = 1 # c\n\n[a]\nx = 1\n")
        try doc2.set(["second"], to: .integer(2))
        XCTAssertEqual(doc2.render(), "top = 1 # c\nsecond = 2\n\n[a]\nx = 1\n")
    }

    func testSetInsideInlineTable() throws {
        try assertEdit(removed: ["development = { start = 10000, end = 10999 }   # dev range"],
                       added: ["development = { start = 10000, end = 10998 }   # dev range"]) {
            try $0.set(["ranges", "development", "end"], to: .integer(10998))
        }
        try assertEdit(removed: ["staging     = {start=11000,end=11999}"],
                       added: ["staging     = {start=11000,end=11999, step = 2}"]) {
            try $0.set(["ranges", "staging", "step"], to: .integer(2))
        }
        try assertEdit(removed: ["empty = {}"], added: ["empty = { k = \"v\" }"]) {
            try $0.set(["ranges", "empty", "k"], to: .string("v"))
        }
        try assertEdit(removed: ["empty = {}"], added: ["empty = { a.b = 1 }"]) {
            try $0.set(["ranges", "empty", "a", "b"], to: .integer(1))
        }
    }

    func testSetWithDottedKeys() throws {
        let text = "[fruit]\napple.color = \"red\"   # shiny\n  apple.taste.sweet = true\nname = \"f\"\n\n[other]\nx = 1\n"
        try assertEdit(text, removed: ["apple.color = \"red\"   # shiny"], added: ["apple.color = \"green\"   # shiny"]) {
            try $0.set(["fruit", "apple", "color"], to: .string("green"))
        }
        try assertEdit(text, removed: [], added: ["  apple.size = 3"]) {
            try $0.set(["fruit", "apple", "size"], to: .integer(3))
        }
        try assertEdit(text, removed: [], added: ["  apple.taste.sour = false"]) {
            try $0.set(["fruit", "apple", "taste", "sour"], to: .boolean(false))
        }
        // Dotted keys at the root.
        try assertEdit("a.b = 1\n\n[t]\n", removed: [], added: ["a.c = 2"]) {
            try $0.set(["a", "c"], to: .integer(2))
        }
    }

    func testSetIntoNonTableIsAClearError() throws {
        var doc = try TOMLDocument(parsing: Self.registry, fileName: "ports.toml")
        XCTAssertThrowsError(try doc.set(["ports", "api", "x"], to: .integer(1))) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "ports.toml: ports.api.x: cannot set 'ports.api.x': 'ports.api' is an integer")
        }
        XCTAssertThrowsError(try doc.set(["environments", "dev", "hosts", "x"], to: .integer(1)))
        XCTAssertEqual(doc.render(), Self.registry)
    }

    func testReplaceValueOfDifferentShape() throws {
        // A header table replaced by a scalar: the section goes, the key is inserted.
        var doc = try TOMLDocument(parsing: "a = 1\n\n[b]\nx = 1\n\n[c]\ny = 2\n")
        try doc.set(["b"], to: .integer(5))
        XCTAssertEqual(doc.table, try TOMLParser.parse("a = 1\nb = 5\n[c]\ny = 2\n"))
        XCTAssertEqual(doc.render(), "a = 1\nb = 5\n\n[c]\ny = 2\n")
        // A table replaced by a table: keys are set and removed individually.
        var doc2 = try TOMLDocument(parsing: "[b]\nx = 1 # keep\ny = 2\n")
        try doc2.set(["b"], to: .table(TOMLTable([("x", .integer(1)), ("z", .integer(3))])))
        XCTAssertEqual(doc2.render(), "[b]\nx = 1 # keep\nz = 3\n")
    }

    // MARK: remove

    func testRemoveKeyLine() throws {
        try assertEdit(removed: ["\"web.ui\" = 3000"], added: []) {
            XCTAssertTrue(try $0.remove(["ports", "web.ui"]))
        }
        try assertEdit(removed: ["checks = [", "    [\"nginx\", \"-t\"],   # syntax", "    [\"true\"],", "]"], added: []) {
            XCTAssertTrue(try $0.remove(["environments", "dev", "checks"]))
        }
        try assertEdit(removed: ["desc = \"\"\"", "multi", "line\"\"\""], added: []) {
            XCTAssertTrue(try $0.remove(["environments", "dev", "desc"]))
        }
        var doc = try TOMLDocument(parsing: Self.registry)
        XCTAssertFalse(try doc.remove(["ports", "nope"]))
        XCTAssertFalse(try doc.remove(["nope", "nope"]))
        XCTAssertEqual(doc.render(), Self.registry)
    }

    func testRemoveInsideInlineTableAndArray() throws {
        try assertEdit(removed: ["development = { start = 10000, end = 10999 }   # dev range"],
                       added: ["development = { end = 10999 }   # dev range"]) {
            try $0.remove(["ranges", "development", "start"])
        }
        try assertEdit(removed: ["staging     = {start=11000,end=11999}"], added: ["staging     = {start=11000}"]) {
            try $0.remove(["ranges", "staging", "end"])
        }
        try assertEdit(removed: ["hosts = [ \"a\", \"b\" ]"], added: ["hosts = [ \"b\" ]"]) {
            try $0.remove(["environments", "dev", "hosts", "0"])
        }
        try assertEdit(removed: ["    [\"true\"],"], added: []) {
            try $0.remove(["environments", "dev", "checks", "1"])
        }
    }

    func testRemoveTableSections() throws {
        var doc = try TOMLDocument(parsing: "a = 1\n\n# about b\n[b]\nx = 1\n\n[b.c]\ny = 2\n\n[d]\nz = 3\n")
        XCTAssertTrue(try doc.remove(["b"]))
        XCTAssertEqual(doc.render(), "a = 1\n\n[d]\nz = 3\n")
        var doc2 = try TOMLDocument(parsing: Self.registry)
        XCTAssertTrue(try doc2.remove(["backups", "1"]))
        XCTAssertTrue(doc2.render().hasSuffix("[[backups]]\nname = \"daily\"\nkeep = 7\n"), doc2.render())
        XCTAssertEqual(doc2.table[path: ["backups"]]?.arrayValue?.count, 1)
    }

    // MARK: append

    func testAppendKeepsArrayStyle() throws {
        try assertEdit(removed: ["hosts = [ \"a\", \"b\" ]"], added: ["hosts = [ \"a\", \"b\", \"c\" ]"]) {
            try $0.append(["environments", "dev", "hosts"], .string("c"))
        }
        try assertEdit(removed: ["tight = [1,2]"], added: ["tight = [1,2,3]"]) {
            try $0.append(["environments", "dev", "tight"], .integer(3))
        }
        try assertEdit(removed: [], added: ["    [\"x\", \"y\"],"]) {
            try $0.append(["environments", "dev", "checks"], .array([.string("x"), .string("y")]))
        }
        // No trailing comma: a comma is added to the last element, then a new line.
        try assertEdit("a = [\n  1,\n  2  # two\n]\n", removed: ["  2  # two"], added: ["  2,  # two", "  3"]) {
            try $0.append(["a"], .integer(3))
        }
        try assertEdit("a = []\n", removed: ["a = []"], added: ["a = [1]"]) {
            try $0.append(["a"], .integer(1))
        }
    }

    func testAppendToArrayOfTables() throws {
        var doc = try TOMLDocument(parsing: Self.registry)
        try doc.append(["backups"], .table(TOMLTable([("name", .string("monthly")), ("keep", .integer(12))])))
        XCTAssertEqual(changed(Self.registry, doc.render()).removed, [])
        XCTAssertTrue(doc.render().hasSuffix("keep = 4\n\n[[backups]]\nname = \"monthly\"\nkeep = 12\n"), doc.render())
        // In the middle of a document: before the next section.
        var doc2 = try TOMLDocument(parsing: "[[b]]\nx = 1\n\n[c]\ny = 2\n")
        try doc2.append(["b"], .table(TOMLTable([("x", .integer(2))])))
        XCTAssertEqual(doc2.render(), "[[b]]\nx = 1\n\n[[b]]\nx = 2\n\n[c]\ny = 2\n")
        XCTAssertThrowsError(try doc2.append(["c", "y"], .integer(1)))
    }

    // MARK: tables

    func testAddTable() throws {
        var doc = try TOMLDocument(parsing: "[a.b]\nx = 1\n")
        try doc.addTable(["a"])        // implicit: gets a header
        XCTAssertEqual(doc.render(), "[a.b]\nx = 1\n\n[a]\n")
        try doc.addTable(["a"])        // now defined: no change
        try doc.addTable(["a", "b"])
        XCTAssertEqual(doc.render(), "[a.b]\nx = 1\n\n[a]\n")
        try doc.addTable(["n", "m"])
        XCTAssertEqual(doc.render(), "[a.b]\nx = 1\n\n[a]\n\n[n.m]\n")
        XCTAssertThrowsError(try doc.addTable(["a", "b", "x"]))
        var doc2 = try TOMLDocument(parsing: "t = {}\n")
        try doc2.addTable(["t", "u"])
        XCTAssertEqual(doc2.render(), "t = { u = {} }\n")
    }

    // MARK: misc

    func testEditsKeepCRLF() throws {
        var doc = try TOMLDocument(parsing: "[a]\r\nx = 1\r\n")
        try doc.set(["a", "y"], to: .integer(2))
        try doc.set(["b", "z"], to: .integer(3))
        XCTAssertEqual(doc.render(), "[a]\r\nx = 1\r\ny = 2\r\n\r\n[b]\r\nz = 3\r\n")
    }

    func testEditsKeepBOM() throws {
        var doc = try TOMLDocument(parsing: "\u{FEFF}x = 1\n[a]\n")
        XCTAssertTrue(try doc.remove(["x"]))
        XCTAssertEqual(doc.render(), "\u{FEFF}[a]\n")
        try doc.set(["y"], to: .integer(1))
        XCTAssertEqual(doc.render(), "\u{FEFF}y = 1\n\n[a]\n")
    }

    func testPositions() throws {
        let doc = try TOMLDocument(parsing: Self.registry)
        XCTAssertEqual(doc.position(of: ["ports", "api"]), SourcePosition(line: 5, column: 12))
        XCTAssertEqual(doc.position(of: ["ports", "cache"]), SourcePosition(line: 8, column: 11))
        XCTAssertEqual(doc.position(of: ["ports"]), SourcePosition(line: 4, column: 1))
        XCTAssertEqual(doc.position(of: ["ranges", "development", "end"]), SourcePosition(line: 11, column: 38))
        XCTAssertEqual(doc.position(of: ["environments", "dev", "checks", "1"]), SourcePosition(line: 20, column: 5))
        XCTAssertEqual(doc.position(of: ["backups", "1"]), SourcePosition(line: 32, column: 1))
        XCTAssertEqual(doc.position(of: ["backups", "1", "keep"]), SourcePosition(line: 34, column: 8))
        XCTAssertEqual(doc.position(of: ["environments"]), SourcePosition(line: 15, column: 1))
        XCTAssertNil(doc.position(of: ["nope"]))
        // Columns count characters, not bytes.
        let d2 = try TOMLDocument(parsing: "\"é\" = \"ü\"\n")
        XCTAssertEqual(d2.position(of: ["é"]), SourcePosition(line: 1, column: 7))
    }

    func testLoadFromFileNamesTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("toml-doc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.toml").path
        try "a = 1 # c\n".write(toFile: good, atomically: true, encoding: .utf8)
        var doc = try TOMLDocument(contentsOfFile: good)
        XCTAssertEqual(doc.table["a"], .integer(1))
        XCTAssertEqual(doc.fileName, good)
        try doc.set(["a"], to: .integer(2))
        try doc.write(toFile: good)
        XCTAssertEqual(try String(contentsOfFile: good, encoding: .utf8), "a = 2 # c\n")

        let bad = dir.appendingPathComponent("bad.toml").path
        try "a = 1\nb = \n".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TOMLDocument(contentsOfFile: bad, displayName: "bad.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "bad.toml:2:5: expected a value, found end of line")
            XCTAssertEqual((e as? ConfigError)?.exitCode, .invalidConfig)
        }
        XCTAssertThrowsError(try TOMLDocument(contentsOfFile: dir.appendingPathComponent("missing.toml").path)) { e in
            XCTAssertEqual((e as? CoreError)?.exitCode, .notFound)
        }
        XCTAssertThrowsError(try TOMLDocument(contentsOfFile: dir.path)) { e in
            XCTAssertEqual((e as? ConfigError)?.exitCode, .invalidConfig)
        }
    }

    func testManyEditsInARow() throws {
        var doc = try TOMLDocument(parsing: Self.registry)
        for i in 0..<20 {
            try doc.set(["ports", "svc\(i)"], to: .integer(Int64(9000 + i)))
        }
        for i in stride(from: 0, to: 20, by: 2) {
            XCTAssertTrue(try doc.remove(["ports", "svc\(i)"]))
        }
        let diff = changed(Self.registry, doc.render())
        XCTAssertEqual(diff.removed, [])
        XCTAssertEqual(diff.added, stride(from: 1, to: 20, by: 2).map { "  svc\($0) = \(9000 + $0)" })
    }
}

extension TOMLDocumentTests {
    func testDataAndFileEntryPoints() throws {
        let text = "a = 1\n[t]\nb = 'x'\n"
        XCTAssertEqual(try TOMLParser.parse(data: Data(text.utf8)), try TOMLParser.parse(text))
        XCTAssertEqual(try TOMLDocument(data: Data(text.utf8)).render(), text)
        XCTAssertEqual(try TOMLParser.parse(data: Data()), TOMLTable())
        XCTAssertThrowsError(try TOMLParser.parse(data: Data("a = \n".utf8), file: "d.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "d.toml:1:5: expected a value, found end of line")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("toml-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try TOMLParser.parse(contentsOfFile: path), try TOMLParser.parse(text))
    }
}
