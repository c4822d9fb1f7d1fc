import FoundationEssentials
import Glibc

/// An org's secrets as files (SPEC §9): `secrets.env` (plaintext, 0600, still read),
/// `secrets.env.age` (org-wide) and `secrets.<env>.env.age` (one environment's overrides).
/// Encrypted files are decrypted in memory, by age, only when their values are needed.
/// Precedence for an environment: plaintext < `secrets.env.age` < `secrets.<env>.env.age`.
public struct OrgSecrets: Sendable {
    /// The org directory (working copy).
    public var directory: String
    /// How the directory is named in messages (`orgs/acme`).
    public var display: String
    public var age: AgeTool

    public init(directory: String, display: String? = nil, age: AgeTool) {
        self.directory = directory
        self.display = display ?? directory
        self.age = age
    }

    public init(paths: StatePaths, org: String, age: AgeTool) {
        self.init(directory: paths.org(org), display: "orgs/\(org)", age: age)
    }

    public var plaintextPath: String { directory + "/secrets.env" }
    public func path(_ scope: SecretScope) -> String { directory + "/" + scope.fileName }
    public func displayPath(_ scope: SecretScope) -> String { display + "/" + scope.fileName }

    public var hasPlaintext: Bool { LocalFiles.exists(plaintextPath) }

    /// The encrypted files present, org-wide first, then environments by name.
    public func encryptedScopes() -> [SecretScope] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { SecretFileNames.scope(ofEncrypted: $0) }.sorted()
    }

    /// The plaintext `secrets.env` (missing: empty).
    public func plaintext() throws -> SecretsFile {
        try SecretsFile.load(plaintextPath)
    }

    /// Decrypts one encrypted file (nil when it does not exist). Its text is parsed like a
    /// plaintext file; problems name the .age file and a line, never a value.
    public func read(_ scope: SecretScope) throws -> SecretsFile? {
        guard let data = try AtomicFile.readIfExists(path(scope), limit: InputFile.configLimit) else { return nil }
        let shown = displayPath(scope)
        guard AgeTool.isAgeFile(data) else {
            throw ConfigError([ConfigProblem(file: shown, message: "is not an age file (it must start with age-encryption.org/v1)")])
        }
        let plain = try age.decrypt(data, display: shown)
        guard let text = String(data: plain, encoding: .utf8) else {
            throw ConfigError([ConfigProblem(file: shown, message: "the decrypted text is not UTF-8")])
        }
        return try SecretsFile.parse(text, file: shown)
    }

    /// The values an environment renders with (`env` nil: org-wide only).
    public func values(env: String?) throws -> [String: String] {
        var values = try plaintext().values
        if let org = try read(.org) { values.merge(org.values) { $1 } }
        if let env, let own = try read(.env(env)) { values.merge(own.values) { $1 } }
        return values
    }

    /// `plain` with the names and values of `secrets.env.age` added, when it exists and can
    /// be decrypted (else `plain` as it is): for commands that show names.
    public func withEncryptedNames(_ plain: SecretsFile) -> SecretsFile {
        guard let encrypted = try? read(.org) else { return plain }
        var out = plain
        for name in encrypted.names {
            if out.values[name] == nil { out.names.append(name) }
            out.values[name] = encrypted.values[name]
        }
        return out
    }

    /// Where one secret comes from, for `secret list` (never its value).
    public struct Entry: Sendable, Encodable, Equatable {
        public var name: String
        /// The file that defines it (relative to the org: `secrets.env.age`).
        public var file: String
        public var encrypted: Bool
        /// Set when an environment's file defines it.
        public var env: String?
        /// True when a later file overrides this definition for `env`.
        public var overridden: Bool?
    }

    /// Every definition of every file (or of the files that apply to `env`), in precedence
    /// order; a name defined twice appears twice, the earlier marked `overridden`.
    public func entries(env: String?) throws -> [Entry] {
        var out: [Entry] = []
        for name in try plaintext().names {
            out.append(Entry(name: name, file: "secrets.env", encrypted: false))
        }
        let scopes = env.map { [SecretScope.org, .env($0)] } ?? encryptedScopes()
        for scope in scopes {
            guard let file = try read(scope) else { continue }
            for name in file.names {
                out.append(Entry(name: name, file: scope.fileName, encrypted: true, env: scope.envName))
            }
        }
        if env != nil {
            var last: [String: Int] = [:]
            for (i, e) in out.enumerated() { last[e.name] = i }
            for i in out.indices where last[out[i].name] != i { out[i].overridden = true }
        }
        return out
    }

    /// Encrypts `entries` to `recipients` (plaintext on age's stdin); returns the ciphertext.
    public func encrypt(_ entries: [(String, String)], recipients: [String]) throws -> Data {
        try age.encrypt(Data(SecretsFile.render(entries).utf8), recipients: recipients)
    }

    /// Encrypts `entries` to `recipients` and writes the file of `scope` (0600, atomic).
    public func write(_ entries: [(String, String)], scope: SecretScope, recipients: [String]) throws {
        try AtomicFile.write(try encrypt(entries, recipients: recipients), to: path(scope), mode: 0o600)
    }

    /// Checks that `cipher` decrypts to exactly `entries` (the round trip of a migration).
    public func verify(_ cipher: Data, scope: SecretScope, equals values: [String: String]) throws -> Bool {
        let plain = try age.decrypt(cipher, display: displayPath(scope))
        guard let text = String(data: plain, encoding: .utf8) else { return false }
        return try SecretsFile.parse(text, file: displayPath(scope)).values == values
    }
}

/// The secrets a service's process gets at spawn time (SPEC §9): on a fleet host, its own
/// 0600 file written by the push (only what it lists); else the org's files, decrypted now.
public enum ServiceSecrets {
    public static func values(_ sp: ServicePaths, age: AgeTool = .system()) throws -> [String: String] {
        let own = sp.stateDirectory + "/secrets.env"
        if LocalFiles.exists(own) { return try SecretsFile.load(own).values }
        return try OrgSecrets(paths: sp.paths, org: sp.org, age: age).values(env: nil)
    }
}

/// Adds an org's encrypted secrets to the inputs it renders with: `secrets.env.age` over the
/// plaintext values, each `secrets.<env>.env.age` as that environment's overrides. Parse
/// problems join the other problems (exit 3); a missing or wrong identity is recorded as
/// `secretsFailure` (exit 6 for whoever renders).
enum EncryptedInputs {
    static func add(to inputs: inout OrgValidator.Inputs, orgDirectory: String, paths: StatePaths, age: AgeTool) {
        let prefix = paths.orgs + "/"
        let display = orgDirectory.hasPrefix(prefix) ? "orgs/" + orgDirectory.dropFirst(prefix.count) : orgDirectory
        let store = OrgSecrets(directory: orgDirectory, display: display, age: age)
        for scope in store.encryptedScopes() {
            do {
                guard let file = try store.read(scope) else { continue }
                if let env = scope.envName {
                    inputs.envSecrets[env] = file.values
                } else {
                    inputs.secrets.merge(file.values) { $1 }
                }
            } catch let e as ConfigError {
                inputs.problems += e.problems
            } catch let e as SecretError {
                inputs.secretsFailure = e
                return
            } catch let e as ToolError {
                inputs.secretsFailure = e
                return
            } catch {
                inputs.problems.append(ConfigProblem(file: store.displayPath(scope), message: "\(error)"))
            }
        }
    }
}
