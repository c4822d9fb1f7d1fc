/// A JSON value for protocol messages (the MCP server's JSON-RPC): objects keep their key
/// order (tool schemas read in the order they were written), numbers keep their source text
/// (a request id is echoed back exactly), and `raw` carries a document already rendered
/// (a command's `--json` output is embedded without being parsed again).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// Text that is already one JSON value, written as is.
    case raw(String)

    public static func int(_ n: Int) -> JSONValue { .number(String(n)) }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.raw(let x), .raw(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    // MARK: - reading

    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }
    public var isObject: Bool { object != nil }
    /// The value of an integral number (`3`, not `3.5`, `3e2` or `"3"`).
    public var integer: Int? { if case .number(let n) = self { return Int(n) }; return nil }
    public var isNumber: Bool { if case .number = self { return true }; return false }

    /// Parses one JSON document (nested at most as deep as a TOML document may be).
    /// Throws `JSONValue.Malformed` with the position of the first problem.
    public static func parse(_ text: String) throws -> JSONValue {
        do {
            return JSONValue(try _JSONReader.parse(text))
        } catch let error as ConfigError {
            throw Malformed(message: error.problems.first.map { "\($0)" } ?? error.message)
        } catch {
            throw Malformed(message: "\(error)")
        }
    }

    public struct Malformed: Error, Sendable, Equatable {
        public var message: String
    }

    init(_ v: _JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSONValue.init))
        case .object(let o): self = .object(o.map { ($0.0, JSONValue($0.1)) })
        }
    }

    // MARK: - writing

    /// Compact JSON text (no newline inside: one protocol message per line).
    public var serialized: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the UTF-8 bytes of the compact JSON text.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .raw(let r): out.append(contentsOf: r.utf8)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.quote(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (so the
    /// text never holds a raw newline, nor U+2028/U+2029), everything else as UTF-8. Works on
    /// the UTF-8 bytes: runs that need no escape are copied whole.
    public static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            let n = bytes.count
            var plain = 0
            var i = 0
            func flush(_ upTo: Int) { if upTo > plain { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plain..<upTo])) } }
            while i < n {
                let b = bytes[i]
                var escape: String? = nil
                var width = 1
                switch b {
                case 0x22: escape = "\\\""
                case 0x5C: escape = "\\\\"
                case 0x0A: escape = "\\n"
                case 0x0D: escape = "\\r"
                case 0x09: escape = "\\t"
                case 0x00..<0x20, 0x7F:
                    let hex = String(b, radix: 16)
                    escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                case 0xE2 where i + 2 < n && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                    escape = bytes[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"
                    width = 3
                default: break
                }
                if let escape {
                    flush(i)
                    out.append(contentsOf: escape.utf8)
                    plain = i + width
                }
                i += width
            }
            flush(n)
        }
        out.append(UInt8(ascii: "\""))
    }

    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        quote(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
