import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// `org snapshot list | show | diff | restore` in-process: every JSON document pinned by a
/// golden file (Golden/json/org-snapshot-*.json; the host name is written HOST).
final class OrgSnapshotCommandTests: XCTestCase {
    /// An org made by `org create`, then changed by two `org set`s (each takes a snapshot).
    func orgWithSnapshots() throws -> (cli: InProcess, ids: [String]) {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        var r = cli.run(["org", "create", "acme", "--set", "domain=acme.example"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (key, value) in [("org.description", "\"first\""), ("org.description", "\"second\"")] {
            r = cli.run(["org", "set", key, value, "--org", "acme"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        r = cli.run(["org", "snapshot", "list", "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let ids = try XCTUnwrap((list?["snapshots"] as? [[String: Any]])?.compactMap { $0["id"] as? String })
        XCTAssertEqual(ids.count, 2)
        return (cli, ids)
    }

    func check(_ r: InProcess.Result, _ name: String, status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let text = r.stdout.replacingOccurrences(of: "@" + ProcessIdentity.hostName + "\"", with: "@HOST\"")
        Golden.check(text, path: Golden.directory + "/json/\(name).json", file: file, line: line)
    }

    func testEveryJSONDocumentMatchesItsGoldenFile() throws {
        let (cli, ids) = try orgWithSnapshots()
        let (newest, oldest) = (ids[0], ids[1])
        check(cli.run(["org", "snapshot", "list", "acme", "--json"]), "org-snapshot-list")
        check(cli.run(["org", "snapshot", "show", String(oldest.prefix(6)), "acme", "--json"]), "org-snapshot-show")
        check(cli.run(["org", "snapshot", "diff", oldest, newest, "acme", "--json"]), "org-snapshot-diff", status: 1)
        check(cli.run(["org", "snapshot", "restore", oldest, "acme", "--dry-run", "--json"]), "org-snapshot-restore-dry-run")
        check(cli.run(["org", "snapshot", "restore", oldest, "acme", "--json"]), "org-snapshot-restore")
        // an ambiguous or unknown id under --json: the error document
        let r = cli.run(["org", "snapshot", "show", newest.hasPrefix("0000") ? "ffff" : "0000", "acme", "--json"])
        XCTAssertEqual(r.status, 4)
        XCTAssertTrue(r.stderr.contains(#""kind":"not_found""#), r.stderr)
    }

    func testTextOutput() throws {
        let (cli, ids) = try orgWithSnapshots()
        var r = cli.run(["org", "snapshot", "list", "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("ID "), r.stdout)
        XCTAssertTrue(r.stdout.contains("before org set org.description"), r.stdout)
        r = cli.run(["org", "snapshot", "diff", ids[1], "acme"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("--- \(ids[1])/org.toml\n+++ working-copy/org.toml\n"), r.stdout)
        r = cli.run(["org", "snapshot", "restore", ids[1], "acme", "--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("would restore acme to snapshot \(ids[1]) (1 file changed)\n  ~ org.toml\n"), r.stdout)
        r = cli.run(["org", "snapshot", "list", "nosuch"])
        XCTAssertEqual(r.status, 4, r.stderr)
    }
}
