import Foundation
import XCTest
@testable import TetraCLI
@testable import TetraCore

final class SSLCommandTests: XCTestCase {
    func record(_ domain: String, names: [String], issuer: String) -> SSLService.Record {
        SSLService.Record(domain: domain, names: names, issuer: issuer, not_before: "2026-11-21T20:00:00Z",
                          not_after: "2027-02-19T20:00:00Z", days_left: 89, origin: .acme, key_type: "ec256", serial: "0A")
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

    /// The direct `ssl list --json` (byte copies from meta.toml, `SSLService.scanList`) prints
    /// exactly what the encoder prints for the Records the general reader makes of the same
    /// files: plain files, TOML escapes, comments, CRLF, optional keys, empty and several names,
    /// and files the byte scanner leaves to the general reader (non-ASCII, \u escapes, other
    /// date forms), in the same order; unreadable ones are skipped with a warning. Also with
    /// --expiring.
    func testDirectListJSONMatchesEncoderOnVariedFiles() throws {
        let cli = InProcess()
        let ssl = cli.stateRoot + "/ssl"
        func meta(_ dir: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: ssl + "/" + dir, withIntermediateDirectories: true)
            try text.write(toFile: ssl + "/" + dir + "/meta.toml", atomically: true, encoding: .utf8)
        }
        func body(_ domain: String, names: String, issuer: String = "\"CN=Test CA\"", notAfter: String = "2027-02-19T20:00:00Z",
                  notBefore: String = "2026-11-21T20:00:00Z", extra: String = "") -> String {
            """
            # written by tetra when the certificate was stored; read by 'tetra ssl list'
            domain = "\(domain)"
            names = \(names)
            subject = "CN=\(domain)"
            issuer = \(issuer)
            not_before = \(notBefore)
            not_after = \(notAfter)
            serial = "0A:1B"
            fingerprint_sha256 = "AA:BB"
            source = "acme"
            key_type = "ec256"
            created = 2026-11-21T20:00:01Z
            \(extra)
            """
        }
        try meta("a.test", body("a.test", names: "[\"a.test\", \"www.a.test\"]", issuer: #""CN=Pebble \"Int\" CA/1\\x\t\n\r""#,
                                extra: "acme_server = \"https://127.0.0.1:14000/dir\"\nhttp_port = 5002\ndays = 7\n"))
        try meta("_.w.test", body("*.w.test", names: "[ \"*.w.test\" ]  # comment", notAfter: "2026-11-25T00:00:00Z"))
        try meta("crlf.test", body("crlf.test", names: "[\"crlf.test\"]").replacingOccurrences(of: "\n", with: "\r\n"))
        try meta("empty.test", body("empty.test", names: "[]"))
        try meta("utf8.test", body("utf8.test", names: "[\"utf8.test\"]", issuer: "\"CN=Société Générale\""))
        try meta("uesc.test", body("uesc.test", names: "[\"uesc.test\"]", issuer: #""CN=a\u0001b""#))
        try meta("frac.test", body("frac.test", names: "[\"frac.test\"]", notAfter: "2026-11-19T01:02:03.5Z"))
        try meta("off.test", body("off.test", names: "[\"off.test\"]", notAfter: "2027-01-01T00:00:00+02:00"))
        try meta("past.test", body("past.test", names: "[\"past.test\"]", notAfter: "2024-02-29T23:59:59Z"))
        try meta("broken.test", "domain = \n")
        try FileManager.default.createDirectory(atPath: ssl + "/nometa.test", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: ssl + "/accounts", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: ssl + "/.stage-x", withIntermediateDirectories: true)

        let now = cli.now()
        func expected(within: TimeInterval?) throws -> String {
            var records: [SSLService.Record] = []
            for dir in try FileManager.default.contentsOfDirectory(atPath: ssl).sorted() where !dir.hasPrefix(".") && dir != "accounts" {
                let file = ssl + "/" + dir + "/meta.toml"
                guard let data = FileManager.default.contents(atPath: file), let m = try? CertificateMeta.parse(data, file: file) else { continue }
                if let within, m.not_after.timeIntervalSince(now) > within { continue }
                records.append(SSLService.Record(domain: m.domain, names: m.names, issuer: m.issuer, not_before: Timestamps.iso8601(m.not_before),
                                                 not_after: Timestamps.iso8601(m.not_after), days_left: SSLService.daysLeft(m.not_after, now: now),
                                                 origin: m.source, key_type: m.key_type, serial: m.serial))
            }
            return try JSONOutput.encode(SSLCommands.ListResult(certificates: records)) + "\n"
        }
        var r = cli.run(["ssl", "list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, try expected(within: nil))
        XCTAssertTrue(r.stdout.contains(#""CN=Pebble \"Int\" CA/1\\x\t\n\r""#), r.stdout)
        XCTAssertTrue(r.stdout.contains("Société"), r.stdout)
        XCTAssertTrue(r.stderr.contains("skipped ssl/broken.test"), r.stderr)
        XCTAssertTrue(r.stderr.contains("ssl/nometa.test has no meta.toml"), r.stderr)
        XCTAssertEqual(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])["certificates"].map { ($0 as? [Any])?.count }, 9)
        r = cli.run(["ssl", "list", "--json", "--expiring", "21d"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stdout, try expected(within: 21 * 86400))
        XCTAssertTrue(r.stdout.contains("*.w.test") && r.stdout.contains("frac.test") && !r.stdout.contains("\"a.test"), r.stdout)
        r = cli.run(["ssl", "list", "--json", "--expiring", "1s"])
        XCTAssertEqual(r.stdout, try expected(within: 1))
        // Nothing listed: the encoder's empty document, exit 0.
        for dir in try FileManager.default.contentsOfDirectory(atPath: ssl) { try FileManager.default.removeItem(atPath: ssl + "/" + dir) }
        r = cli.run(["ssl", "list", "--json", "--expiring", "21d"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, try expected(within: 21 * 86400))
    }

    /// The byte scanner reads the same values as the general reader, and refuses (leaves to
    /// it) what it does not handle.
    func testMetaScannerAgreesWithReader() throws {
        let base = """
        domain = "a.test"
        names = ["a.test", "b.test"]
        subject = "CN=a.test"
        issuer = "CN=x \\"q\\" \\\\ y"
        not_before = 2024-02-29T00:00:00Z
        not_after = 2027-12-31T23:59:59Z
        serial = "01"
        fingerprint_sha256 = "AA"
        source = "self-signed"
        key_type = "rsa2048"
        created = 2026-01-01T00:00:00Z
        days = 30

        """
        let bytes = Array(base.utf8)
        let meta = try CertificateMeta.parse(bytes, file: "meta.toml")
        var m = MetaBytes(base: UnsafePointer(bitPattern: 1)!)
        let ok = bytes.withUnsafeBufferPointer { b -> Bool in
            guard MetaScanner.scan(b.baseAddress!, b.count, into: &m) else { return false }
            XCTAssertEqual(m.string(m.domain), meta.domain)
            XCTAssertEqual(m.names.map { m.string($0) }, meta.names)
            XCTAssertEqual(m.string(m.issuer), meta.issuer)
            XCTAssertEqual(m.string(m.source), meta.source.rawValue)
            XCTAssertEqual(m.string(m.keyType), meta.key_type)
            XCTAssertEqual(m.string(m.notBefore), Timestamps.iso8601(meta.not_before))
            XCTAssertEqual(m.string(m.notAfter), Timestamps.iso8601(meta.not_after))
            XCTAssertEqual(Double(m.notAfterEpoch), meta.not_after.timeIntervalSince1970)
            return true
        }
        XCTAssertTrue(ok)
        for (from, to) in [("days = 30", "days = 030"), ("days = 30", "days = +30"), ("days = 30", "days = 30\ndays = 31"),
                           ("source = \"self-signed\"", "source = \"other\""), ("2027-12-31T23:59:59Z", "2027-02-29T00:00:00Z"),
                           ("2027-12-31T23:59:59Z", "2027-12-31T23:59:60Z"), ("CN=a.test", "CN=\\u0041"), ("CN=a.test", "CN=é"),
                           ("key_type = \"rsa2048\"\n", ""), ("days = 30", "other = 1"), ("names = [", "names = [ \"\"\"x\"\"\", ")] {
            let text = Array(base.replacingOccurrences(of: from, with: to).utf8)
            XCTAssertFalse(text.withUnsafeBufferPointer { MetaScanner.scan($0.baseAddress!, $0.count, into: &m) }, to)
        }
        // Every day of 1969-2100 against timegm (via Timestamps).
        var day = Date(timeIntervalSince1970: -86400 * 366)
        while day.timeIntervalSince1970 < 4_110_000_000 {
            let text = Array(Timestamps.iso8601(day).utf8)
            XCTAssertEqual(text.withUnsafeBufferPointer { MetaScanner.epoch($0.baseAddress!) }, Int(day.timeIntervalSince1970))
            day += 86400 * 3 + 3671
        }
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

    /// A dry run reports the action it would take with `dry_run`, and the text says "would"
    /// (no process runs: the fake runner allows none).
    func testDryRunsReportTheActionWithDryRun() throws {
        let cli = InProcess()
        var r = cli.run(["ssl", "generate", "new.test", "--self-signed", "--dry-run"])
        XCTAssertEqual(r.stdout, "new.test: would issue (self-signed)\n", r.stderr)
        r = cli.run(["ssl", "generate", "new.test", "--self-signed", "--dry-run", "--json"])
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stderr)
        XCTAssertEqual(doc["action"] as? String, "issued")
        XCTAssertEqual(doc["dry_run"] as? Bool, true)
        XCTAssertEqual(doc["origin"] as? String, "self-signed")
        // Expiring two days after InProcess's clock: due.
        try writeMeta(cli.stateRoot, domain: "old.test", dir: "old.test", notAfter: "2026-11-20T00:00:00Z")
        r = cli.run(["ssl", "ensure", "old.test", "--self-signed", "--dry-run"])
        XCTAssertEqual(r.stdout, "old.test: would renew (self-signed) - due\n", r.stderr)
        r = cli.run(["ssl", "ensure", "old.test", "--self-signed", "--dry-run", "--json"])
        XCTAssertTrue(r.stdout.contains("\"action\" : \"renewed\"") && r.stdout.contains("\"dry_run\" : true"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.stateRoot + "/ssl/new.test"))
        XCTAssertEqual(cli.runner.assertAllExpectationsMet(), [])
    }
}
