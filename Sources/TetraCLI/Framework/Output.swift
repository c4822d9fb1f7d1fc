import FoundationEssentials
import Glibc
import TetraCore

/// Where output goes: a file descriptor, or a buffer (tests). Thread-safe.
public final class OutputSink: @unchecked Sendable {
    private let lock = Lock()
    private let fd: Int32?
    private var buffer = Data()

    /// Writes to a file descriptor (1: stdout, 2: stderr).
    public init(fileDescriptor: Int32) { self.fd = fileDescriptor }
    /// Captures into memory.
    public init() { self.fd = nil }

    public func write(_ text: String) {
        guard !text.isEmpty else { return }
        var text = text
        text.withUTF8 { write(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Writes bytes as they are (streamed output: no intermediate String or Data).
    public func write(bytes raw: UnsafeRawBufferPointer) {
        guard raw.count > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        if let fd {
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return } // EPIPE: reader went away
                offset += n
            }
        } else {
            buffer.append(raw.bindMemory(to: UInt8.self))
        }
    }

    /// Captured text (buffer sinks only).
    public var captured: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// ANSI styling, enabled only on a terminal without NO_COLOR (or with --color always).
public struct Style: Sendable {
    public var enabled: Bool
    public init(enabled: Bool) { self.enabled = enabled }

    func wrap(_ s: String, _ code: String) -> String { enabled ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    public func bold(_ s: String) -> String { wrap(s, "1") }
    public func red(_ s: String) -> String { wrap(s, "31") }
    public func green(_ s: String) -> String { wrap(s, "32") }
    public func yellow(_ s: String) -> String { wrap(s, "33") }
    public func dim(_ s: String) -> String { wrap(s, "2") }

    /// Colours a status word the way operators expect.
    public func status(_ s: String) -> String {
        switch s {
        case "ok", "running", "healthy", "correct", "clean", "valid", "present", "delivered": return green(s)
        case "warning", "starting", "unhealthy", "drift", "stale", "behind", "dirty", "pending": return yellow(s)
        case "error", "failed", "crashloop", "missing", "conflict", "problem", "firing": return red(s)
        default: return s
        }
    }
}

/// Aligned columns; on a terminal, the widest column is truncated to fit the width.
public struct TableRenderer: Sendable {
    public var headers: [String]
    public var rows: [[String]]
    public init(headers: [String], rows: [[String]]) {
        self.headers = headers
        self.rows = rows
    }

    /// - Parameters:
    ///   - width: the terminal width, or nil when not a terminal (never truncate).
    ///   - style: applied to the header row and, via `colorize`, to cells.
    public func render(width: Int?, style: Style = Style(enabled: false),
                       colorize: ((Int, String) -> String)? = nil) -> String {
        let columnCount = headers.count
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < columnCount {
                widths[i] = max(widths[i], cell.count)
            }
        }
        if let width {
            // Shrink the widest columns until the table fits (min 8 chars a column).
            var total = widths.reduce(0, +) + 2 * (columnCount - 1)
            while total > width {
                guard let (i, w) = widths.enumerated().max(by: { $0.element < $1.element }), w > 8 else { break }
                widths[i] = w - 1
                total -= 1
            }
        }
        func fit(_ s: String, _ w: Int) -> String {
            if s.count <= w { return s }
            return String(s.prefix(max(0, w - 1))) + "…"
        }
        func line(_ cells: [String], isHeader: Bool) -> String {
            var parts: [String] = []
            for i in 0..<columnCount {
                let cell = fit(i < cells.count ? cells[i] : "", widths[i])
                let padded = i == columnCount - 1 ? cell : cell.padded(to: widths[i])
                if isHeader {
                    parts.append(style.bold(padded))
                } else if let colorize {
                    // Colour the text, keep the padding outside the escape codes.
                    let pad = String(repeating: " ", count: padded.count - cell.count)
                    parts.append(colorize(i, cell) + pad)
                } else {
                    parts.append(padded)
                }
            }
            var s = parts.joined(separator: "  ")
            while s.hasSuffix(" ") { s.removeLast() }
            return s + "\n"
        }
        var out = line(headers.map { $0.uppercased() }, isHeader: true)
        for row in rows { out += line(row, isHeader: false) }
        return out
    }
}

/// JSON encoding of results: stable key order, no escaped slashes.
public enum JSONOutput {
    public static func encode(_ value: any Encodable, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(AnyEncodable(value))
        return String(decoding: data, as: UTF8.self)
    }

    public static func error(_ error: any TetraError) -> String {
        struct Body: Encodable {
            let code: Int32
            let kind: String
            let message: String
            let hint: String?
            let problems: [ConfigProblem]?
        }
        struct Wrapper: Encodable { let error: Body }
        let problems = (error as? ConfigError)?.problems
        let body = Body(code: error.exitCode.rawValue, kind: error.kind, message: error.message,
                        hint: error.hint, problems: problems)
        return (try? encode(Wrapper(error: body), pretty: false))
            ?? #"{"error":{"code":1,"kind":"internal","message":"could not encode the error"}}"#
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// A TOML value as plain JSON inside a `--json` document (`env show` vars, `template show`
/// defaults): tables as objects, arrays as arrays, dates and times and non-finite floats
/// (`inf`, `nan`) as their TOML text, as `TOMLJSON` renders whole files.
struct EncodableTOML: Encodable {
    let value: TOMLValue
    init(_ value: TOMLValue) { self.value = value }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .table(let t):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in t { try c.encode(EncodableTOML(v), forKey: Key(stringValue: k)) }
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for v in items { try c.encode(EncodableTOML(v)) }
        case .string(let s):
            var c = encoder.singleValueContainer(); try c.encode(s)
        case .integer(let i):
            var c = encoder.singleValueContainer(); try c.encode(i)
        case .float(let d):
            var c = encoder.singleValueContainer()
            if d.isFinite { try c.encode(d) } else { try c.encode(TOMLSerializer.formatFloat(d)) }
        case .boolean(let b):
            var c = encoder.singleValueContainer(); try c.encode(b)
        case .datetime(let d):
            var c = encoder.singleValueContainer(); try c.encode(TOMLSerializer.formatDateTime(d))
        }
    }
}
