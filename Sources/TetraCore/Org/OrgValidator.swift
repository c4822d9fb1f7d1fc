import FoundationEssentials

/// `org validate`: every problem of an org at once (SPEC §3): the schema, targets, ssh
/// settings, `keep_releases`, `port_range` in ports.toml, `promote_from` chains (existing,
/// acyclic), checks, the port registry (parse problems, two names on one port), secrets.env,
/// and every template rendering for every environment (undefined names — a port name that
/// is not registered, a missing secret — with `file:line:column`).
public struct OrgValidator: Sendable {
    public let paths: StatePaths
    public let catalog: TemplateCatalog
    /// Decrypts the org's `secrets*.env.age` (docs/secrets.md).
    public var age: AgeTool

    public init(paths: StatePaths, age: AgeTool = .system()) {
        self.paths = paths
        catalog = TemplateCatalog(paths: paths)
        self.age = age
    }

    public struct Inputs: Sendable {
        public var ports: [String: Int]
        public var ranges: [String]
        /// The org-wide secrets (plaintext secrets.env and secrets.env.age).
        public var secrets: [String: String]
        public var problems: [ConfigProblem]
        /// Whether the port registry could be read (else `ports` is empty, not authoritative).
        public var portsReadable = true
        /// Each environment's own `secrets.<env>.env.age` values (override `secrets`).
        public var envSecrets: [String: [String: String]] = [:]
        /// Why encrypted secrets could not be decrypted (no identity: exit 6), thrown by
        /// whoever renders with these inputs.
        public var secretsFailure: (any TetraError)? = nil

        /// The secrets environment `env` renders with.
        public func secrets(for env: String) -> [String: String] {
            guard let own = envSecrets[env] else { return secrets }
            return secrets.merging(own) { $1 }
        }

        /// Every secret name defined for any environment.
        public var allSecretNames: Set<String> {
            envSecrets.values.reduce(into: Set(secrets.keys)) { $0.formUnion($1.keys) }
        }

        /// Throws the decryption failure, if any.
        public func checkSecrets() throws { if let secretsFailure { throw secretsFailure } }
    }

    /// The port registry and secrets an org renders with, with their problems.
    public func inputs(orgDirectory: String, secretsFile: String? = nil) -> Inputs {
        var problems: [ConfigProblem] = []
        var ports: [String: Int] = [:]
        var ranges: [String] = []
        var portsReadable = true
        do {
            let loaded = try PortStore(paths: paths).load()
            problems += loaded.problems
            portsReadable = loaded.problems.isEmpty
            var byPort: [Int: [String]] = [:]
            for (name, port) in loaded.registry.ports {
                ports[name] = port
                byPort[port, default: []].append(name)
            }
            for (port, names) in byPort.sorted(by: { $0.key < $1.key }) where names.count > 1 {
                problems.append(ConfigProblem(file: paths.portsFile, keyPath: "ports",
                                              message: "port conflict: \(names.sorted().joined(separator: ", ")) are all registered at \(port)"))
            }
            ranges = loaded.registry.ranges.map(\.name)
        } catch let e as ConfigError {
            problems += e.problems
            portsReadable = false
        } catch {
            problems.append(ConfigProblem(file: paths.portsFile, message: "\(error)"))
            portsReadable = false
        }
        var secrets: [String: String] = [:]
        do {
            secrets = try SecretsFile.load(secretsFile ?? orgDirectory + "/secrets.env").values
        } catch let e as ConfigError {
            problems += e.problems
        } catch {
            problems.append(ConfigProblem(file: secretsFile ?? orgDirectory + "/secrets.env", message: "\(error)"))
        }
        var inputs = Inputs(ports: ports, ranges: ranges, secrets: secrets, problems: problems, portsReadable: portsReadable)
        EncryptedInputs.add(to: &inputs, orgDirectory: orgDirectory, paths: paths, age: age)
        return inputs
    }

    /// Every problem of `org` (empty: valid). `renderEnvironments` nil: all of them.
    /// `failed`: keys the decoder already reported (not checked again).
    public func problems(_ org: LoadedOrg, inputs: Inputs, renderEnvironments: [String]? = nil,
                         failed: ([String]) -> Bool = { _ in false }) -> [ConfigProblem] {
        var problems = inputs.problems + SecretRecipients.problems(org)
        let doc = org.document
        func at(_ path: [String], _ message: String) {
            guard !failed(path) else { return }
            problems.append(ConfigProblem(file: org.orgFile, position: doc.position(of: path), keyPath: path.joined(separator: "."),
                                          message: message))
        }
        if org.config.org.name != org.name {
            at(["org", "name"], "is '\(org.config.org.name)' but the org's directory is '\(org.name)'; they must agree")
        }
        for message in Tags.problems(org.config.org.tags ?? []) { at(["org", "tags"], message) }
        let envs = org.config.environments
        if envs.count == 0 { at(["environments"], "no environments: add [environments.dev] with a target") }
        for (name, env) in envs {
            let base = ["environments", name]
            if let reason = Names.problem(with: name) { at(base, "invalid environment name: \(reason)") }
            if let target = env.target, let reason = DeployTarget.problem(with: target, sshKey: env.sshKey, sshPort: env.sshPort) {
                at(base + ["target"], "invalid target '\(Names.printable(target))': \(reason)")
            }
            for message in Tags.problems(env.tags ?? []) { at(base + ["tags"], message) }
            if env.target == nil && env.hosts == nil { at(base, "needs target = \"...\" (one host or directory) or hosts = [...]") }
            problems += FleetSpec.read(env, envName: name, org: org).1.filter { !failed(($0.keyPath ?? "").split(separator: ".").map(String.init)) }
            for (i, option) in (env.sshOptions ?? []).enumerated() {
                if let reason = EnvironmentConfig.sshOptionProblem(option) { at(base + ["ssh_options", String(i)], reason) }
            }
            if env.sshOptions != nil, env.target?.hasPrefix("/") ?? false { at(base + ["ssh_options"], "only valid for an ssh:// target") }
            if let keep = env.keepReleases, keep < 1 { at(base + ["keep_releases"], "must be at least 1 (is \(keep))") }
            if let range = env.portRange, !inputs.ranges.contains(range) {
                at(base + ["port_range"], "no port range '\(range)' in config/ports.toml"
                   + (inputs.ranges.isEmpty ? "" : " (ranges: \(inputs.ranges.joined(separator: ", ")))"))
            }
            if let from = env.promoteFrom {
                if from == name {
                    at(base + ["promote_from"], "an environment cannot promote from itself")
                } else if envs[from] == nil {
                    at(base + ["promote_from"], "no environment '\(from)'" + (Suggest.didYouMean(from, in: envs.keys).map { " (\($0))" } ?? ""))
                }
            }
            for (i, check) in (env.checks ?? []).enumerated() {
                if check.isEmpty || check[0].isEmpty { at(base + ["checks"], "check \(i + 1) is empty (an argv: [\"program\", \"arg\", ...])") }
            }
        }
        // promote_from chains: acyclic.
        var reported = Set<String>()
        for (start, _) in envs {
            var seen: [String] = [start]
            var current = start
            while let next = envs[current]?.promoteFrom, envs[next] != nil, next != current {
                if let i = seen.firstIndex(of: next) {
                    let cycle = Array(seen[i...]) + [next]
                    let key = Set(cycle).sorted().joined(separator: ",")
                    if reported.insert(key).inserted {
                        at(["environments", start, "promote_from"], "promote_from forms a cycle: " + cycle.joined(separator: " ← "))
                    }
                    break
                }
                seen.append(next)
                current = next
            }
        }
        // Every template renders for every environment.
        let renderer = OrgRenderer(catalog: catalog)
        for name in renderEnvironments ?? envs.keys where Names.isValid(name) && envs[name] != nil {
            // An environment of many hosts renders once per host (templates see `host`).
            let hosts: [FleetHost?] = envs[name]?.isFleet == true ? (FleetSpec.read(envs[name]!, envName: name, org: org).0?.hosts ?? []) : [nil]
            do {
                for host in hosts {
                    _ = try renderer.render(org, environment: name, ports: inputs.ports, secrets: inputs.secrets(for: name), into: nil, scanned: nil, host: host)
                }
            } catch let e as ConfigError {
                problems += e.problems
            } catch let e as TemplateLimitError {
                problems.append(e.problem)
            } catch let e as any TetraError {
                problems.append(ConfigProblem(file: org.filesDirectory, message: e.message + " (env \(name))"))
            } catch {
                problems.append(ConfigProblem(file: org.filesDirectory, message: "\(error) (env \(name))"))
            }
        }
        return problems
    }
}
