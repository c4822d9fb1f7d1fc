import FoundationEssentials

/// A port range `LOW-HIGH`, inclusive.
public struct PortRange: Sendable, Equatable, Codable, CustomStringConvertible {
    public var low: Int
    public var high: Int

    public init(low: Int, high: Int) {
        self.low = low
        self.high = high
    }

    public var description: String { "\(low)-\(high)" }
    public func contains(_ port: Int) -> Bool { port >= low && port <= high }
    public var count: Int { high - low + 1 }

    /// Parses `3000-3999`; nil with a reason when malformed.
    public static func parse(_ text: String) -> Result<PortRange, CoreError> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let low = Int(parts[0].trimming(.whitespaces)),
              let high = Int(parts[1].trimming(.whitespaces)) else {
            return .failure(.invalidArgument("invalid port range '\(text)' (expected LOW-HIGH, e.g. 3000-3999)"))
        }
        for p in [low, high] where !PortNumber.isValid(p) {
            return .failure(.invalidArgument("invalid port range '\(text)': \(p) is not a port (1-65535)"))
        }
        guard low <= high else {
            return .failure(.invalidArgument("invalid port range '\(text)': \(low) is above \(high)",
                                             hint: "write the lower port first, e.g. \(high)-\(low)"))
        }
        return .success(PortRange(low: low, high: high))
    }
}

public enum PortNumber {
    public static func isValid(_ port: Int) -> Bool { port >= 1 && port <= 65535 }

    /// Parses a port given on the command line (exit 2 when not 1-65535).
    public static func parse(_ text: String) throws -> Int {
        guard let n = Int(text) else {
            throw CoreError.invalidArgument("invalid port '\(Names.printable(text))': not a number", hint: "ports are 1-65535")
        }
        guard isValid(n) else {
            throw CoreError.invalidArgument("invalid port \(n): ports are 1-65535")
        }
        return n
    }
}

/// The registry as values: names in file order, ranges, reserved ports.
public struct PortRegistry: Sendable, Equatable {
    public var ports: [(name: String, port: Int)]
    public var ranges: [(name: String, range: PortRange)]
    public var reserved: [Int]
    /// `[tags] NAME = ["team:pay"]`: tags of registered ports (docs/search.md).
    public var tags: [String: [String]] = [:]

    public init(ports: [(name: String, port: Int)] = [], ranges: [(name: String, range: PortRange)] = [], reserved: [Int] = []) {
        self.ports = ports
        self.ranges = ranges
        self.reserved = reserved
    }

    public static func == (a: PortRegistry, b: PortRegistry) -> Bool {
        a.ports.map { "\($0.name)=\($0.port)" } == b.ports.map { "\($0.name)=\($0.port)" }
            && a.ranges.map { "\($0.name)=\($0.range)" } == b.ranges.map { "\($0.name)=\($0.range)" }
            && a.reserved == b.reserved && a.tags == b.tags
    }

    public func port(named name: String) -> Int? { ports.first { $0.name == name }?.port }
    public func names(using port: Int) -> [String] { ports.filter { $0.port == port }.map(\.name) }
    public func range(named name: String) -> PortRange? { ranges.first { $0.name == name }?.range }

    /// The ranges that contain a port.
    public func rangeNames(containing port: Int) -> [String] {
        ranges.filter { $0.range.contains(port) }.map(\.name)
    }

    /// The lowest port of `range` that is not registered, not reserved and for which
    /// `isFree` is true.
    public func lowestFree(in range: PortRange, isFree: (Int) -> Bool) -> Int? {
        let taken = Set(ports.map(\.port)).union(reserved)
        var port = range.low
        while port <= range.high {
            if !taken.contains(port), isFree(port) { return port }
            port += 1
        }
        return nil
    }
}

/// Import and export of registries in toml, json and env (`API_PORT=4000`) form.
public enum PortInterchange {
    public enum Format: String, Sendable, CaseIterable { case toml, json, env }

    /// Guesses the format from the file name, then from the content.
    public static func detect(name: String, content: String) -> Format {
        let lower = name.lowercased()
        if lower.hasSuffix(".toml") { return .toml }
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".env") { return .env }
        let trimmed = content.trimming(.whitespacesAndNewlines)
        if trimmed.hasPrefix("{") { return .json }
        if trimmed.contains("[ports]") || trimmed.contains(" = ") { return .toml }
        return .env
    }

    /// `API_PORT=4000` → ("api", 4000); `DB_MAIN_PORT=5432` → ("db_main", 5432). Comments,
    /// blank lines and `export ` prefixes are allowed. Every bad line is reported.
    public static func parseEnv(_ text: String, file: String) -> (entries: [(String, Int)], problems: [ConfigProblem]) {
        var entries: [(String, Int)] = []
        var problems: [ConfigProblem] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimming(.whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimming(.whitespaces) }
            let pos = SourcePosition(line: i + 1, column: 1)
            guard let eq = line.firstIndex(of: "=") else {
                problems.append(ConfigProblem(file: file, position: pos, message: "expected NAME_PORT=NUMBER"))
                continue
            }
            var key = String(line[..<eq]).trimming(.whitespaces)
            var value = String(line[line.index(after: eq)...]).trimming(.whitespaces)
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            }
            guard key.uppercased().hasSuffix("_PORT"), key.count > 5 else {
                problems.append(ConfigProblem(file: file, position: pos, message: "'\(key)' does not end in _PORT"))
                continue
            }
            key = String(key.dropLast(5)).lowercased()
            guard Names.isValid(key) else {
                problems.append(ConfigProblem(file: file, position: pos, message: "invalid port name '\(key)': \(Names.problem(with: key) ?? "")"))
                continue
            }
            guard let port = Int(value), PortNumber.isValid(port) else {
                problems.append(ConfigProblem(file: file, position: SourcePosition(line: i + 1, column: (raw.firstIndex(of: "=").map { raw.distance(from: raw.startIndex, to: $0) } ?? 0) + 2),
                                              message: "invalid port '\(value)' (1-65535)"))
                continue
            }
            entries.append((key, port))
        }
        return (entries, problems)
    }

    /// `api` → `API_PORT`; characters other than letters and digits become `_`.
    public static func envName(_ name: String) -> String {
        String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }) + "_PORT"
    }
}
