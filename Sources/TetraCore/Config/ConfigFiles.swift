import FoundationEssentials

/// The core of the `config` commands: TOML ↔ JSON, key paths, value parsing and
/// format-preserving edits of any TOML file.
public enum ConfigFiles {
    /// Plain JSON (an object) → a TOML table. Numbers with a fraction or exponent become
    /// floats, others integers; null has no TOML form and is an error naming its key path.
    public static func tableFromJSON(_ text: String, file: String?) throws -> TOMLTable {
        let value = try _JSONReader.parse(text, file: file)
        guard case .object = value else {
            throw ConfigError(ConfigProblem(file: file, message: "a TOML document needs a JSON object at the top level"))
        }
        guard case .table(let t) = try convert(value, path: [], file: file) else { return TOMLTable() }
        return t
    }

    static func convert(_ v: _JSONValue, path: [String], file: String?) throws -> TOMLValue {
        func fail(_ m: String) -> ConfigError {
            ConfigError(ConfigProblem(file: file, keyPath: path.joined(separator: "."), message: m))
        }
        switch v {
        case .null: throw fail("null has no TOML equivalent")
        case .bool(let b): return .boolean(b)
        case .string(let s): return .string(s)
        case .number(let text):
            if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                guard let d = Double(text) else { throw fail("invalid number \(text)") }
                return .float(d)
            }
            guard let i = Int64(text) else { throw fail("integer \(text) does not fit in 64 bits") }
            return .integer(i)
        case .array(let items):
            return .array(try items.enumerated().map { try convert($0.element, path: path + ["\($0.offset)"], file: file) })
        case .object(let pairs):
            var t = TOMLTable()
            for (k, item) in pairs { t[k] = try convert(item, path: path + [k], file: file) }
            return .table(t)
        }
    }

    /// Parses a dotted key path with TOML's own key rules: `a.b`, `servers."web.1".port`.
    public static func keyPath(_ text: String) throws -> [String] {
        let table: TOMLTable
        do {
            table = try TOMLParser.parse("\(text) = 0\n")
        } catch {
            throw CoreError.invalidArgument("invalid key path '\(Names.printable(text))'", hint: "use dotted TOML keys, e.g. ports.api or servers.\"web.1\".port")
        }
        var path: [String] = []
        var current = table
        while let key = current.keys.first {
            path.append(key)
            guard case .table(let next)? = current[key] else { break }
            current = next
        }
        return path
    }

    /// Parses VALUE as a TOML value (`42`, `"text"`, `[1, 2]`, `{ a = 1 }`, `true`).
    public static func value(_ text: String) throws -> TOMLValue {
        do {
            let t = try TOMLParser.parse("v = \(text)\n")
            if let v = t["v"] { return v }
        } catch {}
        throw CoreError.invalidArgument("'\(text)' is not a TOML value",
                                        hint: "quote strings: '\"\(text)\"'; numbers, true/false, arrays [..] and inline tables { .. } are written as in TOML")
    }

    /// A value rendered for `config get`: strings bare, tables as a TOML document, others
    /// in TOML form.
    public static func display(_ value: TOMLValue) -> String {
        switch value {
        case .string(let s): return s
        case .table(let t): return TOMLSerializer.serialize(t)
        default: return TOMLSerializer.formatValue(value)
        }
    }

    /// The lines that differ between two texts (for --dry-run of edits): (line, old, new).
    public static func changedLines(_ old: String, _ new: String) -> [String] {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false)
        var prefix = 0
        while prefix < min(a.count, b.count), a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < min(a.count, b.count) - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        var out: [String] = []
        for line in a[prefix..<(a.count - suffix)] { out.append("-" + line) }
        for line in b[prefix..<(b.count - suffix)] { out.append("+" + line) }
        return out
    }
}
