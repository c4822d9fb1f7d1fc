import Foundation
import TetraCore
import XCTest

/// Golden files under Tests/TetraCLITests/Golden, shared by the CLI tests and the end-to-end
/// tests. `TETRA_UPDATE_GOLDEN=1` rewrites them.
public enum Golden {
    /// The package root (this file is Sources/TetraTestSupport/Golden.swift).
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
    public static var directory: String { packageRoot + "/Tests/TetraCLITests/Golden" }
    public static var updating: Bool { ProcessInfo.processInfo.environment["TETRA_UPDATE_GOLDEN"] == "1" }

    public static func check(_ actual: String, path: String, file: StaticString = #filePath, line: UInt = #line) {
        if updating {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true)
            try? actual.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
            return XCTFail("missing golden file \(path); run with TETRA_UPDATE_GOLDEN=1", file: file, line: line)
        }
        if expected != actual {
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let firstDiff = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
            XCTFail("""
                \(path) differs at line \(firstDiff + 1):
                  expected: \(firstDiff < e.count ? String(e[firstDiff]) : "<end>")
                  actual:   \(firstDiff < a.count ? String(a[firstDiff]) : "<end>")
                (run with TETRA_UPDATE_GOLDEN=1 to accept)
                """, file: file, line: line)
        }
    }
}

/// The `--json` contract (docs/json.md) as the tests check it: the golden file of each
/// command, the normalisation of values that change from run to run, the convention.
public enum JSONContract {
    /// Golden/json/<command with dashes>.json (`ports-ranges-set.json`).
    public static func goldenPath(_ command: String) -> String {
        Golden.directory + "/json/" + command.replacingOccurrences(of: " ", with: "-") + ".json"
    }

    /// Temporary paths as `$ROOT`, this machine's name as `$HOST`, snapshot ids (a hash of
    /// files that hold `$ROOT`) as `$SNAPSHOT`, run times (`duration_ms`, `pid`,
    /// `supervisor_pid`, `uptime_seconds`) as 0, moments read from the machine's clock rather
    /// than the test's (`last_fetch_at`, `started_at`) as `$TIME`; then each of `values` (a
    /// whole word or number) as its placeholder.
    public static func normalized(_ text: String, root: String, values: [String: String] = [:]) -> String {
        var s = text.replacingOccurrences(of: root, with: "$ROOT")
        s = s.replacingOccurrences(of: (NSTemporaryDirectory() as NSString).standardizingPath, with: "$TMPDIR")
        let host = ProcessIdentity.hostName
        s = s.replacingOccurrences(of: "@\(host)\"", with: "@$HOST\"").replacingOccurrences(of: "\"\(host)\"", with: "\"$HOST\"")
        s = s.replacingOccurrences(of: "\"[0-9a-f]{16}\"", with: "\"$SNAPSHOT\"", options: .regularExpression)
        s = masked(s, numbers: ["duration_ms", "pid", "supervisor_pid", "uptime_seconds"])
        for key in ["last_fetch_at", "started_at"] {
            s = s.replacingOccurrences(of: "\"\(key)\" : \"[^\"]*\"", with: "\"\(key)\" : \"$TIME\"", options: .regularExpression)
        }
        for (value, placeholder) in values.sorted(by: { $0.key.count > $1.key.count }) {
            s = s.replacingOccurrences(of: "(?<![0-9A-Za-z])\(NSRegularExpression.escapedPattern(for: value))(?![0-9A-Za-z])",
                                       with: NSRegularExpression.escapedTemplate(for: placeholder), options: .regularExpression)
        }
        return s
    }

    /// The values of the named keys, wherever they are: a string becomes `"$KEY"` (the key
    /// upper-cased: `"serial"` → `"$SERIAL"`), a number becomes 0.
    public static func masked(_ text: String, strings: [String] = [], numbers: [String] = []) -> String {
        var s = text
        for key in strings {
            s = s.replacingOccurrences(of: "\"\(key)\" : \"(\\\\.|[^\"\\\\])*\"", with: "\"\(key)\" : \"$\(key.uppercased())\"",
                                       options: .regularExpression)
        }
        for key in numbers {
            s = s.replacingOccurrences(of: "\"\(key)\" : -?[0-9]+", with: "\"\(key)\" : 0", options: .regularExpression)
        }
        return s
    }

    /// One object; snake_case keys (except inside maps of user names); no null.
    public static func checkConvention(_ doc: String, command: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any] else {
            return XCTFail("'\(command)': the document is not one JSON object: \(doc.prefix(200))", file: file, line: line)
        }
        let userMaps: Set<String> = ["vars", "defaults", "labels", "options", "ports", "values"]
        func walk(_ value: Any, _ path: String) {
            if value is NSNull { XCTFail("'\(command)': null at \(path)", file: file, line: line) }
            if let dict = value as? [String: Any] {
                for (k, v) in dict {
                    if k.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) == nil {
                        XCTFail("'\(command)': key '\(k)' at \(path) is not snake_case", file: file, line: line)
                    }
                    if !userMaps.contains(k) { walk(v, path + "." + k) } else if let m = v as? [String: Any] {
                        for (_, inner) in m { if inner is NSNull { XCTFail("'\(command)': null in \(path).\(k)", file: file, line: line) } }
                    }
                }
            } else if let array = value as? [Any] {
                for item in array { walk(item, path + "[]") }
            }
        }
        walk(object, "")
    }
}
