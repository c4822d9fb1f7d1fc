import Foundation
import XCTest

/// `tetra ssl` against real components: Debian's pebble (ACME) with pebble-challtestsrv,
/// tetra's built-in HTTP-01 listener, a webroot served by python3, real openssl.
final class SSLE2ETests: XCTestCase {
    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
    }

    func serial(_ t: Tetra, _ domain: String) throws -> String {
        let r = try t.run(["ssl", "get", domain, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap((try json(r.stdout)["certificate"] as? [String: Any])?["serial"] as? String)
    }

    func stageLeftovers(_ t: Tetra) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: t.stateRoot + "/ssl")) ?? []).filter { $0.hasPrefix(".") }
    }

    /// Issues over HTTP-01 with the built-in listener (two names) and with a webroot; list,
    /// ensure (no-op, then --force with a deploy hook), rollback; keys 0600, never printed.
    func testACMEIssuanceListenerWebrootListEnsureHookRollback() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }

        // 1. Built-in listener, two names.
        var r = try t.run(["ssl", "generate", "a.test", "--alt", "b.test", "--http-port", String(pebble.httpPort),
                           "--email", "ops@example.com"] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        XCTAssertTrue(r.stdout.contains("a.test: issued (acme)"), r.stdout)
        // Off a terminal, one plain line per step: the authorizations counted n of m.
        for step in ["tetra: ACME: ordering a certificate for a.test, b.test", "tetra: ACME: reading 2 authorizations",
                     "tetra: ACME: authorization 1 of 2: HTTP-01 challenge for ", "tetra: ACME: authorization 2 of 2: waiting for the server to validate ",
                     "tetra: ACME: finalizing", "tetra: ACME: downloading the certificate"] {
            XCTAssertTrue(r.stderr.contains(step), "\(step) in: \(r.stderr)")
        }
        let dir = t.stateRoot + "/ssl/a.test"
        for f in ["cert.pem", "chain.pem", "fullchain.pem", "key.pem", "meta.toml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + f), f)
        }
        XCTAssertEqual(mode(dir + "/key.pem"), 0o600)
        let accounts = try FileManager.default.contentsOfDirectory(atPath: t.stateRoot + "/ssl/accounts")
        XCTAssertEqual(accounts.count, 1)
        XCTAssertEqual(mode(t.stateRoot + "/ssl/accounts/" + accounts[0] + "/key.pem"), 0o600)
        let key = try String(contentsOfFile: dir + "/key.pem", encoding: .utf8)
        XCTAssertFalse(r.stdout.contains("PRIVATE KEY") || r.stderr.contains("PRIVATE KEY"))
        // The chain really is pebble's: leaf signed by the intermediate in chain.pem.
        let verify = try Tetra.exec(Tetra.which("openssl")!, ["verify", "-partial_chain", "-CAfile", dir + "/chain.pem", dir + "/cert.pem"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)

        // 2. Webroot served by a separate web server on pebble's HTTP-01 port.
        let webroot = Tetra.makeTempDir("tetra-webroot")
        defer { try? FileManager.default.removeItem(atPath: webroot) }
        let www = webroot + "/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        do {
            let server = try WebrootServer(root: www, port: pebble.httpPort)
            defer { server.stop() }
            // The CA bundle through the environment this time.
            r = try t.run(["ssl", "generate", "c.test", "--webroot", www, "--acme-server", pebble.directoryURL],
                          env: ["TETRA_ACME_CA_BUNDLE": pebble.caFile])
            XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: www + "/.well-known"), "challenge files are cleaned up")

        // 3. list --json: both, right SANs and expiry.
        r = try t.run(["ssl", "list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let certs = try XCTUnwrap(try json(r.stdout)["certificates"] as? [[String: Any]])
        XCTAssertEqual(certs.map { $0["domain"] as? String }, ["a.test", "c.test"])
        XCTAssertEqual(certs[0]["names"] as? [String], ["a.test", "b.test"])
        XCTAssertEqual(certs[1]["names"] as? [String], ["c.test"])
        for c in certs {
            XCTAssertEqual(c["origin"] as? String, "acme")
            XCTAssertTrue((c["issuer"] as? String ?? "").contains("Pebble"), "\(c)")
            let notAfter = try XCTUnwrap(ISO8601DateFormatter().date(from: c["expires_at"] as? String ?? ""))
            XCTAssertGreaterThan(notAfter, Date().addingTimeInterval(30 * 86400))
            XCTAssertGreaterThan(c["days_left"] as? Int ?? 0, 30)
        }
        // The expiry in meta.toml is the certificate's own.
        let end = try Tetra.exec(Tetra.which("openssl")!, ["x509", "-in", dir + "/cert.pem", "-noout", "-enddate"])
        XCTAssertTrue(end.stdout.hasPrefix("notAfter="))
        r = try t.run(["ssl", "list", "--expiring", "21d"])
        XCTAssertEqual(r.status, 0, "nothing expires within 21 days: " + r.stdout)

        // 4. ensure: nothing to do when not due.
        let first = try serial(t, "a.test")
        r = try t.run(["ssl", "ensure", "a.test", "--alt", "b.test", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["action"] as? String, "unchanged")
        XCTAssertEqual(try serial(t, "a.test"), first)

        // 5. ensure --force renews (same server, port, CA from meta.toml) and runs the hook.
        let hookOut = webroot + "/hook.env"
        r = try t.run(["ssl", "ensure", "a.test", "--alt", "b.test", "--force", "--json", "--deploy-hook",
                       "env | grep '^TETRA_SSL_' | sort > \(hookOut)"])
        XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        let ensured = try json(r.stdout)
        XCTAssertEqual(ensured["action"] as? String, "renewed")
        XCTAssertEqual((ensured["deploy_hook"] as? [String: Any])?["status"] as? Int, 0)
        let second = try serial(t, "a.test")
        XCTAssertNotEqual(second, first)
        let hookEnv = try String(contentsOfFile: hookOut, encoding: .utf8)
        XCTAssertTrue(hookEnv.contains("TETRA_SSL_DOMAIN=a.test\n"), hookEnv)
        XCTAssertTrue(hookEnv.contains("TETRA_SSL_CERT=\(dir)/cert.pem\n"), hookEnv)
        XCTAssertTrue(hookEnv.contains("TETRA_SSL_KEY=\(dir)/key.pem\n"), hookEnv)
        XCTAssertTrue(hookEnv.contains("TETRA_SSL_FULLCHAIN=\(dir)/fullchain.pem\n"), hookEnv)
        XCTAssertNotEqual(try String(contentsOfFile: dir + "/key.pem", encoding: .utf8), key, "a renewal has a new key")
        XCTAssertEqual(mode(dir + "/previous/key.pem"), 0o600)

        // 6. rollback restores the previous version (certificate and its key).
        r = try t.run(["ssl", "rollback", "a.test"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try serial(t, "a.test"), first)
        XCTAssertEqual(try String(contentsOfFile: dir + "/key.pem", encoding: .utf8), key)
        XCTAssertEqual(mode(dir + "/key.pem"), 0o600)
        XCTAssertEqual(stageLeftovers(t), [])

        // 7. renew --all: not due, nothing happens.
        r = try t.run(["ssl", "renew", "--all", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = try XCTUnwrap(try json(r.stdout)["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["action"] as? String }, ["unchanged", "unchanged"])
    }

    /// Pebble cannot reach the challenge (nothing listens on its HTTP-01 port): a clear error
    /// with the ACME problem type, nothing stored; a failed renewal keeps the old certificate.
    func testRejectedChallengeLeavesNoHalfWrittenCertificate() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let webroot = Tetra.makeTempDir("tetra-webroot")
        defer { try? FileManager.default.removeItem(atPath: webroot) }

        var r = try t.run(["ssl", "generate", "d.test", "--webroot", webroot] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("could not validate d.test"), r.stderr)
        XCTAssertTrue(r.stderr.contains("urn:ietf:params:acme:error:connection"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/d.test"))
        XCTAssertEqual(stageLeftovers(t), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: webroot), [], "challenge files removed")

        // --json: the error as one JSON document on stderr.
        r = try t.run(["ssl", "generate", "d.test", "--webroot", webroot, "--json"] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        // Step lines go to stderr before it; the error is the last line.
        let lastLine = String(r.stderr.split(separator: "\n").last ?? "")
        let err = try XCTUnwrap(try json(lastLine)["error"] as? [String: Any])
        XCTAssertEqual(err["kind"] as? String, "acme_validation")

        // An existing certificate survives a failed renewal untouched.
        r = try t.run(["ssl", "generate", "d.test", "--http-port", String(pebble.httpPort)] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        let before = try String(contentsOfFile: t.stateRoot + "/ssl/d.test/fullchain.pem", encoding: .utf8)
        let meta = try String(contentsOfFile: t.stateRoot + "/ssl/d.test/meta.toml", encoding: .utf8)
        r = try t.run(["ssl", "renew", "d.test", "--force", "--webroot", webroot])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("urn:ietf:params:acme:error:"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: t.stateRoot + "/ssl/d.test/fullchain.pem", encoding: .utf8), before)
        XCTAssertEqual(try String(contentsOfFile: t.stateRoot + "/ssl/d.test/meta.toml", encoding: .utf8), meta)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/d.test/previous"))
        XCTAssertEqual(stageLeftovers(t), [])
        // renew --all goes on after a failure and exits 1 naming it.
        XCTAssertEqual(try t.run(["ssl", "generate", "self.test", "--self-signed", "--days", "5"]).status, 0)
        r = try t.run(["ssl", "renew", "--all", "--force", "--webroot", webroot, "--json"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let results = try XCTUnwrap(try json(r.stdout)["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["domain"] as? String }, ["d.test", "self.test"])
        XCTAssertEqual(results.map { $0["action"] as? String }, ["failed", "renewed"])
        XCTAssertEqual(results[0]["error_kind"] as? String, "acme_validation")
        XCTAssertEqual(try String(contentsOfFile: t.stateRoot + "/ssl/d.test/fullchain.pem", encoding: .utf8), before)
        r = try t.run(["ssl", "renew", "--all", "--force", "--webroot", webroot, "-q"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("renewal of d.test failed"), r.stderr)

        // Wildcards are refused for HTTP-01 before anything is contacted.
        r = try t.run(["ssl", "generate", "*.e.test", "--http-port", String(pebble.httpPort)] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("DNS-01"), r.stderr)
        // An unreachable server: a clear message naming the URL.
        r = try t.run(["ssl", "generate", "f.test", "--http-port", String(pebble.httpPort), "--acme-server",
                       "https://127.0.0.1:1/dir", "--acme-ca", pebble.caFile])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("cannot reach the ACME server at https://127.0.0.1:1/dir"), r.stderr)
        // Without the CA, pebble's TLS certificate is not trusted: the hint names --acme-ca.
        r = try t.run(["ssl", "generate", "f.test", "--http-port", String(pebble.httpPort), "--acme-server", pebble.directoryURL],
                      env: ["TETRA_ACME_CA_BUNDLE": ""])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--acme-ca"), r.stderr)
    }

    /// An RSA account key signs with RS256 (and the certificate key is RSA too).
    func testRSAKeysAndRS256Account() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        // The account e-mail comes from config/tetra.toml when --email is not given.
        XCTAssertEqual(try t.run(["init"]).status, 0)
        try "acme_email = \"cfg@example.com\"\n".write(toFile: t.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        let r = try t.run(["ssl", "generate", "rsa.test", "--key-type", "rsa2048", "--http-port", String(pebble.httpPort)] + pebble.acmeFlags)
        XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        let accounts = try FileManager.default.contentsOfDirectory(atPath: t.stateRoot + "/ssl/accounts")
        let account = try String(contentsOfFile: t.stateRoot + "/ssl/accounts/\(accounts[0])/account.toml", encoding: .utf8)
        XCTAssertTrue(account.contains("email = \"cfg@example.com\""), account)
        XCTAssertTrue(account.contains("url = \"https://127.0.0.1:\(pebble.listenPort)/"), account)
        let text = try Tetra.exec(Tetra.which("openssl")!, ["pkey", "-in", t.stateRoot + "/ssl/accounts/\(accounts[0])/key.pem", "-noout", "-text"])
        XCTAssertTrue(text.stdout.contains("Private-Key: (2048 bit"), text.stdout)
        let list = try t.run(["ssl", "list", "--json"])
        let certs = try XCTUnwrap(try json(list.stdout)["certificates"] as? [[String: Any]])
        XCTAssertEqual(certs.first?["key_type"] as? String, "rsa2048")
    }

    /// Self-signed (wildcard allowed), import (matching and mismatched keys), delete, get,
    /// bad names, doctor's expiry check and domain completion. No ACME server needed.
    func testSelfSignedImportDeleteDoctorCompletion() throws {
        let openssl = try requireTool("openssl")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }

        var r = try t.run(["ssl", "generate", "*.dev.test", "--alt", "dev.test", "--self-signed", "--days", "10"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(mode(t.stateRoot + "/ssl/_.dev.test/key.pem"), 0o600)
        r = try t.run(["ssl", "get", "*.dev.test", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let cert = try XCTUnwrap(try json(r.stdout)["certificate"] as? [String: Any])
        XCTAssertEqual(cert["names"] as? [String], ["*.dev.test", "dev.test"])
        XCTAssertEqual(cert["origin"] as? String, "self-signed")
        XCTAssertEqual(cert["days_left"] as? Int, 9)

        // Import: a certificate made elsewhere, with its key; then with another key.
        let tmp = Tetra.makeTempDir("tetra-import")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for name in ["good", "other"] {
            let g = try Tetra.exec(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(tmp)/\(name).key",
                                             "-out", "\(tmp)/\(name).crt", "-subj", "/CN=imp.test", "-addext",
                                             "subjectAltName=DNS:imp.test,DNS:www.imp.test", "-days", "400"])
            XCTAssertEqual(g.status, 0, g.stderr)
        }
        r = try t.run(["ssl", "import", "imp.test", "--cert", "\(tmp)/good.crt", "--key", "\(tmp)/other.key"])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("does not match"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/imp.test"))
        XCTAssertEqual(stageLeftovers(t), [])
        r = try t.run(["ssl", "import", "imp.test", "--cert", "\(tmp)/good.crt", "--key", "\(tmp)/good.key"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(mode(t.stateRoot + "/ssl/imp.test/key.pem"), 0o600)
        r = try t.run(["ssl", "list", "--json"])
        let certs = try XCTUnwrap(try json(r.stdout)["certificates"] as? [[String: Any]])
        let imp = try XCTUnwrap(certs.first { $0["domain"] as? String == "imp.test" })
        XCTAssertEqual(imp["origin"] as? String, "imported")
        XCTAssertEqual(imp["names"] as? [String], ["imp.test", "www.imp.test"])
        XCTAssertEqual(imp["key_type"] as? String, "rsa2048")
        XCTAssertFalse(r.stdout.contains("PRIVATE"))
        // A wildcard import is accepted too.
        r = try t.run(["ssl", "import", "*.w.test", "--cert", "\(tmp)/good.crt", "--key", "\(tmp)/good.key"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("does not name *.w.test"), r.stderr)
        // Renewal of an imported certificate is skipped, not attempted.
        r = try t.run(["ssl", "renew", "imp.test", "--force", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual((try json(r.stdout)["results"] as? [[String: Any]])?.first?["action"] as? String, "skipped")
        r = try t.run(["ssl", "ensure", "imp.test", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["action"] as? String, "skipped")

        // --expiring: the 10-day certificate is within 21 days: exit 1, listed.
        r = try t.run(["ssl", "list", "--expiring", "21d"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("*.dev.test"), r.stdout)
        XCTAssertFalse(r.stdout.contains("imp.test"), r.stdout)
        // doctor names it.
        r = try t.run(["doctor", "--json"])
        let checks = try XCTUnwrap(try json(r.stdout)["checks"] as? [[String: Any]])
        let certCheck = try XCTUnwrap(checks.first { $0["name"] as? String == "certificate *.dev.test" }, "\(checks)")
        XCTAssertEqual(certCheck["status"] as? String, "warning")
        XCTAssertTrue((certCheck["detail"] as? String ?? "").contains("expires in 9 days"))
        // Completion offers the stored domains.
        r = try t.run(["__complete", "ssl", "get", ""])
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), ["*.dev.test", "*.w.test", "imp.test"])

        // Rollback without a previous version: not found.
        r = try t.run(["ssl", "rollback", "imp.test"])
        XCTAssertEqual(r.status, 4, r.stderr)
        // Bad names never reach a path.
        for bad in ["../etc", "a/b.test", "UPPER..test", "accounts"] {
            r = try t.run(["ssl", "generate", bad, "--self-signed"])
            XCTAssertEqual(r.status, 2, bad + ": " + r.stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: t.stateRoot + "/ssl").sorted(),
                       ["_.dev.test", "_.w.test", "imp.test"])
        // Delete needs --yes (non-interactive: exit 7), unknown: 4.
        r = try t.run(["ssl", "delete", "imp.test"])
        XCTAssertEqual(r.status, 7)
        XCTAssertTrue(r.stderr.contains("--yes"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/imp.test/cert.pem"))
        r = try t.run(["ssl", "delete", "imp.test", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/imp.test"))
        r = try t.run(["ssl", "get", "imp.test"])
        XCTAssertEqual(r.status, 4)
        // The audit log records the mutations, never key material.
        let audit = try String(contentsOfFile: t.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"ssl\",\"import\"") || audit.contains("ssl import"), audit)
        XCTAssertFalse(audit.contains("PRIVATE KEY"))
    }
    /// Ctrl-C during an issuance (the ACME server accepts the connection and never answers):
    /// exit 130, no certificate, no staging directory, the lock released.
    func testInterruptDuringIssuanceLeavesNothing() throws {
        _ = try requireTool("curl")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        // A server that accepts and stays silent.
        let port = try SSHServer.freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 8), 0)
        defer { close(fd) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["ssl", "generate", "x.test", "--http-port", String(try SSHServer.freePort()),
                             "--acme-server", "http://127.0.0.1:\(port)/dir"]
        process.environment = t.environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait until the issuance is under way (its staging directory exists), then interrupt.
        let deadline = Date().addingTimeInterval(20)
        func staging() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: t.stateRoot + "/ssl")) ?? []).filter { $0.hasPrefix(".stage-") }
        }
        while staging().isEmpty && Date() < deadline && process.isRunning { usleep(20_000) }
        XCTAssertFalse(staging().isEmpty, "the issuance started")
        usleep(300_000)
        process.interrupt()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("interrupted"), stderr)
        XCTAssertEqual(stageLeftovers(t), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/ssl/x.test"))
        // The lock was released: the next change of the domain goes through at once.
        let r = try t.run(["ssl", "generate", "x.test", "--self-signed"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }
}
