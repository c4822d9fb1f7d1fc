import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// `tetra svc` in-process: usage errors, listings and definitions (no process is started
/// here; the end-to-end tests run real services).
final class SvcCommandTests: XCTestCase {
    func withOrg() throws -> InProcess {
        var cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        try FileManager.default.createDirectory(atPath: cli.stateRoot + "/orgs/acme/services", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n".write(toFile: cli.stateRoot + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        cli.environment["TETRA_ORG"] = "acme"
        return cli
    }

    func testUsageErrors() throws {
        let cli = try withOrg()
        XCTAssertEqual(cli.run(["svc", "start"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "start", "a", "--all"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "stop"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "create", "web"]).status, 2, "--command is required")
        XCTAssertEqual(cli.run(["svc", "create", "web", "--command", "'unterminated"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "logs", "UPPER"]).status, 2)
        var noOrg = InProcess()
        XCTAssertEqual(noOrg.run(["init"]).status, 0)
        noOrg.environment["TETRA_ORG"] = nil
        let r = noOrg.run(["svc", "list"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no org selected"), r.stderr)
        XCTAssertEqual(noOrg.run(["svc", "list", "--org", "ghost"]).status, 4)
    }

    func testCreateListStatusAndJSON() throws {
        let cli = try withOrg()
        var r = cli.run(["svc", "create", "web", "--command", "python3 -m http.server {port}", "--port", "4100",
                         "--health-http", "http://127.0.0.1:{port}/"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "created service web (\(cli.stateRoot)/orgs/acme/services/web.toml)\n")
        r = cli.run(["svc", "create", "web", "--command", "x"])
        XCTAssertEqual(r.status, 5)
        r = cli.run(["svc", "create", "dry", "--command", "x", "--dry-run"])
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.stateRoot + "/orgs/acme/services/dry.toml"))

        r = cli.run(["svc", "list"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("web   process  stopped  unknown  -    -       0         4100"), r.stdout)
        r = cli.run(["svc", "status", "web", "--json"])
        let s = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(s?["name"] as? String, "web")
        XCTAssertEqual(s?["org"] as? String, "acme")
        XCTAssertEqual(s?["state"] as? String, "stopped")
        XCTAssertEqual(s?["port"] as? Int, 4100)
        r = cli.run(["svc", "status", "nope", "--json"])
        XCTAssertEqual(r.status, 4)
        XCTAssertTrue(r.stderr.contains("\"code\":4") || r.stderr.contains("\"code\" : 4"), r.stderr)

        r = cli.run(["svc", "start", "--all", "--dry-run"])
        XCTAssertEqual(r.stdout, "would start web\n")
        r = cli.run(["svc", "remove", "web"])
        XCTAssertEqual(r.status, 7, "needs --yes")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cli.stateRoot + "/orgs/acme/services/web.toml"))
    }

    func testInvalidDefinitionIsExit3WithEveryProblem() throws {
        let cli = try withOrg()
        try "command = [\"x\"]\nport = true\n".write(toFile: cli.stateRoot + "/orgs/acme/services/a.toml", atomically: true, encoding: .utf8)
        try "command = 5\n".write(toFile: cli.stateRoot + "/orgs/acme/services/b.toml", atomically: true, encoding: .utf8)
        let r = cli.run(["svc", "list"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("a.toml:2:8"), r.stderr)
        XCTAssertTrue(r.stderr.contains("b.toml:1:11"), r.stderr)
    }

    func testCommandWords() throws {
        XCTAssertEqual(try CommandWords.split("python3 -m http.server {port}"), ["python3", "-m", "http.server", "{port}"])
        XCTAssertEqual(try CommandWords.split(#"sh -c 'echo $HOME; x' "a \"b\"" c\ d"#), ["sh", "-c", "echo $HOME; x", "a \"b\"", "c d"])
        XCTAssertThrowsError(try CommandWords.split("  "))
    }

    func testPrintUnit() throws {
        let cli = try withOrg()
        let r = cli.run(["svc", "boot", "--print-unit"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ExecStart=tetra svc boot --org acme"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ExecStop=tetra svc stop --all --org acme"), r.stdout)
        XCTAssertTrue(r.stdout.contains("[Install]"), r.stdout)
    }
}
