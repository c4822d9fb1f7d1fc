import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// Runs tetra in-process with captured stdout/stderr, a temporary state root and a fake
/// process runner that fails on any call it was not told to expect (or, after
/// `useRealProcesses`, the real runner: real git, real tools, a real supervisor).
struct InProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let stateRoot: String
    var environment: [String: String]
    var runner: FakeProcessRunner
    /// The runner commands get when set (else `runner`).
    var processes: (any ProcessRunning)? = nil
    /// What `svc start` re-executes as the supervisor (the built binary, for a real one).
    var executablePath = "tetra"
    var stdinIsTerminal = false
    var stdoutIsTerminal = false
    var stderrIsTerminal = false
    var terminalWidth: Int? = nil
    var now: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_795_000_000) }

    init(runner: FakeProcessRunner = FakeProcessRunner()) {
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("tetra-cli.XXXXXX")
        var bytes = Array(template.utf8CString)
        stateRoot = String(cString: mkdtemp(&bytes)!) + "/root"
        environment = ["TETRA_DIR": stateRoot, "HOME": NSTemporaryDirectory(), "USER": "tester", "PATH": "/usr/bin:/bin"]
        self.runner = runner
    }

    @discardableResult
    func run(_ argv: [String], stdin: String = "", answers: [String] = []) -> Result {
        let out = OutputSink(), err = OutputSink()
        let input = Data(stdin.utf8)
        let answerBox = AnswerBox(answers)
        let context = CLIContext(
            stdout: out, stderr: err, readStdin: { _ in input }, readLine: { answerBox.next() },
            environment: environment, workingDirectory: NSTemporaryDirectory(),
            stdinIsTerminal: stdinIsTerminal, stdoutIsTerminal: stdoutIsTerminal, stderrIsTerminal: stderrIsTerminal,
            terminalWidth: terminalWidth, now: now, runner: processes ?? runner, executablePath: executablePath)
        let status = CLI().run(argv, context: context)
        return Result(status: status, stdout: out.captured, stderr: err.captured)
    }
}

extension InProcess {
    /// Commands run real programs from now on (with this environment's PATH).
    mutating func useRealProcesses() {
        processes = SystemProcessRunner(environment: environment)
    }
}

final class AnswerBox: @unchecked Sendable {
    private var answers: [String]
    private let lock = NSLock()
    init(_ answers: [String]) { self.answers = answers }
    func next() -> String? {
        lock.lock(); defer { lock.unlock() }
        return answers.isEmpty ? nil : answers.removeFirst()
    }
}
