import FoundationEssentials

/// `[environments.X.rollout]`: how a push to an environment of many hosts proceeds.
public struct RolloutConfig: Sendable, Decodable {
    /// Hosts reached and uploaded to at once (default 10).
    public var parallel: Int?
    /// Hosts activated at once: a number or a percentage string (`"25%"`); default all.
    public var batch: TOMLValue?
    /// Failed hosts tolerated before the push stops and rolls back (default 0).
    public var maxFailures: Int?
    /// Per batch: every `verify` passing within this (default 60s).
    public var healthTimeout: String?

    enum CodingKeys: String, CodingKey {
        case parallel, batch, maxFailures = "max_failures", healthTimeout = "health_timeout"
    }
}

/// `[environments.X.hooks]`: argv arrays run around a push.
public struct HooksConfig: Sendable, Decodable {
    /// Here, first; a non-zero exit aborts the push before anything changes.
    public var prePush: [[String]]?
    /// On each host after activation, retried until `health_timeout`.
    public var verify: [[String]]?
    /// Here, last, always, with the outcome.
    public var postPush: [[String]]?

    enum CodingKeys: String, CodingKey { case prePush = "pre_push", verify, postPush = "post_push" }

    public var isEmpty: Bool { (prePush ?? []).isEmpty && (verify ?? []).isEmpty && (postPush ?? []).isEmpty }
}

/// One host of an environment, resolved from `hosts = [...]`: a URL string, or a table with
/// `target` and optional `name`, `vars`, `tags`, `services`.
public struct FleetHost: Sendable, Equatable {
    /// `name`, else the URL's host part (unique in the environment).
    public var name: String
    /// The target as written (`ssh://deploy@web1/srv/acme` or a local directory).
    public var target: String
    public var vars: TOMLTable
    public var tags: [String]
    /// The services run on this host (nil: the environment's `services`).
    public var services: [String]?

    /// The host's table in templates: `{{ host.name }}`, `{{ host.vars.node }}`,
    /// `{{ host.tags }}`, `{{ host.target }}`.
    public var templateTable: TOMLTable {
        TOMLTable([("name", .string(name)), ("target", .string(target)), ("vars", .table(vars)),
                   ("tags", .array(tags.map { .string($0) }))])
    }
}

/// An environment's fleet settings, checked: its hosts, the rollout (defaults applied) and
/// the hooks. Built by `FleetSpec.read`, which reports every problem with its position.
public struct FleetSpec: Sendable {
    public var hosts: [FleetHost]
    public var services: [String]
    public var parallel: Int
    /// nil: every host in one batch.
    public var batch: BatchSize?
    public var maxFailures: Int
    public var healthTimeout: TimeInterval
    public var hooks: HooksConfig

    public static let defaultParallel = 10
    public static let defaultHealthTimeout: TimeInterval = 60

    /// `batch = 2` or `batch = "25%"`.
    public enum BatchSize: Sendable, Equatable {
        case count(Int)
        case percent(Int)

        /// Hosts per batch for `total` hosts (at least 1).
        public func size(of total: Int) -> Int {
            switch self {
            case .count(let n): return max(1, n)
            case .percent(let p): return max(1, (total * p + 99) / 100)
            }
        }

        /// Parses a `--batch` value: `3` or `25%`.
        public static func parse(_ text: String) -> BatchSize? {
            if text.hasSuffix("%") {
                guard let p = Int(text.dropLast()), p >= 1, p <= 100 else { return nil }
                return .percent(p)
            }
            guard let n = Int(text), n >= 1 else { return nil }
            return .count(n)
        }
    }

    /// Splits `hosts` into activation batches, in order.
    public func batches<T>(_ hosts: [T]) -> [[T]] {
        let size = batch?.size(of: hosts.count) ?? max(1, hosts.count)
        return stride(from: 0, to: hosts.count, by: size).map { Array(hosts[$0..<min($0 + size, hosts.count)]) }
    }

    /// The fleet settings of environment `envName` of `org` (nil when it has one `target` and
    /// neither services nor hooks; with them, a fleet of that one host),
    /// with every problem of its `hosts`, `services`, `rollout` and `hooks` at its position.
    public static func read(_ env: EnvironmentConfig, envName: String, org: LoadedOrg) -> (FleetSpec?, [ConfigProblem]) {
        var problems: [ConfigProblem] = []
        let base = ["environments", envName]
        func at(_ path: [String], _ message: String) {
            let doc = org.document
            problems.append(ConfigProblem(file: org.orgFile, position: doc.position(of: path) ?? doc.position(of: base),
                                          keyPath: path.joined(separator: "."), message: message))
        }
        var hosts = readHosts(env, base: base, at: at)
        let known = Set(org.serviceNames)
        for (i, name) in (env.services ?? []).enumerated() where !known.contains(name) {
            at(base + ["services", String(i)], "no service '\(Names.printable(name))' in services/"
               + (Suggest.didYouMean(name, in: Array(known)).map { " (\($0))" } ?? ""))
        }
        for host in hosts {
            for name in host.services ?? [] where !known.contains(name) {
                at(base + ["hosts"], "host \(host.name): no service '\(Names.printable(name))' in services/")
            }
        }
        let rollout = env.rollout
        if let p = rollout?.parallel, p < 1 { at(base + ["rollout", "parallel"], "must be at least 1 (is \(p))") }
        if let m = rollout?.maxFailures, m < 0 { at(base + ["rollout", "max_failures"], "must be 0 or more (is \(m))") }
        var batch: BatchSize? = nil
        switch rollout?.batch {
        case nil: break
        case .integer(let n)? where n >= 1 && n <= Int64(Int32.max): batch = .count(Int(n))
        case .string(let s)? where s.hasSuffix("%"):
            batch = BatchSize.parse(s)
            if batch == nil { at(base + ["rollout", "batch"], "'\(Names.printable(s))' is not a percentage from 1% to 100%") }
        case let other?:
            let shown: String
            switch other {
            case .integer(let n): shown = String(n)
            case .string(let text): shown = "'\(Names.printable(text))'"
            default: shown = other.typeName
            }
            at(base + ["rollout", "batch"], "must be a number of hosts (1 or more) or a percentage such as \"25%\", not \(shown)")
        }
        var timeout = defaultHealthTimeout
        if let text = rollout?.healthTimeout {
            if let d = try? DurationValue.parse(text), d.seconds > 0 { timeout = d.seconds } else {
                at(base + ["rollout", "health_timeout"], "'\(Names.printable(text))' is not a duration above zero (e.g. 60s, 2m)")
            }
        }
        let hooks = env.hooks ?? HooksConfig()
        for (key, list) in [("pre_push", hooks.prePush), ("verify", hooks.verify), ("post_push", hooks.postPush)] {
            for (i, argv) in (list ?? []).enumerated() where argv.first?.isEmpty ?? true {
                at(base + ["hooks", key, String(i)], "hook \(i + 1) is empty (an argv: [\"program\", \"arg\", ...])")
            }
        }
        if env.hosts != nil, env.target != nil { at(base + ["hosts"], "an environment has either target or hosts, not both") }

        if env.hosts == nil {
            // One target with services or hooks: pushed the same way, as a fleet of one host.
            guard let target = env.target, !(env.services ?? []).isEmpty || !hooks.isEmpty,
                  let parsed = try? DeployTarget.parse(target, sshKey: env.sshKey, sshPort: env.sshPort) else {
                return (nil, problems)
            }
            hosts = [FleetHost(name: parsed.ssh?.host ?? "local", target: target, vars: TOMLTable(), tags: [], services: nil)]
        }
        if hosts.isEmpty && problems.isEmpty { at(base + ["hosts"], "no hosts: list at least one") }
        let spec = FleetSpec(hosts: hosts, services: env.services ?? [], parallel: rollout?.parallel ?? defaultParallel,
                             batch: batch, maxFailures: rollout?.maxFailures ?? 0, healthTimeout: timeout, hooks: hooks)
        return (spec, problems)
    }

    static let hostKeys: Set<String> = ["name", "target", "vars", "tags", "services"]

    /// `hosts = [...]` resolved, every malformed entry reported.
    static func readHosts(_ env: EnvironmentConfig, base: [String], at: ([String], String) -> Void) -> [FleetHost] {
        var hosts: [FleetHost] = []
        var seen: Set<String> = []
        for (i, value) in (env.hosts ?? []).enumerated() {
            let path = base + ["hosts", String(i)]
            var host: FleetHost
            switch value {
            case .string(let url):
                host = FleetHost(name: "", target: url, vars: TOMLTable(), tags: [], services: nil)
            case .table(let t):
                for key in t.keys where !hostKeys.contains(key) {
                    at(path + [key], "unknown key of a host (known: \(hostKeys.sorted().joined(separator: ", ")))")
                }
                guard case .string(let target)? = t["target"] else { at(path, "a host table needs target = \"ssh://...\""); continue }
                host = FleetHost(name: "", target: target, vars: TOMLTable(), tags: [], services: nil)
                if let v = t["name"] { if case .string(let s) = v { host.name = s } else { at(path + ["name"], "must be a string") } }
                if let v = t["vars"] { if case .table(let vars) = v { host.vars = vars } else { at(path + ["vars"], "must be a table") } }
                host.tags = strings(t["tags"], path + ["tags"], at) ?? []
                for message in Tags.problems(host.tags) { at(path + ["tags"], message) }
                host.services = strings(t["services"], path + ["services"], at)
            default:
                at(path, "a host is a target URL string or a table with target, not \(value.typeName)"); continue
            }
            if let reason = DeployTarget.problem(with: host.target, sshKey: env.sshKey, sshPort: env.sshPort) {
                at(path, "invalid target '\(Names.printable(host.target))': \(reason)"); continue
            }
            if host.name.isEmpty {
                host.name = (try? DeployTarget.parse(host.target, sshKey: env.sshKey, sshPort: env.sshPort))?.ssh?.host ?? "local"
            }
            if let reason = hostNameProblem(host.name) { at(path, "invalid host name '\(Names.printable(host.name))': \(reason)"); continue }
            guard seen.insert(host.name).inserted else {
                at(path, "host name '\(host.name)' is used twice; give one of them name = \"...\""); continue
            }
            hosts.append(host)
        }
        return hosts
    }

    /// Host names are printable words: letters, digits, `.`, `-`, `_` (`web1`,
    /// `web1.example.com`, `10.0.0.2`), not starting with `-` or `.`, at most 64 bytes.
    static func hostNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "empty" }
        if name.utf8.count > 64 { return "longer than 64 bytes" }
        if name.hasPrefix("-") || name.hasPrefix(".") { return "starts with '\(name.prefix(1))'" }
        let ok = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x5F
        }
        return ok ? nil : "use letters, digits, '.', '-' and '_'"
    }

    static func strings(_ value: TOMLValue?, _ path: [String], _ at: ([String], String) -> Void) -> [String]? {
        guard let value else { return nil }
        guard case .array(let items) = value else { at(path, "must be an array of strings"); return nil }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { at(path, "must be an array of strings"); return nil }
            out.append(s)
        }
        return out
    }
}
