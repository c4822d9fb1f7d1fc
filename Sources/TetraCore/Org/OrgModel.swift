import FoundationEssentials

/// `orgs/<org>/org.toml` (SPEC §2), decoded.
public struct OrgConfig: Sendable, Decodable {
    public var org: OrgInfo
    public var vars: TOMLTable?
    public var environments: TOMLOrderedDictionary<EnvironmentConfig>
    /// `[metrics] interval` for every service of the org (docs/metrics.md).
    public var metrics: MetricsConfig?
    /// `[secrets]`: who can decrypt the org's encrypted secrets (docs/secrets.md).
    public var secrets: SecretsConfig?

    enum CodingKeys: String, CodingKey { case org, vars, environments, metrics, secrets }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        org = try c.decode(OrgInfo.self, forKey: .org)
        vars = try c.decodeIfPresent(TOMLTable.self, forKey: .vars)
        environments = try c.decodeIfPresent(TOMLOrderedDictionary<EnvironmentConfig>.self, forKey: .environments)
            ?? TOMLOrderedDictionary()
        metrics = try c.decodeIfPresent(MetricsConfig.self, forKey: .metrics)
        secrets = try c.decodeIfPresent(SecretsConfig.self, forKey: .secrets)
    }
}

extension TOMLOrderedDictionary: @unchecked Sendable where Value: Sendable {}

/// `[org]`: name and description; any other key is allowed (templates read `{{ org.owner }}`).
public struct OrgInfo: Sendable, Decodable {
    public var name: String
    public var description: String?
    /// `tags = ["team:pay"]` (docs/search.md).
    public var tags: [String]?
}

/// `[environments.NAME]`.
public struct EnvironmentConfig: Sendable, Decodable {
    /// One host or a local directory; an environment of many hosts has `hosts` instead.
    public var target: String?
    /// Many hosts (see `FleetSpec`): URL strings or tables, read by `FleetSpec.read`.
    public var hosts: [TOMLValue]?
    /// Services run on every host of this environment, from its current release.
    public var services: [String]?
    public var rollout: RolloutConfig?
    public var hooks: HooksConfig?
    public var portRange: String?
    public var promoteFrom: String?
    public var protected: Bool?
    public var keepReleases: Int?
    public var checks: [[String]]?
    public var vars: TOMLTable?
    /// ssh: an identity file (absolute or `~/`), a port, extra `-o` options (`Key=Value`).
    public var sshKey: String?
    public var sshPort: Int?
    public var sshOptions: [String]?
    public var description: String?
    /// `tags = ["critical"]` (docs/search.md).
    public var tags: [String]?
    /// Recipients of `secrets.<env>.env.age` besides the org's (age or ssh public keys).
    public var secretRecipients: [String]?

    enum CodingKeys: String, CodingKey {
        case target, hosts, services, rollout, hooks, portRange = "port_range", promoteFrom = "promote_from", protected, keepReleases = "keep_releases"
        case checks, vars, sshKey = "ssh_key", sshPort = "ssh_port", sshOptions = "ssh_options", description, tags
        case secretRecipients = "secret_recipients"
    }

    public var isProtected: Bool { protected ?? false }
    /// Whether this environment is a fleet (`hosts`) rather than one `target`.
    public var isFleet: Bool { hosts != nil }
    /// The well-formed entries of `hosts` (`org validate` reports the others).
    public var fleetHosts: [FleetHost] { FleetSpec.readHosts(self, base: [], at: { _, _ in }) }
    public var keep: Int { keepReleases ?? ReleaseManager.defaultKeep }

    /// The parsed target (exit 2 for a malformed one; `org validate` reports it as exit 3).
    /// An environment of many hosts has no one target: exit 2 saying so (commands that act on
    /// fleets ask for `FleetSpec` instead).
    public func deployTarget() throws -> DeployTarget {
        guard let target else {
            throw CoreError.invalidArgument("this command acts on one target, and the environment has hosts",
                                            hint: "see docs/fleets.md for the commands that act on every host")
        }
        return try deployTarget(target)
    }

    /// `target` (a host's) parsed with this environment's ssh settings.
    public func deployTarget(_ target: String) throws -> DeployTarget {
        try DeployTarget.parse(target, sshKey: sshKey, sshPort: sshPort)
    }

    /// The `ssh_options` tetra passes to ssh (compared case-insensitively): options that run
    /// no command and open no channel. Everything else (`ProxyCommand`, `LocalCommand`,
    /// `KnownHostsCommand`, `PermitLocalCommand`, `Match`, `Include`, forwardings, ...) is
    /// refused.
    public static let allowedSSHOptions: [String] = [
        "AddressFamily", "BatchMode", "BindAddress", "CheckHostIP", "Ciphers", "Compression",
        "ConnectionAttempts", "ConnectTimeout", "FingerprintHash", "GlobalKnownHostsFile",
        "HashKnownHosts", "HostKeyAlgorithms", "HostKeyAlias", "IdentitiesOnly", "IdentityFile",
        "IPQoS", "KbdInteractiveAuthentication", "KexAlgorithms", "LogLevel", "MACs",
        "NumberOfPasswordPrompts", "PasswordAuthentication", "Port", "PreferredAuthentications",
        "PubkeyAcceptedAlgorithms", "PubkeyAcceptedKeyTypes", "PubkeyAuthentication", "RekeyLimit",
        "ServerAliveCountMax", "ServerAliveInterval", "StrictHostKeyChecking", "TCPKeepAlive",
        "UpdateHostKeys", "User", "UserKnownHostsFile", "VerifyHostKeyDNS",
    ]
    static let allowedSSHOptionKeys = Set(allowedSSHOptions.map { $0.lowercased() })

    /// Why an `ssh_options` item is not acceptable, or nil. An item is `Key=Value`: the key
    /// one of `allowedSSHOptions`, the value non-empty, without spaces, quotes or control
    /// characters (so that no second option can hide in it), not starting with `-`.
    public static func sshOptionProblem(_ option: String) -> String? {
        let shown = Names.printable(option)
        let b = Array(option.utf8)
        if b.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "control characters in '\(shown)'" }
        if b.first == UInt8(ascii: "-") { return "'\(shown)': give the option as Key=Value, without -o" }
        guard let eq = b.firstIndex(of: 0x3D), eq > 0 else { return "'\(shown)' is not Key=Value" }
        let key = String(decoding: b[0..<eq], as: UTF8.self)
        let value = b[(eq + 1)...]
        guard allowedSSHOptionKeys.contains(key.lowercased()) else {
            return "'\(shown)': ssh option '\(Names.printable(key))' is not allowed (only options that run no command: see 'docs/security.md')"
        }
        if value.isEmpty { return "'\(shown)': the value is empty" }
        if value.first == UInt8(ascii: "-") { return "'\(shown)': the value may not start with '-'" }
        if value.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x27 || $0 == 0x3D || $0 == 0x23 }) {
            return "'\(shown)': the value may not contain spaces, quotes, '=' or '#'"
        }
        return nil
    }

    /// Every refused `ssh_options` item of every environment, with its `path:line:column`.
    static func sshOptionProblems(_ config: OrgConfig, document: TOMLDocument, file: String) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for (name, env) in config.environments {
            for (i, option) in (env.sshOptions ?? []).enumerated() {
                guard let reason = sshOptionProblem(option) else { continue }
                let path = ["environments", name, "ssh_options", String(i)]
                problems.append(ConfigProblem(file: file, position: document.keyPosition(of: document.resolve(path)),
                                              keyPath: "environments.\(name).ssh_options", message: reason))
            }
        }
        return problems
    }

    /// Transport options for this environment: `ssh_options` become `-o` pairs.
    public func transportOptions() -> TransportOptions {
        var extra: [String] = []
        for option in sshOptions ?? [] { extra += ["-o", option] }
        return TransportOptions(sshExtraOptions: extra)
    }
}

/// An org read from a directory (the working copy or a restored snapshot).
public struct LoadedOrg: Sendable {
    public var name: String
    public var directory: String
    /// How org.toml is named in messages.
    public var orgFile: String
    public var document: TOMLDocument
    public var config: OrgConfig
    public var warnings: [ConfigProblem]

    public var environmentNames: [String] { config.environments.keys }
    public var filesDirectory: String { directory + "/files" }
    public var partialsDirectory: String { directory + "/partials" }
    public var secretsFile: String { directory + "/secrets.env" }

    /// Files under `files/` (relative, sorted).
    public var sourceFiles: [String] { TemplateCatalog.regularFiles(under: filesDirectory, maxDepth: nil) }
    /// Service definitions (`services/*.toml`, names without the extension).
    public var serviceNames: [String] {
        TemplateCatalog.regularFiles(under: directory + "/services", maxDepth: 1).filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }
    }

    public func environment(_ name: String) throws -> EnvironmentConfig {
        try Names.validate(name, what: "env")
        guard let env = config.environments[name] else {
            throw CoreError.notFound(what: "env", name: name,
                                     hint: Suggest.didYouMean(name, in: environmentNames)
                                        ?? "environments of \(self.name): \(environmentNames.joined(separator: ", "))")
        }
        return env
    }

    /// Reads and decodes `DIR/org.toml`. A missing file is not-found (exit 4); syntax and
    /// type errors are exit 3 with `path:line:column`. Unknown keys (outside `[org]` and
    /// `vars`) are returned as warnings.
    public static func load(name: String, directory: String, displayName: String? = nil) throws -> LoadedOrg {
        let file = directory + "/org.toml"
        let display = displayName ?? file
        guard let data = try AtomicFile.readIfExists(file, limit: InputFile.configLimit) else {
            throw CoreError.notFound(what: "org", name: name, hint: "no \(display)")
        }
        let document = try TOMLDocument(bytes: Array(data), fileName: display)
        let decoded = decode(document, file: display)
        guard let config = decoded.value, decoded.problems.isEmpty else {
            throw ConfigError(decoded.problems.isEmpty ? [ConfigProblem(file: display, message: "cannot be decoded")] : decoded.problems)
        }
        // Refused before any command can hand them to ssh (they may run commands).
        let refused = EnvironmentConfig.sshOptionProblems(config, document: document, file: display)
        let metricsProblems = MetricsSettings.problems(config.metrics, document: document, file: display)
        if !refused.isEmpty {
            throw ConfigError(refused + metricsProblems, hint: "ssh_options accepts only options that run no command: "
                                + EnvironmentConfig.allowedSSHOptions.joined(separator: ", "))
        }
        if !metricsProblems.isEmpty { throw ConfigError(metricsProblems) }
        return LoadedOrg(name: name, directory: directory, orgFile: display, document: document, config: config,
                         warnings: decoded.warnings)
    }

    /// Decodes org.toml reporting every wrong key at once (`TOMLDecoder.decodeCollecting`).
    /// Unknown keys outside `[org]` (free-form: templates read `{{ org.owner }}`) are warnings.
    public static func decode(_ document: TOMLDocument, file: String) -> TOMLCollectedDecoding<OrgConfig> {
        var decoded = TOMLDecoder().decodeCollecting(OrgConfig.self, from: document, file: file)
        decoded.warnings = decoded.warnings.filter { w in
            let key = w.keyPath ?? ""
            // `[[alerts]]` and `[notifiers]` are read (and validated) by AlertConfigReader.
            return !(key.hasPrefix("org.") || key == "org") && !AlertConfigReader.owns(w)
        }
        return decoded
    }
}

/// The orgs of a state root: `orgs/<org>/org.toml`.
public struct OrgStore: Sendable {
    public let paths: StatePaths
    public init(paths: StatePaths) { self.paths = paths }

    /// Org names (directories with an org.toml), sorted.
    public func names() -> [String] {
        guard let items = try? FileManager.default.contentsOfDirectory(atPath: paths.orgs) else { return [] }
        return items.filter { Names.isValid($0) && FileManager.default.fileExists(atPath: paths.org($0) + "/org.toml") }.sorted()
    }

    public func exists(_ name: String) -> Bool {
        Names.isValid(name) && FileManager.default.fileExists(atPath: paths.org(name) + "/org.toml")
    }

    /// Loads an org of the state root (name validated first).
    public func load(_ name: String) throws -> LoadedOrg {
        try Names.validate(name, what: "org")
        guard exists(name) else {
            throw CoreError.notFound(what: "org", name: name,
                                     hint: Suggest.didYouMean(name, in: names()) ?? "see 'tetra org list'; create one with 'tetra org create \(name)'")
        }
        return try LoadedOrg.load(name: name, directory: paths.org(name), displayName: "orgs/\(name)/org.toml")
    }

    /// `secrets.env` of an org (missing: none), with the org-wide encrypted secrets when
    /// this user can decrypt them (`org show`, `env show` list the names).
    public func secrets(_ name: String, age: AgeTool = .system()) throws -> SecretsFile {
        try OrgSecrets(paths: paths, org: name, age: age).withEncryptedNames(try SecretsFile.load(paths.org(name) + "/secrets.env"))
    }
}
