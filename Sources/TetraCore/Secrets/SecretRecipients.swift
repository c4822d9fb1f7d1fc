import FoundationEssentials

/// `[secrets]` of org.toml: `recipients = ["age1...", "ssh-ed25519 AAAA... me@laptop"]`.
public struct SecretsConfig: Sendable, Decodable {
    public var recipients: [String]?
}

/// The names of an org's secrets files at the top of its directory: `secrets.env` (plaintext),
/// `secrets.env.age` and `secrets.<env>.env.age`. None of them is ever snapshotted.
public struct SecretFileNames: Sendable {
    public init() {}

    public func contains(_ name: String) -> Bool {
        name == "secrets.env" || Self.scope(ofEncrypted: name) != nil
    }

    /// `secrets.env.age` → `.org`; `secrets.prod.env.age` → `.env("prod")`; anything else nil.
    public static func scope(ofEncrypted name: String) -> SecretScope? {
        if name == "secrets.env.age" { return .org }
        guard name.hasPrefix("secrets."), name.hasSuffix(".env.age") else { return nil }
        let env = String(name.dropFirst(8).dropLast(8))
        return Names.isValid(env) ? .env(env) : nil
    }
}

/// One encrypted file: the org-wide values or one environment's overrides.
public enum SecretScope: Sendable, Hashable, Comparable {
    case org
    case env(String)

    public var envName: String? { if case .env(let e) = self { return e } else { return nil } }
    public var fileName: String { envName.map { "secrets.\($0).env.age" } ?? "secrets.env.age" }
    public init(env: String?) { self = env.map { .env($0) } ?? .org }
}

/// Who encrypted files are encrypted to (SPEC §9): the org-wide file to `[secrets]
/// recipients`; an environment's file to those and the environment's `secret_recipients`.
public enum SecretRecipients {
    public static func recipients(_ config: OrgConfig, scope: SecretScope) -> [String] {
        var all = config.secrets?.recipients ?? []
        if let env = scope.envName { all += config.environments[env]?.secretRecipients ?? [] }
        var seen = Set<String>()
        return all.map { $0.trimming(.whitespaces) }.filter { seen.insert(Self.key($0)).inserted }
    }

    /// A recipient without its comment (`ssh-ed25519 AAAA... me@host` → the first two words),
    /// how two spellings of one key compare.
    public static func key(_ recipient: String) -> String {
        let words = recipient.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return words.prefix(2).joined(separator: " ")
    }

    static let bech32 = Set("qpzry9x8gf2tvdw0s3jn54khce6mua7l")
    static let base64 = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

    /// Why `recipient` is not an age or ssh public key, or nil.
    public static func problem(with recipient: String) -> String? {
        let shown = Names.printable(recipient)
        if recipient.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "control characters in '\(shown)'" }
        let r = recipient.trimming(.whitespaces)
        if r.hasPrefix("age1") {
            let body = r.dropFirst(4)
            if r.count == 62, body.allSatisfy({ bech32.contains($0) }) { return nil }
            return "'\(shown)' is not an age public key (age1 followed by 58 lower-case letters and digits)"
        }
        let words = r.split(separator: " ", omittingEmptySubsequences: true)
        if words.count >= 2, words[0] == "ssh-ed25519" || words[0] == "ssh-rsa" {
            if words[1].hasPrefix("AAAA"), words[1].count >= 16, words[1].allSatisfy({ base64.contains($0) }) { return nil }
            return "'\(shown)': the key of a \(words[0]) recipient is not base64 (copy the line of the .pub file)"
        }
        if r.hasPrefix("AGE-SECRET-KEY-") { return "a private key is not a recipient: give its public key (age-keygen -y FILE)" }
        return "'\(shown)' is not a recipient: an age public key (age1...) or an ssh public key (ssh-ed25519 AAAA... or ssh-rsa AAAA...)"
    }

    /// Every malformed recipient of org.toml, with `path:line:column`.
    public static func problems(_ org: LoadedOrg) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func check(_ list: [String]?, _ path: [String]) {
            for (i, r) in (list ?? []).enumerated() {
                guard let reason = problem(with: r) else { continue }
                let at = path + [String(i)]
                problems.append(ConfigProblem(file: org.orgFile, position: org.document.position(of: at) ?? org.document.position(of: path),
                                              keyPath: path.joined(separator: "."), message: reason))
            }
        }
        check(org.config.secrets?.recipients, ["secrets", "recipients"])
        for (name, env) in org.config.environments {
            check(env.secretRecipients, ["environments", name, "secret_recipients"])
        }
        return problems
    }
}
