import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// The pure parts of encrypted secrets (Sources/TetraCore/Secrets/): recipients, the identity
/// lookup, file names, and how age is called (the plaintext on stdin, never in argv). Real
/// age is exercised by Tests/EndToEndTests/SecretsE2ETests.swift.
final class SecretsTests: XCTestCase {
    let age1 = "age1" + String(repeating: "q", count: 58)

    func testRecipientGrammar() {
        XCTAssertNil(SecretRecipients.problem(with: age1))
        XCTAssertNil(SecretRecipients.problem(with: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"))
        XCTAssertNil(SecretRecipients.problem(with: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC"))
        for bad in ["age1short", "age1" + String(repeating: "b", count: 58), "AGE-SECRET-KEY-1ABC", "ssh-ed25519", "ssh-ed25519 not-base64!",
                    "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "--help", "age1\n" + String(repeating: "q", count: 57), ""] {
            XCTAssertNotNil(SecretRecipients.problem(with: bad), bad)
        }
        XCTAssertTrue(SecretRecipients.problem(with: "AGE-SECRET-KEY-1XYZ")!.contains("private key"))
    }

    func testRecipientsOfAScopeAreTheOrgsPlusTheEnvironmentsWithoutDuplicates() throws {
        let toml = """
        [org]
        name = "acme"
        [secrets]
        recipients = ["\(age1)", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6 a@b"]
        [environments.dev]
        target = "/tmp/x"
        [environments.prod]
        target = "/tmp/y"
        secret_recipients = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6 other-comment", "age1prodprodprod"]
        """
        let doc = try TOMLDocument(parsing: toml, fileName: "org.toml")
        let config = try XCTUnwrap(LoadedOrg.decode(doc, file: "org.toml").value)
        XCTAssertEqual(SecretRecipients.recipients(config, scope: .org).count, 2)
        XCTAssertEqual(SecretRecipients.recipients(config, scope: .env("dev")).count, 2)
        XCTAssertEqual(SecretRecipients.recipients(config, scope: .env("prod")).last, "age1prodprodprod", "the same ssh key once")
        XCTAssertEqual(SecretRecipients.recipients(config, scope: .env("prod")).count, 3)
        let org = LoadedOrg(name: "acme", directory: "/nonexistent", orgFile: "orgs/acme/org.toml", document: doc, config: config, warnings: [])
        let problems = SecretRecipients.problems(org)
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems.first?.description.hasPrefix("orgs/acme/org.toml:9:"), true, problems.first?.description ?? "")
    }

    func testIdentityLookupOrder() throws {
        let home = NSTemporaryDirectory() + "tetra-id-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let env = ["HOME": home]
        XCTAssertEqual(AgeIdentity.candidates(env), [home + "/.config/tetra/identity.txt", home + "/.ssh/id_ed25519", home + "/.ssh/id_rsa"])
        XCTAssertEqual(AgeIdentity.candidates(["HOME": home, "XDG_CONFIG_HOME": "/x"]).first, "/x/tetra/identity.txt")
        XCTAssertEqual(AgeIdentity.candidates(["HOME": home, "XDG_CONFIG_HOME": "relative"]).first, home + "/.config/tetra/identity.txt",
                       "a relative XDG_CONFIG_HOME is ignored")
        XCTAssertEqual(AgeIdentity.candidates(["HOME": home, "TETRA_AGE_IDENTITY": "/k"]), ["/k"], "an explicit identity alone")
        XCTAssertNil(AgeIdentity.lookup(env).found)
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: home + "/.ssh/id_rsa", contents: Data())
        XCTAssertEqual(AgeIdentity.lookup(env).found, home + "/.ssh/id_rsa")
        FileManager.default.createFile(atPath: home + "/.ssh/id_ed25519", contents: Data())
        XCTAssertEqual(AgeIdentity.lookup(env).found, home + "/.ssh/id_ed25519")
        XCTAssertEqual(AgeIdentity.keygenPath(env), home + "/.config/tetra/identity.txt")
    }

    func testSecretFileNamesAreNeverSnapshotted() {
        let names = SnapshotStore.excluded
        for name in ["secrets.env", "secrets.env.age", "secrets.prod.env.age"] { XCTAssertTrue(names.contains(name), name) }
        for name in ["org.toml", "secrets.env.bak", "secrets..env.age", "secrets.Prod.env.age", "my-secrets.env.age"] {
            XCTAssertFalse(names.contains(name), name)
        }
        XCTAssertEqual(SecretFileNames.scope(ofEncrypted: "secrets.prod.env.age"), .env("prod"))
        XCTAssertEqual(SecretScope.env("prod").fileName, "secrets.prod.env.age")
    }

    /// age gets the plaintext on stdin and the ciphertext on stdin: argv holds only flags,
    /// public keys and the identity path.
    func testAgeIsCalledWithDataOnStdinOnly() throws {
        let fake = FakeProcessRunner()
        let age1 = self.age1
        let header = "age-encryption.org/v1\n-> X25519 abc\n"
        fake.expect("encrypt", executable: "age", matching: { $0.arguments == ["-e", "-r", age1] && $0.input == Data("K=plain-value\n".utf8) },
                    response: .result(ProcessResult(status: 0, stdout: Data(header.utf8))))
        let dir = NSTemporaryDirectory() + "tetra-age-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/id.txt", contents: Data())
        let age = AgeTool(runner: fake, environment: ["TETRA_AGE_IDENTITY": dir + "/id.txt"])
        let store = OrgSecrets(directory: dir, age: age)
        try store.write([("K", "plain-value")], scope: .org, recipients: [age1])
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/secrets.env.age"), Data(header.utf8))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: dir + "/secrets.env.age")[.posixPermissions] as? Int, 0o600)
        fake.expect("decrypt", executable: "age", matching: { $0.arguments == ["-d", "-i", dir + "/id.txt"] && $0.input == Data(header.utf8) },
                    response: .result(ProcessResult(status: 0, stdout: Data("K=plain-value\n".utf8))))
        XCTAssertEqual(try store.values(env: nil), ["K": "plain-value"])
        for call in fake.calls { XCTAssertFalse(call.arguments.joined().contains("plain-value")) }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])

        // A failing decryption: exit 6, naming the identity, not the data.
        fake.expect("decrypt fails", executable: "age", matching: { _ in true },
                    response: .result(ProcessResult(status: 1, stderr: Data("age: error: no identity matched any of the recipients\nage: report unexpected or unhelpful errors at https://filippo.io/age/report\n".utf8))))
        XCTAssertThrowsError(try store.values(env: nil)) { error in
            let e = error as? SecretError
            XCTAssertEqual(e?.exitCode, .toolFailed)
            XCTAssertEqual(e?.message.contains(dir + "/id.txt"), true)
            XCTAssertEqual(e?.message.contains("report"), false)
        }
    }
}

extension SecretsTests {
    /// A fleet release ships each service's own 0600 file with only what it lists, taking
    /// the environment's value over the org-wide one.
    func testReleaseServicesShipTheEnvironmentsValues() throws {
        let dir = NSTemporaryDirectory() + "tetra-rs-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let orgDir = dir + "/orgs/acme", tree = dir + "/tree"
        for d in [orgDir + "/services", tree] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try "[org]\nname = \"acme\"\n[environments.prod]\ntarget = \"/tmp/p\"\n".write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
        try "command = [\"true\"]\nsecrets = [\"TOKEN\"]\n".write(toFile: orgDir + "/services/web.toml", atomically: true, encoding: .utf8)
        let org = try LoadedOrg.load(name: "acme", directory: orgDir)
        var inputs = OrgValidator.Inputs(ports: [:], ranges: [], secrets: ["TOKEN": "org-value", "OTHER": "not-listed"], problems: [])
        inputs.envSecrets = ["prod": ["TOKEN": "prod-value"]]
        XCTAssertEqual(inputs.secrets(for: "dev")["TOKEN"], "org-value")
        XCTAssertEqual(inputs.allSecretNames, ["TOKEN", "OTHER"])
        _ = try ReleaseServices.render(["web"], org: org, environment: "prod", host: nil, inputs: inputs,
                                       paths: StatePaths(root: dir), into: tree, interrupt: nil)
        let file = tree + "/.tetra/secrets/web.env"
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "TOKEN=prod-value\n")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
    }
}
