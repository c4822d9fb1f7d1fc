#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

// A small JSON reader (for toml-test's tagged JSON).

// MARK: - JSON value and reader

/// A parsed JSON value. Objects keep their key order; numbers keep their source text.
enum _JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([_JSONValue])
    case object([(String, _JSONValue)])

    static func == (a: _JSONValue, b: _JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    subscript(key: String) -> _JSONValue? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }
}

struct _JSONReader {
    static let maxDepth = TOMLParser.maxDepth

    static func parse(_ text: String, file: String? = nil) throws -> _JSONValue {
        let bytes = Array(text.utf8)
        var r = _JSONReader(bytes: bytes)
        do {
            r.skipWS()
            let v = try r.value(depth: 0)
            r.skipWS()
            if r.i < bytes.count { throw r.fail("unexpected text after the JSON value") }
            return v
        } catch let e as _ParseFailure {
            throw ConfigError(ConfigProblem(file: file, position: _TOMLText.position(of: e.offset, in: bytes), message: e.message))
        }
    }

    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ m: String) -> _ParseFailure { _ParseFailure(offset: i, message: m) }

    var peek: UInt8 { i < bytes.count ? bytes[i] : 0 }

    mutating func skipWS() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ v: _JSONValue) throws -> _JSONValue {
        for b in word.utf8 {
            guard peek == b else { throw fail("invalid JSON literal") }
            i += 1
        }
        return v
    }

    mutating func value(depth: Int) throws -> _JSONValue {
        if depth > Self.maxDepth { throw fail("JSON nested too deeply") }
        switch peek {
        case UInt8(ascii: "{"):
            i += 1
            var pairs: [(String, _JSONValue)] = []
            skipWS()
            if peek == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            while true {
                skipWS()
                guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key in JSON object") }
                let k = try string()
                skipWS()
                guard peek == UInt8(ascii: ":") else { throw fail("expected ':' in JSON object") }
                i += 1
                skipWS()
                pairs.append((k, try value(depth: depth + 1)))
                skipWS()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                throw fail("expected ',' or '}' in JSON object")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [_JSONValue] = []
            skipWS()
            if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWS()
                items.append(try value(depth: depth + 1))
                skipWS()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']' in JSON array")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            throw fail(i >= bytes.count ? "unexpected end of JSON" : "unexpected character in JSON")
        }
    }

    mutating func number() throws -> String {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        func digits(_ r: inout _JSONReader) -> Int {
            let s = r.i
            while r.peek >= UInt8(ascii: "0") && r.peek <= UInt8(ascii: "9") { r.i += 1 }
            return r.i - s
        }
        let intStart = i
        let n = digits(&self)
        if n == 0 || (n > 1 && bytes[intStart] == UInt8(ascii: "0")) { throw fail("invalid JSON number") }
        if peek == UInt8(ascii: ".") {
            i += 1
            if digits(&self) == 0 { throw fail("invalid JSON number") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            if digits(&self) == 0 { throw fail("invalid JSON number") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("invalid \\u escape in JSON string") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 0x41 + 10)
            default: throw fail("invalid \\u escape in JSON string")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        var start = i
        while true {
            guard i < bytes.count else { throw fail("unterminated JSON string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[start..<i])
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in JSON string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: bytes[start..<i])
            i += 1
            guard i < bytes.count else { throw fail("unterminated JSON string") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800...0xDBFF).contains(v) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in JSON string")
                    }
                    i += 2
                    let lo = try hex4()
                    guard (0xDC00...0xDFFF).contains(lo) else { throw fail("unpaired surrogate in JSON string") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(v) {
                    throw fail("unpaired surrogate in JSON string")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(v)!)).utf8)
            default:
                throw fail("invalid escape in JSON string")
            }
            start = i
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in JSON string") }
        return s
    }
}
