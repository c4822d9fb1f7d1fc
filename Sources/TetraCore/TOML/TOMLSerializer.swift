/// Values → TOML text that always reads back to the same values.
///
/// Sub-tables become `[a.b]` sections, arrays whose elements are all tables become
/// `[[x]]` sections; everything nested inside an inline value (arrays, inline tables)
/// is written inline.
public enum TOMLSerializer {
    /// Serializes a whole document.
    public static func serialize(_ table: TOMLTable) -> String {
        var out = ""
        emit(table, path: [], arrayElement: false, into: &out)
        return out
    }

    /// Serializes `table` as the contents of the table at `path` (its `[path]` header
    /// and any sub-table sections). Used to append new sections to a document.
    public static func serialize(_ table: TOMLTable, at path: [String]) -> String {
        var out = ""
        emit(table, path: path, arrayElement: false, into: &out, forceHeader: !path.isEmpty)
        return out
    }

    /// Serializes the elements of an array of tables at `path` as `[[path]]` sections.
    public static func serializeArrayOfTables(_ tables: [TOMLTable], at path: [String]) -> String {
        var out = ""
        for t in tables { emit(t, path: path, arrayElement: true, into: &out) }
        return out
    }

    /// True when a value is written as sections rather than inline: tables, and
    /// non-empty arrays whose elements are all tables.
    static func isSection(_ v: TOMLValue) -> Bool {
        switch v {
        case .table: return true
        case .array(let a): return isArrayOfTables(a)
        default: return false
        }
    }

    static func isArrayOfTables(_ a: [TOMLValue]) -> Bool {
        guard !a.isEmpty else { return false }
        for e in a { guard case .table = e else { return false } }
        return true
    }

    private static func emit(_ t: TOMLTable, path: [String], arrayElement: Bool, into out: inout String, forceHeader: Bool = false) {
        var simple: [(String, TOMLValue)] = []
        var sections: [(String, TOMLValue)] = []
        for (k, v) in t {
            if isSection(v) { sections.append((k, v)) } else { simple.append((k, v)) }
        }
        if !path.isEmpty {
            if arrayElement {
                if !out.isEmpty { out += "\n" }
                out += "[[" + formatKeyPath(path) + "]]\n"
            } else if forceHeader || !simple.isEmpty || sections.isEmpty {
                if !out.isEmpty { out += "\n" }
                out += "[" + formatKeyPath(path) + "]\n"
            }
        }
        for (k, v) in simple {
            out += formatKey(k)
            out += " = "
            appendValue(v, to: &out)
            out += "\n"
        }
        for (k, v) in sections {
            switch v {
            case .table(let sub):
                emit(sub, path: path + [k], arrayElement: false, into: &out)
            case .array(let elems):
                for e in elems {
                    if case .table(let sub) = e { emit(sub, path: path + [k], arrayElement: true, into: &out) }
                }
            default:
                break
            }
        }
    }

    /// A single value in inline form (`"x"`, `42`, `[1, 2]`, `{ a = 1 }`).
    public static func formatValue(_ v: TOMLValue) -> String {
        var out = ""
        appendValue(v, to: &out)
        return out
    }

    static func appendValue(_ v: TOMLValue, to out: inout String) {
        switch v {
        case .string(let s): appendString(s, to: &out)
        case .integer(let i): out += String(i)
        case .float(let d): out += formatFloat(d)
        case .boolean(let b): out += b ? "true" : "false"
        case .datetime(let d): out += formatDateTime(d)
        case .array(let a):
            out += "["
            for (j, e) in a.enumerated() {
                if j > 0 { out += ", " }
                appendValue(e, to: &out)
            }
            out += "]"
        case .table(let t):
            if t.isEmpty { out += "{}"; return }
            out += "{ "
            var first = true
            for (k, e) in t {
                if !first { out += ", " }
                first = false
                out += formatKey(k)
                out += " = "
                appendValue(e, to: &out)
            }
            out += " }"
        }
    }

    /// A key, bare when possible, otherwise a quoted basic string.
    public static func formatKey(_ k: String) -> String {
        if isBareKey(k) { return k }
        var out = ""
        appendBasicString(k, to: &out)
        return out
    }

    /// A dotted key path (`a."b.c".d`).
    public static func formatKeyPath(_ path: [String]) -> String {
        path.map(formatKey).joined(separator: ".")
    }

    static func isBareKey(_ k: String) -> Bool {
        if k.isEmpty { return false }
        for b in k.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// A string value: a literal string when that avoids escapes (`'C:\dir'`), otherwise
    /// a basic string with escapes.
    public static func formatString(_ s: String) -> String {
        var out = ""
        appendString(s, to: &out)
        return out
    }

    static func appendString(_ s: String, to out: inout String) {
        var needsEscape = false
        var literalOK = true
        for b in s.utf8 {
            if b == UInt8(ascii: "\\") || b == UInt8(ascii: "\"") {
                needsEscape = true
            } else if b == UInt8(ascii: "'") || b < 0x20 || b == 0x7F {
                literalOK = false
                break
            }
        }
        if needsEscape && literalOK && !s.unicodeScalars.contains(where: needsUnicodeEscape) {
            out += "'"
            out += s
            out += "'"
            return
        }
        appendBasicString(s, to: &out)
    }

    static func needsUnicodeEscape(_ u: Unicode.Scalar) -> Bool {
        if u.value < 0x20 || u.value == 0x7F { return true }
        if u.value < 0x80 { return false }
        switch u.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned:
            return true
        default:
            return false
        }
    }

    static func appendBasicString(_ s: String, to out: inout String) {
        out += "\""
        var plainStart = s.unicodeScalars.startIndex
        let scalars = s.unicodeScalars
        var idx = scalars.startIndex
        while idx < scalars.endIndex {
            let u = scalars[idx]
            var esc: String? = nil
            switch u {
            case "\"": esc = "\\\""
            case "\\": esc = "\\\\"
            case "\u{08}": esc = "\\b"
            case "\t": esc = "\\t"
            case "\n": esc = "\\n"
            case "\u{0C}": esc = "\\f"
            case "\r": esc = "\\r"
            default:
                if needsUnicodeEscape(u) {
                    let h = String(u.value, radix: 16, uppercase: true)
                    if u.value <= 0xFFFF {
                        esc = "\\u" + String(repeating: "0", count: 4 - h.count) + h
                    } else {
                        esc = "\\U" + String(repeating: "0", count: 8 - h.count) + h
                    }
                }
            }
            if let esc {
                out.unicodeScalars.append(contentsOf: scalars[plainStart..<idx])
                out += esc
                plainStart = scalars.index(after: idx)
            }
            idx = scalars.index(after: idx)
        }
        out.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        out += "\""
    }

    /// A float that reads back exactly: `inf`, `-inf`, `nan`, `-0.0`, `1.5`, `1e+100`.
    public static func formatFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let s = d.description
        if s.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return s
        }
        return s + ".0"
    }

    /// A date-time in its kind: `1979-05-27T07:32:00Z`, `1979-05-27`, `07:32:00.5`.
    public static func formatDateTime(_ d: TOMLDateTime) -> String {
        var out = ""
        func pad(_ v: Int, _ width: Int) {
            let s = String(v)
            if s.count < width { out += String(repeating: "0", count: width - s.count) }
            out += s
        }
        if let date = d.date {
            pad(date.year, 4); out += "-"; pad(date.month, 2); out += "-"; pad(date.day, 2)
            if d.time != nil { out += "T" }
        }
        if let time = d.time {
            pad(time.hour, 2); out += ":"; pad(time.minute, 2); out += ":"; pad(time.second, 2)
            if !time.fraction.isEmpty { out += "."; out += time.fraction }
            if d.date != nil, let off = d.offsetMinutes {
                if off == 0 {
                    out += "Z"
                } else {
                    out += off < 0 ? "-" : "+"
                    pad(abs(off) / 60, 2); out += ":"; pad(abs(off) % 60, 2)
                }
            }
        }
        return out
    }
}
