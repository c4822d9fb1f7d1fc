import Foundation
import TetraTestSupport
import XCTest

/// Fleet pushes of the built binary to real hosts: network namespaces with an sshd each
/// (`NetnsHosts`). Every host has its own target directory (the file system is shared).
final class FleetE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    /// A state root with org `shop` whose env `prod` has the namespaces' sshds as hosts.
    struct Fleet {
        let base: FleetOrgFixture
        var tetra: Tetra { base.tetra }
        var root: String { base.root }
        var hosts: NetnsHosts { base.hosts }
        var orgDir: String { base.orgDir }
        func target(_ i: Int) -> String { base.target(i) }
        func current(_ i: Int) -> String? { DeployFixture.currentLink(target(i)) }

        init(hosts: NetnsHosts, verify: String = #"[["test", "-f", "{release}/host.txt"]]"#, rollout: String = "batch = 1",
             extraHosts: String = "", prodExtra: String = "", extraEnvironments: String = "") throws {
            base = try FleetOrgFixture(hosts: hosts, prefix: "tetra-fleet-e2e", port: ("api", 3200))
            let root = base.root
            try base.writeOrg("""
            [vars]
            greeting = "hello"

            [environments.prod]
            hosts = [
            \(base.hostLines { i in ", vars = { node = \(i + 1) }" + (i == 0 ? ", tags = [\"eu\"]" : "") })
            \(extraHosts)
            ]
            \(base.sshSettings(connectTimeout: 10))
            \(prodExtra)

            [environments.prod.rollout]
            health_timeout = "4s"
            \(rollout)

            [environments.prod.hooks]
            pre_push = [["sh", "-c", "echo \\"pre $TETRA_ENV $TETRA_HOSTS $TETRA_RELEASE\\" >> \(root)/hooks.log"]]
            verify = \(verify)
            post_push = [["sh", "-c", "echo \\"post $TETRA_OUTCOME\\" >> \(root)/hooks.log; cp \\"$TETRA_RESULT_JSON\\" \(root)/result.json"]]

            \(extraEnvironments)
            """)
            try setVersion("v1")
        }

        func setVersion(_ v: String) throws {
            try "\(v) {{ greeting }} from {{ host.name }} node {{ host.vars.node }} api {{ ports.api }}\n"
                .write(toFile: orgDir + "/files/host.txt.tmpl", atomically: true, encoding: .utf8)
        }

        func push(_ extra: [String] = []) throws -> (Tetra.Result, [String: Any]) {
            let r = try tetra.run(["org", "push", "shop", "prod", "--json"] + extra)
            let doc = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
            return (r, doc)
        }

        static func rows(_ doc: [String: Any]) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for h in doc["hosts"] as? [[String: Any]] ?? [] { out[h["host"] as? String ?? ""] = h }
            return out
        }

        /// No lock and no partial upload left at any host.
        func assertSettled(file: StaticString = #filePath, line: UInt = #line) {
            for i in hosts.servers.indices {
                XCTAssertFalse(FileManager.default.fileExists(atPath: target(i) + "/.tetra/lock"), "web\(i + 1) still locked", file: file, line: line)
                let partials = DeployFixture.releases(target(i)).filter { $0.hasSuffix(".partial") }
                XCTAssertEqual(partials, [], "web\(i + 1)", file: file, line: line)
            }
        }
    }

    func testPushActivatesEveryHostInBatchesAndVerifiesOnTheHost() throws {
        let hosts = try NetnsHosts(count: 3)
        defer { hosts.stop() }
        // The verify hook records the address of the machine it ran on: each host's own.
        let f = try Fleet(hosts: hosts, verify: #"[["test", "-f", "{release}/host.txt"], ["sh", "-c", "ip -4 -o addr show dev eth0 > {release}/../../verified-on"]]"#)
        let (r, doc) = try f.push()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(doc["outcome"] as? String, "success")
        XCTAssertEqual(doc["batch_count"] as? Int, 3)
        let release = try XCTUnwrap(doc["release"] as? String)
        let rows = Fleet.rows(doc)
        XCTAssertEqual(rows.keys.sorted(), ["web1", "web2", "web3"])
        for i in 0..<3 {
            XCTAssertEqual(rows["web\(i + 1)"]?["result"] as? String, "ok")
            XCTAssertEqual(rows["web\(i + 1)"]?["phase"] as? String, "done")
            XCTAssertEqual(f.current(i), "releases/" + release)
            XCTAssertEqual(try String(contentsOfFile: f.target(i) + "/current/host.txt", encoding: .utf8),
                           "v1 hello from web\(i + 1) node \(i + 1) api 3200\n")
            XCTAssertTrue(try String(contentsOfFile: f.target(i) + "/verified-on", encoding: .utf8).contains(hosts.address(i) + "/24"))
        }
        let log = try String(contentsOfFile: f.root + "/hooks.log", encoding: .utf8)
        XCTAssertEqual(log, "pre prod web1,web2,web3 \(release)\npost success\n")
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.root + "/result.json"))) as? [String: Any]
        XCTAssertEqual((result?["hosts"] as? [Any])?.count, 3)
        f.assertSettled()

        // Text: one row per host.
        try f.setVersion("v2")
        let text = try f.tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("push shop to prod: success"), text.stdout)
        for name in ["web1", "web2", "web3"] { XCTAssertTrue(text.stdout.contains("\n" + name + " "), text.stdout) }
        XCTAssertTrue(text.stderr.contains("activating batch 3 of 3: web3"), text.stderr)
    }

    func testAFailedHostRollsBackEveryActivatedHostPastMaxFailures() throws {
        let hosts = try NetnsHosts(count: 3)
        defer { hosts.stop() }
        // web2's verify fails once v2 is there.
        let f = try Fleet(hosts: hosts, verify: #"[["sh", "-c", "! grep -q 'v2 hello from web2' host.txt"]]"#)
        let (first, _) = try f.push()
        XCTAssertEqual(first.status, 0, first.stderr)
        let v1 = (0..<3).map { f.current($0) }

        try f.setVersion("v2")
        // The fleet document of `org push`, pinned (docs/json.md).
        let pinner = GoldenPinner(tetra: f.tetra, replacements: [(f.root, "$WORK")] + (0..<3).map { (hosts.address($0) + ":", "$HOST\($0 + 1):") })
        let doc = try pinner.pin("org push fleet", ["org", "push", "shop", "prod"], status: 1,
                                 strings: ["release", "previous", "snapshot"], numbers: ["bytes_sent", "files_sent"])
        XCTAssertEqual(doc["outcome"] as? String, "rolled_back")
        let rows = Fleet.rows(doc)
        XCTAssertEqual(rows["web1"]?["result"] as? String, "rolled_back")
        XCTAssertEqual(rows["web2"]?["result"] as? String, "failed")
        XCTAssertEqual(rows["web2"]?["phase"] as? String, "verify")
        XCTAssertTrue((rows["web2"]?["error"] as? String ?? "").contains("verify failed on web2"))
        XCTAssertEqual(rows["web3"]?["result"] as? String, "not_activated")
        XCTAssertEqual((0..<3).map { f.current($0) }, v1, "every host back on v1")
        XCTAssertEqual(DeployFixture.releases(f.target(2)).count, 1, "web3's upload was removed")
        XCTAssertTrue(try String(contentsOfFile: f.root + "/hooks.log", encoding: .utf8).hasSuffix("post rolled_back\n"))
        f.assertSettled()

        // Within max_failures: the others keep v2.
        let (partial, pdoc) = try f.push(["--max-failures", "1"])
        XCTAssertEqual(partial.status, 1, partial.stderr)
        XCTAssertEqual(pdoc["outcome"] as? String, "partial")
        let release = try XCTUnwrap(pdoc["release"] as? String)
        XCTAssertEqual(f.current(0), "releases/" + release)
        XCTAssertEqual(f.current(1), v1[1])
        XCTAssertEqual(f.current(2), "releases/" + release)
        f.assertSettled()
    }

    func testUnreachableHostsStopThePushBeforeAnythingIsSwitched() throws {
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let f = try Fleet(hosts: hosts, rollout: "batch = \"50%\"")
        XCTAssertEqual(try f.push().0.status, 0)
        let v1 = (0..<2).map { f.current($0) }
        try f.setVersion("v2")
        hosts.down(1)
        let (r, doc) = try f.push()
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(doc["outcome"] as? String, "failed")
        XCTAssertEqual(Fleet.rows(doc)["web2"]?["result"] as? String, "unreachable")
        XCTAssertEqual(Fleet.rows(doc)["web1"]?["result"] as? String, "not_activated")
        XCTAssertEqual((0..<2).map { f.current($0) }, v1, "nothing switched")
        XCTAssertEqual(DeployFixture.releases(f.target(0)).count, 1, "web1's upload was removed")
        f.assertSettled()

        // No host reachable: exit 6.
        hosts.down(0)
        let (none, ndoc) = try f.push()
        XCTAssertEqual(none.status, 6, none.stderr)
        XCTAssertEqual(ndoc["outcome"] as? String, "failed")
    }

    func testPrePushFailureAndHostSelection() throws {
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let f = try Fleet(hosts: hosts)
        // --hosts tag:eu: only web1.
        let (r, doc) = try f.push(["--hosts", "tag:eu"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Fleet.rows(doc).keys.sorted(), ["web1"])
        XCTAssertNotNil(f.current(0))
        XCTAssertNil(f.current(1))
        let bad = try f.tetra.run(["org", "push", "shop", "prod", "--hosts", "web9"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("'web9' is not a host of prod"), bad.stderr)

        // A failing pre_push hook: exit 1, no host touched.
        let toml = try String(contentsOfFile: f.orgDir + "/org.toml", encoding: .utf8)
        try toml.replacingOccurrences(of: "pre_push = [[\"sh\", \"-c\"", with: "pre_push = [[\"false\"], [\"sh\", \"-c\"")
            .write(toFile: f.orgDir + "/org.toml", atomically: true, encoding: .utf8)
        try f.setVersion("v2")
        let before = (0..<2).map { f.current($0) }
        let refused = try f.tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("pre_push hook failed: false"), refused.stderr)
        XCTAssertEqual((0..<2).map { f.current($0) }, before)
        XCTAssertEqual(DeployFixture.releases(f.target(0)).count, 1)
    }

    func testRollbackStatusAndPromoteActOnEveryHost() throws {
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let devTarget = DeployFixture.tempDir("tetra-fleet-dev")
        let f = try Fleet(hosts: hosts, prodExtra: "promote_from = \"dev\"",
                          extraEnvironments: "[environments.dev]\nhosts = [{ name = \"dev1\", target = \"\(devTarget)\", vars = { node = 0 } }]\n")
        XCTAssertEqual(try f.push().0.status, 0)
        let v1 = (0..<2).map { f.current($0) }
        try f.setVersion("v2")
        XCTAssertEqual(try f.push().0.status, 0)
        XCTAssertNotEqual(f.current(0), v1[0])

        // org status: one row per host.
        let status = try f.tetra.run(["org", "status", "shop", "prod", "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let rows = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["environments"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.map { $0["host"] as? String }, ["web1", "web2"])
        XCTAssertEqual(rows.map { $0["release"] as? String }, [f.current(0), f.current(1)].map { $0.map { String($0.dropFirst(9)) } })

        // org history: this machine's entries, one per push naming its hosts, and each host's
        // own, tagged with the host.
        let history = try f.tetra.run(["org", "history", "shop", "prod", "--json"])
        XCTAssertEqual(history.status, 0, history.stderr)
        let entries = (try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
        let local = entries.filter { $0["origin"] as? String == "local" }
        XCTAssertEqual(local.count, 2, "one line per push: \(local)")
        XCTAssertEqual(local.map { $0["hosts"] as? [String] }, [["web1", "web2"], ["web1", "web2"]])
        XCTAssertEqual(Set(entries.filter { $0["origin"] as? String == "target" }.compactMap { $0["host"] as? String }), ["web1", "web2"])

        // org rollback: every host back on v1 (still there: switched, not sent).
        let back = try f.tetra.run(["org", "rollback", "shop", "prod", "--json"])
        XCTAssertEqual(back.status, 0, back.stderr)
        let bdoc = try JSONSerialization.jsonObject(with: Data(back.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(bdoc?["action"] as? String, "rollback")
        XCTAssertEqual(bdoc?["outcome"] as? String, "success")
        XCTAssertEqual((0..<2).map { f.current($0) }, v1)
        XCTAssertEqual(try String(contentsOfFile: f.target(1) + "/current/host.txt", encoding: .utf8), "v1 hello from web2 node 2 api 3200\n")
        f.assertSettled()

        // org diff: each host's release (v1) against the working copy (v2) rendered for it.
        let pinner = GoldenPinner(tetra: f.tetra, replacements: [(f.root, "$WORK")] + (0..<2).map { (hosts.address($0) + ":", "$HOST\($0 + 1):") })
        let diff = try pinner.pin("org diff fleet", ["org", "diff", "shop", "prod"], status: 1, strings: ["from", "diff"])
        let diffs = diff["hosts"] as? [[String: Any]] ?? []
        XCTAssertEqual(diffs.map { $0["host"] as? String }, ["web1", "web2"])
        XCTAssertEqual(diffs.map { (($0["comparison"] as? [String: Any])?["changes"] as? [String: Any])?["changed"] as? [String] },
                       [["host.txt"], ["host.txt"]])

        // env promote dev prod: dev's snapshot (dev is a fleet of one local host) rendered for
        // each host of prod.
        try f.setVersion("v3")
        XCTAssertEqual(try f.tetra.run(["org", "push", "shop", "dev"]).status, 0)
        let promoted = try f.tetra.run(["env", "promote", "dev", "prod", "--org", "shop"])
        XCTAssertEqual(promoted.status, 0, promoted.stderr + promoted.stdout)
        XCTAssertTrue(promoted.stdout.contains("promote shop to prod: success"), promoted.stdout)
        for i in 0..<2 {
            XCTAssertEqual(try String(contentsOfFile: f.target(i) + "/current/host.txt", encoding: .utf8),
                           "v3 hello from web\(i + 1) node \(i + 1) api 3200\n")
        }

        // env diff: through one host of each side (the first, or the one named).
        let ediff = try f.tetra.run(["env", "diff", "dev", "prod", "--org", "shop", "--to-host", "web2", "--json"])
        XCTAssertEqual(ediff.status, 1, ediff.stderr + ediff.stdout)
        XCTAssertTrue(ediff.stdout.contains("dev/dev1@") && ediff.stdout.contains("prod/web2@"), ediff.stdout)
        XCTAssertTrue(ediff.stdout.contains("host.txt"), ediff.stdout)
        let wrongHost = try f.tetra.run(["env", "diff", "dev", "prod", "--org", "shop", "--to-host", "web9"])
        XCTAssertEqual(wrongHost.status, 2)
        XCTAssertTrue(wrongHost.stderr.contains("web1, web2"), wrongHost.stderr)

        // org pull: from one host, chosen with --hosts.
        let pull = try f.tetra.run(["org", "pull", "shop", "prod", "--hosts", "web2", "--json"])
        XCTAssertEqual(pull.status, 0, pull.stderr)
        let pdoc = try JSONSerialization.jsonObject(with: Data(pull.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(pdoc?["target"] as? String, hosts.servers[1].url(path: f.target(1)))
        XCTAssertEqual((pdoc?["drift"] as? [String: Any])?["clean"] as? Bool, true)
        XCTAssertEqual(try f.tetra.run(["org", "pull", "shop", "prod"]).status, 2, "which host?")
    }
}
