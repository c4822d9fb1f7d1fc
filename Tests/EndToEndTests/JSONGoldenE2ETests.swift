import Foundation
import TetraTestSupport
import XCTest

/// Pins the `--json` documents of the built binary with the goldens of
/// Tests/TetraCLITests/Golden/json/ (docs/json.md), for commands that need real components.
/// Values that change from run to run are replaced explicitly: literal texts (random names,
/// ports, temporary directories) by placeholders, and the values of the keys named by each
/// call (`"serial" : "$SERIAL"`, a number as 0).
struct GoldenPinner {
    let tetra: Tetra
    /// Literal texts and their placeholders, replaced in this order before the state root
    /// (`$ROOT`) and the temporary directory (`$TMPDIR`).
    var replacements: [(String, String)]

    /// Runs `tetra ARGS --json`, checks the status and the convention, compares the document
    /// with the golden of `command`, and returns it parsed.
    @discardableResult
    func pin(_ command: String, _ args: [String], status: Int32 = 0, strings: [String] = [], numbers: [String] = [],
             stdin: String? = nil, env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        // Before a `--` (the words after it are a command's: `tetra exec ENV -- CMD`).
        let r = try tetra.run(args.firstIndex(of: "--").map { Array(args[..<$0]) + ["--json"] + args[$0...] } ?? args + ["--json"],
                              stdin: stdin, env: env)
        XCTAssertEqual(r.status, status, "tetra \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        var doc = r.stdout
        for (text, placeholder) in replacements { doc = doc.replacingOccurrences(of: text, with: placeholder) }
        doc = JSONContract.masked(JSONContract.normalized(doc, root: tetra.stateRoot), strings: strings, numbers: numbers)
        JSONContract.checkConvention(doc, command: command, file: file, line: line)
        Golden.check(doc, path: JSONContract.goldenPath(command), file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout, file: file, line: line)
    }
}

extension VolumeE2ETests {
    /// create, list, get (with a container using the volume), backup, delete --backup,
    /// restore, prune: each document pinned. The engine's times, ids and mountpoints and the
    /// archives' sizes are masked.
    func testJSONDocumentsMatchTheirGoldens() throws {
        let pinner = GoldenPinner(tetra: tetra, replacements: [(workDir, "$WORK"), (prefix, "tetra-test-$RUN"), (org, "ttorg$RUN")])
        let v = vol("data"), spare = vol("spare"), user = vol("user")
        try pinner.pin("volume create", ["volume", "create", v, "--org", org, "--env", "dev", "--label", "team=web"])
        containers.append(user)
        try dockerRun(["create", "--name", user, "--network", "none", "-v", "\(v):/data", Self.image, "true"])
        try pinner.pin("volume list", ["volume", "list", "--org", org], strings: ["created_at"])
        let got = try pinner.pin("volume get", ["volume", "get", v], strings: ["created_at", "id", "mountpoint"])
        XCTAssertEqual((got["containers"] as? [[String: Any]])?.first?["state"] as? String, "created")
        let archive = workDir + "/data.tar.gz"
        try pinner.pin("volume backup", ["volume", "backup", v, archive, "--image", Self.image], numbers: ["bytes"])
        try dockerRun(["rm", user])
        try pinner.pin("volume delete", ["volume", "delete", v, "--backup", workDir + "/last.tar.gz", "--image", Self.image, "--yes"],
                       numbers: ["bytes"])
        let restored = try pinner.pin("volume restore", ["volume", "restore", v, archive, "--image", Self.image, "--org", org, "--env", "dev"])
        XCTAssertEqual(restored["created"] as? Bool, true)
        try ok(["volume", "create", spare, "--org", org])
        let pruned = try pinner.pin("volume prune", ["volume", "prune", "--org", org, "--yes"])
        XCTAssertEqual(pruned["removed"] as? [String], [v, spare])
    }
}

extension SSLE2ETests {
    /// generate (ACME, with a deploy hook), ensure --force, get, rollback, import (an
    /// openssl-made certificate), renew --all (ACME, self-signed, imported), delete: each
    /// document pinned. Serials, fingerprints, dates and pebble's issuer name are masked.
    func testJSONDocumentsMatchTheirGoldens() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let tmp = Tetra.makeTempDir("tetra-import")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let pinner = GoldenPinner(tetra: t, replacements: [(pebble.directoryURL, "$ACME_SERVER")])
        let dates = ["starts_at", "expires_at", "created_at"]
        let acme = ["a.test", "--alt", "b.test", "--http-port", String(pebble.httpPort)] + pebble.acmeFlags
        let issued = try pinner.pin("ssl generate", ["ssl", "generate"] + acme + ["--email", "ops@example.com", "--deploy-hook", "true"],
                                    strings: dates)
        XCTAssertEqual(issued["origin"] as? String, "acme")
        try pinner.pin("ssl ensure", ["ssl", "ensure"] + acme + ["--force"], strings: dates)
        let certificate = dates + ["serial", "fingerprint_sha256", "issuer"]
        let got = try pinner.pin("ssl get", ["ssl", "get", "a.test"], strings: certificate)
        XCTAssertEqual((got["previous"] as? [String: Any])?["origin"] as? String, "acme")
        try pinner.pin("ssl rollback", ["ssl", "rollback", "a.test"], strings: certificate)

        let openssl = try requireTool("openssl")
        let made = try Tetra.exec(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp + "/imp.key", "-out", tmp + "/imp.crt",
                                            "-subj", "/CN=imp.test", "-addext", "subjectAltName=DNS:imp.test,DNS:www.imp.test", "-days", "400"])
        XCTAssertEqual(made.status, 0, made.stderr)
        try pinner.pin("ssl import", ["ssl", "import", "imp.test", "--cert", tmp + "/imp.crt", "--key", tmp + "/imp.key"], strings: dates)
        XCTAssertEqual(try t.run(["ssl", "generate", "self.test", "--self-signed", "--days", "30"]).status, 0)
        // A dry run reports the action it would take, with dry_run.
        let dry = try json(try t.run(["ssl", "generate", "dry.test", "--self-signed", "--dry-run", "--json"]).stdout)
        XCTAssertEqual(dry["action"] as? String, "issued")
        XCTAssertEqual(dry["dry_run"] as? Bool, true)
        let renewed = try pinner.pin("ssl renew", ["ssl", "renew", "--all", "--force"], strings: dates)
        XCTAssertEqual((renewed["results"] as? [[String: Any]])?.map { $0["action"] as? String }, ["renewed", "skipped", "renewed"])
        try pinner.pin("ssl delete", ["ssl", "delete", "imp.test", "--yes"])
    }
}
