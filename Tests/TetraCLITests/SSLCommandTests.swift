import Foundation
import XCTest
@testable import TetraCLI
@testable import TetraCore

final class SSLCommandTests: XCTestCase {
    func record(_ domain: String, names: [String], issuer: String) -> SSLService.Record {
        SSLService.Record(domain: domain, names: names, issuer: issuer, not_before: "2026-11-21T20:00:00Z",
                          not_after: "2027-02-19T20:00:00Z", days_left: 89, source: "acme", key_type: "ec256", serial: "0A")
    }

    /// The hand-written `ssl list --json` is byte-identical to the generic encoder's output.
    func testListJSONMatchesEncoder() throws {
        let records = [record("a.test", names: ["a.test", "b.test"], issuer: "CN=Pebble \"Intermediate\" CA/1\\x\t\u{1}é"),
                       record("*.c.test", names: ["*.c.test"], issuer: "CN=c")]
        XCTAssertEqual(SSLCommands.listJSON(records), try JSONOutput.encode(SSLCommands.ListResult(certificates: records)))
        XCTAssertNil(SSLCommands.listJSON([]))
        // Several parallel chunks join in order.
        let many = (0..<300).map { record("s\($0).test", names: ["s\($0).test", "www.s\($0).test"], issuer: "CN=CA \($0)") }
        XCTAssertEqual(SSLCommands.listJSON(many), try JSONOutput.encode(SSLCommands.ListResult(certificates: many)))
    }

    func writeMeta(_ root: String, domain: String, dir: String, notAfter: String) throws {
        let path = root + "/ssl/" + dir
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try """
        domain = "\(domain)"
        names = ["\(domain)"]
        subject = "CN=\(domain)"
        issuer = "CN=Test CA"
        not_before = 2026-01-01T00:00:00Z
        not_after = \(notAfter)
        serial = "01"
        fingerprint_sha256 = "AA"
        source = "imported"
        key_type = "ec256"
        created = 2026-01-01T00:00:00Z

        """.write(toFile: path + "/meta.toml", atomically: true, encoding: .utf8)
    }

    /// list/get/expiring from meta.toml only (the fake runner allows no process at all).
    func testListReadsMetaOnlyAndExpiringExitCode() throws {
        let cli = InProcess()
        // now = 2026-11-18T...; one expires in about 10 days, one next year.
        try writeMeta(cli.stateRoot, domain: "soon.test", dir: "soon.test", notAfter: "2026-11-29T00:00:00Z")
        try writeMeta(cli.stateRoot, domain: "*.later.test", dir: "_.later.test", notAfter: "2027-11-29T00:00:00Z")
        var r = cli.run(["ssl", "list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let certs = try XCTUnwrap(doc["certificates"] as? [[String: Any]])
        XCTAssertEqual(certs.map { $0["domain"] as? String }, ["*.later.test", "soon.test"])
        r = cli.run(["ssl", "list", "--expiring", "21d"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("soon.test"))
        XCTAssertFalse(r.stdout.contains("later.test"))
        r = cli.run(["ssl", "list", "--expiring", "1d", "--json"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("\"certificates\" : ["), r.stdout)
        r = cli.run(["ssl", "get", "*.later.test"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(cli.stateRoot + "/ssl/_.later.test/key.pem"))
        r = cli.run(["ssl", "get", "nope.test"])
        XCTAssertEqual(r.status, 4)
        // A broken meta.toml is skipped with a warning on stderr.
        try "domain = \n".write(toFile: cli.stateRoot + "/ssl/soon.test/meta.toml", atomically: true, encoding: .utf8)
        r = cli.run(["ssl", "list"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("skipped ssl/soon.test"), r.stderr)
        XCTAssertEqual(cli.runner.assertAllExpectationsMet(), [])
    }

    func testUsageErrorsAndRefusals() throws {
        let cli = InProcess()
        try writeMeta(cli.stateRoot, domain: "a.test", dir: "a.test", notAfter: "2027-11-29T00:00:00Z")
        var r = cli.run(["ssl", "renew"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--all"), r.stderr)
        r = cli.run(["ssl", "generate", "x.test", "--staging", "--acme-server", "https://a/dir"])
        XCTAssertEqual(r.status, 2)
        r = cli.run(["ssl", "generate", "x.test", "--http-port", "8080", "--webroot", "/tmp"])
        XCTAssertEqual(r.status, 2)
        r = cli.run(["ssl", "generate", "x.test", "--http-port", "0"])
        XCTAssertEqual(r.status, 2)
        r = cli.run(["ssl", "generate", "../x", "--self-signed"])
        XCTAssertEqual(r.status, 2)
        r = cli.run(["ssl", "generate", "*.x.test"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("DNS-01"))
        r = cli.run(["ssl", "import", "a.test", "--cert", "/nonexistent.pem"])
        XCTAssertEqual(r.status, 2)
        r = cli.run(["ssl", "delete", "a.test"])
        XCTAssertEqual(r.status, 7)
        XCTAssertTrue(FileManager.default.fileExists(atPath: cli.stateRoot + "/ssl/a.test/meta.toml"))
        r = cli.run(["ssl", "delete", "a.test", "--dry-run"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: cli.stateRoot + "/ssl/a.test/meta.toml"))
        r = cli.run(["ssl", "delete", "a.test", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.stateRoot + "/ssl/a.test"))
        XCTAssertEqual(cli.runner.assertAllExpectationsMet(), [])
    }
}
