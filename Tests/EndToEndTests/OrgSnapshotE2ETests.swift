import Foundation
import XCTest
import TetraCore

/// `org snapshot list | show | diff | restore` against snapshots taken by real pushes.
final class OrgSnapshotE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let data = try XCTUnwrap(text.data(using: .utf8), file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not JSON: \(text)", file: file, line: line)
    }

    /// Two pushes of `env` with different robots.txt; returns the two snapshot ids (oldest first).
    func pushTwice(_ f: OrgFixture, env: String, sshd: SSHServer? = nil) throws -> [String] {
        let robots = f.tetra.stateRoot + "/orgs/acme/files/robots.txt"
        for version in ["one", "two"] {
            try "version \(version)\n".write(toFile: robots, atomically: true, encoding: .utf8)
            let r = try f.run(["org", "push", "acme", env])
            XCTAssertEqual(r.status, 0, r.stderr + (sshd?.log ?? ""))
        }
        let r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let list = try XCTUnwrap(try json(r.stdout)["snapshots"] as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(list.map { $0["action"] as? String }, ["push", "push"])
        XCTAssertEqual(list.map { $0["env"] as? String }, [env, env])
        XCTAssertEqual(list.first?["reason"] as? String, "push \(env)")
        for s in list {
            XCTAssertEqual(s["file_count"] as? Int, 5, "org.toml and four files (secrets.env is never kept)")
            XCTAssertGreaterThan(s["bytes"] as? Int ?? 0, 0)
            XCTAssertNotNil(s["created_at"] as? String)
        }
        return list.compactMap { $0["id"] as? String }.reversed()
    }

    func testListShowDiffRestoreAndUndoAfterLocalPushes() throws {
        let f = try OrgFixture(sshd: nil)
        let ids = try pushTwice(f, env: "dev")
        XCTAssertNotEqual(ids[0], ids[1])
        // show: the manifest with sizes and hashes
        var r = try f.run(["org", "snapshot", "show", String(ids[0].prefix(6)), "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let shown = try json(r.stdout)
        XCTAssertEqual(shown["id"] as? String, ids[0])
        let files = try XCTUnwrap(shown["files"] as? [[String: Any]])
        XCTAssertEqual(files.map { $0["path"] as? String ?? "" },
                       ["files/app.env.tmpl", "files/conf/nginx.conf", "files/db.env.tmpl", "files/robots.txt", "org.toml"])
        let robots = try XCTUnwrap(files.first { $0["path"] as? String == "files/robots.txt" })
        XCTAssertEqual(robots["bytes"] as? Int, "version one\n".utf8.count)
        XCTAssertEqual(robots["sha256"] as? String, SHA256.hex(of: "version one\n"))
        // diff between the two snapshots: the unified diff of org diff
        r = try f.run(["org", "snapshot", "diff", ids[0], ids[1], "--org", "acme"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("-version one\n+version two\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("--- \(ids[0])/files/robots.txt"), r.stdout)
        r = try f.run(["org", "snapshot", "diff", ids[0], ids[1], "--org", "acme", "--json"])
        let changes = try XCTUnwrap(try json(r.stdout)["changes"] as? [String: [String]])
        XCTAssertEqual(changes["changed"], ["files/robots.txt"])
        // diff against the working copy: identical to the last push, then one added file
        r = try f.run(["org", "snapshot", "diff", ids[1], "--org", "acme"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        try "added\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/extra.txt", atomically: true, encoding: .utf8)
        r = try f.run(["org", "snapshot", "diff", ids[1], "--org", "acme", "--json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual((try json(r.stdout)["changes"] as? [String: [String]])?["added"], ["files/extra.txt"])
        // dry run: nothing changes, no snapshot taken
        r = try f.run(["org", "snapshot", "restore", ids[0], "acme", "--dry-run", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let dry = try json(r.stdout)
        XCTAssertEqual(dry["dry_run"] as? Bool, true)
        XCTAssertNil(dry["undo_snapshot"])
        XCTAssertEqual(dry["changes"] as? [String: [String]], ["added": [], "removed": ["files/extra.txt"], "changed": ["files/robots.txt"]])
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/robots.txt"), "version two\n")
        // restore: snapshot first, then the working copy is the old snapshot; secrets.env stays
        r = try f.run(["org", "snapshot", "restore", ids[0], "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let undo = try XCTUnwrap(try json(r.stdout)["undo_snapshot"] as? String)
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/robots.txt"), "version one\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.tetra.stateRoot + "/orgs/acme/files/extra.txt"))
        XCTAssertTrue(f.read(f.tetra.stateRoot + "/orgs/acme/secrets.env").contains(OrgFixture.secret))
        r = try f.run(["org", "snapshot", "diff", ids[0], "--org", "acme"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        let top = try XCTUnwrap((try json(r.stdout)["snapshots"] as? [[String: Any]])?.first)
        XCTAssertEqual(top["id"] as? String, undo)
        XCTAssertEqual(top["action"] as? String, "restore")
        // undo: restore the snapshot taken first
        r = try f.run(["org", "snapshot", "restore", undo, "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/robots.txt"), "version two\n")
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/extra.txt"), "added\n")
        // the restore is in the audit log
        r = try f.run(["audit", "--json"])
        XCTAssertTrue(r.stdout.contains("restore"), r.stdout)
    }

    func testSnapshotsOfPushesOverSSH() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        let ids = try pushTwice(f, env: "staging", sshd: sshd)
        let r = try f.run(["org", "snapshot", "restore", ids[0], "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/robots.txt"), "version one\n")
        XCTAssertTrue(r.stdout.contains("undo with: tetra org snapshot restore "), r.stdout)
    }

    func testListNamesWhatTookEachSnapshot() throws {
        let f = try OrgFixture(sshd: nil)
        _ = try pushTwice(f, env: "dev")
        XCTAssertEqual(try f.run(["org", "rollback", "acme", "dev"]).status, 0)
        XCTAssertEqual(try f.run(["org", "set", "vars.replicas", "2", "--org", "acme"]).status, 0)
        let r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        let list = try XCTUnwrap(try json(r.stdout)["snapshots"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["action"] as? String ?? "" }, ["set", "rollback", "push", "push"])
        XCTAssertEqual(list.map { $0["env"] as? String ?? "-" }, ["-", "dev", "dev", "dev"])
        let text = try f.run(["org", "snapshot", "list", "acme"]).stdout
        XCTAssertTrue(text.hasPrefix("ID "), text)
    }

    func testRestoreBringsBackADeletedOrg() throws {
        let f = try OrgFixture(sshd: nil)
        var r = try f.run(["org", "delete", "acme", "--yes", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = try XCTUnwrap(try json(r.stdout)["snapshot"] as? String)
        r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual((try json(r.stdout)["snapshots"] as? [[String: Any]])?.first?["action"] as? String, "delete")
        r = try f.run(["org", "snapshot", "restore", id, "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNil(try json(r.stdout)["undo_snapshot"])
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/conf/nginx.conf"), "worker_processes 2;\n")
        XCTAssertEqual(try f.run(["org", "show", "acme"]).status, 0)
    }

    func testTamperedObjectIsRefusedAndUnknownIDsAreNamed() throws {
        let f = try OrgFixture(sshd: nil)
        let ids = try pushTwice(f, env: "dev")
        // unknown id: exit 4; malformed: exit 2
        var r = try f.run(["org", "snapshot", "show", "0000000000000000", "acme"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.run(["org", "snapshot", "restore", "ffff", "acme", "--json"])
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("not_found"), r.stderr)
        r = try f.run(["org", "snapshot", "show", "xyz!", "acme"])
        XCTAssertEqual(r.status, 2, r.stderr)
        // the object of robots.txt "version one" is changed behind tetra's back
        let hash = SHA256.hex(of: "version one\n")
        let object = f.tetra.stateRoot + "/state/snapshots/objects/\(hash.prefix(2))/\(hash)"
        chmod(object, 0o644)
        try "tampered\n".write(toFile: object, atomically: false, encoding: .utf8)
        r = try f.run(["org", "snapshot", "restore", ids[0], "acme"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("corrupt"), r.stderr)
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/robots.txt"), "version two\n", "nothing restored")
        r = try f.run(["org", "snapshot", "diff", ids[0], ids[1], "--org", "acme"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("corrupt"), r.stderr)
    }
}
