import Foundation
import XCTest
@testable import TetraCLI
@testable import TetraCore

/// `svc ... --env ENV` in-process: flags, a host not pushed to yet, dry runs, and the pieces
/// the merge is made of (the hosts are real in SvcFleetE2ETests).
final class SvcFleetCommandTests: XCTestCase {
    /// Org `acme` with env `dev` (a local target running `web`) and env `plain` (no services).
    func withOrg() throws -> (InProcess, String) {
        var cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        let org = cli.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: org + "/services", withIntermediateDirectories: true)
        let target = cli.stateRoot + "/target"
        try """
        [org]
        name = "acme"
        [environments.dev]
        target = "\(target)"
        services = ["web"]
        [environments.plain]
        target = "\(target)-plain"
        """.write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "command = [\"sleep\", \"60\"]\n".write(toFile: org + "/services/web.toml", atomically: true, encoding: .utf8)
        cli.environment["TETRA_ORG"] = "acme"
        return (cli, target)
    }

    func testFlagsAndEnvironmentsWithoutServices() throws {
        let (cli, _) = try withOrg()
        XCTAssertEqual(cli.run(["svc", "status", "--hosts", "local"]).status, 2, "--hosts needs --env")
        XCTAssertEqual(cli.run(["svc", "status", "--env", "ghost"]).status, 4)
        let plain = cli.run(["svc", "status", "--env", "plain"])
        XCTAssertEqual(plain.status, 2)
        XCTAssertTrue(plain.stderr.contains("runs no services"), plain.stderr)
        XCTAssertEqual(cli.run(["svc", "status", "--env", "dev", "--hosts", "web9"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "logs", "web", "-f", "--env", "dev", "--json"]).status, 2)
        XCTAssertEqual(cli.run(["svc", "restart", "UPPER", "--env", "dev"]).status, 2)
    }

    func testAHostWithoutAPushSaysSo() throws {
        let made = try withOrg()
        var cli = made.0
        let target = made.1
        cli.useRealProcesses()
        let r = cli.run(["svc", "status", "--env", "dev", "--json"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let hosts = try XCTUnwrap(doc["hosts"] as? [[String: Any]])
        XCTAssertEqual(hosts.count, 1)
        XCTAssertEqual(hosts[0]["host"] as? String, "local")
        XCTAssertEqual(hosts[0]["result"] as? String, "not_pushed")
        XCTAssertEqual(hosts[0]["target"] as? String, target)
        XCTAssertTrue((hosts[0]["error"] as? String ?? "").contains("no push with services yet"))
        XCTAssertEqual((doc["services"] as? [Any])?.count, 0)
        let text = cli.run(["svc", "status", "--env", "dev"])
        XCTAssertTrue(text.stdout.contains("local") && text.stdout.contains("not_pushed: no push with services yet"), text.stdout)
    }

    func testDryRunsNameTheHostsAndContactNone() throws {
        let (cli, target) = try withOrg()
        let r = cli.run(["svc", "restart", "web", "--env", "dev", "--dry-run", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(doc["would_restart"] as? String, "web")
        XCTAssertEqual(doc["dry_run"] as? Bool, true)
        XCTAssertEqual((doc["hosts"] as? [[String: Any]])?.first?["host"] as? String, "local")
        XCTAssertEqual(cli.run(["svc", "stop", "--all", "--env", "dev", "--dry-run"]).stdout, "would stop every service on local\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }

    func testLinesAreSplitAcrossChunks() {
        final class Collected: @unchecked Sendable {
            let lock = Lock()
            var lines: [String] = []
        }
        let got = Collected()
        let splitter = LineSplitter { l in got.lock.withLock { got.lines.append(l) } }
        splitter.feed(Data("one\ntw".utf8))
        splitter.feed(Data("o\n\nthr".utf8))
        XCTAssertEqual(got.lock.withLock { got.lines }, ["one", "two", ""])
        splitter.finish()
        XCTAssertEqual(got.lock.withLock { got.lines }, ["one", "two", "", "thr"])
    }

    func testHostDocumentsKeepTheirValues() throws {
        let text = #"{"a":1,"b":1.5,"c":"x","d":[true,false],"e":{"f":-2}}"#
        let value = try JSONDecoder().decode(HostJSON.self, from: Data(text.utf8))
        XCTAssertEqual(value["a"], .integer(1))
        XCTAssertEqual(value["b"], .number(1.5))
        XCTAssertEqual(value["d"], .array([.bool(true), .bool(false)]))
        XCTAssertEqual(value["e"]?["f"]?.text, "-2")
        let tagged = try XCTUnwrap(FleetServices.tagged(value, host: "web1"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        XCTAssertEqual(String(decoding: try encoder.encode(tagged), as: UTF8.self),
                       #"{"a":1,"b":1.5,"c":"x","d":[true,false],"e":{"f":-2},"host":"web1"}"#)
        XCTAssertNil(FleetServices.tagged(.array([]), host: "web1"))
    }
}
