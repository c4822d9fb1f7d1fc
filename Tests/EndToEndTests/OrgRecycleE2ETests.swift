import Foundation
import XCTest
@testable import TetraCore

/// A local push that prunes a release turns that release's directory into the new one
/// (`LocalTransport.uploadByManifest`, recycled): the result must be exactly the release a
/// fresh build gives, whatever the old directory held (other versions, removed and retyped
/// entries, drift made at the target in it or in the previous release).
final class OrgRecycleE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8) // a new inode, as editors write
    }

    func testAPushThatPrunesReusesThePrunedReleaseAndTheResultIsExactlyTheNewRelease() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1)
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        for name in ["a", "b", "c", "d", "e"] { try write("\(name) v1\n", files + "/keep/\(name).conf") }
        try write("gone\n", files + "/gone/deep/x.conf")
        try write("a file for now\n", files + "/swap")
        try write("old-only\n", files + "/old.conf")

        func push(_ why: String) throws -> [String: Any] {
            let r = try f.run(["org", "push", "acme", "dev", "--json"])
            XCTAssertEqual(r.status, 0, "\(why): \(r.stderr)")
            return try json(r.stdout)
        }
        let first = try push("first")
        let r1 = try XCTUnwrap(first["release"] as? String)
        try write("a v2\n", files + "/keep/a.conf")
        let r2 = try XCTUnwrap(try push("second")["release"] as? String)
        XCTAssertEqual(DeployFixture.releases(f.devTarget), [r1, r2])

        // The next push prunes r1 (keep 1: current and previous stay). Make r1 differ from the
        // new release in every way an entry can, and drift the previous release r2.
        let old = f.devTarget + "/releases/" + r1
        chmod(old + "/keep", 0o555)
        try write("stray\n", old + "/stray.txt")                   // not in any manifest
        try write("edited in the old release\n", old + "/keep/d.conf") // drift in r1 (new inode)
        try write("drift in previous\n", f.devTarget + "/releases/\(r2)/keep/e.conf") // must not propagate
        let prevC = DeployFixture.inode(f.devTarget + "/releases/\(r2)/keep/c.conf")
        try FileManager.default.removeItem(atPath: files + "/gone")
        try FileManager.default.removeItem(atPath: files + "/swap")
        try write("now a directory\n", files + "/swap/inner.conf")
        try FileManager.default.removeItem(atPath: files + "/old.conf")
        try write("new\n", files + "/new/n.conf")
        try write("b v2\n", files + "/keep/b.conf")

        let third = try push("third (recycles r1)")
        let r3 = try XCTUnwrap(third["release"] as? String)
        XCTAssertEqual(third["pruned"] as? [String], [r1])
        XCTAssertEqual(DeployFixture.releases(f.devTarget), [r2, r3], "r1 became r3; no partial left")
        let now = try DeployFixture.assertCurrentComplete(f.devTarget)
        XCTAssertEqual(now, r3)
        let cur = f.devTarget + "/releases/" + r3
        XCTAssertEqual(f.read(cur + "/keep/a.conf"), "a v2\n")
        XCTAssertEqual(f.read(cur + "/keep/b.conf"), "b v2\n")
        XCTAssertEqual(f.read(cur + "/keep/d.conf"), "d v1\n", "the old release's drift is replaced")
        XCTAssertEqual(f.read(cur + "/keep/e.conf"), "e v1\n", "the previous release's drift is not propagated")
        XCTAssertEqual(f.read(cur + "/swap/inner.conf"), "now a directory\n")
        XCTAssertEqual(f.read(cur + "/new/n.conf"), "new\n")
        for gone in ["stray.txt", "gone", "old.conf"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: cur + "/" + gone), gone)
        }
        XCTAssertEqual(DeployFixture.inode(cur + "/keep/c.conf"), prevC, "an unchanged file is the previous release's file")
        XCTAssertEqual(DeployFixture.mode(cur + "/keep") & 0o777, 0o755)
        // What is there is exactly the manifest (status: no drift) and the render (diff: clean).
        var r = try f.run(["org", "status", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        r = try f.run(["org", "diff", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        // The previous release is untouched (its drift is still there, its manifest unchanged).
        XCTAssertEqual(f.read(f.devTarget + "/releases/\(r2)/keep/e.conf"), "drift in previous\n")
        XCTAssertEqual(f.read(f.devTarget + "/releases/\(r2)/keep/a.conf"), "a v2\n")

        // Again, recycling r2 (which carries drift) into r4; then a rollback to r3 still works.
        try write("a v3\n", files + "/keep/a.conf")
        let fourth = try push("fourth (recycles r2)")
        XCTAssertEqual(fourth["pruned"] as? [String], [r2])
        XCTAssertEqual(f.read(f.devTarget + "/current/keep/e.conf"), "e v1\n")
        XCTAssertEqual(f.read(f.devTarget + "/current/keep/a.conf"), "a v3\n")
        r = try f.run(["org", "status", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        r = try f.run(["org", "rollback", "acme", "dev", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(f.currentRelease(f.devTarget), r3)
        XCTAssertEqual(f.read(f.devTarget + "/current/keep/a.conf"), "a v2\n")
        r = try f.run(["org", "status", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }
}
