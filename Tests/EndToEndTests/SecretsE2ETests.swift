import Foundation
import XCTest

/// Secrets encrypted at rest with real age (SPEC §9, docs/secrets.md): two recipients made by
/// real age-keygen; every scenario ends with a leak scan.
final class SecretsE2ETests: XCTestCase {
    var f: SecretsFixture!

    override func setUpWithError() throws { f = try SecretsFixture() }
    override func tearDown() { f = nil }

    static func value(_ label: String) -> String { "\(label)-\(UInt32.random(in: 100_000_000...999_999_999))-v" }

    /// set from stdin → an age file (0600) that either identity decrypts; get says it is set
    /// and reveals it only with --reveal; argv values and bad names are refused (exit 2)
    /// without writing; a wrong or missing identity is exit 6 naming what was tried.
    func testSetFromStdinWritesCiphertextThatEitherRecipientDecrypts() throws {
        let value = Self.value("set")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value + "\n")
        let file = f.orgDir + "/secrets.env.age"
        let cipher = try XCTUnwrap(f.bytes(file))
        XCTAssertTrue(cipher.starts(with: Data("age-encryption.org/v1".utf8)))
        XCTAssertEqual(f.mode(file), 0o600)
        for key in [0, 1] {
            let d = try f.decrypt(file, key: key)
            XCTAssertEqual(d.status, 0, d.stderr)
            XCTAssertEqual(d.stdout, "DB_PASS=\(value)\n", "identity \(key + 1) decrypts it")
        }
        XCTAssertNotEqual(try f.decrypt(file, key: 2).status, 0, "a key that is not a recipient does not")

        var r = try f.ok(["secret", "get", "DB_PASS"])
        XCTAssertTrue(r.stdout.contains("DB_PASS is set"), r.stdout)
        r = try f.ok(["secret", "get", "DB_PASS", "--json"])
        XCTAssertTrue(r.stdout.contains("\"set\" : true"), r.stdout)
        r = try f.run(["secret", "get", "DB_PASS", "--reveal", "--org", "acme"], env: ["TETRA_AGE_IDENTITY": f.keys[1]], revealing: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, value + "\n", "the second recipient reveals it")
        XCTAssertTrue(try f.ok(["secret", "list", "--json"]).stdout.contains("\"name\" : \"DB_PASS\""))
        XCTAssertTrue(try f.run(["org", "show", "acme"]).stdout.contains("DB_PASS"), "org show names it")

        // A value as an argument: exit 2, not repeated, nothing written.
        let other = Self.value("argv")
        r = try f.run(["secret", "set", "DB_PASS", other, "--org", "acme"], stdin: other)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertFalse(r.stderr.contains(other), r.stderr)
        XCTAssertEqual(f.bytes(file), cipher, "nothing written")
        for bad in ["1ABC", "A-B", "A B", ""] {
            XCTAssertEqual(try f.run(["secret", "set", bad, "--org", "acme"], stdin: "x").status, 2, bad)
        }
        XCTAssertEqual(f.bytes(file), cipher)

        // A wrong identity, then none: exit 6 naming the identities tried; nothing changes.
        r = try f.run(["secret", "set", "OTHER", "--org", "acme"], stdin: other, env: ["TETRA_AGE_IDENTITY": f.keys[2]])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertTrue(r.stderr.contains(f.keys[2]), r.stderr)
        r = try f.run(["secret", "list", "--org", "acme"], env: ["TETRA_AGE_IDENTITY": ""])
        XCTAssertEqual(r.status, 6, r.stderr)
        for tried in ["/home/.config/tetra/identity.txt", "/home/.ssh/id_ed25519", "/home/.ssh/id_rsa"] {
            XCTAssertTrue(r.stderr.contains(f.work + tried), r.stderr)
        }
        r = try f.run(["org", "push", "acme", "dev"], env: ["TETRA_AGE_IDENTITY": f.keys[2]])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.root + "/targets/dev/current"), "nothing pushed")
        XCTAssertEqual(f.bytes(file), cipher)
        f.assertNoLeak(value)
        f.assertNoLeak(other)
    }

    /// A push renders the org-wide value for dev and the environment's own for prod, into
    /// 0600 files only; unset removes a value.
    func testRenderSeesValuesWithPerEnvironmentOverride() throws {
        let shared = Self.value("shared"), prod = Self.value("prod")
        try f.ok(["secret", "set", "DB_PASS"], stdin: shared)
        try f.ok(["secret", "set", "DB_PASS", "--env", "prod"], stdin: prod)
        XCTAssertTrue(try f.decrypt(f.orgDir + "/secrets.prod.env.age", key: 1).stdout.contains(prod))
        let list = try f.ok(["secret", "list", "--env", "prod", "--json"]).stdout
        XCTAssertTrue(list.contains("\"overridden\" : true"), list)
        try f.ok(["org", "push", "acme", "dev"])
        try f.ok(["org", "push", "acme", "prod"])
        let dev = f.root + "/targets/dev/current/app.env", prodFile = f.root + "/targets/prod/current/app.env"
        XCTAssertEqual(try String(contentsOfFile: dev, encoding: .utf8), "DB=\(shared)\n")
        XCTAssertEqual(try String(contentsOfFile: prodFile, encoding: .utf8), "DB=\(prod)\n")
        let devReal = try FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/targets/dev/current")
        let prodReal = try FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/targets/prod/current")
        try f.ok(["org", "validate", "acme"])
        f.assertNoLeak(shared, allowed: [f.root + "/targets/dev/\(devReal)/app.env"])
        f.assertNoLeak(prod, allowed: [f.root + "/targets/prod/\(prodReal)/app.env"])

        try f.ok(["secret", "unset", "DB_PASS", "--env", "prod"])
        XCTAssertEqual(try f.run(["secret", "unset", "DB_PASS", "--env", "prod", "--org", "acme"]).status, 4)
        let r = try f.run(["secret", "get", "DB_PASS", "--env", "prod", "--reveal", "--org", "acme"], revealing: true)
        XCTAssertEqual(r.stdout, shared + "\n", "prod falls back to the org-wide value")
    }

    /// A service that lists the secret gets it in its environment at spawn; a service that
    /// does not, and the supervisors, do not have it.
    func testSpawnedServiceSeesTheValueAndOthersDoNot() throws {
        let value = Self.value("spawn")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        try """
        command = ["sh", "-c", "echo len=${#DB_PASS}; exec sleep 300"]
        secrets = ["DB_PASS"]
        """.write(toFile: f.orgDir + "/services/asks.toml", atomically: true, encoding: .utf8)
        try "command = [\"sleep\", \"300\"]\n".write(toFile: f.orgDir + "/services/plain.toml", atomically: true, encoding: .utf8)
        try f.ok(["svc", "start", "asks"])
        try f.ok(["svc", "start", "plain"])
        func pid(_ name: String, _ key: String) -> Int32 {
            let data = f.bytes(f.root + "/state/services/acme/\(name)/state.json") ?? Data()
            let rec = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            return Int32((rec[key] as? [String: Any])?["pid"] as? Int ?? 0)
        }
        XCTAssertTrue(waitFor(5) { pid("asks", "process") > 0 && pid("plain", "process") > 0 })
        XCTAssertTrue(waitFor(5) { (try? f.ok(["svc", "logs", "asks"]).stdout.contains("len=\(value.count)")) == true })
        let asks = pid("asks", "process")
        let environ = f.bytes("/proc/\(asks)/environ") ?? Data()
        XCTAssertNotNil(environ.range(of: Data("DB_PASS=\(value)".utf8)), "the service that asked has it")
        f.assertNoLeak(value, processes: [pid("plain", "process"), pid("plain", "supervisor"), pid("asks", "supervisor")])
        try f.ok(["svc", "stop", "--all"])
    }

    /// Removing a recipient re-encrypts every file without it: the removed key no longer
    /// decrypts anything, the remaining one does; the last recipient cannot be removed.
    func testRemovingARecipientLocksItOut() throws {
        let value = Self.value("rm")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        try f.ok(["secret", "set", "API", "--env", "prod"], stdin: value + "p")
        let files = [f.orgDir + "/secrets.env.age", f.orgDir + "/secrets.prod.env.age"]
        for file in files { XCTAssertEqual(try f.decrypt(file, key: 1).status, 0) }
        let r = try f.ok(["secret", "recipients", "remove", f.recipients[1], "--json"])
        XCTAssertTrue(r.stdout.contains("secrets.prod.env.age"), r.stdout)
        for file in files {
            XCTAssertNotEqual(try f.decrypt(file, key: 1).status, 0, "\(file): the removed key is locked out")
            XCTAssertEqual(try f.decrypt(file, key: 0).status, 0)
        }
        XCTAssertEqual(try f.run(["secret", "list", "--org", "acme"], env: ["TETRA_AGE_IDENTITY": f.keys[1]]).status, 6)
        XCTAssertFalse(try String(contentsOfFile: f.orgDir + "/org.toml", encoding: .utf8).contains(f.recipients[1]))
        XCTAssertEqual(try f.run(["secret", "recipients", "remove", f.recipients[0], "--org", "acme"]).status, 5, "the last one stays")
        // Adding one back re-encrypts to it.
        try f.ok(["secret", "recipients", "add", f.recipients[2]])
        XCTAssertEqual(try f.decrypt(files[0], key: 2).status, 0)
        f.assertNoLeak(value)
    }

    /// A malformed recipient is a validation problem with path:line:column (exit 3).
    func testMalformedRecipientIsAConfigError() throws {
        try f.orgToml(recipients: [f.recipients[0], "age1nope"]).write(toFile: f.orgDir + "/org.toml", atomically: true, encoding: .utf8)
        let r = try f.run(["org", "validate", "acme"])
        XCTAssertEqual(r.status, 3, r.stderr + r.stdout)
        XCTAssertTrue((r.stderr + r.stdout).contains("orgs/acme/org.toml:5:"), r.stderr + r.stdout)
    }

    /// A plaintext secrets.env still renders; `secret encrypt` verifies the round trip and
    /// removes it; with an identity that cannot decrypt the result nothing changes.
    func testMigrationOfAPlaintextFile() throws {
        let value = Self.value("plain")
        let plain = f.orgDir + "/secrets.env"
        try "DB_PASS=\"\(value)\"\nOTHER=two words\n".write(toFile: plain, atomically: true, encoding: .utf8)
        chmod(plain, 0o600)
        try f.ok(["org", "push", "acme", "dev"])
        XCTAssertEqual(try String(contentsOfFile: f.root + "/targets/dev/current/app.env", encoding: .utf8), "DB=\(value)\n")
        var r = try f.run(["secret", "encrypt", "--org", "acme"], env: ["TETRA_AGE_IDENTITY": f.keys[2]])
        XCTAssertEqual(r.status, 6, "the round trip fails: \(r.stderr)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: plain))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.orgDir + "/secrets.env.age"))
        r = try f.ok(["secret", "encrypt", "--json"])
        XCTAssertTrue(r.stdout.contains("\"plaintext_removed\" : true"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: plain))
        XCTAssertEqual(try f.decrypt(f.orgDir + "/secrets.env.age", key: 1).stdout, "DB_PASS=\(value)\nOTHER=\"two words\"\n")
        try "DB={{ secrets.DB_PASS }} {{ secrets.OTHER }}\n".write(toFile: f.orgDir + "/files/app.env.tmpl", atomically: true, encoding: .utf8)
        try f.ok(["org", "push", "acme", "dev"])
        XCTAssertEqual(try String(contentsOfFile: f.root + "/targets/dev/current/app.env", encoding: .utf8), "DB=\(value) two words\n")
        var allowed: Set<String> = []
        for release in (try? FileManager.default.contentsOfDirectory(atPath: f.root + "/targets/dev/releases")) ?? [] {
            allowed.insert(f.root + "/targets/dev/releases/\(release)/app.env")
        }
        f.assertNoLeak(value, allowed: allowed)
    }

    /// import reads a stream once; keygen creates a 0600 identity and never overwrites it.
    func testImportAndKeygen() throws {
        let value = Self.value("imp")
        let r = try f.ok(["secret", "import", "-", "--json"], stdin: "A=1\nB=\(value)\n")
        XCTAssertTrue(r.stdout.contains("\"action\" : \"added\""), r.stdout)
        XCTAssertEqual(try f.decrypt(f.orgDir + "/secrets.env.age", key: 0).stdout, "A=1\nB=\(value)\n")
        f.assertNoLeak(value)

        let env = ["TETRA_AGE_IDENTITY": ""]
        var k = try f.run(["secret", "keygen", "--json"], env: env)
        XCTAssertEqual(k.status, 0, k.stderr)
        let identity = f.work + "/home/.config/tetra/identity.txt"
        XCTAssertEqual(f.mode(identity), 0o600)
        XCTAssertTrue(k.stdout.contains("\"recipient\" : \"age1"), k.stdout)
        let before = f.bytes(identity)
        k = try f.run(["secret", "keygen"], env: env)
        XCTAssertEqual(k.status, 5, k.stderr)
        XCTAssertEqual(f.bytes(identity), before)
    }
}

extension SecretsE2ETests {
    /// Every `secret` document pinned (keys of this run read `$RECIPIENT1`..., paths `$WORK`).
    func testJSONDocumentsMatchTheirGoldens() throws {
        let pinner = GoldenPinner(tetra: f.t, replacements: [(f.work, "$WORK")] + f.recipients.enumerated().map { ($1, "$RECIPIENT\($0 + 1)") })
        let org = ["--org", "acme"]
        let plain = f.orgDir + "/secrets.env"
        try "LEGACY=old\n".write(toFile: plain, atomically: true, encoding: .utf8)
        chmod(plain, 0o600)
        try pinner.pin("secret encrypt", ["secret", "encrypt"] + org)
        try f.ok(["secret", "set", "DB_PASS"], stdin: "v1")
        try pinner.pin("secret set", ["secret", "set", "DB_PASS", "--env", "prod"] + org, stdin: "v2")
        try pinner.pin("secret import", ["secret", "import", "-"] + org, stdin: "A=1\nDB_PASS=v3\n")
        try pinner.pin("secret list", ["secret", "list", "--env", "prod"] + org)
        try pinner.pin("secret get", ["secret", "get", "DB_PASS", "--env", "prod"] + org)
        try pinner.pin("secret unset", ["secret", "unset", "A"] + org)
        let e = f.work + "/editor.sh"
        try "#!/bin/sh\nprintf 'B=2\\n' >> \"$1\"\n".write(toFile: e, atomically: true, encoding: .utf8)
        chmod(e, 0o755)
        try pinner.pin("secret edit", ["secret", "edit"] + org, env: ["EDITOR": e, "VISUAL": ""])
        try pinner.pin("secret recipients add", ["secret", "recipients", "add", f.recipients[2], "--env", "prod"] + org)
        try pinner.pin("secret recipients", ["secret", "recipients"] + org)
        try pinner.pin("secret recipients remove", ["secret", "recipients", "remove", f.recipients[1]] + org)
        try pinner.pin("secret keygen", ["secret", "keygen"], strings: ["recipient"], env: ["TETRA_AGE_IDENTITY": ""])
    }
}

extension SecretsE2ETests {
    /// An ssh ed25519 key works as a recipient (its .pub line) and, with no other identity,
    /// as the identity (~/.ssh/id_ed25519). FILE of import may be a process substitution.
    func testSSHKeyAsRecipientAndIdentity() throws {
        let sshKeygen = try requireTool("ssh-keygen")
        let bash = try requireTool("bash")
        let ssh = f.work + "/home/.ssh"
        try FileManager.default.createDirectory(atPath: ssh, withIntermediateDirectories: true)
        let made = try Tetra.exec(sshKeygen, ["-q", "-t", "ed25519", "-N", "", "-C", "ops@test", "-f", ssh + "/id_ed25519"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let pub = try String(contentsOfFile: ssh + "/id_ed25519.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try f.ok(["secret", "recipients", "add", pub])
        let value = Self.value("ssh")
        let r = try f.run(["-c", "exec \"$0\" secret import <(printf 'SSH_VALUE=%s\\n' \"$V\") --org acme", Tetra.binary],
                          env: ["V": value], executable: bash)
        XCTAssertEqual(r.status, 0, r.stderr)
        let viaSSH = try f.run(["secret", "get", "SSH_VALUE", "--reveal", "--org", "acme"], env: ["TETRA_AGE_IDENTITY": ""], revealing: true)
        XCTAssertEqual(viaSSH.status, 0, viaSSH.stderr)
        XCTAssertEqual(viaSSH.stdout, value + "\n", "decrypted with ~/.ssh/id_ed25519")
        f.assertNoLeak(value)
    }
}
