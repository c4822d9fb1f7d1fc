import Foundation
import XCTest
@testable import TetraCore

/// Conformance against the toml-test corpus (list `files-toml-1.0.0`).
final class TOMLConformanceTests: XCTestCase {
    static var corpusDir: String {
        if let env = ProcessInfo.processInfo.environment["TOML_TEST_DIR"], !env.isEmpty { return env }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent("../shared/toml-test").standardized.path
    }

    struct Corpus {
        var dir: String
        var valid: [String]    // paths without the .toml extension
        var invalid: [String]
    }

    func loadCorpus() throws -> Corpus {
        let dir = Self.corpusDir
        let listPath = dir + "/files-toml-1.0.0"
        guard let list = try? String(contentsOfFile: listPath, encoding: .utf8) else {
            print("SKIPPED: toml-test corpus not found at \(dir) (set TOML_TEST_DIR)")
            throw XCTSkip("SKIPPED: toml-test corpus not found at \(dir)")
        }
        var valid: [String] = [], invalid: [String] = []
        for line in list.split(separator: "\n") {
            let path = String(line).trimmingCharacters(in: .whitespaces)
            guard path.hasSuffix(".toml") else { continue }
            let stem = String(path.dropLast(5))
            if path.hasPrefix("valid/") { valid.append(stem) } else if path.hasPrefix("invalid/") { invalid.append(stem) }
        }
        return Corpus(dir: dir, valid: valid, invalid: invalid)
    }

    func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func testValidCasesDecodeToExpectedJSON() throws {
        let corpus = try loadCorpus()
        var passed = 0
        var failures: [String] = []
        for stem in corpus.valid {
            let input = try bytes(corpus.dir + "/" + stem + ".toml")
            let expectedText = try String(contentsOfFile: corpus.dir + "/" + stem + ".json", encoding: .utf8)
            do {
                let table = try TOMLParser.parse(bytes: input, file: stem)
                let got = try _JSONReader.parse(TOMLTaggedJSON.encode(table))
                let expected = try _JSONReader.parse(expectedText)
                if let diff = TOMLTestCompare.difference(expected: expected, got: got, path: "") {
                    failures.append("\(stem): \(diff)")
                } else {
                    passed += 1
                }
            } catch {
                failures.append("\(stem): \(error)")
            }
        }
        print("toml-test valid (decode): \(passed)/\(corpus.valid.count) passed")
        XCTAssertEqual(passed, corpus.valid.count, failures.joined(separator: "\n"))
        XCTAssertGreaterThan(corpus.valid.count, 0)
    }

    func testInvalidCasesAreRejectedWithPosition() throws {
        let corpus = try loadCorpus()
        var passed = 0
        var failures: [String] = []
        for stem in corpus.invalid {
            let input = try bytes(corpus.dir + "/" + stem + ".toml")
            do {
                _ = try TOMLParser.parse(bytes: input, file: stem)
                failures.append("\(stem): accepted")
            } catch let e as ConfigError {
                if e.problems.first?.position != nil && e.exitCode == .invalidConfig {
                    passed += 1
                } else {
                    failures.append("\(stem): no position in \(e)")
                }
            } catch {
                failures.append("\(stem): unexpected error type \(error)")
            }
        }
        print("toml-test invalid (reject): \(passed)/\(corpus.invalid.count) passed")
        XCTAssertEqual(passed, corpus.invalid.count, failures.joined(separator: "\n"))
        XCTAssertGreaterThan(corpus.invalid.count, 0)
    }

    /// Tagged JSON → table → TOMLSerializer → parse → same table.
    func testEncoderRoundTrip() throws {
        let corpus = try loadCorpus()
        var passed = 0
        var failures: [String] = []
        for stem in corpus.valid {
            let expectedText = try String(contentsOfFile: corpus.dir + "/" + stem + ".json", encoding: .utf8)
            do {
                let table = try TOMLTaggedJSON.decode(expectedText)
                let text = TOMLSerializer.serialize(table)
                let back = try TOMLParser.parse(text)
                if back == table {
                    passed += 1
                } else {
                    failures.append("\(stem): round-trip differs:\n\(text)")
                }
            } catch {
                failures.append("\(stem): \(error)")
            }
        }
        print("toml-test encoder round-trip: \(passed)/\(corpus.valid.count) passed")
        XCTAssertEqual(passed, corpus.valid.count, failures.joined(separator: "\n"))
    }

    /// Parse then render an untouched document: byte-identical.
    func testDocumentRenderIsByteIdentical() throws {
        let corpus = try loadCorpus()
        var passed = 0
        var failures: [String] = []
        for stem in corpus.valid {
            let input = try bytes(corpus.dir + "/" + stem + ".toml")
            do {
                let doc = try TOMLDocument(bytes: input)
                if doc.renderBytes() == input && Array(doc.render().utf8) == input {
                    passed += 1
                } else {
                    failures.append("\(stem): render differs")
                }
                // The span index must also build cleanly.
                _ = doc.position(of: doc.table.keys.first.map { [$0] } ?? [])
            } catch {
                failures.append("\(stem): \(error)")
            }
        }
        print("toml-test byte-identical render: \(passed)/\(corpus.valid.count) passed")
        XCTAssertEqual(passed, corpus.valid.count, failures.joined(separator: "\n"))
    }

    /// Tagged JSON encoding of every valid case decodes back to the same table.
    func testTaggedJSONRoundTrip() throws {
        let corpus = try loadCorpus()
        var failures: [String] = []
        for stem in corpus.valid {
            let input = try bytes(corpus.dir + "/" + stem + ".toml")
            do {
                let table = try TOMLParser.parse(bytes: input)
                let back = try TOMLTaggedJSON.decode(TOMLTaggedJSON.encode(table, pretty: true))
                if back != table { failures.append(stem) }
                // Plain JSON must be valid JSON.
                _ = try _JSONReader.parse(TOMLJSON.encode(table, pretty: true))
                _ = try _JSONReader.parse(TOMLJSON.encode(table, pretty: false))
            } catch {
                failures.append("\(stem): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
    }
}

/// toml-test's comparison rules: typed leaves must have the same type; integers and
/// floats compare numerically (any NaN equals any NaN); date-times compare after
/// normalisation (offset date-times as instants, fractional seconds to nanoseconds).
enum TOMLTestCompare {
    static func difference(expected: _JSONValue, got: _JSONValue, path: String) -> String? {
        switch (expected, got) {
        case (.object(let e), .object(let g)):
            if let et = leaf(expected) {
                guard let gt = leaf(got) else { return "\(path): expected a \(et.type), got a table" }
                guard et.type == gt.type else { return "\(path): expected type \(et.type), got \(gt.type)" }
                return equalLeaf(et.type, et.value, gt.value) ? nil : "\(path): expected \(et.value), got \(gt.value)"
            }
            if leaf(got) != nil { return "\(path): expected a table, got a value" }
            let ek = Set(e.map { $0.0 }), gk = Set(g.map { $0.0 })
            if ek != gk { return "\(path): keys differ: expected \(ek.sorted()), got \(gk.sorted())" }
            for (k, ev) in e {
                if let d = difference(expected: ev, got: got[k]!, path: path + "." + k) { return d }
            }
            return nil
        case (.array(let e), .array(let g)):
            guard e.count == g.count else { return "\(path): array length \(e.count) vs \(g.count)" }
            for (j, (ev, gv)) in zip(e, g).enumerated() {
                if let d = difference(expected: ev, got: gv, path: path + "[\(j)]") { return d }
            }
            return nil
        default:
            return "\(path): shape differs"
        }
    }

    static func leaf(_ v: _JSONValue) -> (type: String, value: String)? {
        guard case .object(let pairs) = v, pairs.count == 2,
              case .string(let t)? = v["type"], case .string(let val)? = v["value"] else { return nil }
        return (t, val)
    }

    static func float(_ s: String) -> Double? {
        switch s {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default: return Double(s)
        }
    }

    static func equalLeaf(_ type: String, _ e: String, _ g: String) -> Bool {
        switch type {
        case "integer":
            guard let a = Int64(e), let b = Int64(g) else { return false }
            return a == b
        case "float":
            guard let a = float(e), let b = float(g) else { return false }
            return a == b || (a.isNaN && b.isNaN)
        case "datetime", "datetime-local", "date-local", "time-local":
            guard let a = normalizedDateTime(e), let b = normalizedDateTime(g) else { return false }
            return a == b
        default:
            return e == g
        }
    }

    /// A comparable form of a date-time.
    static func normalizedDateTime(_ s: String) -> String? {
        guard let d = _TOMLParse.parseDateTime(s) else { return nil }
        var nanos = "000000000"
        if let f = d.time?.fraction, !f.isEmpty {
            nanos = String((f + "000000000").prefix(9))
        }
        if let off = d.offsetMinutes, let date = d.date, let time = d.time {
            let days = daysFromCivil(date.year, date.month, date.day)
            let secs = days * 86400 + time.hour * 3600 + time.minute * 60 + time.second - off * 60
            return "instant:\(secs).\(nanos)"
        }
        var out = "\(d.kind.rawValue):"
        if let date = d.date { out += "\(date.year)-\(date.month)-\(date.day)" }
        if let time = d.time { out += "T\(time.hour):\(time.minute):\(time.second).\(nanos)" }
        return out
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
