import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class ProcessFakeRunnerTests: XCTestCase {
    func testExpectedCallsInOrder() throws {
        let fake = FakeProcessRunner()
        fake.expect("git", ["status"], stdout: "clean\n")
        fake.expect("git", ["log", "-1"], result: ProcessResult(status: 1, stderr: Data("boom".utf8)))
        XCTAssertEqual(try fake.run(ProcessRequest("git", ["status"])).stdoutString, "clean\n")
        XCTAssertEqual(try fake.run(ProcessRequest("git", ["log", "-1"])).status, 1)
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(fake.callArgv, [["git", "status"], ["git", "log", "-1"]])
    }

    func testUnexpectedCallThrowsAndIsReported() {
        let fake = FakeProcessRunner()
        fake.expect("git", ["status"], stdout: "")
        XCTAssertThrowsError(try fake.run(ProcessRequest("git", ["push", "--force"]))) { error in
            XCTAssertTrue(error is UnexpectedProcessCall, "\(error)")
            XCTAssertTrue("\(error)".contains("git push --force"))
        }
        let problems = fake.assertAllExpectationsMet()
        XCTAssertEqual(problems.count, 2, "\(problems)")
        XCTAssertTrue(problems[0].hasPrefix("unexpected call: git push --force"), problems[0])
        XCTAssertEqual(problems[1], "expected call not made: git status")
    }

    func testInOrderRejectsOutOfOrderButAnyOrderAccepts() throws {
        let strict = FakeProcessRunner()
        strict.expect("ssh", ["a"], stdout: "")
        strict.expect("ssh", ["b"], stdout: "")
        XCTAssertThrowsError(try strict.run(ProcessRequest("ssh", ["b"])))

        let loose = FakeProcessRunner(ordering: .anyOrder)
        loose.expect("ssh", ["a"], stdout: "A")
        loose.expect("ssh", ["b"], stdout: "B")
        XCTAssertEqual(try loose.run(ProcessRequest("ssh", ["b"])).stdoutString, "B")
        XCTAssertEqual(try loose.run(ProcessRequest("ssh", ["a"])).stdoutString, "A")
        XCTAssertThrowsError(try loose.run(ProcessRequest("ssh", ["a"]))) // used up
        XCTAssertEqual(loose.assertAllExpectationsMet().count, 1)
    }

    func testMatcherErrorsAndDynamicResponses() throws {
        let fake = FakeProcessRunner()
        fake.expect("rsync to any temp dir", executable: "rsync",
                    matching: { $0.executable == "rsync" && $0.arguments.last?.hasPrefix("/tmp/") == true },
                    response: .dynamic { req in ProcessResult(status: 0, stdout: Data(req.arguments.joined(separator: ",").utf8)) })
        fake.expect("docker", ["ps"], response: .error(ToolError.timedOut(argv: ["docker", "ps"], seconds: 10)))
        XCTAssertEqual(try fake.run(ProcessRequest("rsync", ["-a", "/tmp/x1"])).stdoutString, "-a,/tmp/x1")
        XCTAssertThrowsError(try fake.run(ProcessRequest("docker", ["ps"]))) { error in
            guard case .timedOut? = error as? ToolError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testWhichAndNotInstalled() {
        let fake = FakeProcessRunner(installed: ["git"])
        XCTAssertEqual(fake.which("git"), "/usr/bin/git")
        XCTAssertNil(fake.which("docker"))
        fake.install("docker", at: "/opt/bin/docker")
        XCTAssertEqual(fake.which("docker"), "/opt/bin/docker")
        fake.uninstall("git")
        XCTAssertThrowsError(try fake.run(ProcessRequest("git", ["--version"]))) { error in
            guard case .notInstalled(let tool, _)? = error as? ToolError else { return XCTFail("\(error)") }
            XCTAssertEqual(tool, "git")
        }
        // Expecting a call marks the tool installed.
        fake.expect("openssl", ["version"], stdout: "OpenSSL 3.0.15 3 Sep 2024\n")
        XCTAssertNotNil(fake.which("openssl"))
    }

    func testRunCheckedThroughFakeRedactsSecrets() {
        let fake = FakeProcessRunner()
        fake.expect("git", ["push", "https://u:hunter2@h/r"], stdout: "", stderr: "fatal: auth hunter2 rejected", status: 128)
        XCTAssertThrowsError(try fake.runChecked(ProcessRequest("git", ["push", "https://u:hunter2@h/r"], secrets: ["hunter2"]))) { error in
            let message = (error as? ToolError)?.message ?? ""
            XCTAssertFalse(message.contains("hunter2"), message)
            XCTAssertTrue(message.contains("git push https://u:***@h/r failed with exit status 128"), message)
        }
    }

    func testThreadSafe() {
        let fake = FakeProcessRunner(ordering: .anyOrder)
        for i in 0..<100 { fake.expect("echo", ["\(i)"], stdout: "\(i)") }
        DispatchQueue.concurrentPerform(iterations: 100) { i in
            _ = try? fake.run(ProcessRequest("echo", ["\(i)"]))
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(fake.calls.count, 100)
    }
}
