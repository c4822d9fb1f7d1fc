import FoundationEssentials
import Glibc

/// Debian's `age` run as a tool (SPEC §9), like git: tetra writes no cryptography of its own.
/// Plaintext goes to age's stdin and comes back on its stdout, in memory: never a temporary
/// file, never an argument. Recipients (public keys) are arguments; the identity is a path.
public struct AgeTool: Sendable {
    public var runner: any ProcessRunning
    /// The process environment (identity lookup: TETRA_AGE_IDENTITY, XDG_CONFIG_HOME, HOME).
    public var environment: [String: String]

    public init(runner: any ProcessRunning, environment: [String: String]) {
        self.runner = runner
        self.environment = environment
    }

    public init(context: CoreContext) {
        self.init(runner: context.runner, environment: context.environment)
    }

    /// The real process environment and runner (for code that has no context: a supervisor).
    public static func system() -> AgeTool {
        let env = ProcessInfo.processInfo.environment
        return AgeTool(runner: SystemProcessRunner(environment: env), environment: env)
    }

    /// The first line of every age file (binary format).
    public static let header = Array("age-encryption.org/v1".utf8)

    /// Decrypts `ciphertext` (the contents of `display`) with the identity of this user.
    /// A missing identity or one that is not a recipient: exit 6 naming what was tried.
    public func decrypt(_ ciphertext: Data, display: String) throws -> Data {
        let lookup = AgeIdentity.lookup(environment)
        guard let identity = lookup.found else {
            throw SecretError.noIdentity(file: display, tried: lookup.tried)
        }
        let request = ProcessRequest("age", ["-d", "-i", identity], input: ciphertext, timeout: 120)
        let result = try runner.run(request)
        guard result.succeeded else {
            throw SecretError.cannotDecrypt(file: display, identity: identity, tried: lookup.tried,
                                            detail: Self.reason(result.stderrString))
        }
        return result.stdout
    }

    /// Encrypts `plaintext` to every recipient (age or ssh public keys).
    public func encrypt(_ plaintext: Data, recipients: [String]) throws -> Data {
        guard !recipients.isEmpty else { throw SecretError.noRecipients }
        var args = ["-e"]
        for r in recipients { args += ["-r", r] }
        let result = try runner.runChecked(ProcessRequest("age", args, input: plaintext, timeout: 120))
        guard result.stdout.starts(with: Self.header) else {
            throw ToolError.failed(argv: ["age"] + args, status: 0, stderrTail: "the output is not an age file")
        }
        return result.stdout
    }

    /// Runs `age-keygen -o PATH` (the file is created 0600 by age-keygen); returns the
    /// public key it prints.
    public func keygen(to path: String) throws -> String {
        let result = try runner.runChecked(ProcessRequest("age-keygen", ["-o", path], timeout: 60))
        _ = chmod(path, 0o600)
        let text = result.stderrString + result.stdoutString
        if let r = text.firstRange(ofLiteral: "age1") {
            return String(text[r.lowerBound...].prefix { !$0.isWhitespace })
        }
        return try publicKey(of: path)
    }

    /// The recipient of an age identity file (`age-keygen -y`).
    public func publicKey(of identity: String) throws -> String {
        try runner.runChecked(ProcessRequest("age-keygen", ["-y", identity], timeout: 60)).stdoutString
            .trimming(.whitespacesAndNewlines)
    }

    /// age's error line without its "report unexpected errors" footer.
    static func reason(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("age: report") && !$0.hasPrefix("[ Did age not do") }
        return ToolError.tail(of: lines.joined(separator: "\n"), lines: 2)
    }

    /// Whether `data` is an age file (binary or armored).
    public static func isAgeFile(_ data: Data) -> Bool {
        data.starts(with: header) || data.starts(with: Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8))
    }
}

/// Where this user's age identity is (SPEC §9): `TETRA_AGE_IDENTITY` (a file), else
/// `$XDG_CONFIG_HOME/tetra/identity.txt` (`~/.config` by default), else the user's ssh key
/// (`~/.ssh/id_ed25519`, then `~/.ssh/id_rsa`). The first that exists is used.
public enum AgeIdentity {
    public struct Lookup: Sendable, Equatable {
        /// Every path looked at, in order.
        public var tried: [String]
        public var found: String?
    }

    /// The candidate paths in order (TETRA_AGE_IDENTITY alone when it is set).
    public static func candidates(_ environment: [String: String]) -> [String] {
        if let explicit = environment["TETRA_AGE_IDENTITY"], !explicit.isEmpty { return [explicit] }
        return [defaultPath(environment)] + sshKeys(environment)
    }

    /// Where `secret keygen` writes: TETRA_AGE_IDENTITY when set, else the XDG path.
    public static func keygenPath(_ environment: [String: String]) -> String {
        if let explicit = environment["TETRA_AGE_IDENTITY"], !explicit.isEmpty { return explicit }
        return defaultPath(environment)
    }

    public static func defaultPath(_ environment: [String: String]) -> String {
        let config: String
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { config = xdg } else { config = home(environment) + "/.config" }
        return config + "/tetra/identity.txt"
    }

    static func sshKeys(_ environment: [String: String]) -> [String] {
        let h = home(environment)
        return [h + "/.ssh/id_ed25519", h + "/.ssh/id_rsa"]
    }

    static func home(_ environment: [String: String]) -> String {
        if let h = environment["HOME"], !h.isEmpty { return h }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    public static func lookup(_ environment: [String: String]) -> Lookup {
        let tried = candidates(environment)
        var info = stat()
        let found = tried.first { stat($0, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG }
        return Lookup(tried: tried, found: found)
    }
}

/// Problems with encrypted secrets: a missing or wrong identity (exit 6), no recipients
/// (exit 3). Messages never contain a value.
public enum SecretError: TetraError, Equatable {
    case noIdentity(file: String, tried: [String])
    case cannotDecrypt(file: String, identity: String, tried: [String], detail: String)
    case noRecipients

    public var exitCode: ExitCode {
        switch self {
        case .noIdentity, .cannotDecrypt: return .toolFailed
        case .noRecipients: return .invalidConfig
        }
    }

    public var kind: String {
        switch self {
        case .noIdentity: return "secret_identity_missing"
        case .cannotDecrypt: return "secret_decrypt_failed"
        case .noRecipients: return "config"
        }
    }

    public var message: String {
        switch self {
        case .noIdentity(let file, let tried):
            return "cannot decrypt \(file): no age identity found (tried \(tried.joined(separator: ", ")))"
        case .cannotDecrypt(let file, let identity, _, let detail):
            let d = detail.trimming(.whitespacesAndNewlines)
            return "cannot decrypt \(file) with the identity \(identity)" + (d.isEmpty ? "" : ": " + d)
        case .noRecipients:
            return "no secret recipients: org.toml has no [secrets] recipients = [...]"
        }
    }

    public var hint: String? {
        switch self {
        case .noIdentity:
            return "set TETRA_AGE_IDENTITY to your age identity file, or create one with 'tetra secret keygen' and have a recipient add its public key"
        case .cannotDecrypt(_, _, let tried, _):
            return "identities looked at, in order: \(tried.joined(separator: ", ")); the first that exists is used, and it must be one of the recipients"
        case .noRecipients:
            return "add your public key: tetra secret recipients add age1... (see 'tetra secret keygen')"
        }
    }
}
