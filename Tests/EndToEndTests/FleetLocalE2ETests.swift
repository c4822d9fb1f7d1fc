import Foundation
import XCTest

/// Fleet pushes to hosts that are local directories (no network needed): Ctrl-C half-way.
final class FleetLocalE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    func testCtrlCDuringActivationSendsEveryHostBackAndExits130() throws {
        let root = DeployFixture.tempDir("tetra-fleet-local")
        let tetra = Tetra(stateRoot: root + "/state-root")
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        let org = tetra.stateRoot + "/orgs/shop"
        try FileManager.default.createDirectory(atPath: org + "/files", withIntermediateDirectories: true)
        let marker = root + "/verifying"
        let hosts = (1...3).map { "{ name = \"h\($0)\", target = \"\(root)/h\($0)\" }" }.joined(separator: ", ")
        try """
        [org]
        name = "shop"
        [environments.prod]
        hosts = [\(hosts)]
        [environments.prod.rollout]
        batch = 1
        health_timeout = "60s"
        [environments.prod.hooks]
        verify = [["sh", "-c", "grep -q v1 host.txt || { touch \(marker); sleep 30; }"]]
        post_push = [["sh", "-c", "echo $TETRA_OUTCOME > \(root)/outcome"]]
        """.write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "v1 {{ host.name }}\n".write(toFile: org + "/files/host.txt.tmpl", atomically: true, encoding: .utf8)
        let first = try tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let v1 = (1...3).map { DeployFixture.currentLink(root + "/h\($0)") }

        try "v2 {{ host.name }}\n".write(toFile: org + "/files/host.txt.tmpl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try String(contentsOfFile: root + "/outcome", encoding: .utf8), "success\n")
        try FileManager.default.removeItem(atPath: root + "/outcome")
        // A dry run: each host's changes, nothing switched, no hook run.
        let dry = try tetra.run(["org", "push", "shop", "prod", "--dry-run", "--json"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(doc?["dry_run"] as? Bool, true)
        let rows = doc?["hosts"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.map { $0["result"] as? String }, ["planned", "planned", "planned"])
        XCTAssertEqual(rows.map { ($0["changes"] as? [String: Any])?["changed"] as? [String] }, [["host.txt"], ["host.txt"], ["host.txt"]])
        XCTAssertEqual((1...3).map { DeployFixture.currentLink(root + "/h\($0)") }, v1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/outcome"), "no hook ran")

        let p = Process()
        p.executableURL = URL(fileURLWithPath: Tetra.binary)
        p.arguments = ["org", "push", "shop", "prod"]
        p.environment = tetra.environment
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // h1 is switched to v2 and its verify hangs: Ctrl-C then.
        XCTAssertTrue(waitFor(60) { FileManager.default.fileExists(atPath: marker) }, "verify never started")
        XCTAssertNotEqual(DeployFixture.currentLink(root + "/h1"), v1[0], "h1 was switched")
        let sent = Date()
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(sent), 20, "the hanging verify was stopped")
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertEqual((1...3).map { DeployFixture.currentLink(root + "/h\($0)") }, v1, "every host back on v1")
        for i in 1...3 {
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/h\(i)/.tetra/lock"), "h\(i) still locked")
            XCTAssertEqual(DeployFixture.releases(root + "/h\(i)").filter { $0.hasSuffix(".partial") }, [])
        }
        XCTAssertEqual(try String(contentsOfFile: root + "/outcome", encoding: .utf8), "rolled_back\n", "post_push ran")
        XCTAssertEqual(try String(contentsOfFile: root + "/h1/current/host.txt", encoding: .utf8), "v1 h1\n")
    }
}
