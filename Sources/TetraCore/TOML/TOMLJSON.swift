#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

// JSON bridges for TOML values: toml-test's tagged JSON (both ways) and a plain JSON
// rendering for users. A small JSON reader/writer of our own keeps key order and the
// exact text of numbers.

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

// MARK: - JSON writer

struct _JSONWriter {
    private var buf: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    let pretty: Bool
    var level = 0
    /// When set, the buffer is handed to it whenever it holds more than `flushSize` bytes.
    var sink: ((UnsafeRawBufferPointer) -> Void)? = nil
    var flushSize = 1 << 16

    init(pretty: Bool, capacity: Int = 1024) {
        self.pretty = pretty
        self.capacity = max(capacity, 64)
        buf = malloc(self.capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    /// Returns the text and frees the buffer; the writer must not be used afterwards.
    mutating func finish() -> String {
        let s = String(decoding: UnsafeBufferPointer(start: buf, count: count), as: UTF8.self)
        free(buf)
        count = 0
        capacity = 0
        return s
    }

    /// Hands the rest to the sink and frees the buffer.
    mutating func finishStreaming() {
        if count > 0 { sink?(UnsafeRawBufferPointer(start: buf, count: count)) }
        free(buf)
        count = 0
        capacity = 0
    }

    @inline(__always) mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    mutating func grow(_ n: Int) {
        if let sink, count > 0 {
            sink(UnsafeRawBufferPointer(start: buf, count: count))
            count = 0
            if n <= capacity { return }
        }
        var c = capacity * 2
        while c < count + n { c *= 2 }
        buf = realloc(buf, c)!.assumingMemoryBound(to: UInt8.self)
        capacity = c
    }

    /// Flushes to the sink between values once enough has accumulated.
    @inline(__always) mutating func maybeFlush() {
        if sink != nil && count >= flushSize {
            sink!(UnsafeRawBufferPointer(start: buf, count: count))
            count = 0
        }
    }

    @inline(__always) mutating func byte(_ b: UInt8) {
        reserve(1)
        buf[count] = b
        count += 1
    }

    @inline(__always) mutating func bytes(_ p: UnsafeRawBufferPointer) {
        reserve(p.count)
        if let base = p.baseAddress { (buf + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: p.count) }
        count += p.count
    }

    @inline(__always) mutating func raw(_ s: StaticString) {
        bytes(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func rawString(_ s: String) {
        var s = s
        s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    mutating func integer(_ v: Int64) {
        reserve(20)
        var m = v.magnitude
        if v < 0 { buf[count] = UInt8(ascii: "-"); count += 1 }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let n: Int = withUnsafeMutableBytes(of: &tmp) { t in
            var k = 0
            repeat {
                t[23 - k] = UInt8(m % 10) &+ 0x30
                m /= 10
                k += 1
            } while m != 0
            (buf + count).update(from: t.baseAddress!.assumingMemoryBound(to: UInt8.self) + 24 - k, count: k)
            return k
        }
        count += n
    }

    mutating func newline() {
        guard pretty else { return }
        let width = 2 * level
        reserve(width + 8)
        buf[count] = 0x0A
        count += 1
        var k = 0
        while k < width {
            UnsafeMutableRawPointer(buf + count + k).storeBytes(of: 0x2020_2020_2020_2020 as UInt64, as: UInt64.self)
            k += 8
        }
        count += width
    }

    private static let hex: StaticString = "0123456789abcdef"

    mutating func string(_ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ stringBytes($0) }) == nil {
            var copy = s
            copy.withUTF8 { stringBytes($0) }
        }
    }

    /// Writes a JSON string literal for UTF-8 bytes; clean runs are copied 8 bytes at a time.
    mutating func stringBytes(_ u: UnsafeBufferPointer<UInt8>) {
        let n = u.count
        reserve(n + 2)
        buf[count] = 0x22
        count += 1
        guard let src = u.baseAddress else { byte(0x22); return }
        var j = 0
        while true {
            // Fast path: 8 bytes with no '"', '\', control character or DEL.
            while j + 8 <= n {
                let w = UnsafeRawPointer(src + j).loadUnaligned(as: UInt64.self)
                let lo: UInt64 = 0x0101_0101_0101_0101
                let hi: UInt64 = 0x8080_8080_8080_8080
                let lt20 = (w &- lo &* 0x20) & ~w & hi
                let q = w ^ (lo &* 0x22), bs = w ^ (lo &* 0x5C), del = w ^ (lo &* 0x7F)
                let special = lt20 | ((q &- lo) & ~q & hi) | ((bs &- lo) & ~bs & hi) | ((del &- lo) & ~del & hi)
                if special != 0 { break }
                UnsafeMutableRawPointer(buf + count).storeBytes(of: w, as: UInt64.self)
                count += 8
                j += 8
            }
            if j >= n { break }
            // A short clean tail: copy the last 8 bytes (overlapping what was written).
            if n >= 8 && n - j < 8 {
                let w = UnsafeRawPointer(src + n - 8).loadUnaligned(as: UInt64.self)
                let lo: UInt64 = 0x0101_0101_0101_0101
                let hi: UInt64 = 0x8080_8080_8080_8080
                let lt20 = (w &- lo &* 0x20) & ~w & hi
                let q = w ^ (lo &* 0x22), bs = w ^ (lo &* 0x5C), del = w ^ (lo &* 0x7F)
                let special = lt20 | ((q &- lo) & ~q & hi) | ((bs &- lo) & ~bs & hi) | ((del &- lo) & ~del & hi)
                if special == 0 {
                    UnsafeMutableRawPointer(buf + count - (8 - (n - j))).storeBytes(of: w, as: UInt64.self)
                    count += n - j
                    break
                }
            }
            let b = src[j]
            j += 1
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F {
                buf[count] = b
                count += 1
                continue
            }
            reserve(6 + (n - j))
            buf[count] = 0x5C
            switch b {
            case 0x22: buf[count + 1] = 0x22; count += 2
            case 0x5C: buf[count + 1] = 0x5C; count += 2
            case 0x0A: buf[count + 1] = UInt8(ascii: "n"); count += 2
            case 0x0D: buf[count + 1] = UInt8(ascii: "r"); count += 2
            case 0x09: buf[count + 1] = UInt8(ascii: "t"); count += 2
            case 0x08: buf[count + 1] = UInt8(ascii: "b"); count += 2
            case 0x0C: buf[count + 1] = UInt8(ascii: "f"); count += 2
            default:
                buf[count + 1] = UInt8(ascii: "u")
                buf[count + 2] = 0x30
                buf[count + 3] = 0x30
                buf[count + 4] = Self.hex.utf8Start[Int(b >> 4)]
                buf[count + 5] = Self.hex.utf8Start[Int(b & 15)]
                count += 6
            }
        }
        byte(0x22)
    }

    mutating func beginObject() { byte(UInt8(ascii: "{")); level += 1 }
    mutating func endObject(empty: Bool) {
        level -= 1
        if !empty { newline() }
        byte(UInt8(ascii: "}"))
    }
    mutating func beginArray() { byte(UInt8(ascii: "[")); level += 1 }
    mutating func endArray(empty: Bool) {
        level -= 1
        if !empty { newline() }
        byte(UInt8(ascii: "]"))
    }
    mutating func key(_ k: String, first: Bool) {
        if !first { byte(UInt8(ascii: ",")) }
        maybeFlush()
        newline()
        string(k)
        if pretty { raw(": ") } else { byte(UInt8(ascii: ":")) }
    }
    mutating func element(first: Bool) {
        if !first { byte(UInt8(ascii: ",")) }
        maybeFlush()
        newline()
    }
}

// MARK: - Tagged JSON (toml-test)

/// toml-test's typed JSON: every leaf is `{"type": "...", "value": "..."}`, tables are
/// JSON objects and arrays are JSON arrays.
public enum TOMLTaggedJSON {
    public static func encode(_ table: TOMLTable, pretty: Bool = false) -> String {
        var w = _JSONWriter(pretty: pretty, capacity: 4096)
        writeTable(table, &w)
        return w.finish()
    }

    /// Streams the tagged JSON in chunks (about 64 KB each) to `write`.
    public static func write(_ table: TOMLTable, pretty: Bool = false, to write: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = _JSONWriter(pretty: pretty, capacity: 1 << 17)
        w.sink = write
        writeTable(table, &w)
        w.finishStreaming()
    }

    static func writeTable(_ t: TOMLTable, _ w: inout _JSONWriter) {
        w.beginObject()
        let entries = t._entries
        for i in 0..<entries.count {
            w.key(entries[i].key, first: i == 0)
            writeValue(entries[i].value, &w)
        }
        w.endObject(empty: entries.isEmpty)
    }

    static func writeValue(_ v: TOMLValue, _ w: inout _JSONWriter) {
        func leaf(_ type: StaticString, _ value: String) {
            w.raw("{\"type\":\"")
            w.raw(type)
            w.raw("\",\"value\":")
            w.string(value)
            w.byte(UInt8(ascii: "}"))
        }
        switch v {
        case .string(let s): leaf("string", s)
        case .integer(let i): leaf("integer", String(i))
        case .float(let d): leaf("float", TOMLSerializer.formatFloat(d))
        case .boolean(let b): leaf("bool", b ? "true" : "false")
        case .datetime(let d):
            let s = TOMLSerializer.formatDateTime(d)
            switch d.kind {
            case .offsetDateTime: leaf("datetime", s)
            case .localDateTime: leaf("datetime-local", s)
            case .localDate: leaf("date-local", s)
            case .localTime: leaf("time-local", s)
            }
        case .array(let a):
            w.beginArray()
            for (j, e) in a.enumerated() {
                w.element(first: j == 0)
                writeValue(e, &w)
            }
            w.endArray(empty: a.isEmpty)
        case .table(let t):
            writeTable(t, &w)
        }
    }

    /// Decodes tagged JSON into a table. Errors are `ConfigError`.
    public static func decode(_ json: String, file: String? = nil) throws -> TOMLTable {
        let v = try _JSONReader.parse(json, file: file)
        guard case .object = v else {
            throw ConfigError(ConfigProblem(file: file, message: "tagged JSON: the top level must be an object"))
        }
        guard case .table(let t) = try decodeValue(v, path: [], file: file) else {
            throw ConfigError(ConfigProblem(file: file, message: "tagged JSON: the top level must be a table"))
        }
        return t
    }

    static func decodeValue(_ v: _JSONValue, path: [TOMLPathComponent], file: String?) throws -> TOMLValue {
        func bad(_ m: String) -> ConfigError {
            ConfigError(ConfigProblem(file: file, keyPath: TOMLPathComponent.render(path), message: "tagged JSON: " + m))
        }
        switch v {
        case .array(let items):
            var out: [TOMLValue] = []
            out.reserveCapacity(items.count)
            for (j, e) in items.enumerated() { out.append(try decodeValue(e, path: path + [.index(j)], file: file)) }
            return .array(out)
        case .object(let pairs):
            if case .string(let type)? = v["type"], pairs.count == 2, case .string(let value)? = v["value"] {
                switch type {
                case "string": return .string(value)
                case "integer":
                    guard let i = Int64(value) else { throw bad("invalid integer '\(value)'") }
                    return .integer(i)
                case "float":
                    switch value {
                    case "inf", "+inf": return .float(.infinity)
                    case "-inf": return .float(-.infinity)
                    case "nan", "+nan", "-nan": return .float(.nan)
                    default:
                        guard let d = Double(value) else {
                            throw bad("invalid float '\(value)'")
                        }
                        return .float(d)
                    }
                case "bool":
                    if value == "true" { return .boolean(true) }
                    if value == "false" { return .boolean(false) }
                    throw bad("invalid bool '\(value)'")
                case "datetime", "datetime-local", "date-local", "time-local":
                    guard let d = _TOMLParse.parseDateTime(value), d.kind.rawValue == type else {
                        throw bad("invalid \(type) '\(value)'")
                    }
                    return .datetime(d)
                default:
                    throw bad("unknown type '\(type)'")
                }
            }
            var table = TOMLTable()
            for (k, e) in pairs {
                if table[k] != nil { throw bad("duplicate key '\(Names.printable(k))'") }
                table[k] = try decodeValue(e, path: path + [.key(k)], file: file)
            }
            return .table(table)
        default:
            throw bad("expected an object or an array")
        }
    }
}

// MARK: - Plain JSON

/// A plain JSON rendering of TOML data for users: integers, floats and booleans as JSON
/// numbers and booleans, date-times as strings in TOML/RFC 3339 form, non-finite floats
/// as the strings "inf", "-inf" and "nan", keys in document order.
public enum TOMLJSON {
    public static func encode(_ table: TOMLTable, pretty: Bool = true) -> String {
        var w = _JSONWriter(pretty: pretty, capacity: 4096)
        writeTable(table, &w)
        return w.finish()
    }

    /// Streams the JSON rendering in chunks (about 64 KB each) to `write`, without
    /// building the whole text in memory. A trailing newline is not added.
    public static func write(_ table: TOMLTable, pretty: Bool = true, to write: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = _JSONWriter(pretty: pretty, capacity: 1 << 17)
        w.sink = write
        writeTable(table, &w)
        w.finishStreaming()
    }

    /// A JSON string literal, quotes included (for JSON built by hand, e.g. JOSE headers
    /// whose member order matters).
    public static func string(_ s: String) -> String {
        var w = _JSONWriter(pretty: false)
        w.string(s)
        return w.finish()
    }

    /// Renders one value (a table, array or scalar).
    public static func encode(_ value: TOMLValue, pretty: Bool = true) -> String {
        var w = _JSONWriter(pretty: pretty)
        writeValue(value, &w)
        return w.finish()
    }

    static func writeTable(_ t: TOMLTable, _ w: inout _JSONWriter) {
        w.beginObject()
        let entries = t._entries
        for i in 0..<entries.count {
            w.key(entries[i].key, first: i == 0)
            writeValue(entries[i].value, &w)
        }
        w.endObject(empty: entries.isEmpty)
    }

    static func writeValue(_ v: TOMLValue, _ w: inout _JSONWriter) {
        switch v {
        case .string(let s): w.string(s)
        case .integer(let i): w.integer(i)
        case .float(let d):
            if d.isFinite { w.rawString(TOMLSerializer.formatFloat(d)) } else { w.string(TOMLSerializer.formatFloat(d)) }
        case .boolean(let b): if b { w.raw("true") } else { w.raw("false") }
        case .datetime(let d): w.string(TOMLSerializer.formatDateTime(d))
        case .array(let a):
            w.beginArray()
            for (j, e) in a.enumerated() {
                w.element(first: j == 0)
                writeValue(e, &w)
            }
            w.endArray(empty: a.isEmpty)
        case .table(let t):
            writeTable(t, &w)
        }
    }
}
