import Foundation
import XCTest

/// The toml-test corpus through the built binary: `tetra config decode --tagged` as the
/// decoder and `tetra config encode --tagged` as the encoder, as toml-test runs them.
final class TOMLCorpusE2ETests: XCTestCase {
    func corpus() throws -> (root: String, files: [String]) {
        let root = ProcessInfo.processInfo.environment["TOML_TEST_DIR"] ?? (Tetra.packageRoot + "/../shared/toml-test")
        guard let list = try? String(contentsOfFile: root + "/files-toml-1.0.0", encoding: .utf8) else {
            let message = "SKIPPED: toml-test corpus not found at \(root) (set TOML_TEST_DIR)"
            print("\n*** \(message) ***\n")
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        return (root, list.split(separator: "\n").map(String.init).filter { $0.hasSuffix(".toml") })
    }

    /// Runs many cases on both cores at once.
    func forEach(_ items: [String], _ body: @escaping @Sendable (String) -> String?) -> [String] {
        let failures = FailureBox()
        DispatchQueue.concurrentPerform(iterations: items.count) { i in
            if let f = body(items[i]) { failures.add(f) }
        }
        return failures.all
    }

    func testEveryValidCaseDecodesAndReEncodes() throws {
        let (root, files) = try corpus()
        let valid = files.filter { $0.hasPrefix("valid/") }
        XCTAssertGreaterThan(valid.count, 100)
        let env = Tetra().environment
        let failures = forEach(valid) { rel in
            let toml = root + "/" + rel
            let expectedPath = String(toml.dropLast(5)) + ".json"
            guard let expectedData = FileManager.default.contents(atPath: expectedPath),
                  let expected = try? JSONSerialization.jsonObject(with: expectedData, options: [.fragmentsAllowed]) else {
                return "\(rel): missing expected JSON"
            }
            guard let decoded = try? Tetra.exec(Tetra.binary, ["config", "decode", "--tagged", toml], env: env), decoded.status == 0,
                  let actual = try? JSONSerialization.jsonObject(with: Data(decoded.stdout.utf8), options: [.fragmentsAllowed]) else {
                return "\(rel): decode failed"
            }
            guard TaggedJSON.equal(expected, actual) else { return "\(rel): decoded value differs" }
            // Encoder: the expected JSON → TOML → decoded again must be the same value.
            guard let encoded = try? Tetra.exec(Tetra.binary, ["config", "encode", "--tagged", expectedPath], env: env),
                  encoded.status == 0 else { return "\(rel): encode failed" }
            guard let again = try? Tetra.exec(Tetra.binary, ["config", "decode", "--tagged", "-"], stdin: encoded.stdout, env: env),
                  again.status == 0,
                  let back = try? JSONSerialization.jsonObject(with: Data(again.stdout.utf8), options: [.fragmentsAllowed]),
                  TaggedJSON.equal(expected, back) else { return "\(rel): encode round trip differs" }
            return nil
        }
        XCTAssertEqual(failures, [], "\(failures.count) of \(valid.count) valid cases failed")
        print("toml-test valid through the binary: \(valid.count - failures.count)/\(valid.count) decode + encode")
    }

    func testEveryInvalidCaseIsRejectedWithAPosition() throws {
        let (root, files) = try corpus()
        let invalid = files.filter { $0.hasPrefix("invalid/") }
        XCTAssertGreaterThan(invalid.count, 100)
        let env = Tetra().environment
        let failures = forEach(invalid) { rel in
            guard let r = try? Tetra.exec(Tetra.binary, ["config", "decode", "--tagged", root + "/" + rel], env: env) else {
                return "\(rel): did not run"
            }
            if r.status != 3 { return "\(rel): exit \(r.status), expected 3" }
            // tetra: error: PATH:LINE:COLUMN: message
            let line = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
            let afterPath = line.components(separatedBy: rel).dropFirst().joined()
            let parts = afterPath.split(separator: ":", maxSplits: 3)
            if parts.count < 3 || Int(parts[0]) == nil || Int(parts[1]) == nil { return "\(rel): no line:column in '\(line)'" }
            return nil
        }
        XCTAssertEqual(failures, [], "\(failures.count) of \(invalid.count) invalid cases not rejected properly")
        print("toml-test invalid through the binary: \(invalid.count - failures.count)/\(invalid.count) rejected with line:column")
    }
}

/// A file larger than the parser's mapping window through the binary: `config decode FILE`
/// (mapped, pages released behind the parser) prints what `config decode -` (standard
/// input, read into memory) prints, and an error at the end of the file or pointing back to
/// its start has the right line:column.
final class TOMLLargeFileE2ETests: XCTestCase {
    func testLargeFileDecodesLikeStandardInputAndErrorsKeepPositions() throws {
        let tetra = Tetra()
        let dir = Tetra.makeTempDir("tetra-e2e-tomlbig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = "[a]\nfirst = 1\n\n[ports]\n"
        var line = 4
        while text.utf8.count < 1_100_000 {
            text += "svc-\(line) = \(10000 + line)  # owner équipe-\(line % 17)\n"
            line += 1
        }
        for s in 0..<300 { text += "\n[services.s\(s)]\nname = \"service-\(s)\"\nenv = { LOG = \"info\" }\ntags = [\"web\", \(s)]\n" }
        line += 300 * 5
        let path = dir + "/big.toml"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let fromFile = try tetra.run(["config", "decode", path])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        let fromStdin = try tetra.run(["config", "decode", "-"], stdin: text)
        XCTAssertEqual(fromStdin.status, 0, fromStdin.stderr)
        XCTAssertEqual(fromFile.stdout, fromStdin.stdout)
        XCTAssertTrue(fromFile.stdout.contains("\"svc-9999\": 19999"))
        XCTAssertTrue(fromFile.stdout.contains("\"s299\""))

        for (suffix, message) in [("[a]\n", "table 'a' is already defined (at 1:1)"),
                                  ("[ports]\n", "table 'ports' is already defined (at 4:1)"),
                                  ("name = 1\n", "duplicate key 'name' (first defined at \(line - 2):1)"),
                                  ("[services.s3]\n", "table 'services.s3' is already defined (at \(line - 300 * 5 + 3 * 5 + 2):1)"),
                                  ("x = hello\n", "invalid value 'hello' (strings must be quoted)")] {
            try (text + suffix).write(toFile: path, atomically: false, encoding: .utf8)
            let r = try tetra.run(["config", "decode", path])
            XCTAssertEqual(r.status, 3, r.stderr)
            XCTAssertTrue(r.stderr.contains("\(path):\(line + 1):"), r.stderr)
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
            let viaStdin = try tetra.run(["config", "decode", "-"], stdin: text + suffix)
            XCTAssertEqual(viaStdin.status, 3)
            XCTAssertEqual(viaStdin.stderr.replacingOccurrences(of: "<stdin>", with: path), r.stderr)
        }
    }
}

final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items.sorted() }
}

/// toml-test's comparison: same structure; floats numerically (nan equals nan); date-times
/// as written, after normalising a space or lower-case separators.
enum TaggedJSON {
    static func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? [String: Any], let y = b as? [String: Any] {
            if let tx = x["type"] as? String, let vx = x["value"] as? String, x.count == 2,
               let ty = y["type"] as? String, let vy = y["value"] as? String, y.count == 2 {
                return leaf(tx, vx, ty, vy)
            }
            guard x.count == y.count else { return false }
            return x.allSatisfy { k, v in y[k].map { equal(v, $0) } ?? false }
        }
        if let x = a as? [Any], let y = b as? [Any] {
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        }
        return false
    }

    static func leaf(_ tx: String, _ vx: String, _ ty: String, _ vy: String) -> Bool {
        guard tx == ty else { return false }
        switch tx {
        case "float":
            let fx = parseFloat(vx), fy = parseFloat(vy)
            if fx.isNaN && fy.isNaN { return true }
            return fx == fy
        case "integer":
            return Int64(vx) == Int64(vy)
        case "datetime", "datetime-local", "date-local", "time-local":
            return normal(vx) == normal(vy)
        default:
            return vx == vy
        }
    }

    static func parseFloat(_ s: String) -> Double {
        switch s {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default: return Double(s) ?? .nan
        }
    }

    /// Upper-case T/Z, a `T` separator, `+00:00` as `Z`, and trailing zeros of the fraction dropped.
    static func normal(_ s: String) -> String {
        var t = s.uppercased().replacingOccurrences(of: " ", with: "T")
        if t.hasSuffix("+00:00") || t.hasSuffix("-00:00") { t = String(t.dropLast(6)) + "Z" }
        if let dot = t.firstIndex(of: ".") {
            var end = t.index(after: dot)
            while end < t.endIndex, t[end].isNumber { end = t.index(after: end) }
            var frac = String(t[t.index(after: dot)..<end])
            while frac.hasSuffix("0") { frac.removeLast() }
            t = String(t[..<dot]) + (frac.isEmpty ? "" : "." + frac) + String(t[end...])
        }
        return t
    }
}
