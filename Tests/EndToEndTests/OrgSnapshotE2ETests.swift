import Foundation
import XCTest
import TetraCore

/// `tetra org snapshot list | show | diff | restore` through the built binary, on snapshots
/// taken by real pushes to a local target.
final class OrgSnapshotE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let obj = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try XCTUnwrap(obj as? [String: Any], file: file, line: line)
    }

    /// Two pushes (robots.txt changed, extra.txt added between them): their snapshot ids,
    /// oldest first.
    func twoPushes(_ f: OrgFixture) throws -> (first: String, second: String) {
        var r = try f.run(["org", "push", "acme", "dev", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let first = try XCTUnwrap(try json(r.stdout)["snapshot"] as? String)
        try "User-agent: *\nDisallow: /\n".write(toFile: f.orgDirectory + "/files/robots.txt", atomically: true, encoding: .utf8)
        try "extra\n".write(toFile: f.orgDirectory + "/files/extra.txt", atomically: true, encoding: .utf8)
        r = try f.run(["org", "push", "acme", "dev", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let second = try XCTUnwrap(try json(r.stdout)["snapshot"] as? String)
        XCTAssertNotEqual(first, second)
        return (first, second)
    }

    func testListShowAndDiffSnapshotsOfRealPushes() throws {
        let f = try OrgFixture(sshd: nil)
        let log = OutputLog()
        let (first, second) = try twoPushes(f)

        // list: newest first, why each was taken, files and bytes
        var r = try f.run(["org", "snapshot", "list", "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        let list = try XCTUnwrap(try json(r.stdout)["snapshots"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["id"] as? String }, [second, first])
        XCTAssertEqual(list.map { $0["action"] as? String }, ["push", "push"])
        XCTAssertEqual(list.map { $0["env"] as? String }, ["dev", "dev"])
        XCTAssertEqual(list.map { $0["file_count"] as? Int }, [6, 5], "org.toml and files/, never secrets.env")
        XCTAssertTrue(list.allSatisfy { ($0["bytes"] as? Int ?? 0) > 0 && ($0["created_at"] as? String)?.hasSuffix("Z") == true })
        r = try f.run(["org", "snapshot", "list", "acme"], log: log)
        XCTAssertTrue(r.stdout.contains(second) && r.stdout.contains("push dev"), r.stdout)

        // show, by an unambiguous prefix: every file with its size and sha256
        r = try f.run(["org", "snapshot", "show", String(second.prefix(6)), "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        let shown = try json(r.stdout)
        XCTAssertEqual(shown["id"] as? String, second)
        let files = try XCTUnwrap(shown["files"] as? [[String: Any]])
        XCTAssertEqual(files.compactMap { $0["path"] as? String },
                       ["files/app.env.tmpl", "files/conf/nginx.conf", "files/db.env.tmpl", "files/extra.txt", "files/robots.txt", "org.toml"])
        let extra = try XCTUnwrap(files.first { $0["path"] as? String == "files/extra.txt" })
        XCTAssertEqual(extra["bytes"] as? Int, 6)
        XCTAssertEqual(extra["sha256"] as? String, try SHA256.hex(ofFile: f.orgDirectory + "/files/extra.txt"))

        // diff between the two snapshots: org diff's document and unified diff text
        r = try f.run(["org", "snapshot", "diff", first, second, "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 1, "differences: exit 1; " + r.stderr)
        let d = try json(r.stdout)
        let changes = try XCTUnwrap(d["changes"] as? [String: [String]])
        XCTAssertEqual(changes["added"], ["files/extra.txt"])
        XCTAssertEqual(changes["changed"], ["files/robots.txt"])
        XCTAssertEqual(changes["removed"], [])
        XCTAssertEqual(d["identical"] as? Bool, false)
        r = try f.run(["org", "snapshot", "diff", String(first.prefix(5)), String(second.prefix(5)), "acme"], log: log)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("--- \(first)/files/robots.txt\n+++ \(second)/files/robots.txt\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("+Disallow: /\n"), r.stdout)

        // a snapshot against the working copy (the org as the second argument)
        r = try f.run(["org", "snapshot", "diff", second, "acme"], log: log)
        XCTAssertEqual(r.status, 0, "the working copy is what was pushed; " + r.stdout + r.stderr)
        try "edited\n".write(toFile: f.orgDirectory + "/files/extra.txt", atomically: true, encoding: .utf8)
        r = try f.run(["org", "snapshot", "diff", second, "--org", "acme", "--stat"], log: log)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("~ files/extra.txt\n"), r.stdout)
        // secrets.env is in the working copy but never in a diff
        XCTAssertFalse(r.stdout.contains("secrets.env"))
        log.assertNoSecrets([OrgFixture.secret, OrgFixture.sessionSecret])
        f.assertSecretsOnlyInRenderedFiles()
    }

    func testRestoreSnapshotsTheWorkingCopyFirstAndCanBeUndone() throws {
        let f = try OrgFixture(sshd: nil)
        let (first, second) = try twoPushes(f)
        try FileManager.default.createDirectory(atPath: f.orgDirectory + "/files/new/deep", withIntermediateDirectories: true)
        try "local only\n".write(toFile: f.orgDirectory + "/files/new/deep/local.txt", atomically: true, encoding: .utf8)
        let secretsBefore = f.read(f.orgDirectory + "/secrets.env")
        let auditLines = f.read(f.tetra.stateRoot + "/state/audit.jsonl").split(separator: "\n").count

        // dry run: what would change, nothing changed, nothing snapshotted
        var r = try f.run(["org", "snapshot", "restore", String(first.prefix(8)), "acme", "--dry-run", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var out = try json(r.stdout)
        XCTAssertEqual(out["dry_run"] as? Bool, true)
        XCTAssertNil(out["undo_snapshot"])
        var changes = try XCTUnwrap(out["changes"] as? [String: [String]])
        XCTAssertEqual(changes["removed"], ["files/extra.txt", "files/new/deep/local.txt"])
        XCTAssertEqual(changes["changed"], ["files/robots.txt"])
        XCTAssertEqual(f.read(f.orgDirectory + "/files/extra.txt"), "extra\n")
        r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        XCTAssertEqual((try json(r.stdout)["snapshots"] as? [Any])?.count, 2)

        // restore: the working copy is snapshotted first, then becomes the first snapshot
        r = try f.run(["org", "snapshot", "restore", String(first.prefix(8)), "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        out = try json(r.stdout)
        XCTAssertEqual(out["snapshot"] as? String, first)
        let undo = try XCTUnwrap(out["undo_snapshot"] as? String)
        XCTAssertNotEqual(undo, second, "the unpushed local file is part of the undo snapshot")
        XCTAssertEqual(f.read(f.orgDirectory + "/files/robots.txt"), "User-agent: *\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDirectory + "/files/extra.txt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDirectory + "/files/new"), "directories left empty are removed")
        XCTAssertEqual(f.read(f.orgDirectory + "/secrets.env"), secretsBefore)
        XCTAssertEqual(DeployFixture.mode(f.orgDirectory + "/secrets.env"), 0o600)
        r = try f.run(["org", "snapshot", "diff", first, "acme"])
        XCTAssertEqual(r.status, 0, "the working copy is the snapshot; " + r.stdout)
        // the undo snapshot is listed, newest first, as taken by the restore
        r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        let newest = try XCTUnwrap((try json(r.stdout)["snapshots"] as? [[String: Any]])?.first)
        XCTAssertEqual(newest["id"] as? String, undo)
        XCTAssertEqual(newest["action"] as? String, "restore")
        // one audit line, naming the command
        let audit = f.read(f.tetra.stateRoot + "/state/audit.jsonl").split(separator: "\n")
        XCTAssertEqual(audit.count, auditLines + 1)
        XCTAssertTrue(audit.last?.contains(#""command":"org snapshot restore""#) == true, String(audit.last ?? ""))

        // the text output names the undo snapshot; restoring it undoes the restore
        r = try f.run(["org", "snapshot", "restore", undo, "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("undo with: tetra org snapshot restore "), r.stdout)
        XCTAssertEqual(f.read(f.orgDirectory + "/files/extra.txt"), "extra\n")
        XCTAssertEqual(f.read(f.orgDirectory + "/files/robots.txt"), "User-agent: *\nDisallow: /\n")
        XCTAssertEqual(f.read(f.orgDirectory + "/files/new/deep/local.txt"), "local only\n")
        XCTAssertEqual(f.read(f.orgDirectory + "/secrets.env"), secretsBefore)
        // restoring what the working copy already holds changes nothing
        r = try f.run(["org", "snapshot", "restore", undo, "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        changes = try XCTUnwrap(try json(r.stdout)["changes"] as? [String: [String]])
        XCTAssertEqual(changes.values.map(\.count).reduce(0, +), 0)
        f.assertSecretsOnlyInRenderedFiles()
    }

    func testATamperedObjectIsRefusedBeforeAnyFileChanges() throws {
        let f = try OrgFixture(sshd: nil)
        let (first, _) = try twoPushes(f)
        // robots.txt of the first snapshot: its object is rewritten behind tetra's back
        let hash = try SHA256.hex(of: "User-agent: *\n")
        let object = f.tetra.stateRoot + "/state/snapshots/objects/" + hash.prefix(2) + "/" + hash
        XCTAssertTrue(FileManager.default.fileExists(atPath: object))
        chmod(object, 0o644)
        try "User-agent: evil\n".write(toFile: object, atomically: false, encoding: .utf8)
        var r = try f.run(["org", "snapshot", "restore", first, "acme", "--json"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("corrupt"), r.stderr)
        XCTAssertTrue(r.stderr.contains(hash), r.stderr)
        // nothing of the working copy changed
        XCTAssertEqual(f.read(f.orgDirectory + "/files/robots.txt"), "User-agent: *\nDisallow: /\n")
        XCTAssertEqual(f.read(f.orgDirectory + "/files/extra.txt"), "extra\n")
        // diff reads objects through the same check
        r = try f.run(["org", "snapshot", "diff", first, "acme"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("corrupt"), r.stderr)
        XCTAssertFalse(r.stdout.contains("evil"))
    }

    func testAnEditedManifestIsRefused() throws {
        let f = try OrgFixture(sshd: nil)
        let (first, second) = try twoPushes(f)
        // the first snapshot's manifest is made to name the second's robots.txt object
        let manifest = f.tetra.stateRoot + "/state/snapshots/manifests/" + first
        let newer = f.read(f.tetra.stateRoot + "/state/snapshots/manifests/" + second)
        let robots = try XCTUnwrap(newer.split(separator: "\n").first { $0.hasSuffix(" files/robots.txt") })
        let edited = f.read(manifest).split(separator: "\n").map { $0.hasSuffix(" files/robots.txt") ? robots : $0 }
        chmod(manifest, 0o600)
        try (edited.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: false, encoding: .utf8)
        try "local\n".write(toFile: f.orgDirectory + "/files/robots.txt", atomically: true, encoding: .utf8)
        for args in [["restore", first, "acme"], ["show", first, "acme"], ["diff", first, "acme"]] {
            let r = try f.run(["org", "snapshot"] + args)
            XCTAssertEqual(r.status, 1, "\(args): " + r.stdout)
            XCTAssertTrue(r.stderr.contains("does not match its id"), r.stderr)
        }
        XCTAssertEqual(f.read(f.orgDirectory + "/files/robots.txt"), "local\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.orgDirectory + "/files/extra.txt"))
    }

    func testUnknownMalformedAndForeignIdsAndAnOrgWithoutSnapshots() throws {
        let f = try OrgFixture(sshd: nil)
        let (first, _) = try twoPushes(f)
        let absent = first.hasPrefix("0000") ? "ffff" : "0000"
        for args in [["show", absent, "acme"], ["diff", absent, "acme"], ["restore", absent, "acme"],
                     ["show", String(repeating: "a", count: 16), "acme"]] {
            let r = try f.run(["org", "snapshot"] + args + ["--json"])
            XCTAssertEqual(r.status, 4, "\(args): " + r.stderr)
            XCTAssertTrue(r.stderr.contains(#""kind":"not_found""#) || r.stderr.contains("not found"), r.stderr)
        }
        for bad in ["abc", "../etc", "xyz12345"] {
            let r = try f.run(["org", "snapshot", "show", bad, "acme"])
            XCTAssertEqual(r.status, 2, "\(bad): " + r.stderr)
        }
        // another org's snapshot id is not found in this one (the store is shared)
        try FileManager.default.createDirectory(atPath: f.tetra.stateRoot + "/orgs/other", withIntermediateDirectories: true)
        try "[org]\nname = \"other\"\n".write(toFile: f.tetra.stateRoot + "/orgs/other/org.toml", atomically: true, encoding: .utf8)
        var r = try f.run(["org", "snapshot", "show", first, "other"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.run(["org", "snapshot", "list", "other", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual((try json(r.stdout)["snapshots"] as? [Any])?.count, 0)
        r = try f.run(["org", "snapshot", "list", "nosuch"])
        XCTAssertEqual(r.status, 4, r.stderr)

        // completion knows the org's snapshot ids (the org from --org or from the line)
        r = try f.run(["__complete", "org", "snapshot", "show", "--org", "acme", ""])
        XCTAssertTrue(r.stdout.split(separator: "\n").contains(Substring(first)), r.stdout)
        r = try f.run(["__complete", "org", "snapshot", "diff", "acme", String(first.prefix(4))])
        XCTAssertTrue(r.stdout.split(separator: "\n").contains(Substring(first)), r.stdout)
        r = try f.run(["__complete", "org", "snapshot", "show", "--org", "other", ""])
        XCTAssertFalse(r.stdout.contains(first), r.stdout)
    }
}

extension OrgFixture {
    /// The org's working copy in the state root.
    var orgDirectory: String { tetra.stateRoot + "/orgs/acme" }
}

extension OrgSnapshotE2ETests {
    func testADeletedOrgIsRestoredAndAFailedRestoreNamesTheUndoSnapshot() throws {
        let f = try OrgFixture(sshd: nil)
        let (first, second) = try twoPushes(f)
        // a directory is not part of a snapshot: one holding only an empty directory is in
        // the way of a file the restore must write (after it removed extra.txt): it fails part way
        try FileManager.default.removeItem(atPath: f.orgDirectory + "/files/robots.txt")
        try FileManager.default.createDirectory(atPath: f.orgDirectory + "/files/robots.txt/empty", withIntermediateDirectories: true)
        var r = try f.run(["org", "snapshot", "restore", first, "acme"])
        XCTAssertNotEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stderr.contains("the restore stopped part way"), r.stderr)
        let undo = try XCTUnwrap(r.stderr.components(separatedBy: "'tetra org snapshot restore ").dropFirst().first?.prefix(16))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDirectory + "/files/extra.txt"))
        r = try f.run(["org", "snapshot", "diff", String(undo), "acme", "--json"])
        XCTAssertEqual(try json(r.stdout)["changes"] as? [String: [String]], ["added": [], "removed": ["files/extra.txt"], "changed": []],
                       "the undo snapshot holds what the failed restore removed")
        try FileManager.default.removeItem(atPath: f.orgDirectory + "/files/robots.txt")

        // org delete takes a snapshot; restoring one creates the org again (secrets.env aside)
        r = try f.run(["org", "delete", "acme", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDirectory))
        r = try f.run(["org", "snapshot", "list", "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let newest = try XCTUnwrap((try json(r.stdout)["snapshots"] as? [[String: Any]])?.first)
        XCTAssertEqual(newest["action"] as? String, "delete")
        r = try f.run(["org", "snapshot", "restore", String(second.prefix(7)), "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNil(try json(r.stdout)["undo_snapshot"], "there was no working copy to save")
        XCTAssertEqual(f.read(f.orgDirectory + "/files/extra.txt"), "extra\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDirectory + "/secrets.env"))
        r = try f.run(["org", "validate", "acme"])
        XCTAssertNotEqual(r.status, 4, "the org exists again: " + r.stderr)
        XCTAssertTrue(try f.run(["org", "snapshot", "show", String(undo), "acme"]).status == 0)
    }
}
