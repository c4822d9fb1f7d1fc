import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class ProcessToolsTests: XCTestCase {
    func testVersionParsing() {
        XCTAssertEqual(ToolVersion.git("git version 2.39.5\n"), "2.39.5")
        XCTAssertEqual(ToolVersion.git("git version 2.39.5 (Apple Git-154)\n"), "2.39.5")
        XCTAssertEqual(ToolVersion.ssh("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n"), "9.2p1")
        XCTAssertEqual(ToolVersion.ssh("OpenSSH_8.9p1, LibreSSL 3.3.6"), "8.9p1")
        XCTAssertEqual(ToolVersion.openssl("OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)\n"), "3.0.15")
        XCTAssertEqual(ToolVersion.openssl("LibreSSL 3.3.6\n"), "3.3.6")
        XCTAssertEqual(ToolVersion.docker("Docker version 24.0.7, build afdd53b\n"), "24.0.7")
        XCTAssertEqual(ToolVersion.docker("podman version 4.3.1\n"), "4.3.1")
        XCTAssertEqual(ToolVersion.rsync("rsync  version 3.2.7  protocol version 31\nCopyright (C) 1996-2022\n"), "3.2.7")
        XCTAssertNil(ToolVersion.git("something else"))
    }

    func testWrappersUseTheExpectedArgvAndStreams() throws {
        let fake = FakeProcessRunner()
        fake.expect("git", ["--version"], stdout: "git version 2.39.5\n")
        fake.expect("ssh", ["-V"], stdout: "", stderr: "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n")
        fake.expect("openssl", ["version"], stdout: "OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)\n")
        fake.expect("docker", ["--version"], stdout: "Docker version 24.0.7, build afdd53b\n")
        fake.expect("rsync", ["--version"], stdout: "rsync  version 3.2.7  protocol version 31\n")
        XCTAssertEqual(try Git(runner: fake).version(), "2.39.5")
        XCTAssertEqual(try SSH(runner: fake).version(), "9.2p1")
        XCTAssertEqual(try OpenSSL(runner: fake).version(), "3.0.15")
        XCTAssertEqual(try Docker(runner: fake).version(), "24.0.7")
        XCTAssertEqual(try Rsync(runner: fake).version(), "3.2.7")
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        for call in fake.calls { XCTAssertEqual(call.timeout, 10) }
    }

    func testGitRunReturnsStdoutAndThrowsOnFailure() throws {
        let fake = FakeProcessRunner()
        fake.expect("git rev-parse in repo", executable: "git",
                    matching: { $0.arguments == ["rev-parse", "HEAD"] && $0.workingDirectory == "/repo"
                                && $0.environment["GIT_TERMINAL_PROMPT"] == "0" },
                    response: .result(ProcessResult(status: 0, stdout: Data("abc123\n".utf8))))
        fake.expect("git", ["fetch"], stdout: "", stderr: "fatal: could not read from remote\n", status: 128)
        XCTAssertEqual(try Git(runner: fake).run(["rev-parse", "HEAD"], in: "/repo"), "abc123\n")
        XCTAssertThrowsError(try Git(runner: fake).run(["fetch"])) { error in
            XCTAssertEqual((error as? ToolError)?.exitCode, .toolFailed)
            XCTAssertTrue(((error as? ToolError)?.message ?? "").contains("could not read from remote"))
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testInventoryWithFake() {
        let fake = FakeProcessRunner(ordering: .anyOrder)
        fake.expect("git", ["--version"], stdout: "git version 2.39.5\n")
        fake.expect("ssh", ["-V"], stdout: "", stderr: "OpenSSH_9.2p1 Debian-2, OpenSSL 3.0.15\n")
        fake.expect("openssl", ["version"], stdout: "", stderr: "error: broken install\n", status: 1)
        fake.install("rsync")
        fake.uninstall("rsync") // not installed
        let tools = ToolInventory(runner: fake).check()
        XCTAssertEqual(tools.map(\.name), ["git", "docker", "ssh", "rsync", "openssl", "curl"])
        XCTAssertEqual(tools[0], .init(name: "git", path: "/usr/bin/git", version: "2.39.5", error: nil))
        XCTAssertEqual(tools[1], .init(name: "docker", path: nil, version: nil, error: "not found on PATH"))
        XCTAssertEqual(tools[2].version, "9.2p1")
        XCTAssertFalse(tools[3].present)
        XCTAssertTrue(tools[4].present)
        XCTAssertNil(tools[4].version)
        XCTAssertTrue(tools[4].error?.contains("broken install") == true, "\(tools[4])")
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testInventoryWithRealTools() throws {
        let tools = ToolInventory(runner: ProcTestSupport.runner).check()
        XCTAssertEqual(tools.count, 6)
        if let curl = tools.first(where: { $0.name == "curl" }), curl.present { XCTAssertNotNil(curl.version, "\(curl)") }
        for tool in tools where tool.present {
            // Whatever is installed here must yield a version that starts with a digit.
            XCTAssertEqual(tool.version?.first?.isNumber, true, "\(tool)")
        }
        let git = try XCTUnwrap(tools.first { $0.name == "git" })
        if git.present { XCTAssertNotNil(git.version) }
    }
}

final class ProcessShellQuoteTests: XCTestCase {
    func testQuoteForms() {
        XCTAssertEqual(ShellQuote.quote(""), "''")
        XCTAssertEqual(ShellQuote.quote("simple-word_1.2/x:y,z+@%"), "simple-word_1.2/x:y,z+@%")
        XCTAssertEqual(ShellQuote.quote("two words"), "'two words'")
        XCTAssertEqual(ShellQuote.quote("it's"), "'it'\\''s'")
        XCTAssertEqual(ShellQuote.quote("a=b"), "'a=b'")
        XCTAssertEqual(ShellQuote.quote("~root"), "'~root'")
        XCTAssertEqual(ShellQuote.join(["ls", "-l", "my file"]), "ls -l 'my file'")
    }

    func testRoundTripThroughARealShell() throws {
        let nasty = [
            "", " ", "two words", "it's", "'", "''", "\"", "\"double\"", "$(touch /tmp/tetra-pwned)", "`id`",
            "$HOME", "${PATH}", "a\nb", "\n", "trailing\n", "*", "?", "[a-z]*", "~", "~root", "-n", "-e", "--help",
            "a;b", "a|b", "a&b", "a>b", "<", "!", "!!", "#comment", "a=b", "{a,b}", "\\", "\\n", "\t", "tab\there",
            "naïve ünïcødé ✓ 日本", "\u{7f}", "back\\slash'quote\"mix $x `y`", "%s", "%%", "-",
        ]
        let quoted = ShellQuote.join(nasty)
        let script = "printf '%s\\0' " + quoted
        let r = try ProcTestSupport.runner.run(ProcessRequest("sh", ["-c", script], timeout: 10))
        XCTAssertEqual(r.status, 0, r.stderrString)
        var parts = r.stdout.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(parts.last, "") // after the final NUL
        parts.removeLast()
        XCTAssertEqual(parts, nasty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/tetra-pwned"))
    }

    func testEachWordAloneRoundTrips() throws {
        for word in ["$(id)", "a b", "'\"'", "x\ny", "*"] {
            let r = try ProcTestSupport.runner.run(ProcessRequest("sh", ["-c", "printf %s " + ShellQuote.quote(word)]))
            XCTAssertEqual(r.stdoutString, word)
        }
    }
}
