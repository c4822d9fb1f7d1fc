import Foundation
import XCTest
@testable import TetraCore

/// Helpers shared by the Process/Safety/Support tests (namespaced to avoid clashes).
enum ProcTestSupport {
    /// A fresh temporary directory (mkdtemp), removed by the caller via `removeTree`.
    static func makeTempDir(_ prefix: String = "tetra-proc") -> String {
        var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        let path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (path as NSString).standardizingPath
    }

    static func removeTree(_ path: String) {
        // Make everything writable again first (tests chmod directories read-only).
        _ = try? SystemProcessRunner(environment: ProcessInfo.processInfo.environment)
            .run(ProcessRequest("chmod", ["-R", "u+rwx", path]))
        try? FileManager.default.removeItem(atPath: path)
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static var runner: SystemProcessRunner { SystemProcessRunner(environment: environment) }

    /// A python3 interpreter (the system one when present: starts faster than a pyenv shim).
    static var python3: String? {
        if SystemProcessRunner.isExecutableFile("/usr/bin/python3") { return "/usr/bin/python3" }
        return runner.which("python3")
    }

    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    /// Number of open file descriptors of this process.
    static func openFDCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Waits until `condition` holds or `timeout` passes.
    @discardableResult
    static func waitUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
