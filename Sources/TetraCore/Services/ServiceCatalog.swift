import FoundationEssentials

/// Where a service's files live: its definition under the org, its state, logs and
/// supervisor lock under `state/services/<org>/<name>/`.
public struct ServicePaths: Sendable, Equatable {
    public var paths: StatePaths
    public var org: String
    public var name: String

    public init(paths: StatePaths, org: String, name: String) {
        self.paths = paths
        self.org = org
        self.name = name
    }

    public var definition: String { paths.org(org) + "/services/\(name).toml" }
    public var stateDirectory: String { paths.services + "/\(org)/\(name)" }
    public var stateFile: String { stateDirectory + "/state.json" }
    public var stdoutLog: String { stateDirectory + "/stdout.log" }
    public var stderrLog: String { stateDirectory + "/stderr.log" }
    /// The supervisor's own record of what it did (spawns, exits, probes that failed).
    public var eventsLog: String { stateDirectory + "/events.log" }
    /// The supervisor's stdout/stderr (a crash of the supervisor itself lands here).
    public var supervisorOutput: String { stateDirectory + "/supervisor.out" }
    /// The service's own secrets (written by a push on a host: only what it lists) when
    /// there are, else the org's `secrets.env`.
    public var secretsFile: String {
        let own = stateDirectory + "/secrets.env"
        return LocalFiles.exists(own) ? own : paths.org(org) + "/secrets.env"
    }
}

/// The service definitions of one org.
public struct ServiceCatalog: Sendable {
    public var paths: StatePaths
    public var org: String
    public var definitions: [ServiceDefinition]
    public var warnings: [ConfigProblem]
    /// The port registry, read once when a definition names a port (nil: none does, or the
    /// registry could not be read; `resolvePort` then reads it and reports the error).
    var registry: PortRegistry?

    public var servicesDirectory: String { paths.org(org) + "/services" }

    /// Loads every `services/*.toml` of `org` (missing org: exit 4). Every broken file is
    /// reported (exit 3), and so is a dependency on an unknown service or a cycle.
    /// `only`: read that one definition (missing: exit 4) and skip the dependency checks.
    public static func load(paths: StatePaths, org: String, only: String? = nil) throws -> ServiceCatalog {
        try Names.validate(org, what: "org")
        guard FileManager.default.fileExists(atPath: paths.org(org) + "/org.toml") else {
            throw CoreError.notFound(what: "org", name: org, hint: "list orgs with `tetra org list`")
        }
        let dir = paths.org(org) + "/services"
        var defs: [ServiceDefinition] = []
        var warnings: [ConfigProblem] = []
        var problems: [ConfigProblem] = []
        var files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
        if let only {
            guard files.contains(only + ".toml") else {
                var hint = "list services with `tetra svc list`"
                if let s = Suggest.closest(to: only, in: files.map { String($0.dropLast(5)) }) { hint = "did you mean '\(s)'?" }
                throw CoreError.notFound(what: "service", name: only, hint: hint)
            }
            files = [only + ".toml"]
        }
        for f in files {
            let name = String(f.dropLast(5))
            let path = dir + "/" + f
            guard Names.isValid(name) else {
                problems.append(ConfigProblem(file: path, message: "'\(Names.printable(name))' is not a valid service name (file ignored)"))
                continue
            }
            do {
                let (def, w) = try ServiceDefinition.load(path: path, expectedName: name)
                defs.append(def)
                warnings += w
            } catch let e as ConfigError {
                problems += e.problems
            }
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        var catalog = ServiceCatalog(paths: paths, org: org, definitions: defs, warnings: warnings)
        if defs.contains(where: { if case .named? = $0.port { return true } else { return false } }) {
            catalog.registry = try? PortStore(paths: paths).loadValid().registry
        }
        if only == nil { _ = try catalog.startOrder(defs.map(\.name)) }
        return catalog
    }

    public func definition(_ name: String) throws -> ServiceDefinition {
        try Names.validate(name, what: "service")
        guard let d = definitions.first(where: { $0.name == name }) else {
            var hint = "list services with `tetra svc list`"
            if let s = Suggest.closest(to: name, in: definitions.map(\.name)) { hint = "did you mean '\(s)'?" }
            throw CoreError.notFound(what: "service", name: name, hint: hint)
        }
        return d
    }

    public func servicePaths(_ name: String) -> ServicePaths { ServicePaths(paths: paths, org: org, name: name) }

    /// `names` and everything they depend on, dependencies first (stable: file order among
    /// peers). A dependency on an unknown service or a cycle is exit 3 naming it.
    public func startOrder(_ names: [String]) throws -> [String] {
        let byName = Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var order: [String] = []
        var done = Set<String>()
        var visiting: [String] = []
        func visit(_ n: String) throws {
            if done.contains(n) { return }
            if let i = visiting.firstIndex(of: n) {
                let cycle = visiting[i...] + [n]
                let def = byName[visiting.last!]!
                throw ConfigError(ConfigProblem(file: def.file, keyPath: "depends_on",
                                                message: "dependency cycle: \(cycle.joined(separator: " -> "))"))
            }
            guard let def = byName[n] else { throw CoreError.notFound(what: "service", name: n) }
            visiting.append(n)
            for dep in def.dependsOn {
                guard byName[dep] != nil else {
                    throw ConfigError(ConfigProblem(file: def.file, keyPath: "depends_on",
                                                    message: "\(n) depends on '\(dep)', which is not a service of org \(org)"))
                }
                try visit(dep)
            }
            visiting.removeLast()
            done.insert(n)
            order.append(n)
        }
        for n in names { try visit(n) }
        return order
    }

    /// Resolves a service's port: a number as is, a name through the registry (exit 4 when
    /// the name is not registered).
    public func resolvePort(_ def: ServiceDefinition) throws -> Int? {
        guard let port = def.port else { return nil }
        switch port {
        case .number(let n): return n
        case .named(let name):
            let reg = try registry ?? PortStore(paths: paths).loadValid().registry
            guard let p = reg.port(named: name) else {
                throw CoreError.notFound(what: "port", name: name,
                                         hint: "service \(def.name) uses it: register it with `tetra ports set \(name) PORT` or `tetra ports allocate \(name) --range R`")
            }
            return p
        }
    }
}
