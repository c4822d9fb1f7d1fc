import FoundationEssentials

/// `ports import` and `ports export`.
extension PortService {
    public struct ImportResult: Sendable, Encodable {
        public var format: String
        public var mode: String
        public var changes: [Change]
        public var dry_run: Bool
    }

    /// Reads entries from toml, json or env text; every bad entry is reported (exit 3).
    public static func parseImport(_ text: String, name: String, format: PortInterchange.Format?) throws
        -> (format: PortInterchange.Format, ports: [(String, Int)], ranges: [(String, PortRange)]) {
        let fmt = format ?? PortInterchange.detect(name: name, content: text)
        var ports: [(String, Int)] = []
        var ranges: [(String, PortRange)] = []
        var problems: [ConfigProblem] = []
        switch fmt {
        case .env:
            let parsed = PortInterchange.parseEnv(text, file: name)
            ports = parsed.entries
            problems = parsed.problems
        case .toml:
            let doc = try TOMLDocument(parsing: text, fileName: name)
            let portsTable = doc.table["ports"]?.tableValue ?? TOMLTable()
            for (k, v) in portsTable {
                if let reason = Names.problem(with: k) {
                    problems.append(ConfigProblem(file: name, position: doc.position(of: ["ports", k]), keyPath: "ports.\(k)", message: "invalid port name: \(reason)"))
                } else if case .integer(let n) = v, PortNumber.isValid(Int(n)) {
                    ports.append((k, Int(n)))
                } else {
                    problems.append(ConfigProblem(file: name, position: doc.position(of: ["ports", k]), keyPath: "ports.\(k)", message: "expected a port number 1-65535, found \(v.typeName == "integer" ? "\(v.integerValue!)" : "a " + v.typeName)"))
                }
            }
            for (k, v) in doc.table["port_ranges"]?.tableValue ?? TOMLTable() {
                if case .string(let s) = v, case .success(let r) = PortRange.parse(s), Names.isValid(k) {
                    ranges.append((k, r))
                } else {
                    problems.append(ConfigProblem(file: name, position: doc.position(of: ["port_ranges", k]), keyPath: "port_ranges.\(k)", message: "expected \"LOW-HIGH\""))
                }
            }
        case .json:
            let parsed: _JSONValue? = try? _JSONReader.parse(text)
            guard let object: [String: _JSONValue] = Self.jsonMembers(parsed) else {
                throw ConfigError(ConfigProblem(file: name, message: "not a JSON object"))
            }
            let portsObject: [String: _JSONValue] = Self.jsonMembers(object["ports"]) ?? object.filter { !["port_ranges", "reserved"].contains($0.key) }
            for (k, v) in portsObject.sorted(by: { $0.key < $1.key }) {
                if let reason = Names.problem(with: k) {
                    problems.append(ConfigProblem(file: name, keyPath: "ports.\(k)", message: "invalid port name: \(reason)"))
                } else if case .number(let digits) = v, let n = Int(digits), PortNumber.isValid(n) {
                    ports.append((k, n))
                } else {
                    problems.append(ConfigProblem(file: name, keyPath: "ports.\(k)", message: "expected a port number 1-65535, found \(Self.jsonText(v))"))
                }
            }
            for (k, v) in (Self.jsonMembers(object["port_ranges"]) ?? [:]).sorted(by: { $0.key < $1.key }) {
                if case .string(let s) = v, case .success(let r) = PortRange.parse(s), Names.isValid(k) {
                    ranges.append((k, r))
                } else {
                    problems.append(ConfigProblem(file: name, keyPath: "port_ranges.\(k)", message: "expected \"LOW-HIGH\""))
                }
            }
        }
        var seen: [String: Int] = [:]
        for (k, p) in ports {
            if let other = seen[k], other != p {
                problems.append(ConfigProblem(file: name, keyPath: "ports.\(k)", message: "'\(k)' is given twice (\(other) and \(p))"))
            }
            seen[k] = p
        }
        if !problems.isEmpty { throw ConfigError(problems, hint: "nothing was imported") }
        return (fmt, ports, ranges)
    }

    /// A JSON value in a problem message: a scalar as written, a container by its kind.
    /// A JSON object's members (the last of a repeated key wins); nil for anything else.
    fileprivate static func jsonMembers(_ v: _JSONValue?) -> [String: _JSONValue]? {
        guard let v, case .object(let pairs) = v else { return nil }
        var out: [String: _JSONValue] = [:]
        for (k, value) in pairs { out[k] = value }
        return out
    }

    fileprivate static func jsonText(_ v: _JSONValue) -> String {
        if case .number(let n) = v { return n }
        if case .string(let t) = v { return t }
        if case .bool(let b) = v { return b ? "true" : "false" }
        if case .array = v { return "an array" }
        if case .object = v { return "an object" }
        return "null"
    }

    public func importEntries(_ text: String, name: String, format: PortInterchange.Format?, replace: Bool,
                              dryRun: Bool) throws -> ImportResult {
        let parsed = try Self.parseImport(text, name: name, format: format)
        var loaded = try store.loadValid(editing: true)
        let current = loaded.registry
        var changes: [Change] = []
        for (k, p) in parsed.ports {
            let previous = current.port(named: k)
            if previous == p {
                changes.append(Change(name: k, port: p, previous: p, action: .unchanged, dry_run: dryRun))
                continue
            }
            try loaded.document.set(["ports", k], to: .integer(Int64(p)))
            changes.append(Change(name: k, port: p, previous: previous, action: previous == nil ? .added : .updated, dry_run: dryRun))
        }
        if replace {
            let keep = Set(parsed.ports.map(\.0))
            for (k, p) in current.ports where !keep.contains(k) {
                _ = try loaded.document.remove(["ports", k])
                changes.append(Change(name: k, port: nil, previous: p, action: .removed, dry_run: dryRun))
            }
        }
        for (k, r) in parsed.ranges where current.range(named: k) != r {
            try loaded.document.set(["port_ranges", k], to: .string(r.description))
        }
        let changed = changes.contains { $0.action != .unchanged } || !parsed.ranges.isEmpty
        if changed && !dryRun {
            try store.save(loaded.document)
        }
        return ImportResult(format: parsed.format.rawValue, mode: replace ? "replace" : "merge", changes: changes, dry_run: dryRun)
    }

    /// The registry as one JSON document (`ports export --json`).
    public struct ExportDocument: Sendable, Encodable {
        public struct Reserved: Sendable, Encodable { public var ports: [Int] }
        public var ports: [String: Int]
        public var port_ranges: [String: String]
        public var reserved: Reserved
    }

    public func exportDocument() throws -> ExportDocument {
        let reg = try store.loadValid().registry
        return ExportDocument(ports: Dictionary(reg.ports.map { ($0.name, $0.port) }, uniquingKeysWith: { a, _ in a }),
                              port_ranges: Dictionary(reg.ranges.map { ($0.name, $0.range.description) }, uniquingKeysWith: { a, _ in a }),
                              reserved: .init(ports: reg.reserved))
    }

    public func export(format: PortInterchange.Format) throws -> String {
        let reg = try store.loadValid().registry
        switch format {
        case .env:
            return reg.ports.map { "\(PortInterchange.envName($0.name))=\($0.port)\n" }.joined()
        case .toml:
            var table = TOMLTable()
            table["ports"] = .table(TOMLTable(reg.ports.map { ($0.name, TOMLValue.integer(Int64($0.port))) }))
            table["port_ranges"] = .table(TOMLTable(reg.ranges.map { ($0.name, TOMLValue.string($0.range.description)) }))
            table["reserved"] = .table(TOMLTable([("ports", .array(reg.reserved.map { .integer(Int64($0)) }))]))
            return TOMLSerializer.serialize(table)
        case .json:
            var table = TOMLTable()
            table["ports"] = .table(TOMLTable(reg.ports.map { ($0.name, TOMLValue.integer(Int64($0.port))) }))
            table["port_ranges"] = .table(TOMLTable(reg.ranges.map { ($0.name, TOMLValue.string($0.range.description)) }))
            table["reserved"] = .table(TOMLTable([("ports", .array(reg.reserved.map { .integer(Int64($0)) }))]))
            return TOMLJSON.encode(table, pretty: true) + "\n"
        }
    }
}
