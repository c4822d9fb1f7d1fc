
// The TOML 1.0 engine — overview of the API:
//
//   TOMLParser.parse(_:file:) / parse(bytes:file:) / parse(data:file:) / parse(contentsOfFile:)
//       → TOMLTable. Fast path for reading values. Errors: ConfigError with line:column.
//   TOMLDocument(parsing:) / (bytes:) / (data:) / (contentsOfFile:displayName:)
//       Lossless document: render() is byte-identical; set/remove/append/addTable edit
//       only the affected lines; position(of:) gives value positions for messages.
//   TOMLDecoder().decode(T.self, from: document) → (T, warnings)   typed decoding
//   TOMLSerializer.serialize(table) / formatValue(value)            values → TOML text
//   TOMLJSON.encode(table, pretty:) / write(table, pretty:, to:)    plain JSON (write streams)
//   TOMLTaggedJSON.encode(table) / decode(json)                     toml-test's typed JSON
//
// A hand-written TOML 1.0 parser working on UTF-8 bytes.
//
// The parser builds a tree of reference-typed tables (`_PTable`) while it reads, so that
// `[a.b.c]` headers and dotted keys can extend tables without copy-on-write traffic, and
// converts that tree to the value model (`TOMLTable`) at the end. When a recorder is
// attached (document mode), it also records the byte spans of every key, value and
// header, which `TOMLDocument` uses for position lookups and in-place edits.

/// Entry points of the TOML parser.
public enum TOMLParser {
    /// Maximum nesting of tables, arrays and inline tables. Deeper documents are rejected
    /// with an error instead of exhausting the stack.
    public static let maxDepth = 512

    /// Parses TOML text into a table. Errors are `ConfigError` (exit 3) with `line:column`.
    public static func parse(_ text: String, file: String? = nil) throws -> TOMLTable {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Parses UTF-8 bytes into a table. Errors are `ConfigError` (exit 3) with `line:column`.
    public static func parse(bytes: [UInt8], file: String? = nil) throws -> TOMLTable {
        try _TOMLParse.run(bytes, file: file, recorder: nil)
    }
}

extension TOMLTable {
    /// Parses TOML text (see `TOMLParser.parse`).
    public init(parsing text: String, file: String? = nil) throws {
        self = try TOMLParser.parse(text, file: file)
    }
}

// MARK: - Path components

/// One step of a path inside a TOML document: a key, or an index into an array
/// (static arrays and arrays of tables alike).
public enum TOMLPathComponent: Sendable, Hashable, CustomStringConvertible {
    case key(String)
    case index(Int)

    public var description: String {
        switch self {
        case .key(let k): return TOMLSerializer.formatKey(k)
        case .index(let i): return "[\(i)]"
        }
    }

    /// Renders a path the way messages show it: `servers[1].name`, `a."b.c"`.
    public static func render(_ path: [TOMLPathComponent]) -> String {
        var out = ""
        for c in path {
            switch c {
            case .key(let k):
                if !out.isEmpty { out += "." }
                out += TOMLSerializer.formatKey(k)
            case .index(let i):
                out += "[\(i)]"
            }
        }
        return out
    }
}


// MARK: - Parser

enum _TOMLParse {
    static func run(_ input: [UInt8], file: String?, recorder: _TOMLRecorder?) throws -> TOMLTable {
        var bytes = input
        bytes.append(0) // sentinel: every scan stops at it
        return try run(sentinelTerminated: bytes, file: file, recorder: recorder)
    }

    /// `bytes` holds the document followed by one 0 byte.
    static func run(sentinelTerminated bytes: [UInt8], file: String?, recorder: _TOMLRecorder?) throws -> TOMLTable {
        let n = bytes.count - 1
        precondition(n >= 0 && bytes[n] == 0)
        do {
            do {
                return try runOnce(bytes, n: n, recorder: recorder, detailed: false)
            } catch is _RetryDetailed {
                return try runOnce(bytes, n: n, recorder: recorder, detailed: true)
            }
        } catch let e as _ParseFailure {
            throw ConfigError(ConfigProblem(file: file, position: _TOMLText.position(of: e.offset, in: bytes, count: n), message: e.message))
        }
    }

    private static func runOnce(_ bytes: [UInt8], n: Int, recorder: _TOMLRecorder?, detailed: Bool) throws -> TOMLTable {
        try bytes.withUnsafeBufferPointer { buf -> TOMLTable in
            var parser = _TOMLCore(p: buf.baseAddress!, n: n, recorder: recorder, detailed: detailed)
            try parser.parseDocument()
            return parser.root.toTable()
        }
    }

    /// Parses a file buffer (fast mode, no recorder), releasing its pages behind the cursor.
    static func run(buffer: _TOMLFileBuffer, file: String?) throws -> TOMLTable {
        do {
            do {
                return try runOnce(buffer, detailed: false)
            } catch is _RetryDetailed {
                return try runOnce(buffer, detailed: true)
            }
        } catch let e as _ParseFailure {
            buffer.restore()
            let position = _TOMLText.position(of: e.offset, in: UnsafeBufferPointer(start: buffer.base, count: buffer.count))
            throw ConfigError(ConfigProblem(file: file, position: position, message: e.message))
        }
    }

    private static func runOnce(_ buffer: _TOMLFileBuffer, detailed: Bool) throws -> TOMLTable {
        buffer.restore()
        var parser = _TOMLCore(p: buffer.base, n: buffer.count, recorder: nil, detailed: detailed)
        parser.source = buffer
        parser.nextRelease = buffer.window
        try parser.parseDocument()
        buffer.releaseAll()
        return parser.root.toTable()
    }
}

extension _TOMLParse {
    /// Parses a complete date-time string in any of the four TOML kinds ("1979-05-27T07:32:00Z").
    static func parseDateTime(_ s: String) -> TOMLDateTime? {
        var bytes = Array(s.utf8)
        let n = bytes.count
        guard n >= 8 else { return nil }
        bytes.append(0)
        return bytes.withUnsafeBufferPointer { buf -> TOMLDateTime? in
            var core = _TOMLCore(p: buf.baseAddress!, n: n, recorder: nil)
            guard let v = try? core.parseDateTime(), core.i == n, case .datetime(let d) = v else { return nil }
            return d
        }
    }
}
