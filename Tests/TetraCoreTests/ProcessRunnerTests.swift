import Foundation
import XCTest
@testable import TetraCore

final class ProcessRunnerTests: XCTestCase {
    let runner = ProcTestSupport.runner

    func testRunsArgvAndCapturesStdout() throws {
        let r = try runner.run(ProcessRequest("echo", ["hello", "two words", "$HOME"]))
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdoutString, "hello two words $HOME\n") // no shell: nothing expanded
        XCTAssertTrue(r.succeeded)
        XCTAssertFalse(r.timedOut)
    }

    func testWhichUsesTheGivenPath() throws {
        XCTAssertEqual(runner.which("sh").map { $0.hasSuffix("/sh") }, true)
        XCTAssertNil(runner.which("tetra-no-such-tool-xyz"))
        XCTAssertNil(runner.which(""))
        let noPath = SystemProcessRunner(environment: ["PATH": "/nonexistent-dir"])
        XCTAssertNil(noPath.which("sh"))
        XCTAssertEqual(noPath.which("/bin/sh"), "/bin/sh")
        // The request's PATH is used for the lookup when it sets one.
        let r = try noPath.run(ProcessRequest("sh", ["-c", "echo ok"], environment: ["PATH": "/usr/bin:/bin"]))
        XCTAssertEqual(r.stdoutString, "ok\n")
    }

    func testMissingToolThrowsNotInstalledExit6() {
        let noPath = SystemProcessRunner(environment: ["PATH": "/nonexistent-dir"])
        XCTAssertThrowsError(try noPath.run(ProcessRequest("git", ["--version"]))) { error in
            guard let e = error as? ToolError, case .notInstalled(let tool, _) = e else {
                return XCTFail("expected notInstalled, got \(error)")
            }
            XCTAssertEqual(tool, "git")
            XCTAssertEqual(e.exitCode, .toolFailed)
            XCTAssertEqual(e.exitCode.rawValue, 6)
            XCTAssertEqual(e.message, "git is not installed (not found on PATH)")
            XCTAssertNotNil(e.hint)
        }
        XCTAssertThrowsError(try runner.run(ProcessRequest("tetra-no-such-tool-xyz"))) { error in
            XCTAssertEqual((error as? ToolError)?.kind, "tool_missing")
        }
    }

    func testBothPipesTenMegabytesEachComplete() throws {
        // Both streams written at the same time: reading only one (or only after exit)
        // would deadlock once a pipe buffer (64KiB) fills.
        let script = "head -c 10485760 /dev/zero & head -c 10485760 /dev/zero >&2; wait"
        let r = try runner.run(ProcessRequest("sh", ["-c", script], timeout: 60))
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout.count, 10_485_760)
        XCTAssertEqual(r.stderr.count, 10_485_760)
        XCTAssertFalse(r.stdoutTruncated)
        XCTAssertFalse(r.stderrTruncated)
    }

    func testBothPipesInterleavedByPython() throws {
        guard let python = ProcTestSupport.python3 else { throw XCTSkip("python3 not available") }
        let code = """
        import os
        chunk = b'o' * 65536
        echunk = b'e' * 65536
        for i in range(160):
            os.write(1, chunk); os.write(2, echunk)
        """
        let r = try runner.run(ProcessRequest(python, ["-c", code], timeout: 60))
        XCTAssertEqual(r.status, 0, r.stderrString.suffix(300).description)
        XCTAssertEqual(r.stdout.count, 160 * 65536)
        XCTAssertEqual(r.stderr.count, 160 * 65536)
    }

    func testOutputLimitKeepsHeadOfStdoutAndTailOfStderr() throws {
        let script = "i=0; while [ $i -lt 2000 ]; do echo line$i; echo err$i >&2; i=$((i+1)); done"
        let r = try runner.run(ProcessRequest("sh", ["-c", script], timeout: 30, outputLimit: 1000))
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout.count, 1000)
        XCTAssertTrue(r.stdoutTruncated)
        XCTAssertTrue(r.stdoutString.hasPrefix("line0\nline1\n"))
        XCTAssertEqual(r.stderr.count, 1000)
        XCTAssertTrue(r.stderrTruncated)
        XCTAssertTrue(r.stderrString.hasSuffix("err1998\nerr1999\n"))
    }

    func testOutputLimitKeepsDrainingSoTheChildNeverBlocks() throws {
        let r = try runner.run(ProcessRequest("head", ["-c", "20000000", "/dev/zero"], timeout: 30, outputLimit: 10))
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout.count, 10)
        XCTAssertTrue(r.stdoutTruncated)
    }

    func testStdinFromInputData() throws {
        let r = try runner.run(ProcessRequest("cat", input: Data("hello\nworld".utf8), timeout: 10))
        XCTAssertEqual(r.stdoutString, "hello\nworld")
        // Large input and large output at the same time.
        let big = Data(repeating: 0x61, count: 8 << 20)
        let r2 = try runner.run(ProcessRequest("cat", input: big, timeout: 60))
        XCTAssertEqual(r2.stdout, big)
    }

    func testStdinIsDevNullByDefault() throws {
        let r = try runner.run(ProcessRequest("cat", timeout: 10))
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.stdout.count, 0)
    }

    func testChildThatDoesNotReadStdinCannotDeadlockOrKillUs() throws {
        let big = Data(repeating: 0x62, count: 16 << 20)
        let r = try runner.run(ProcessRequest("true", input: big, timeout: 10))
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(r.timedOut)
        // A child that exits after a while without reading: the writer gets EPIPE (no SIGPIPE death).
        let r2 = try runner.run(ProcessRequest("sleep", ["0.2"], input: big, timeout: 10))
        XCTAssertEqual(r2.status, 0)
    }

    func testTimeoutTerminatesWithinTimeoutPlusGrace() throws {
        let start = Date()
        let r = try runner.run(ProcessRequest("sleep", ["30"], timeout: 0.5, killGrace: 1))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(r.timedOut)
        XCTAssertFalse(r.succeeded)
        XCTAssertEqual(r.status, 128 + SIGTERM)
        XCTAssertLessThan(elapsed, 0.5 + 1 + 1.0)
        XCTAssertGreaterThanOrEqual(elapsed, 0.45)
    }

    func testTimeoutEscalatesToSIGKILLWhenSIGTERMIsIgnoredByShell() throws {
        // The ignored disposition is inherited by `sleep` through exec.
        let start = Date()
        let r = try runner.run(ProcessRequest("sh", ["-c", "trap '' TERM; sleep 30"], timeout: 0.3, killGrace: 0.5))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.status, 128 + SIGKILL)
        XCTAssertLessThan(elapsed, 0.3 + 0.5 + 1.5)
    }

    func testTimeoutEscalatesToSIGKILLWhenPythonIgnoresSIGTERM() throws {
        guard let python = ProcTestSupport.python3 else { throw XCTSkip("python3 not available") }
        let code = "import signal,time,sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
        let start = Date()
        // 3s leaves python time to install its handler before SIGTERM arrives.
        let r = try runner.run(ProcessRequest(python, ["-c", code], timeout: 3, killGrace: 0.5))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.stdoutString, "ready\n")
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.status, 128 + SIGKILL, "SIGTERM was ignored, so SIGKILL must have ended it")
        XCTAssertGreaterThanOrEqual(elapsed, 3.4)
        XCTAssertLessThan(elapsed, 3 + 0.5 + 2)
    }

    func testTimeoutKillsGrandchildrenHoldingThePipes() throws {
        // Without signalling the whole group, `sleep 30` would keep stdout open for 30s.
        let start = Date()
        let r = try runner.run(ProcessRequest("sh", ["-c", "sleep 30; echo never"], timeout: 0.3, killGrace: 0.5))
        XCTAssertTrue(r.timedOut)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(r.stdoutString, "")
    }

    func testBackgroundedGrandchildDoesNotHangTheRun() throws {
        let quick = SystemProcessRunner(environment: ProcTestSupport.environment, postExitDrainTimeout: 0.3)
        let start = Date()
        let r = try quick.run(ProcessRequest("sh", ["-c", "sleep 3 & echo started"], timeout: 20))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdoutString, "started\n")
        XCTAssertLessThan(elapsed, 2.0, "the exit must be seen although a grandchild holds the pipes")
    }

    func testGrandchildHoldingOnlyStderrDoesNotHangTheRun() throws {
        let quick = SystemProcessRunner(environment: ProcTestSupport.environment, postExitDrainTimeout: 0.3)
        let start = Date()
        let r = try quick.run(ProcessRequest("sh", ["-c", "sleep 3 >/dev/null & echo hi; echo warn >&2"], timeout: 20))
        XCTAssertEqual(r.stdoutString, "hi\n")
        XCTAssertEqual(r.stderrString, "warn\n")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }

    func testNonZeroExitIsReturnedAndRunCheckedThrowsRedacted() throws {
        let script = "echo 'login failed for hunter2 at https://bob:tok3n@example.com/x' >&2; exit 3"
        let request = ProcessRequest("sh", ["-c", script, "arg-with-hunter2"], secrets: ["hunter2"])
        let r = try runner.run(request)
        XCTAssertEqual(r.status, 3)
        XCTAssertFalse(r.succeeded)
        XCTAssertThrowsError(try runner.runChecked(request)) { error in
            guard let e = error as? ToolError, case .failed(let argv, let status, let tail) = e else {
                return XCTFail("expected ToolError.failed, got \(error)")
            }
            XCTAssertEqual(status, 3)
            XCTAssertEqual(argv.first, "sh")
            XCTAssertEqual(argv.last, "arg-with-***")
            XCTAssertTrue(tail.contains("login failed for ***"), tail)
            XCTAssertTrue(tail.contains("https://bob:***@example.com/x"), tail)
            XCTAssertFalse(e.message.contains("hunter2"), e.message)
            XCTAssertFalse(e.message.contains("tok3n"), e.message)
            XCTAssertTrue(e.message.contains("failed with exit status 3"), e.message)
            XCTAssertEqual(e.exitCode.rawValue, 6)
        }
    }

    func testRunCheckedThrowsTimedOut() {
        XCTAssertThrowsError(try runner.runChecked(ProcessRequest("sleep", ["10"], timeout: 0.2, killGrace: 0.5))) { error in
            guard let e = error as? ToolError, case .timedOut(let argv, _) = e else { return XCTFail("\(error)") }
            XCTAssertEqual(argv, ["sleep", "10"])
            XCTAssertTrue(e.message.contains("timed out"))
        }
    }

    func testSignalledChildReportsShellStyleStatus() throws {
        let r = try runner.run(ProcessRequest("sh", ["-c", "kill -9 $$"], timeout: 10))
        XCTAssertEqual(r.status, 128 + SIGKILL)
        XCTAssertFalse(r.timedOut)
    }

    func testEnvironmentMergedOverBaseOrReplaced() throws {
        var base = ProcTestSupport.environment
        base["TETRA_BASE_VAR"] = "base"
        base["TETRA_OVERRIDDEN"] = "old"
        let r = SystemProcessRunner(environment: base)
        let merged = try r.run(ProcessRequest("sh", ["-c", "echo $TETRA_BASE_VAR $TETRA_OVERRIDDEN $TETRA_EXTRA"],
                                              environment: ["TETRA_OVERRIDDEN": "new", "TETRA_EXTRA": "x"]))
        XCTAssertEqual(merged.stdoutString, "base new x\n")
        let replaced = try r.run(ProcessRequest("env", environment: ["PATH": "/usr/bin:/bin", "ONLY": "1"], replaceEnvironment: true))
        let lines = Set(replaced.stdoutString.split(separator: "\n").map(String.init))
        XCTAssertEqual(lines, ["PATH=/usr/bin:/bin", "ONLY=1"])
    }

    func testWorkingDirectory() throws {
        let dir = ProcTestSupport.makeTempDir()
        defer { ProcTestSupport.removeTree(dir) }
        let r = try runner.run(ProcessRequest("pwd", workingDirectory: dir))
        XCTAssertEqual(r.stdoutString.trimmingCharacters(in: .newlines), dir)
        XCTAssertThrowsError(try runner.run(ProcessRequest("pwd", workingDirectory: dir + "/missing"))) { error in
            guard case .launchFailed(_, let reason)? = error as? ToolError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("does not exist"), reason)
        }
    }

    func testNonExecutableFileIsNotInstalledAndLaunchFailureIsReported() throws {
        let dir = ProcTestSupport.makeTempDir()
        defer { ProcTestSupport.removeTree(dir) }
        let script = dir + "/tool"
        try Data("not a program".utf8).write(to: URL(fileURLWithPath: script))
        chmod(script, 0o644)
        XCTAssertThrowsError(try runner.run(ProcessRequest(script))) { error in
            guard case .notInstalled? = error as? ToolError else { return XCTFail("\(error)") }
        }
        // Executable but not a valid program: exec fails -> launchFailed (exit 6).
        chmod(script, 0o755)
        let binary = dir + "/garbage"
        try Data([0x7F, 0x45, 0x4C, 0x46, 0, 0, 0]).write(to: URL(fileURLWithPath: binary))
        chmod(binary, 0o755)
        XCTAssertThrowsError(try runner.run(ProcessRequest(binary))) { error in
            XCTAssertEqual((error as? ToolError)?.exitCode, .toolFailed, "\(error)")
        }
    }

    func testStreamingCallbackSeesAllOutput() throws {
        final class Sink: @unchecked Sendable {
            let lock = NSLock()
            var out = Data()
            var err = Data()
        }
        let sink = Sink()
        let r = try runner.run(ProcessRequest("sh", ["-c", "echo one; echo two >&2; echo three"])) { chunk in
            sink.lock.lock()
            if chunk.stream == .stdout { sink.out.append(chunk.data) } else { sink.err.append(chunk.data) }
            sink.lock.unlock()
        }
        XCTAssertEqual(String(decoding: sink.out, as: UTF8.self), "one\nthree\n")
        XCTAssertEqual(String(decoding: sink.err, as: UTF8.self), "two\n")
        XCTAssertEqual(r.stdoutString, "one\nthree\n")
    }

    func testInterruptFlagStopsTheChildAndThrowsInterrupted() throws {
        let flag = InterruptFlag()
        let r = SystemProcessRunner(environment: ProcTestSupport.environment, interrupt: flag)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { flag.raise() }
        let start = Date()
        XCTAssertThrowsError(try r.run(ProcessRequest("sleep", ["30"], killGrace: 1))) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        // A raised flag refuses to start anything new.
        XCTAssertThrowsError(try r.run(ProcessRequest("true"))) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
    }

    func testSignalRunningChildren() throws {
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) {
            SystemProcessRunner.signalRunningChildren(SIGTERM)
        }
        let start = Date()
        let r = try runner.run(ProcessRequest("sleep", ["30"], timeout: 20))
        XCTAssertEqual(r.status, 128 + SIGTERM)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testBinaryAndUnicodeOutputPreserved() throws {
        let r = try runner.run(ProcessRequest("printf", ["caf\\303\\251 \\000\\377 ✓"]))
        XCTAssertEqual(Array(r.stdout), Array("café ".utf8) + [0x00, 0xFF] + Array(" ✓".utf8))
    }

    func testConcurrentRunsDoNotLeakDescriptorsOrMixOutput() throws {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var bad: [String] = []
        }
        let results = Results()
        let runner = self.runner
        // Warm up: Foundation gives each thread that launches a Process a run loop (a few
        // descriptors per thread, kept for the thread's life); those are not leaks.
        DispatchQueue.concurrentPerform(iterations: 8) { _ in _ = try? runner.run(ProcessRequest("true")) }
        let before = ProcTestSupport.openFDCount()
        DispatchQueue.concurrentPerform(iterations: 48) { i in
            do {
                let r = try runner.run(ProcessRequest("sh", ["-c", "echo out\(i); echo err\(i) >&2"], timeout: 20))
                if r.stdoutString != "out\(i)\n" || r.stderrString != "err\(i)\n" {
                    results.lock.lock(); results.bad.append("\(i): \(r.stdoutString) / \(r.stderrString)"); results.lock.unlock()
                }
            } catch {
                results.lock.lock(); results.bad.append("\(i): \(error)"); results.lock.unlock()
            }
        }
        XCTAssertEqual(results.bad, [])
        // Reader threads close their ends just after signalling; allow a moment.
        // 48 runs x 4-6 pipe ends: a leak would show as dozens of descriptors.
        XCTAssertTrue(ProcTestSupport.waitUntil(timeout: 2) { ProcTestSupport.openFDCount() <= before + 4 },
                      "fd count grew from \(before) to \(ProcTestSupport.openFDCount())")
    }

    func testDurationIsMeasured() throws {
        let r = try runner.run(ProcessRequest("sleep", ["0.2"]))
        XCTAssertGreaterThanOrEqual(r.duration, 0.18)
        XCTAssertLessThan(r.duration, 2)
    }
}
