import FoundationEssentials
import Glibc

/// `config/ports.toml`: loading with positions, validation, and format-preserving edits.
/// Every mutation runs under the "ports" lock (taken by the caller) and is written atomically.
public struct PortStore: Sendable {
    public let path: String
    /// The name shown in messages (`ports.toml`).
    public var displayName: String { PathText.lastComponent(path) }

    public init(path: String) { self.path = path }
    public init(paths: StatePaths) { self.path = paths.portsFile }

    /// What `tetra init` writes: the ranges of SPEC §2 and the usual reserved ports.
    public static let defaultFile = """
    # The named port registry: services, environments and operators share these names.
    # Edit with `tetra ports set/allocate/remove`; comments and layout here are kept.

    [ports]

    [port_ranges]
    development = "3000-3999"
    staging = "4000-4999"
    production = "5000-5999"

    [reserved]
    ports = [22, 80, 443]

    """

    public struct Loaded: Sendable {
        /// The editable document (format-preserving), when loaded for editing.
        public var document: TOMLDocument!
        public var registry: PortRegistry
        /// Semantic problems (bad port numbers, bad names, bad ranges), with positions.
        public var problems: [ConfigProblem]
        /// Unknown keys, with positions (warnings).
        public var warnings: [ConfigProblem]
        public var exists: Bool
    }

    /// Reads and validates the registry. A missing file reads as `defaultFile` (the ranges and
    /// reserved ports every state root starts with), so a fresh root works. A TOML syntax
    /// error is thrown (exit 3, path:line:column); semantic problems are returned so that
    /// `ports check` can list them, and `loadValid` turns them into an error.
    /// - Parameter editing: also build the format-preserving document (needed to edit; reads
    ///   skip it, which keeps `ports get` fast on large registries). Positions for messages
    ///   come from the document, built on demand when there is something to report.
    public func load(editing: Bool = false) throws -> Loaded {
        let data = try AtomicFile.readIfExists(path, limit: InputFile.configLimit)
        let bytes = data.map { Array($0) } ?? Array(Self.defaultFile.utf8)
        if editing {
            let document = try TOMLDocument(bytes: bytes, fileName: path)
            var loaded = validate(document.table, position: { document.position(of: $0) }, exists: data != nil)
            loaded.document = document
            return loaded
        }
        let table = try TOMLParser.parse(bytes: bytes, file: path)
        let quick = validate(table, position: { _ in nil }, exists: data != nil)
        if quick.problems.isEmpty && quick.warnings.isEmpty { return quick }
        let document = try TOMLDocument(bytes: bytes, fileName: path)
        return validate(table, position: { document.position(of: $0) }, exists: data != nil)
    }

    func validate(_ table: TOMLTable, position: ([String]) -> SourcePosition?, exists: Bool) -> Loaded {
        var problems: [ConfigProblem] = []
        var warnings: [ConfigProblem] = []
        var registry = PortRegistry()
        func problem(_ keyPath: [String], _ message: String) -> ConfigProblem {
            ConfigProblem(file: path, position: position(keyPath), keyPath: keyPath.joined(separator: "."), message: message)
        }

        for (key, _) in table where !["ports", "port_ranges", "reserved", "tags"].contains(key) {
            warnings.append(problem([key], "unknown key (expected [ports], [port_ranges], [reserved] or [tags])"))
        }
        if let ports = table["ports"] {
            if case .table(let t) = ports {
                for (name, value) in t {
                    if let reason = Names.problem(with: name) {
                        problems.append(problem(["ports", name], "invalid port name: \(reason)"))
                        continue
                    }
                    guard case .integer(let n) = value else {
                        problems.append(problem(["ports", name], "expected an integer, found a \(value.typeName)"))
                        continue
                    }
                    guard PortNumber.isValid(Int(n)) else {
                        problems.append(problem(["ports", name], "port \(n) is out of range (1-65535)"))
                        continue
                    }
                    registry.ports.append((name, Int(n)))
                }
            } else {
                problems.append(problem(["ports"], "expected a table, found a \(ports.typeName)"))
            }
        }
        if let ranges = table["port_ranges"] {
            if case .table(let t) = ranges {
                for (name, value) in t {
                    guard case .string(let s) = value else {
                        problems.append(problem(["port_ranges", name], "expected a string \"LOW-HIGH\", found a \(value.typeName)"))
                        continue
                    }
                    switch PortRange.parse(s) {
                    case .success(let r): registry.ranges.append((name, r))
                    case .failure(let e): problems.append(problem(["port_ranges", name], e.message))
                    }
                }
            } else {
                problems.append(problem(["port_ranges"], "expected a table, found a \(ranges.typeName)"))
            }
        }
        if let tags = table["tags"] {
            if case .table(let t) = tags {
                let names = Set(registry.ports.map(\.name))
                for (name, value) in t {
                    guard case .array(let items) = value, let list = Optional(items.compactMap { v -> String? in
                        if case .string(let s) = v { return s } else { return nil }
                    }), list.count == items.count else {
                        problems.append(problem(["tags", name], "expected an array of tags, found a \(value.typeName)"))
                        continue
                    }
                    if !names.contains(name) { problems.append(problem(["tags", name], "no port '\(name)' in [ports]")) }
                    for message in Tags.problems(list) { problems.append(problem(["tags", name], message)) }
                    registry.tags[name] = list
                }
            } else {
                problems.append(problem(["tags"], "expected a table, found a \(tags.typeName)"))
            }
        }
        if let reserved = table["reserved"] {
            if case .table(let t) = reserved {
                for (key, value) in t where key != "ports" {
                    warnings.append(problem(["reserved", key], "unknown key (expected 'ports')"))
                    _ = value
                }
                if let list = t["ports"] {
                    if case .array(let items) = list {
                        for item in items {
                            if case .integer(let n) = item, PortNumber.isValid(Int(n)) {
                                registry.reserved.append(Int(n))
                            } else {
                                problems.append(problem(["reserved", "ports"], "reserved ports must be integers 1-65535"))
                                break
                            }
                        }
                    } else {
                        problems.append(problem(["reserved", "ports"], "expected an array of port numbers, found a \(list.typeName)"))
                    }
                }
            } else {
                problems.append(problem(["reserved"], "expected a table, found a \(reserved.typeName)"))
            }
        }
        return Loaded(document: nil, registry: registry, problems: problems, warnings: warnings, exists: exists)
    }

    /// The registry's plain table (syntax checked, nothing else).
    public func parseTable() throws -> TOMLTable {
        let data = try AtomicFile.readIfExists(path, limit: InputFile.configLimit)
        return try TOMLParser.parse(bytes: data.map { Array($0) } ?? Array(Self.defaultFile.utf8), file: path)
    }

    /// Loads and fails with exit 3 listing every problem.
    public func loadValid(editing: Bool = false) throws -> Loaded {
        let loaded = try load(editing: editing)
        if !loaded.problems.isEmpty {
            throw ConfigError(loaded.problems, hint: "fix \(path), or see 'tetra ports check'")
        }
        return loaded
    }

    /// Writes the edited document atomically (mode 0644: ports are not secret).
    /// A file without any write bit is treated as read-only on purpose, even for root (whom
    /// the kernel would let replace it): the operator locked it.
    public func save(_ document: TOMLDocument) throws {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o222 == 0 {
            throw CoreError.failed("\(path) is read-only (mode \(String(st.st_mode & 0o777, radix: 8))); nothing was changed",
                                   hint: "make it writable (chmod u+w \(path)) to let tetra edit it")
        }
        try AtomicFile.write(Data(document.render().utf8), to: path, mode: st.st_mode != 0 ? st.st_mode & 0o777 : 0o644)
    }
}
