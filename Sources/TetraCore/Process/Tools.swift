import Dispatch
import FoundationEssentials

/// Parsing of `--version` outputs of the external tools.
public enum ToolVersion {
    /// The first token after the word "version" that starts with a digit
    /// ("git version 2.39.5" → "2.39.5", "Docker version 24.0.7, build afdd53b" → "24.0.7",
    /// "rsync  version 3.2.7  protocol version 31" → "3.2.7").
    public static func afterVersionWord(_ text: String) -> String? {
        let line = firstLine(text)
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
        for (i, w) in words.enumerated() where w.lowercased() == "version" && i + 1 < words.count {
            let candidate = words[i + 1]
            if candidate.first?.isNumber == true { return String(candidate) }
        }
        return nil
    }

    /// "git version 2.39.5 (Apple Git-154)" → "2.39.5".
    public static func git(_ text: String) -> String? { afterVersionWord(text) }

    /// "Docker version 24.0.7, build afdd53b" → "24.0.7" (also podman's "podman version 4.3.1").
    public static func docker(_ text: String) -> String? { afterVersionWord(text) }

    /// "rsync  version 3.2.7  protocol version 31" → "3.2.7".
    public static func rsync(_ text: String) -> String? { afterVersionWord(text) }

    /// "OpenSSL 3.0.15 3 Sep 2024 (Library: ...)" → "3.0.15"; "LibreSSL 3.3.6" → "3.3.6".
    public static func openssl(_ text: String) -> String? {
        let words = firstLine(text).split(separator: " ")
        guard words.count >= 2, words[0].lowercased().hasSuffix("ssl"), words[1].first?.isNumber == true else { return nil }
        return String(words[1])
    }

    /// "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 ..." → "7.88.1".
    public static func curl(_ text: String) -> String? {
        let words = firstLine(text).split(separator: " ")
        guard words.count >= 2, words[0] == "curl", words[1].first?.isNumber == true else { return nil }
        return String(words[1])
    }

    /// "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024" → "9.2p1".
    public static func ssh(_ text: String) -> String? {
        let line = firstLine(text)
        guard let range = line.firstRange(ofLiteral: "OpenSSH_") else { return nil }
        let rest = line[range.upperBound...]
        let version = rest.prefix(while: { !$0.isWhitespace && $0 != "," })
        return version.isEmpty ? nil : String(version)
    }

    public static func firstLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).first.map { $0.trimming(.whitespaces) } ?? ""
    }
}

/// Shared behaviour of the typed tool wrappers.
struct ToolCall {
    static let versionTimeout: TimeInterval = 10

    /// Runs `tool args` with a short timeout and returns the combined output to parse.
    static func versionOutput(_ runner: any ProcessRunning, _ tool: String, _ args: [String], fromStderr: Bool = false) throws -> String {
        let result = try runner.runChecked(ProcessRequest(tool, args, timeout: versionTimeout, killGrace: 1, outputLimit: 1 << 20))
        return fromStderr ? result.stderrString + result.stdoutString : result.stdoutString + result.stderrString
    }

    /// A version parse failure is reported as the tool's own first output line.
    static func parsed(_ output: String, _ parse: (String) -> String?) -> String {
        parse(output) ?? ToolVersion.firstLine(output)
    }
}

/// `git`, run non-interactively (no credential prompts).
public struct Git: Sendable {
    public let runner: any ProcessRunning
    /// Environment for every git call: never prompt on a terminal.
    public static let environment = ["GIT_TERMINAL_PROMPT": "0"]

    public init(runner: any ProcessRunning) { self.runner = runner }

    /// "2.39.5"
    public func version() throws -> String {
        ToolCall.parsed(try ToolCall.versionOutput(runner, "git", ["--version"]), ToolVersion.git)
    }

    /// Runs `git args...` (in `dir` when given) and returns stdout; a non-zero exit throws
    /// `ToolError.failed` with the argv (secrets redacted) and the tail of stderr.
    @discardableResult
    public func run(_ args: [String], in dir: String? = nil, input: Data? = nil, timeout: TimeInterval? = nil,
                    environment: [String: String] = [:], secrets: [String] = []) throws -> String {
        let request = ProcessRequest("git", args, environment: Self.environment.merging(environment) { _, n in n },
                                     workingDirectory: dir, input: input, timeout: timeout, secrets: secrets)
        return try runner.runChecked(request).stdoutString
    }
}

/// `ssh`. It prints its version on stderr (`ssh -V`).
public struct SSH: Sendable {
    public let runner: any ProcessRunning
    /// Options for every tetra ssh call: never prompt (a prompt from a background process
    /// group would stop the child), fail fast on unreachable hosts.
    public static let nonInteractiveOptions = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]

    public init(runner: any ProcessRunning) { self.runner = runner }

    /// "9.2p1"
    public func version() throws -> String {
        ToolCall.parsed(try ToolCall.versionOutput(runner, "ssh", ["-V"], fromStderr: true), ToolVersion.ssh)
    }
}

/// `openssl`.
public struct OpenSSL: Sendable {
    public let runner: any ProcessRunning
    public init(runner: any ProcessRunning) { self.runner = runner }

    /// "3.0.15"
    public func version() throws -> String {
        ToolCall.parsed(try ToolCall.versionOutput(runner, "openssl", ["version"]), ToolVersion.openssl)
    }

    static let timeout: TimeInterval = 60

    @discardableResult
    func run(_ args: [String], input: Data? = nil) throws -> Data {
        try runner.runChecked(ProcessRequest("openssl", args, input: input, timeout: Self.timeout)).stdout
    }

    /// A new private key (PEM, PKCS#8) on stdout, never written to disk by openssl: the caller
    /// writes it atomically with mode 0600.
    public func generatePrivateKey(_ type: SSLKeyType) throws -> Data {
        switch type {
        case .ec256:
            return try run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-pkeyopt", "ec_param_enc:named_curve"])
        case .rsa2048:
            return try run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        }
    }

    /// The public half of a private key file as SubjectPublicKeyInfo DER.
    public func publicKeyDER(privateKey path: String) throws -> Data {
        try run(["pkey", "-in", path, "-pubout", "-outform", "DER"])
    }

    /// The public key (PEM) of a private key file.
    public func publicKeyPEM(privateKey path: String) throws -> String {
        String(decoding: try run(["pkey", "-in", path, "-pubout"]), as: UTF8.self)
    }

    /// The public key (PEM) of a certificate file.
    public func publicKeyPEM(certificate path: String) throws -> String {
        String(decoding: try run(["x509", "-in", path, "-noout", "-pubkey"]), as: UTF8.self)
    }

    /// SHA-256 signature of `data` with the private key at `path` (DER ECDSA for EC keys,
    /// PKCS#1 v1.5 for RSA keys). The data goes through stdin.
    public func sign(_ data: Data, privateKey path: String) throws -> Data {
        try run(["dgst", "-sha256", "-sign", path, "-binary"], input: data)
    }

    /// A CSR (DER) for `names` (the first one also as CN when it fits 64 characters).
    public func certificateRequestDER(privateKey path: String, names: [String]) throws -> Data {
        let subject = names[0].count <= 64 ? "/CN=\(names[0])" : "/"
        return try run(["req", "-new", "-key", path, "-subj", subject,
                        "-addext", "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ","),
                        "-outform", "DER"])
    }

    /// A self-signed certificate (PEM) for `names`, valid `days` days from now.
    public func selfSignedCertificate(privateKey path: String, names: [String], days: Int) throws -> Data {
        let subject = names[0].count <= 64 ? "/CN=\(names[0])" : "/"
        return try run(["req", "-x509", "-new", "-key", path, "-subj", subject, "-days", String(days),
                        "-addext", "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ","),
                        "-addext", "basicConstraints=critical,CA:FALSE",
                        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
                        "-addext", "extendedKeyUsage=serverAuth"])
    }

    /// Subject, issuer, validity, serial, SANs and SHA-256 fingerprint of one PEM certificate.
    public func certificateInfo(pem: Data) throws -> CertificateInfo {
        let out = try run(["x509", "-noout", "-subject", "-issuer", "-startdate", "-enddate", "-serial",
                           "-fingerprint", "-sha256", "-ext", "subjectAltName", "-nameopt", "RFC2253"], input: pem)
        return try CertificateInfo.parse(String(decoding: out, as: UTF8.self))
    }
}

/// `docker` (the client; `docker --version` does not contact the daemon). The typed volume
/// and helper-container calls are in Volume/DockerVolumes.swift. Every call inherits the
/// environment, so `DOCKER_HOST` (unix://, tcp://, ssh://), `DOCKER_CONTEXT` and
/// `DOCKER_CONFIG` reach the client unchanged.
public struct Docker: Sendable {
    public let runner: any ProcessRunning
    /// `DOCKER_HOST` as the caller sees it (for messages only; docker reads its environment).
    public let host: String?
    public init(runner: any ProcessRunning, host: String? = nil) {
        self.runner = runner
        self.host = host
    }

    /// "24.0.7"
    public func version() throws -> String {
        ToolCall.parsed(try ToolCall.versionOutput(runner, "docker", ["--version"]), ToolVersion.docker)
    }
}

/// `rsync`.
public struct Rsync: Sendable {
    public let runner: any ProcessRunning
    public init(runner: any ProcessRunning) { self.runner = runner }

    /// "3.2.7"
    public func version() throws -> String {
        ToolCall.parsed(try ToolCall.versionOutput(runner, "rsync", ["--version"]), ToolVersion.rsync)
    }
}

/// Presence and version of each external tool, for `tetra doctor`.
public struct ToolInventory: Sendable {
    public struct Tool: Sendable, Equatable, Codable {
        public var name: String
        /// Resolved path; nil when not on PATH.
        public var path: String?
        /// Parsed version; nil when missing or the version command failed.
        public var version: String?
        /// Why there is no version ("not found on PATH", the tool error message).
        public var error: String?
        public var present: Bool { path != nil }

        public init(name: String, path: String?, version: String?, error: String?) {
            self.name = name
            self.path = path
            self.version = version
            self.error = error
        }
    }

    public static let tools = ["git", "docker", "ssh", "rsync", "openssl", "curl"]

    public let runner: any ProcessRunning
    public init(runner: any ProcessRunning) { self.runner = runner }

    /// Checks every tool (concurrently; each version call has a 10s timeout), in the order
    /// of `tools`. Calls happen in no fixed order: test with `FakeProcessRunner(ordering: .anyOrder)`.
    public func check() -> [Tool] {
        let names = Self.tools
        return Parallel.map(names.count, width: names.count) { i in check(names[i]) }
    }

    /// Checks one tool.
    public func check(_ name: String) -> Tool {
        guard let path = runner.which(name) else {
            return Tool(name: name, path: nil, version: nil, error: "not found on PATH")
        }
        do {
            let version: String
            switch name {
            case "git": version = try Git(runner: runner).version()
            case "docker": version = try Docker(runner: runner).version()
            case "ssh": version = try SSH(runner: runner).version()
            case "rsync": version = try Rsync(runner: runner).version()
            case "openssl": version = try OpenSSL(runner: runner).version()
            case "curl": version = ToolCall.parsed(try ToolCall.versionOutput(runner, "curl", ["--version"]), ToolVersion.curl)
            default:
                version = ToolVersion.firstLine(try ToolCall.versionOutput(runner, name, ["--version"]))
            }
            return Tool(name: name, path: path, version: version, error: nil)
        } catch let error as any TetraError {
            return Tool(name: name, path: path, version: nil, error: error.message)
        } catch {
            return Tool(name: name, path: path, version: nil, error: "\(error)")
        }
    }
}
