import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// The `--json` documents of `org snapshot list | show | diff | restore`, pinned by golden
/// files (Golden/json/). Snapshots are taken by `org set` (no target needed); the time is
/// fixed and the host name replaced by HOST.
final class SnapshotCommandTests: XCTestCase {
    func makeOrg(_ cli: InProcess) throws -> String {
        XCTAssertEqual(cli.run(["init"]).status, 0)
        let dir = cli.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n\n[vars]\nreplicas = 1\n\n[environments.dev]\ntarget = \"/tmp/acme-dev\"\n"
            .write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
        try "worker_processes 2;\n".write(toFile: dir + "/files/nginx.conf", atomically: true, encoding: .utf8)
        for f in ["org.toml", "files/nginx.conf"] { chmod(dir + "/" + f, 0o644) }
        return dir
    }

    func check(_ cli: InProcess, _ args: [String], status: Int32 = 0, golden: String, file: StaticString = #filePath, line: UInt = #line) {
        let r = cli.run(args + ["--json"])
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let normalized = r.stdout.replacingOccurrences(of: "@" + ProcessIdentity.hostName + "\"", with: "@HOST\"")
        Golden.check(normalized, path: Golden.directory + "/json/\(golden).json", file: file, line: line)
    }

    func testSnapshotJSONDocumentsMatchGolden() throws {
        let cli = InProcess()
        let dir = try makeOrg(cli)
        XCTAssertEqual(cli.run(["org", "set", "vars.replicas", "2", "--org", "acme"]).status, 0)
        try "worker_processes 4;\n".write(toFile: dir + "/files/nginx.conf", atomically: true, encoding: .utf8)
        XCTAssertEqual(cli.run(["org", "set", "vars.replicas", "3", "--org", "acme"]).status, 0)
        let ids = try SnapshotStore(paths: StatePaths(root: cli.stateRoot)).log("acme").map(\.id)
        XCTAssertEqual(ids.count, 2)
        check(cli, ["org", "snapshot", "list", "acme"], golden: "org-snapshot-list")
        check(cli, ["org", "snapshot", "show", ids[0], "acme"], golden: "org-snapshot-show")
        check(cli, ["org", "snapshot", "diff", ids[0], ids[1], "--org", "acme"], status: 1, golden: "org-snapshot-diff")
        check(cli, ["org", "snapshot", "restore", ids[0], "acme", "--dry-run"], golden: "org-snapshot-restore-dry-run")
        check(cli, ["org", "snapshot", "restore", ids[0], "acme"], golden: "org-snapshot-restore")
        // an unknown id: exit 4, the JSON error
        let r = cli.run(["org", "snapshot", "show", "abcdef", "acme", "--json"])
        XCTAssertEqual(r.status, 4)
        Golden.check(r.stderr, path: Golden.directory + "/json/org-snapshot-show-not-found.json")
    }

    func testAnAmbiguousPrefixIsAUsageErrorNamingTheCandidates() throws {
        let cli = InProcess()
        let dir = try makeOrg(cli)
        // Snapshots until two ids share their first 4 digits (a few hundred at most).
        var seen: [String: String] = [:]
        var pair: (String, String)? = nil
        let store = SnapshotStore(paths: StatePaths(root: cli.stateRoot))
        for i in 0..<3000 where pair == nil {
            try "\(i)\n".write(toFile: dir + "/files/n", atomically: true, encoding: .utf8)
            let id = try store.take(org: "acme", directory: dir, reason: "test", by: "t", now: Date()).id
            if let other = seen[String(id.prefix(4))], other != id { pair = (other, id) }
            seen[String(id.prefix(4))] = id
        }
        let (a, b) = try XCTUnwrap(pair)
        let r = cli.run(["org", "snapshot", "show", String(a.prefix(4)), "acme"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains(a) && r.stderr.contains(b) && r.stderr.contains("ambiguous"), r.stderr)
    }
}
