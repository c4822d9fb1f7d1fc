import FoundationEssentials

/// The operations of the `ports` group. The caller holds the "ports" lock for mutations.
public struct PortService: Sendable {
    public let store: PortStore
    /// Whether a port can be bound right now (injected so tests can pin it).
    public var isFree: @Sendable (Int) -> Bool
    /// Listening sockets on this machine.
    public var scan: @Sendable () -> [ListeningSocket]

    /// The lookup cache used by `get` (nil: always parse).
    public var cache: PortLookupCache?
    /// The state root whose orgs' services `remove` checks for users of a port (nil: none).
    public var servicesRoot: StatePaths?

    public init(store: PortStore, isFree: @escaping @Sendable (Int) -> Bool = { PortProbe.isFree($0) },
                scan: @escaping @Sendable () -> [ListeningSocket] = { SocketScanner().scan() },
                cache: PortLookupCache? = nil) {
        self.store = store
        self.cache = cache
        self.isFree = isFree
        self.scan = scan
    }

    // MARK: results

    public struct Entry: Sendable, Encodable, Equatable {
        public var name: String
        public var port: Int
        public var ranges: [String]
        public var reserved: Bool
    }

    public struct Change: Sendable, Encodable, Equatable {
        public var name: String
        public var port: Int?
        public var previous: Int?
        public enum Action: String, Sendable, Encodable, Equatable {
            case added, updated, unchanged, removed, allocated, existing
        }
        public var action: Action
        public var dry_run: Bool
    }

    public struct RangeEntry: Sendable, Encodable, Equatable {
        public var name: String
        public var low: Int
        public var high: Int
        public var used: Int
        public var size: Int
    }

    // MARK: reads

    public func list() throws -> [Entry] {
        let reg = try store.loadValid().registry
        return reg.ports.map { Entry(name: $0.name, port: $0.port, ranges: reg.rangeNames(containing: $0.port),
                                     reserved: reg.reserved.contains($0.port)) }
    }

    /// The port of one name. Reads validate what they read: a syntax error anywhere is still
    /// exit 3, but a bad entry elsewhere in the registry does not stop reading a good one
    /// (and a 10,000-entry registry is not re-validated for every lookup).
    public func get(_ name: String) throws -> Int {
        try Names.validate(name, what: "port")
        if let cache, let port = cache.lookup(name) { return port }
        let before = cache == nil ? nil : PortLookupCache.identity(of: store.path)
        let table = try store.parseTable()
        if let cache, let before, before == PortLookupCache.identity(of: store.path),
           let ports = table["ports"]?.tableValue {
            var pairs: [(name: String, port: Int)] = []
            pairs.reserveCapacity(ports.count)
            for (key, value) in ports { if case .integer(let n) = value { pairs.append((key, Int(n))) } }
            cache.store(pairs, identity: before)
        }
        guard let value = table["ports"]?.tableValue?[name] else {
            let names = table["ports"]?.tableValue?.keys ?? []
            throw CoreError.notFound(what: "port", name: name,
                                     hint: Self.closeName(name, in: Array(names)) ?? "see 'tetra ports list'")
        }
        guard case .integer(let n) = value, PortNumber.isValid(Int(n)) else {
            // Report it with its position, as a full load would.
            _ = try store.loadValid()
            throw ConfigError(ConfigProblem(file: store.path, keyPath: "ports.\(name)", message: "not a port number"))
        }
        return Int(n)
    }

    public func ranges() throws -> [RangeEntry] {
        let reg = try store.loadValid().registry
        return reg.ranges.map { r in
            RangeEntry(name: r.name, low: r.range.low, high: r.range.high,
                       used: reg.ports.filter { r.range.contains($0.port) }.count, size: r.range.count)
        }
    }

    // MARK: mutations

    public func set(_ name: String, port: Int, force: Bool, dryRun: Bool) throws -> Change {
        try Names.validate(name, what: "port")
        guard PortNumber.isValid(port) else { throw CoreError.invalidArgument("invalid port \(port): ports are 1-65535") }
        var loaded = try store.loadValid(editing: true)
        let reg = loaded.registry
        let previous = reg.port(named: name)
        if previous == port {
            return Change(name: name, port: port, previous: previous, action: .unchanged, dry_run: dryRun)
        }
        if !force {
            let others = reg.names(using: port).filter { $0 != name }
            if !others.isEmpty {
                throw CoreError.conflict("port \(port) is already registered as '\(others.joined(separator: "', '"))'",
                                         hint: "choose another port, or use --force to register it twice")
            }
            if reg.reserved.contains(port) {
                throw CoreError.conflict("port \(port) is reserved", hint: "use --force to register a reserved port")
            }
        }
        try loaded.document.set(["ports", name], to: .integer(Int64(port)))
        if !dryRun { try store.save(loaded.document) }
        return Change(name: name, port: port, previous: previous, action: previous == nil ? .added : .updated, dry_run: dryRun)
    }

    /// Removes NAME. A port that a defined service uses (`port = "NAME"` in any org's
    /// `services/*.toml`) is a conflict (exit 5) naming the services, unless `force`.
    public func remove(_ name: String, dryRun: Bool, force: Bool = false) throws -> Change {
        try Names.validate(name, what: "port")
        var loaded = try store.loadValid(editing: true)
        guard let previous = loaded.registry.port(named: name) else {
            throw CoreError.notFound(what: "port", name: name, hint: "see 'tetra ports list'")
        }
        let users = servicesUsing(name)
        if !users.isEmpty && !force {
            throw CoreError.conflict("port '\(name)' is used by service\(users.count == 1 ? "" : "s") \(users.joined(separator: ", "))",
                                     hint: "re-run with --force to remove it anyway (\(users.count == 1 ? "that service" : "those services") will not start until '\(name)' is registered again)")
        }
        _ = try loaded.document.remove(["ports", name])
        if !dryRun { try store.save(loaded.document) }
        return Change(name: name, port: nil, previous: previous, action: .removed, dry_run: dryRun)
    }

    /// The services (`org/name`) whose definition names port `name`. Unreadable service
    /// files are skipped (`svc` reports them).
    public func servicesUsing(_ name: String) -> [String] {
        guard let paths = servicesRoot else { return [] }
        var out: [String] = []
        for org in OrgStore(paths: paths).names() {
            guard let catalog = try? ServiceCatalog.load(paths: paths, org: org) else { continue }
            for definition in catalog.definitions where definition.port == .named(name) { out.append(org + "/" + definition.name) }
        }
        return out
    }

    /// The lowest port of the range that is not registered, not reserved and not bound now;
    /// idempotent for a registered name.
    public func allocate(_ name: String, rangeName: String, dryRun: Bool) throws -> Change {
        try Names.validate(name, what: "port")
        var loaded = try store.loadValid(editing: true)
        let reg = loaded.registry
        if let existing = reg.port(named: name) {
            return Change(name: name, port: existing, previous: existing, action: .existing, dry_run: dryRun)
        }
        guard let range = reg.range(named: rangeName) else {
            throw CoreError.notFound(what: "port range", name: rangeName,
                                     hint: Self.closeName(rangeName, in: reg.ranges.map(\.name))
                                        ?? "see 'tetra ports ranges'; add one with 'tetra ports ranges set NAME LOW-HIGH'")
        }
        guard let port = reg.lowestFree(in: range, isFree: isFree) else {
            throw CoreError.conflict("no free port in range \(rangeName) (\(range))",
                                     hint: "widen the range with 'tetra ports ranges set \(rangeName) LOW-HIGH' or remove unused names")
        }
        try loaded.document.set(["ports", name], to: .integer(Int64(port)))
        if !dryRun { try store.save(loaded.document) }
        return Change(name: name, port: port, previous: nil, action: .allocated, dry_run: dryRun)
    }

    public func setRange(_ name: String, _ text: String, dryRun: Bool) throws -> RangeEntry {
        try Names.validate(name, what: "port range")
        let range: PortRange
        switch PortRange.parse(text) {
        case .success(let r): range = r
        case .failure(let e): throw e
        }
        var loaded = try store.loadValid(editing: true)
        try loaded.document.set(["port_ranges", name], to: .string(range.description))
        if !dryRun { try store.save(loaded.document) }
        return RangeEntry(name: name, low: range.low, high: range.high,
                          used: loaded.registry.ports.filter { range.contains($0.port) }.count, size: range.count)
    }

    static func closeName(_ name: String, in names: [String]) -> String? {
        Suggest.didYouMean(name, in: names)
    }
}
