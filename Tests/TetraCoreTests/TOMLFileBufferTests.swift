import Foundation
import XCTest
@testable import TetraCore

/// `TOMLParser.parse(contentsOfFile:)` releases the pages of large files behind the parser
/// (and reads them again for messages that look back): the results and the error messages
/// must be those of parsing the bytes.
final class TOMLFileBufferTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/tetra-tomlmap-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    enum Outcome: Equatable {
        case table(String)   // toml-test's typed JSON of the result
        case error(String)
    }

    func outcome(_ body: () throws -> TOMLTable) -> Outcome {
        do {
            return .table(TOMLTaggedJSON.encode(try body()))
        } catch let e as ConfigError {
            return .error(e.message)
        } catch {
            return .error("\(error)")
        }
    }

    /// Parses `path` through a file buffer released every `window` bytes; nil when the file is
    /// not read that way.
    func bufferOutcome(_ path: String, window: Int = _TOMLFileBuffer.pageSize, name: String) -> (Outcome, Int)? {
        guard let buffer = _TOMLFileBuffer.readIfLarge(path, minimumSize: 1, window: window) else { return nil }
        let result = outcome { try _TOMLParse.run(buffer: buffer, file: name) }
        return (result, buffer.releaseCount)
    }

    /// Every toml-test case, valid and invalid, gives the same table or the same message
    /// through a buffer released one page at a time as through the bytes.
    func testCorpusThroughReleasedBufferMatchesBytes() throws {
        let root = TOMLConformanceTests.corpusDir
        guard let list = try? String(contentsOfFile: root + "/files-toml-1.0.0", encoding: .utf8) else {
            throw XCTSkip("SKIPPED: toml-test corpus not found at \(root) (set TOML_TEST_DIR)")
        }
        var compared = 0
        var failures: [String] = []
        for rel in list.split(separator: "\n").map(String.init) where rel.hasSuffix(".toml") {
            let path = root + "/" + rel
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let expected = outcome { try TOMLParser.parse(bytes: bytes, file: rel) }
            guard let (got, _) = bufferOutcome(path, name: rel) else {
                XCTAssertTrue(bytes.isEmpty, "\(rel) was not read into a file buffer")
                continue
            }
            compared += 1
            if got != expected { failures.append("\(rel): \(got) != \(expected)") }
        }
        XCTAssertGreaterThan(compared, 500)
        XCTAssertEqual(failures, [])
    }

    /// A file several windows long: pages are released while parsing, and errors that point
    /// back to the start of the file (already released) still give the right line:column.
    func testLargeFileErrorsKeepTheirPositions() throws {
        var text = "[a]\nfirst = 1\n\n[ports]\n"
        var line = 4
        while text.utf8.count < 1_200_000 {
            text += "svc-\(line) = \(10000 + line)  # owner ünïcode-\(line % 17)\n"
            line += 1
        }
        let good = try write("good.toml", Array(text.utf8))
        let tail: [(String, String)] = [
            ("[a]\n", "table 'a' is already defined (at 1:1)"),
            ("[a]\nfirst = 2\n", "table 'a' is already defined (at 1:1)"),
            ("svc-5 = 1\n", "duplicate key 'svc-5' (first defined at 6:1)"),
            ("x = hello\n", "invalid value 'hello' (strings must be quoted)"),
            ("s = \"unterminated\n", "unterminated string (opened at \(line + 1):5)"),
        ]
        for (suffix, message) in tail {
            let path = try write("bad.toml", Array((text + suffix).utf8))
            let expected = outcome { try TOMLParser.parse(bytes: Array((text + suffix).utf8), file: "bad.toml") }
            guard case .error(let m) = expected else { return XCTFail("\(suffix) was accepted") }
            XCTAssertTrue(m.hasPrefix("bad.toml:\(line + 1):"), m)
            XCTAssertTrue(m.hasSuffix(message), m)
            // The public entry point (default window) and a one-page window.
            XCTAssertEqual(outcome { try TOMLParser.parse(contentsOfFile: path, displayName: "bad.toml") }, expected)
            let (got, releases) = try XCTUnwrap(bufferOutcome(path, name: "bad.toml"))
            XCTAssertEqual(got, expected)
            XCTAssertGreaterThan(releases, 100)
        }
        let expected = outcome { try TOMLParser.parse(bytes: Array(text.utf8), file: "good.toml") }
        XCTAssertEqual(outcome { try TOMLParser.parse(contentsOfFile: good) }, expected)
        let (got, releases) = try XCTUnwrap(bufferOutcome(good, window: _TOMLFileBuffer.defaultWindow, name: "good.toml"))
        XCTAssertEqual(got, expected)
        XCTAssertGreaterThan(releases, 4)
        guard case .table = got else { return XCTFail("the large file was rejected") }
    }

    /// Multi-byte characters across a page boundary, and an invalid byte in the second page.
    func testUTF8AcrossPages() throws {
        let page = _TOMLFileBuffer.pageSize
        for shift in 0..<4 {
            var text = "k = \""
            while text.utf8.count < page - 1 - shift { text += "a" }
            text += "€𝄞é\"\nz = 1\n"
            let bytes = Array(text.utf8)
            let path = try write("u\(shift).toml", bytes)
            let expected = outcome { try TOMLParser.parse(bytes: bytes, file: "u.toml") }
            guard case .table = expected else { return XCTFail("rejected: \(expected)") }
            XCTAssertEqual(try XCTUnwrap(bufferOutcome(path, name: "u.toml")).0, expected)

            var bad = bytes
            bad.insert(0xFF, at: bad.count - 6) // before "z = 1\n", in the second window
            let badPath = try write("b\(shift).toml", bad)
            let badExpected = outcome { try TOMLParser.parse(bytes: bad, file: "u.toml") }
            guard case .error(let m) = badExpected else { return XCTFail("accepted invalid UTF-8") }
            XCTAssertTrue(m.contains("invalid UTF-8 byte 0xFF"), m)
            XCTAssertEqual(try XCTUnwrap(bufferOutcome(badPath, name: "u.toml")).0, badExpected)
        }
    }

    /// A file whose size is a multiple of the page size: the sentinel is in the extra page.
    func testFileOfExactlyWholePages() throws {
        let page = _TOMLFileBuffer.pageSize
        for (ending, accepted) in [("x = 1\n", true), ("s = \"open", false), ("t = [1, ", false)] {
            var text = "# padding\n"
            let fill = 2 * page - text.utf8.count - ending.utf8.count
            text += String(repeating: "#", count: fill - 1) + "\n" + ending
            let bytes = Array(text.utf8)
            XCTAssertEqual(bytes.count % page, 0)
            let path = try write("p.toml", bytes)
            let expected = outcome { try TOMLParser.parse(bytes: bytes, file: "p.toml") }
            if case .table = expected { XCTAssertTrue(accepted) } else { XCTAssertFalse(accepted, "\(expected)") }
            XCTAssertEqual(try XCTUnwrap(bufferOutcome(path, name: "p.toml")).0, expected)
        }
    }

    /// The key index (4-byte slots: position and hash tag) across many growths, for tables
    /// built by the parser and by the subscript: every key found, absent keys not found.
    func testKeyIndexAcrossGrowth() throws {
        var text = "[t]\n"
        let n = 70_000
        for i in 0..<n { text += "k\(i) = \(i)\n" }
        let parsed = try XCTUnwrap(try TOMLParser.parse(text)["t"]?.tableValue)
        var built = TOMLTable()
        for i in 0..<n { built["key-\(i * 7919 % n)"] = .integer(Int64(i)) }
        XCTAssertEqual(parsed.count, n)
        XCTAssertEqual(built.count, n)
        for i in stride(from: 0, to: n, by: 1) {
            XCTAssertEqual(parsed["k\(i)"], .integer(Int64(i)))
            XCTAssertNotNil(built["key-\(i)"])
        }
        for i in n..<(n + 2000) {
            XCTAssertNil(parsed["k\(i)"])
            XCTAssertNil(built["key-\(i)"])
        }
        // Removal rebuilds the index; positions after the removed key move.
        var copy = parsed
        copy["k10"] = nil
        XCTAssertNil(copy["k10"])
        XCTAssertEqual(copy["k11"], .integer(11))
        XCTAssertEqual(copy["k\(n - 1)"], .integer(Int64(n - 1)))
        XCTAssertEqual(copy.count, n - 1)
        // A duplicate far into a large table is still found.
        XCTAssertThrowsError(try TOMLParser.parse(text + "k65000 = 1\n"))
    }

    /// Repeated small arrays and inline tables share storage while parsing; values that are
    /// equal to Swift but differ in their bytes (NFC and NFD strings, 0.0 and -0.0, 1 and
    /// 1.0, true and "true") stay distinct, and changing a copy does not change the others.
    func testRepeatedSmallValuesKeepTheirExactBytes() throws {
        var text = ""
        for i in 0..<50 {
            text += "[t\(i)]\n"
            text += "a = [\"\\u00e9\", 0.0, 1, true]\n"
            text += "b = [\"e\\u0301\", -0.0, 1.0, \"true\"]\n"
            text += "c = { k = \"\\u00e9\", z = -0.0 }\n"
            text += "d = { k = \"e\\u0301\", z = 0.0 }\n"
            text += "e = [\"\\u00e9\", 0.0, 1, true]\n"
        }
        let t = try TOMLParser.parse(text)
        for i in 0..<50 {
            let tab = try XCTUnwrap(t["t\(i)"]?.tableValue)
            let a = try XCTUnwrap(tab["a"]?.arrayValue), b = try XCTUnwrap(tab["b"]?.arrayValue)
            XCTAssertEqual(Array(try XCTUnwrap(a[0].stringValue).utf8), [0xC3, 0xA9])
            XCTAssertEqual(Array(try XCTUnwrap(b[0].stringValue).utf8), [0x65, 0xCC, 0x81])
            XCTAssertEqual(a[1].doubleValue?.sign, .plus)
            XCTAssertEqual(b[1].doubleValue?.sign, .minus)
            XCTAssertEqual(a[2], .integer(1))
            XCTAssertEqual(b[2], .float(1.0))
            XCTAssertEqual(a[3], .boolean(true))
            XCTAssertEqual(b[3], .string("true"))
            let c = try XCTUnwrap(tab["c"]?.tableValue), d = try XCTUnwrap(tab["d"]?.tableValue)
            XCTAssertEqual(Array(try XCTUnwrap(c["k"]?.stringValue).utf8), [0xC3, 0xA9])
            XCTAssertEqual(Array(try XCTUnwrap(d["k"]?.stringValue).utf8), [0x65, 0xCC, 0x81])
            XCTAssertEqual(c["z"]?.doubleValue?.sign, .minus)
            XCTAssertEqual(d["z"]?.doubleValue?.sign, .plus)
            XCTAssertEqual(tab["e"], tab["a"])
            var changed = a
            changed[0] = .string("x")
            XCTAssertEqual(tab["e"]?.arrayValue?[0], .string("\u{e9}"))
            XCTAssertEqual(t["t0"]?.tableValue?["a"]?.arrayValue?[0], .string("\u{e9}"))
        }
        // The JSON shows the bytes as written.
        let json = Array(TOMLJSON.encode(t, pretty: false).utf8)
        func occurrences(_ needle: [UInt8]) -> Int {
            var n = 0
            for i in 0...(json.count - needle.count) where Array(json[i..<(i + needle.count)]) == needle { n += 1 }
            return n
        }
        XCTAssertEqual(occurrences([0x65, 0xCC, 0x81]), 100)
        XCTAssertEqual(occurrences([0xC3, 0xA9]), 150)
        XCTAssertEqual(occurrences(Array("-0.0".utf8)), 100)
    }

    /// Small files, empty files and non-regular files are read into an ordinary array.
    func testSmallAndSpecialFilesAreRead() throws {
        let small = try write("small.toml", Array("a = 1\n".utf8))
        XCTAssertNil(_TOMLFileBuffer.readIfLarge(small))
        XCTAssertEqual(try TOMLParser.parse(contentsOfFile: small)["a"], .integer(1))
        let empty = try write("empty.toml", [])
        XCTAssertNil(_TOMLFileBuffer.readIfLarge(empty, minimumSize: 0))
        XCTAssertTrue(try TOMLParser.parse(contentsOfFile: empty).isEmpty)
        XCTAssertNil(_TOMLFileBuffer.readIfLarge("/dev/null", minimumSize: 0))
        XCTAssertTrue(try TOMLParser.parse(contentsOfFile: "/dev/null").isEmpty)
        XCTAssertThrowsError(try TOMLParser.parse(contentsOfFile: dir + "/missing.toml")) { error in
            XCTAssertEqual((error as? any TetraError)?.exitCode, .notFound)
        }
    }
}
