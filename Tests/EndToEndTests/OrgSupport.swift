import Foundation
import XCTest
import TetraCore

/// Fixtures for the org end-to-end tests: a state root with a hand-written org whose dev
/// environment is a local directory and staging/prod are directories reached over the
/// loopback sshd (its own host key in ssh_options, its client key as ssh_key).
struct OrgFixture {
    static let secret = "s3cr3t-Value-9f2b7c"
    static let sessionSecret = "another-hidden-4411"

    let tetra: Tetra
    let root: String
    let devTarget: String
    let stagingPath: String
    let prodPath: String
    var org: String { root + "/orgs/acme" }

    /// `sshd` nil: staging and prod point at a closed port (only dev is usable).
    init(sshd: SSHServer?, keepDev: Int = 5, keepStaging: Int = 5, prodChecks: String = #"[["test", "-f", "{release}/app.env"]]"#,
         extraFiles: Int = 0) throws {
        root = DeployFixture.tempDir("tetra-org-e2e")
        tetra = Tetra(stateRoot: root + "/state-root")
        devTarget = root + "/targets/dev"
        stagingPath = root + "/targets/staging"
        prodPath = root + "/targets/prod"
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        XCTAssertEqual(try tetra.run(["ports", "set", "web", "3100"]).status, 0)
        let orgDir = tetra.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: orgDir + "/files/conf", withIntermediateDirectories: true)
        func ssh(_ path: String) -> String {
            guard let sshd else { return "target = \"ssh://nobody@127.0.0.1:1\(path)\"" }
            return """
            target = "\(sshd.url(path: path))"
            ssh_key = "\(sshd.clientKey)"
            ssh_options = ["UserKnownHostsFile=\(sshd.knownHostsFile)", "StrictHostKeyChecking=yes"]
            """
        }
        let toml = """
        # the test org
        [org]
        name = "acme"
        description = "test org"
        owner = "ops@acme.example"

        [vars]
        domain = "acme.example"
        replicas = 1

        [environments.dev]
        target = "\(devTarget)"
        port_range = "development"
        keep_releases = \(keepDev)
        vars = { domain = "dev.acme.example" }

        [environments.staging]
        \(ssh(stagingPath))
        port_range = "staging"
        promote_from = "dev"
        keep_releases = \(keepStaging)
        vars = { domain = "staging.acme.example" }

        [environments.prod]
        \(ssh(prodPath))
        port_range = "production"
        promote_from = "staging"
        protected = true
        keep_releases = 3
        checks = \(prodChecks)
        vars = { replicas = 3 }

        """
        try toml.write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
        try "DATABASE_URL=postgres://app:\(Self.secret)@db/app\nSESSION_SECRET=\"\(Self.sessionSecret)\"\n"
            .write(toFile: orgDir + "/secrets.env", atomically: true, encoding: .utf8)
        chmod(orgDir + "/secrets.env", 0o600)
        try """
        {{! the app's environment, without secrets }}
        APP_ENV={{ env.name }}
        DOMAIN={{ domain }}
        PORT={{ ports.web }}
        REPLICAS={{ replicas }}

        """.write(toFile: orgDir + "/files/app.env.tmpl", atomically: true, encoding: .utf8)
        try """
        DATABASE_URL={{ secrets.DATABASE_URL }}
        SESSION_SECRET={{ secrets.SESSION_SECRET }}

        """.write(toFile: orgDir + "/files/db.env.tmpl", atomically: true, encoding: .utf8)
        try "User-agent: *\n".write(toFile: orgDir + "/files/robots.txt", atomically: true, encoding: .utf8)
        try "worker_processes 2;\n".write(toFile: orgDir + "/files/conf/nginx.conf", atomically: true, encoding: .utf8)
        for i in 0..<extraFiles {
            let sub = orgDir + "/files/bulk/d\(i % 50)"
            if i < 50 { try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true) }
            try "file \(i)\n\(String(repeating: "y", count: i % 300))\n".write(toFile: sub + "/f\(i).conf", atomically: false, encoding: .utf8)
        }
    }

    /// Runs tetra and records the output, to check later that no secret ever appeared.
    @discardableResult
    func run(_ args: [String], env: [String: String] = [:], log: OutputLog? = nil) throws -> Tetra.Result {
        let r = try tetra.run(args, env: env)
        log?.add(args.joined(separator: " "), r)
        return r
    }

    /// Starts `tetra ARGS` in the background, its streams on /dev/null (for crash tests).
    func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Tetra.binary)
        p.arguments = args
        p.environment = tetra.environment
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func currentRelease(_ target: String) -> String? {
        DeployFixture.currentLink(target).map { String($0.dropFirst("releases/".count)) }
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Every file under `dir` whose content contains `needle` (relative paths).
    static func files(under dir: String, containing needle: String) -> [String] {
        var out: [String] = []
        guard let e = FileManager.default.enumerator(atPath: dir) else { return out }
        while let rel = e.nextObject() as? String {
            let p = dir + "/" + rel
            var st = stat()
            guard lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if let d = FileManager.default.contents(atPath: p), d.range(of: Data(needle.utf8)) != nil { out.append(rel) }
        }
        return out
    }

    /// Secrets may appear only in rendered files (mode 0600) at the targets, in the org's own
    /// secrets.env, and in scratch directories that must be gone.
    func assertSecretsOnlyInRenderedFiles(file: StaticString = #filePath, line: UInt = #line) {
        for secret in [Self.secret, Self.sessionSecret] {
            let inState = Self.files(under: tetra.stateRoot, containing: secret)
            XCTAssertEqual(inState, ["orgs/acme/secrets.env"], "secret found in the state root", file: file, line: line)
            for target in [devTarget, stagingPath, prodPath] {
                for rel in Self.files(under: target, containing: secret) {
                    XCTAssertTrue(rel.hasSuffix("/db.env"), "secret in \(target)/\(rel)", file: file, line: line)
                    XCTAssertEqual(DeployFixture.mode(target + "/" + rel), 0o600, "\(rel) holds secrets", file: file, line: line)
                }
            }
        }
    }
}

/// Everything tetra printed in a test.
final class OutputLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(String, Tetra.Result)] = []
    func add(_ command: String, _ r: Tetra.Result) { lock.lock(); entries.append((command, r)); lock.unlock() }

    func assertNoSecrets(_ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
        lock.lock(); defer { lock.unlock() }
        XCTAssertFalse(entries.isEmpty, file: file, line: line)
        for (command, r) in entries {
            for s in secrets {
                XCTAssertFalse(r.stdout.contains(s), "secret on stdout of \(command)", file: file, line: line)
                XCTAssertFalse(r.stderr.contains(s), "secret on stderr of \(command)", file: file, line: line)
            }
        }
    }
}
