import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// `tetra library ...` in-process with the fail-closed fake runner: arguments, errors and
/// redaction (the real-git scenarios are in LibraryTests and LibraryE2ETests).
final class LibraryCommandTests: XCTestCase {
    func testInitWithoutURLIsAUsageErrorNamingTheConfigKey() {
        let cli = InProcess()
        let r = cli.run(["library", "init"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no library URL given and no library_url in"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hint: run 'tetra library init URL', or set library_url"), r.stderr)
        XCTAssertEqual(cli.runner.assertAllExpectationsMet(), [])
    }

    func testCommandsOnAMissingLibraryAreNotFound() {
        let cli = InProcess()
        for args in [["library", "status"], ["library", "update"], ["library", "rollback"], ["library", "list"]] {
            let r = cli.run(args)
            XCTAssertEqual(r.status, 4, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("hint: clone one with 'tetra library init URL'"), r.stderr)
        }
        let log = cli.run(["library", "log"])
        XCTAssertEqual(log.status, 0)
        XCTAssertEqual(log.stdout, "no library history yet (tetra library init URL)\n")
    }

    func testAnUnreachableURLIsExit6AndTheTokenIsNeverPrinted() throws {
        let runner = FakeProcessRunner(ordering: .anyOrder)
        runner.expect("git clone", executable: "git", matching: { $0.arguments.first == "clone" },
                      response: .result(ProcessResult(status: 128, stderr: Data("fatal: unable to access 'https://bob:tok3nSECRET@127.0.0.1:1/r.git/': Failed to connect to 127.0.0.1 port 1\n".utf8))))
        let cli = InProcess(runner: runner)
        let r = cli.run(["library", "init", "https://bob:tok3nSECRET@127.0.0.1:1/r.git"])
        XCTAssertEqual(r.status, 6)
        XCTAssertFalse(r.stderr.contains("tok3nSECRET"), r.stderr)
        XCTAssertTrue(r.stderr.contains("could not clone the library at https://bob:***@127.0.0.1:1/r.git: fatal: unable to access"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hint: check the URL"), r.stderr)
        let audit = try String(contentsOfFile: cli.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertFalse(audit.contains("tok3nSECRET"), audit)
        XCTAssertTrue(audit.contains("\"exit_code\":6"), audit)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.stateRoot + "/library"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cli.stateRoot).filter { $0.hasPrefix(".library") }, [])
    }

    func testBadArgumentsAreRefusedBeforeGitRuns() {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["library", "init", "--", "--upload-pack=touch /tmp/x"]).status, 2)
        XCTAssertEqual(cli.run(["library", "init", "file:///x", "--ref", "a..b"]).status, 2)
        XCTAssertEqual(cli.runner.assertAllExpectationsMet(), [])
    }

    /// A URL's credentials are used for the clone through git's environment, never in argv or
    /// the stored remote URL; the history records the redacted URL and the operator is told.
    func testCredentialsAreUsedForTheCloneOnlyAndNotStored() throws {
        let runner = FakeProcessRunner(ordering: .inOrder)
        let url = "https://bob:tok3nSECRET@git.example.com/ops/t.git"
        // The token is never in argv: git gets it from its environment (a credential helper).
        runner.expect("clone", executable: "git", matching: { $0.arguments.first == "clone" && $0.arguments.contains("https://git.example.com/ops/t.git") },
                      response: .dynamic({ request in
                          try FileManager.default.createDirectory(atPath: request.arguments.last! + "/.git", withIntermediateDirectories: true)
                          XCTAssertTrue(request.secrets.contains("tok3nSECRET"), "the token is registered as a secret")
                          XCTAssertFalse(request.arguments.joined(separator: " ").contains("tok3nSECRET"), "\(request.arguments)")
                          XCTAssertEqual(request.environment["TETRA_GIT_USERNAME"], "bob")
                          XCTAssertEqual(request.environment["TETRA_GIT_PASSWORD"], "tok3nSECRET")
                          XCTAssertEqual(request.environment["GIT_CONFIG_KEY_1"], "credential.helper")
                          return ProcessResult(status: 0)
                      }))
        runner.expect("git", ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], stdout: "1234567890abcdef\n")
        runner.expect("git", ["symbolic-ref", "--short", "-q", "HEAD"], stdout: "main\n")
        let cli = InProcess(runner: runner)
        let r = cli.run(["library", "init", url])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(runner.assertAllExpectationsMet(), [])
        XCTAssertEqual(r.stdout, "cloned https://bob:***@git.example.com/ops/t.git into \(cli.stateRoot)/library: main at 1234567, 0 templates\n")
        XCTAssertTrue(r.stderr.contains("the credentials in the URL were used for this clone only and not stored"), r.stderr)
        let history = try String(contentsOfFile: cli.stateRoot + "/state/library-history.jsonl", encoding: .utf8)
        XCTAssertFalse(history.contains("tok3nSECRET"), history)
        XCTAssertTrue(history.contains("\"url\":\"https://bob:***@git.example.com/ops/t.git\""), history)
        XCTAssertTrue(history.contains("\"action\":\"init\""), history)
    }
}
