import Foundation
import XCTest

/// Runs the built `tetra` binary (found next to the test bundle, or $TETRA_BIN) as a real
/// process, in a temporary state root.
struct Tetra {
    static var binary: String {
        if let bin = ProcessInfo.processInfo.environment["TETRA_BIN"], !bin.isEmpty { return bin }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // swift test runs <build>/<config>/tetraPackageTests.xctest; the binary sits beside it.
        var dir = bundleDir
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("tetra").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return bundleDir.appendingPathComponent("tetra").path
    }

    /// The package root (for completions/, README.md, templates/ ...).
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let stateRoot: String
    var environment: [String: String]

    init(stateRoot: String? = nil) {
        let root = stateRoot ?? Self.makeTempDir("tetra-e2e")
        self.stateRoot = root
        var env = ProcessInfo.processInfo.environment
        env["TETRA_DIR"] = root
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "TETRA_ORG")
        self.environment = env
    }

    static func makeTempDir(_ prefix: String) -> String {
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix).XXXXXX")
        var bytes = Array(template.utf8CString)
        guard let p = mkdtemp(&bytes) else { fatalError("mkdtemp failed") }
        return String(cString: p)
    }

    @discardableResult
    func run(_ args: [String], stdin: String? = nil, env extra: [String: String] = [:], cwd: String? = nil,
             executable: String? = nil) throws -> Result {
        try Self.exec(executable ?? Self.binary, args, stdin: stdin, env: environment.merging(extra) { $1 }, cwd: cwd)
    }

    /// Runs any program with both pipes drained concurrently.
    static func exec(_ program: String, _ args: [String], stdin: String? = nil, env: [String: String]? = nil,
                     cwd: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = args
        if let env { process.environment = env }
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : inp
        try process.run()
        if let stdin {
            inp.fileHandleForWriting.write(Data(stdin.utf8))
            try? inp.fileHandleForWriting.close()
        }
        // Drain both pipes concurrently (dedicated threads: the GCD pool is small and many
        // tests run processes at once): a full pipe would block the child forever.
        let outBox = DataBox(), errBox = DataBox()
        let outHandle = out.fileHandleForReading, errHandle = err.fileHandleForReading
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { outBox.data = outHandle.readDataToEndOfFile(); done.signal() }
        Thread.detachNewThread { errBox.data = errHandle.readDataToEndOfFile(); done.signal() }
        done.wait()
        done.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// The absolute path of a program on PATH, or nil.
    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}

final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A component a test needs. Absent: the test skips loudly; under CI (CI=true) absence is a
/// failure, because CI installs everything.
/// Polls `condition` (every 200 µs: crash tests kill at chosen moments) until it holds or
/// `timeout` seconds pass; true when it held.
@discardableResult
func waitFor(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(200)
    }
    return false
}

func requireTool(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    if let path = Tetra.which(name) { return path }
    let message = "SKIPPED: \(name) is not installed; this test needs it (scripts/test.sh installs it as root)"
    if ProcessInfo.processInfo.environment["CI"] != nil {
        XCTFail("\(name) is missing in CI: \(message)", file: file, line: line)
    }
    print("\n*** \(message) ***\n")
    throw XCTSkip(message)
}
