import FoundationEssentials
import Glibc

/// `orgs/<org>/secrets.env` (SPEC §2): `KEY=VALUE` lines, mode 0600. The one parser of the
/// format; deployments render `{{ secrets.KEY }}` from it and services inject the keys they
/// name at spawn time. Values are never part of an error message.
///
/// Format (what an operator writing a dotenv file expects):
/// - blank lines and lines starting with `#` are ignored; an optional `export ` prefix;
/// - `KEY` matches `[A-Za-z_][A-Za-z0-9_]*`; whitespace around `=` is allowed;
/// - a value is taken as is (surrounding whitespace trimmed), or `"double quoted"` with
///   `\n`, `\t`, `\"`, `\\` escapes, or `'single quoted'` literally;
/// - a key defined twice is an error (which one wins would be a guess).
public struct SecretsFile: Sendable, Equatable {
    public var values: [String: String]
    /// Names in file order.
    public var names: [String]
    /// True when group or others can read or write the file (it should be 0600).
    public var looseMode: Bool

    public init(values: [String: String] = [:], names: [String] = [], looseMode: Bool = false) {
        self.values = values
        self.names = names
        self.looseMode = looseMode
    }

    /// Reads `path`; a missing file is an empty set of secrets.
    public static func load(_ path: String) throws -> SecretsFile {
        guard let data = try AtomicFile.readIfExists(path) else { return SecretsFile() }
        var info = stat()
        let loose = stat(path, &info) == 0 && (info.st_mode & 0o077) != 0
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError([ConfigProblem(file: path, message: "secrets file is not UTF-8 text")])
        }
        var parsed = try parse(text, file: path)
        parsed.looseMode = loose
        return parsed
    }

    /// Parses the text of a secrets file; every problem is reported, with `line:column`.
    public static func parse(_ text: String, file: String? = nil) throws -> SecretsFile {
        var result = SecretsFile()
        var firstLine: [String: Int] = [:]
        var problems: [ConfigProblem] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            var rest = line.dropFirst(indent)
            if rest.isEmpty || rest.hasPrefix("#") { continue }
            var column = indent + 1
            if rest.hasPrefix("export ") {
                let skipped = rest.dropFirst(7).prefix { $0 == " " }.count + 7
                rest = rest.dropFirst(skipped)
                column += skipped
            }
            func problem(_ col: Int, _ message: String) {
                problems.append(ConfigProblem(file: file, position: SourcePosition(line: lineNumber, column: col), message: message))
            }
            guard let eq = rest.firstIndex(of: "=") else {
                problem(column, "expected KEY=VALUE")
                continue
            }
            let key = String(rest[..<eq]).trimming(.whitespaces)
            guard isValidKey(key) else {
                problem(column, key.isEmpty ? "missing key before '='" : "invalid key '\(Names.printable(key))' (letters, digits and '_', not starting with a digit)")
                continue
            }
            let valueStart = rest[rest.index(after: eq)...]
            let valueColumn = column + rest.distance(from: rest.startIndex, to: eq) + 1
            let value: String
            switch unquote(valueStart) {
            case .success(let v): value = v
            case .failure(let message): problem(valueColumn, "\(key): \(message)"); continue
            }
            if value.utf8.contains(0) {
                problem(valueColumn, "\(key): the value contains a NUL character, which no environment variable can hold")
                continue
            }
            if let first = firstLine[key] {
                problem(column, "duplicate key '\(Names.printable(key))' (first defined at line \(first))")
                continue
            }
            firstLine[key] = lineNumber
            result.names.append(key)
            result.values[key] = value
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        return result
    }

    public static func isValidKey(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && Character(first).isLetter) else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && (Character($0).isLetter || Character($0).isNumber)) }
    }

    private enum Unquoted { case success(String), failure(String) }

    private static func unquote(_ raw: Substring) -> Unquoted {
        let value = raw.trimming(.whitespaces)
        guard let quote = value.first, quote == "\"" || quote == "'" else { return .success(value) }
        var out = ""
        var index = value.index(after: value.startIndex)
        while index < value.endIndex {
            let c = value[index]
            if c == quote {
                let trailing = value[value.index(after: index)...].trimming(.whitespaces)
                if !trailing.isEmpty && !trailing.hasPrefix("#") { return .failure("unexpected text after the closing quote") }
                return .success(out)
            }
            if c == "\\" && quote == "\"" {
                index = value.index(after: index)
                guard index < value.endIndex else { break }
                switch value[index] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "$": out.append("$")
                default: return .failure("unknown escape '\\\(value[index])' in a double-quoted value")
                }
            } else {
                out.append(c)
            }
            index = value.index(after: index)
        }
        return .failure("unterminated \(quote == "\"" ? "double" : "single")-quoted value")
    }

    /// Serializes names and values back to the file format (values double-quoted when
    /// they need it). Used when tetra writes a secrets file (mode 0600).
    public static func render(_ entries: [(String, String)]) -> String {
        var out = ""
        for (key, value) in entries {
            let plain = !value.isEmpty && value.unicodeScalars.allSatisfy {
                !TrimSet.whitespacesAndNewlines.contains($0) && $0 != "\"" && $0 != "'" && $0 != "\\" && $0 != "#"
            }
            if plain {
                out += "\(key)=\(value)\n"
            } else {
                var escaped = ""
                for c in value {
                    switch c {
                    case "\n": escaped += "\\n"
                    case "\t": escaped += "\\t"
                    case "\r": escaped += "\\r"
                    case "\"": escaped += "\\\""
                    case "\\": escaped += "\\\\"
                    default: escaped.append(c)
                    }
                }
                out += "\(key)=\"\(escaped)\"\n"
            }
        }
        return out
    }
}
