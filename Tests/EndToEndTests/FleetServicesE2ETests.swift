import Foundation
import XCTest

/// Services where the release is: an environment's services shipped in the release, started
/// or restarted by the push on each host (here for a local target, over ssh on network-
/// namespace hosts with tetra copied there), health-gated, sent back on failure.
final class FleetServicesE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    struct Org {
        static let token = "tok-8c1f2e-fleet"
        static let other = "other-5d93aa-not-for-web"
        let tetra: Tetra
        let root: String
        var orgDir: String { tetra.stateRoot + "/orgs/shop" }

        init(environment: String, port: Int, onDeploy: String = "restart") throws {
            root = DeployFixture.tempDir("tetra-fleet-svc")
            tetra = Tetra(stateRoot: root + "/state-root")
            XCTAssertEqual(try tetra.run(["init"]).status, 0)
            XCTAssertEqual(try tetra.run(["ports", "set", "web", String(port)]).status, 0)
            try FileManager.default.createDirectory(atPath: orgDir + "/files", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: orgDir + "/services", withIntermediateDirectories: true)
            try "[org]\nname = \"shop\"\n\n\(environment)".write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
            try "TOKEN=\(Self.token)\nOTHER=\(Self.other)\n".write(toFile: orgDir + "/secrets.env", atomically: true, encoding: .utf8)
            chmod(orgDir + "/secrets.env", 0o600)
            // The service serves its release's directory (its working directory: current).
            try """
            command = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
            port = "web"
            on_deploy = "\(onDeploy)"
            secrets = ["TOKEN"]
            env = { RELEASE_DIR = "{release}" }
            [health]
            http = "http://127.0.0.1:{port}/index.txt"
            interval = "1s"
            start_period = "0s"
            """.write(toFile: orgDir + "/services/web.toml", atomically: true, encoding: .utf8)
        }

        func version(_ v: String) throws {
            try "\(v) {{ env.name }}\n".write(toFile: orgDir + "/files/index.txt.tmpl", atomically: true, encoding: .utf8)
        }

        func push(_ env: String) throws -> (Tetra.Result, [String: Any]) {
            let r = try tetra.run(["org", "push", "shop", env, "--json"])
            return (r, (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:])
        }

        /// The service's state on the host whose target is `target`.
        func serviceStatus(_ target: String) throws -> [String: Any] {
            let r = try tetra.run(["svc", "status", "web", "--org", "shop", "--dir", target + "/.tetra/state", "--json"])
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
        }
    }

    /// GET over http from this machine (`namespace`: from inside that host), nil on failure.
    static func get(_ url: String, namespace: String? = nil) -> String? {
        let script = "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
        let argv = ["python3", "-c", script, url]
        let r = namespace.map { try? Tetra.exec(NetnsHosts.ip, ["netns", "exec", $0] + argv) }
            ?? (try? Tetra.exec(Tetra.which("python3") ?? "/usr/bin/python3", Array(argv.dropFirst())))
        guard let r, r.status == 0 else { return nil }
        return r.stdout
    }

    func testALocalTargetsServicesRestartOnPushAndGoBackWhenUnhealthy() throws {
        _ = try requireTool("python3")
        let port = try SSHServer.freePort()
        let dir = DeployFixture.tempDir("tetra-fleet-svc-target")
        let o = try Org(environment: """
            [environments.dev]
            target = "\(dir)"
            services = ["web"]
            [environments.dev.rollout]
            health_timeout = "5s"
            """, port: port)
        defer { _ = try? o.tetra.run(["svc", "stop", "web", "--org", "shop", "--dir", dir + "/.tetra/state"]) }
        try o.version("v1")
        let (first, doc) = try o.push("dev")
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(doc["outcome"] as? String, "success")
        XCTAssertEqual(Self.get("http://127.0.0.1:\(port)/index.txt"), "v1 dev\n")
        let pid1 = try o.serviceStatus(dir)["pid"] as? Int
        XCTAssertNotNil(pid1)
        // Its secrets: only what it lists, in its own 0600 file, in its environment.
        let own = dir + "/.tetra/state/state/services/shop/web/secrets.env"
        XCTAssertEqual(try String(contentsOfFile: own, encoding: .utf8), "TOKEN=\(Org.token)\n")
        XCTAssertEqual(DeployFixture.mode(own) & 0o777, 0o600)
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid1 ?? 0)/environ"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        XCTAssertTrue(environ.contains("TOKEN=\(Org.token)"), "the service got its secret")
        XCTAssertFalse(environ.contains(Org.other), "and nothing else")

        try o.version("v2")
        XCTAssertEqual(try o.push("dev").0.status, 0)
        XCTAssertEqual(Self.get("http://127.0.0.1:\(port)/index.txt"), "v2 dev\n", "restarted in the new release")
        let v2 = DeployFixture.currentLink(dir)
        XCTAssertNotEqual(try o.serviceStatus(dir)["pid"] as? Int, pid1)

        // v3 has no index.txt: the health check fails, the push goes back to v2.
        try FileManager.default.removeItem(atPath: o.orgDir + "/files/index.txt.tmpl")
        try "v3\n".write(toFile: o.orgDir + "/files/other.txt", atomically: true, encoding: .utf8)
        let (bad, bdoc) = try o.push("dev")
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertEqual(bdoc["outcome"] as? String, "rolled_back")
        let row = (bdoc["hosts"] as? [[String: Any]])?.first
        XCTAssertEqual(row?["phase"] as? String, "services")
        XCTAssertTrue((row?["error"] as? String ?? "").contains("web"), "\(row ?? [:])")
        XCTAssertEqual(DeployFixture.currentLink(dir), v2)
        XCTAssertTrue(waitFor(10) { Self.get("http://127.0.0.1:\(port)/index.txt") == "v2 dev\n" }, "v2 serves again")

        // org rollback of a target with services: switched to v1, its service restarted there.
        let back = try o.tetra.run(["org", "rollback", "shop", "dev"])
        XCTAssertEqual(back.status, 0, back.stderr)
        XCTAssertTrue(back.stderr.contains("restarting the services of"), back.stderr)
        XCTAssertEqual(Self.get("http://127.0.0.1:\(port)/index.txt"), "v1 dev\n")
    }

    func testServicesRunOnEveryHostFromTheirOwnReleaseWithTetraCopiedThere() throws {
        _ = try requireTool("python3")
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let root = DeployFixture.tempDir("tetra-fleet-svc-hosts")
        let knownHosts = root + "/known_hosts"
        try hosts.servers.map { (try? String(contentsOfFile: $0.knownHostsFile, encoding: .utf8)) ?? "" }.joined()
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let targets = (1...2).map { root + "/web\($0)" }
        // The same port on both hosts: each has its own loopback.
        let o = try Org(environment: """
            [environments.prod]
            hosts = [
              { name = "web1", target = "\(hosts.servers[0].url(path: targets[0]))" },
              { name = "web2", target = "\(hosts.servers[1].url(path: targets[1]))" },
            ]
            services = ["web"]
            ssh_key = "\(hosts.servers[0].clientKey)"
            ssh_options = ["UserKnownHostsFile=\(knownHosts)", "StrictHostKeyChecking=yes"]
            [environments.prod.rollout]
            health_timeout = "20s"
            [environments.prod.hooks]
            verify = [["sh", "-c", "test \\"$(cat index.txt)\\" = 'v1 prod'"]]
            """, port: 18_931)
        try "v1 {{ env.name }}\n".write(toFile: o.orgDir + "/files/index.txt.tmpl", atomically: true, encoding: .utf8)
        let (r, doc) = try o.push("prod")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(doc["outcome"] as? String, "success", r.stdout)
        XCTAssertTrue(r.stderr.contains("copying tetra to"), r.stderr)
        for (i, target) in targets.enumerated() {
            let bins = (try? FileManager.default.contentsOfDirectory(atPath: target + "/.tetra/bin")) ?? []
            XCTAssertEqual(bins.count, 1, "one tetra at \(target)")
            XCTAssertTrue(bins.first?.range(of: "^tetra-[0-9a-f]{12}$", options: .regularExpression) != nil, "\(bins)")
            // Served inside the host (its own loopback).
            XCTAssertEqual(Self.get("http://127.0.0.1:18931/index.txt", namespace: hosts.names[i]), "v1 prod\n")
            let status = try o.serviceStatus(target)
            XCTAssertEqual(status["health"] as? String, "healthy")
        }
        // Not here: nothing listens on this machine's port.
        XCTAssertNil(Self.get("http://127.0.0.1:18931/index.txt"))

        // The second push reuses the copied binary.
        try "v2 {{ env.name }}\n".write(toFile: o.orgDir + "/files/index.txt.tmpl", atomically: true, encoding: .utf8)
        let toml = try String(contentsOfFile: o.orgDir + "/org.toml", encoding: .utf8)
        try toml.replacingOccurrences(of: "'v1 prod'", with: "'v2 prod'").write(toFile: o.orgDir + "/org.toml", atomically: true, encoding: .utf8)
        let (again, adoc) = try o.push("prod")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(adoc["outcome"] as? String, "success")
        XCTAssertFalse(again.stderr.contains("copying tetra to"), again.stderr)

        // doctor --env: every host checked at the host.
        func doctorRows() throws -> (Tetra.Result, [String: String]) {
            let r = try o.tetra.run(["doctor", "--env", "prod", "--org", "shop", "--json"])
            let checks = ((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            var rows: [String: String] = [:]
            for c in checks { if let n = c["name"] as? String, n.hasPrefix("prod/") { rows[n] = c["status"] as? String } }
            return (r, rows)
        }
        let (d, rows) = try doctorRows()
        for host in ["web1", "web2"] {
            for what in ["reachable", "disk", "clock", "tetra", "services"] {
                XCTAssertEqual(rows["prod/\(host): \(what)"], "ok", "\(host) \(what): \(d.stdout)")
            }
        }
        hosts.down(1)
        let (down, downRows) = try doctorRows()
        XCTAssertEqual(down.status, 1, down.stderr)
        XCTAssertEqual(downRows["prod/web2: reachable"], "problem", down.stdout)
        XCTAssertEqual(downRows["prod/web1: services"], "ok", down.stdout)
        XCTAssertEqual(try o.tetra.run(["doctor", "--hosts", "web1"]).status, 2, "--hosts needs --env")
    }

    /// A host of another platform (its `uname` says s390x) cannot run the copied tetra: its
    /// row is `unsupported` naming both platforms, nothing is copied or switched there, and a
    /// push where no host can run tetra exits 6.
    func testAHostOfAnotherPlatformIsRefusedNamingBoth() throws {
        _ = try requireTool("python3")
        let root = DeployFixture.tempDir("tetra-fleet-platform")
        let fakeUname = root + "/uname"
        try "#!/bin/sh\necho 'Linux s390x'\n".write(toFile: fakeUname, atomically: true, encoding: .utf8)
        chmod(fakeUname, 0o755)
        let hosts = try NetnsHosts(count: 2, binds: [1: (fakeUname, "/usr/bin/uname")])
        defer { hosts.stop() }
        let knownHosts = root + "/known_hosts"
        try hosts.writeKnownHosts(to: knownHosts)
        let targets = (1...2).map { root + "/web\($0)" }
        func env(_ name: String, _ list: [Int], maxFailures: Int) -> String {
            """
            [environments.\(name)]
            hosts = [\(list.map { "{ name = \"web\($0 + 1)\", target = \"\(hosts.servers[$0].url(path: targets[$0] + name))\" }" }.joined(separator: ", "))]
            services = ["web"]
            ssh_key = "\(hosts.servers[0].clientKey)"
            ssh_options = ["UserKnownHostsFile=\(knownHosts)", "StrictHostKeyChecking=yes"]
            [environments.\(name).rollout]
            health_timeout = "20s"
            max_failures = \(maxFailures)

            """
        }
        let o = try Org(environment: env("prod", [0, 1], maxFailures: 1) + env("arm", [1], maxFailures: 0), port: 18_933)
        try o.version("v1")
        let (r, doc) = try o.push("prod")
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertEqual(doc["outcome"] as? String, "partial", r.stdout)
        let rows = (doc["hosts"] as? [[String: Any]]) ?? []
        XCTAssertEqual(rows.map { $0["result"] as? String }, ["ok", "unsupported"], r.stdout)
        let error = rows.last?["error"] as? String ?? ""
        let local = try Tetra.exec("/bin/sh", ["-c", "uname -sm"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(error.contains("'Linux s390x'") && error.contains("'\(local)'"), error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: targets[1] + "prod/current"), "nothing switched on the arm host")
        XCTAssertFalse(FileManager.default.fileExists(atPath: targets[1] + "prod/.tetra/bin"), "no tetra copied there")

        let (only, odoc) = try o.push("arm")
        XCTAssertEqual(only.status, 6, only.stdout + only.stderr)
        XCTAssertEqual(odoc["outcome"] as? String, "failed", only.stdout)
        XCTAssertEqual(((odoc["hosts"] as? [[String: Any]]) ?? []).first?["result"] as? String, "unsupported")
    }
}
