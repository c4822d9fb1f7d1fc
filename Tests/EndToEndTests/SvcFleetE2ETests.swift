import Foundation
import TetraTestSupport
import XCTest

/// `svc ... --env ENV`: the services a push started on real hosts (network namespaces with an
/// sshd each, `NetnsHosts`), acted on from here through each host's installed tetra.
final class SvcFleetE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    /// Org `shop` whose env `prod` runs service `web` (python3's http.server on the registered
    /// port 3291, health over http) on hosts web1 and web2.
    struct Fleet {
        let base: FleetOrgFixture
        var tetra: Tetra { base.tetra }
        var root: String { base.root }
        var hosts: NetnsHosts { base.hosts }
        var orgDir: String { base.orgDir }
        func target(_ i: Int) -> String { base.target(i) }

        init(hosts: NetnsHosts) throws {
            base = try FleetOrgFixture(hosts: hosts, prefix: "tetra-svcfleet-e2e", port: ("web", 3291))
            try FileManager.default.createDirectory(atPath: base.orgDir + "/services", withIntermediateDirectories: true)
            try "hello\n".write(toFile: base.orgDir + "/files/index.html", atomically: true, encoding: .utf8)
            try base.writeOrg("""
            [environments.prod]
            hosts = [
            \(base.hostLines())
            ]
            services = ["web"]
            \(base.sshSettings(connectTimeout: 3))

            [environments.prod.rollout]
            health_timeout = "30s"

            """)
            try """
            command = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
            port = "web"

            [health]
            http = "http://127.0.0.1:{port}/"
            interval = "1s"

            """.write(toFile: base.orgDir + "/services/web.toml", atomically: true, encoding: .utf8)
        }

        func svc(_ args: [String]) throws -> (Tetra.Result, [String: Any]) {
            let r = try tetra.run(["svc"] + args + ["--org", "shop", "--json"])
            let doc = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
            return (r, doc)
        }

        /// The records of a merged document by host.
        static func rows(_ doc: [String: Any], _ key: String = "services") -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for row in doc[key] as? [[String: Any]] ?? [] { out[row["host"] as? String ?? ""] = row }
            return out
        }
    }

    func testSvcActsOnTheServicesOfEveryHost() throws {
        _ = try requireTool("python3")
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let f = try Fleet(hosts: hosts)

        // Before any push: each host says so.
        let (before, bdoc) = try f.svc(["status", "--env", "prod"])
        XCTAssertEqual(before.status, 1, before.stderr)
        XCTAssertEqual(Fleet.rows(bdoc, "hosts").mapValues { $0["result"] as? String }, ["web1": "not_pushed", "web2": "not_pushed"])
        XCTAssertTrue((Fleet.rows(bdoc, "hosts")["web1"]?["error"] as? String ?? "").contains("no push with services yet"))

        let push = try f.tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(push.status, 0, push.stdout + push.stderr)

        let pinner = GoldenPinner(tetra: f.tetra, replacements: [(f.root, "$WORK")] + (0..<2).map { (hosts.address($0) + ":", "$HOST\($0 + 1):") })
        let status = try pinner.pin("svc status env", ["svc", "status", "--env", "prod", "--org", "shop"], strings: ["time"])
        let rows = Fleet.rows(status)
        XCTAssertEqual(rows.mapValues { $0["state"] as? String }, ["web1": "running", "web2": "running"])
        XCTAssertEqual(rows.mapValues { $0["health"] as? String }, ["web1": "healthy", "web2": "healthy"])
        let pids = rows.mapValues { $0["pid"] as? Int }

        // Text: one row per host and service.
        let text = try f.tetra.run(["svc", "status", "--env", "prod", "--org", "shop"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertEqual(text.stdout.split(separator: "\n").filter { $0.hasPrefix("web1 ") || $0.hasPrefix("web2 ") }.count, 2, text.stdout)

        // Restart on web1 only: its pid changes, web2's does not.
        let restarted = try pinner.pin("svc restart env", ["svc", "restart", "web", "--env", "prod", "--hosts", "web1", "--org", "shop"])
        XCTAssertEqual(Fleet.rows(restarted).keys.sorted(), ["web1"])
        let (now, after) = try f.svc(["status", "web", "--env", "prod"])
        let newPids = Fleet.rows(after).mapValues { $0["pid"] as? Int }
        XCTAssertNotEqual(newPids["web1"] ?? nil, pids["web1"] ?? nil, now.stdout + now.stderr)
        XCTAssertEqual(newPids["web2"] ?? nil, pids["web2"] ?? nil, now.stdout + now.stderr)

        // Health now, and logs (the health checks' requests, on stderr) prefixed host/service.
        let (health, hdoc) = try f.svc(["health", "web", "--env", "prod"])
        XCTAssertEqual(health.status, 0, health.stderr)
        XCTAssertEqual(Fleet.rows(hdoc).mapValues { $0["healthy"] as? Bool }, ["web1": true, "web2": true])
        XCTAssertTrue(waitFor(10) {
            let logs = try? f.tetra.run(["svc", "logs", "web", "--stderr", "--env", "prod", "--org", "shop"])
            return logs?.stdout.contains("web1/web ") == true && logs?.stdout.contains("web2/web ") == true
        })
        try assertFollowMergesHosts(f)

        // Stop everywhere.
        let (stop, sdoc) = try f.svc(["stop", "--all", "--env", "prod"])
        XCTAssertEqual(stop.status, 0, stop.stderr)
        XCTAssertEqual(Fleet.rows(sdoc).mapValues { $0["action"] as? String }, ["web1": "stopped", "web2": "stopped"])
        let (_, stopped) = try f.svc(["status", "--env", "prod"])
        XCTAssertEqual(Fleet.rows(stopped).mapValues { $0["state"] as? String }, ["web1": "stopped", "web2": "stopped"])
    }

    /// `logs -f --env`: lines of both hosts, prefixed; Ctrl-C ends every session, and no
    /// follower is left running at a host.
    func assertFollowMergesHosts(_ f: Fleet, file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["svc", "logs", "web", "-f", "--stderr", "-n", "0", "--env", "prod", "--org", "shop"]
        process.environment = f.tetra.environment
        let out = f.root + "/follow.out"
        XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: nil))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        let both = waitFor(15) {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return text.contains("web1/web ") && text.contains("web2/web ")
        }
        XCTAssertTrue(both, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", file: file, line: line)
        process.interrupt()
        XCTAssertTrue(waitFor(10) { !process.isRunning }, "logs -f did not end on SIGINT", file: file, line: line)
        if !process.isRunning { XCTAssertEqual(process.terminationStatus, 0, file: file, line: line) } else { process.terminate() }
        XCTAssertTrue(waitFor(10) { !Self.followerRunning(f) }, "a follower is left at a host", file: file, line: line)
    }

    /// Whether a `svc logs -f` of this fleet still runs (the hosts share this machine's process table).
    static func followerRunning(_ f: Fleet) -> Bool {
        let r = try? Tetra.exec("/usr/bin/pgrep", ["-f", f.root + "/targets/.*svc logs"])
        return r?.status == 0
    }

    func testADownHostIsNamedAndFailsTheCommand() throws {
        _ = try requireTool("python3")
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let f = try Fleet(hosts: hosts)
        let push = try f.tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(push.status, 0, push.stdout + push.stderr)
        hosts.down(1)
        let (r, doc) = try f.svc(["status", "--env", "prod"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let reports = Fleet.rows(doc, "hosts")
        XCTAssertEqual(reports["web1"]?["result"] as? String, "ok")
        XCTAssertEqual(reports["web2"]?["result"] as? String, "unreachable")
        XCTAssertEqual(Fleet.rows(doc).keys.sorted(), ["web1"])
        let text = try f.tetra.run(["svc", "status", "--env", "prod", "--org", "shop"])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stdout.contains("web2") && text.stdout.contains("unreachable"), text.stdout)
        // Only the down host chosen: none reachable, exit 6.
        XCTAssertEqual(try f.svc(["status", "--env", "prod", "--hosts", "web2"]).0.status, 6)
    }
}
