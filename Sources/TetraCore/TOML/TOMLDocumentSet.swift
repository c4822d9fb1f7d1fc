import FoundationEssentials
import Glibc
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

// Editing a TOMLDocument, part one: the helpers every edit uses and `set`. `remove`,
// `append` and `addTable` are in TOMLDocumentEdits.swift.

// MARK: - Editing

extension TOMLDocument {
    var newline: String {
        if let i = bytes.firstIndex(of: 0x0A), i > 0, bytes[i - 1] == 0x0D { return "\r\n" }
        return "\n"
    }

    func editError(_ path: [TOMLPathComponent], _ message: String) -> ConfigError {
        ConfigError(ConfigProblem(file: fileName, keyPath: TOMLPathComponent.render(path), message: message))
    }

    func lines(_ text: String) -> String {
        newline == "\n" ? text : text.replacingAll("\n", with: "\r\n")
    }

    /// Applies byte-range replacements (non-overlapping), re-parses and checks the result.
    mutating func commit(_ edits: [(Range<Int>, String)], expected: TOMLTable?) throws {
        try commit(edits, anyOf: expected.map { [$0] } ?? [])
    }

    /// Like `commit(_:expected:)`, accepting any of several results (none: no check).
    mutating func commit(_ edits: [(Range<Int>, String)], anyOf expected: [TOMLTable]) throws {
        var out = bytes
        // From the end, so offsets stay valid; insertions at the same offset keep their order.
        let ordered = edits.enumerated().sorted {
            $0.element.0.lowerBound != $1.element.0.lowerBound
                ? $0.element.0.lowerBound > $1.element.0.lowerBound : $0.offset > $1.offset
        }
        for (_, (r, text)) in ordered {
            out.replaceSubrange(r, with: Array(text.utf8))
        }
        out.append(0)
        let rec = _TOMLRecorder()
        let doc: TOMLDocument
        do {
            doc = try TOMLDocument(sentinelTerminated: out, fileName: fileName, recorder: rec)
        } catch let e as ConfigError {
            throw ConfigError(e.problems.map { var p = $0; p.message = "edit produced invalid TOML: " + p.message; return p })
        }
        if !expected.isEmpty && !expected.contains(doc.table) {
            throw ConfigError(ConfigProblem(file: fileName, message: "edit could not be applied without changing other values"))
        }
        self = doc
    }

    func keyText(_ parts: ArraySlice<TOMLPathComponent>) -> String {
        parts.map { c -> String in
            if case .key(let k) = c { return TOMLSerializer.formatKey(k) }
            return "?"
        }.joined(separator: ".")
    }

    func isHeaderAOT(_ path: [TOMLPathComponent]) -> Bool {
        index.headerByPath[path + [.index(0)]] != nil && index.rec.headers[index.headerByPath[path + [.index(0)]]!].isArray
    }

    /// Checks that every index in the path refers to the last element of a [[header]] array.
    func addressableByHeader(_ path: [TOMLPathComponent]) -> [String]? {
        var keys: [String] = []
        for (j, c) in path.enumerated() {
            switch c {
            case .key(let k): keys.append(k)
            case .index(let i):
                let arrPath = Array(path[..<j])
                guard isHeaderAOT(arrPath), case .array(let a)? = TOMLValue.table(table).value(at: arrPath[...]),
                      i == a.count - 1 else { return nil }
            }
        }
        return keys
    }

    /// Text that appends sections at the end of the document.
    func appendAtEnd(_ sectionText: String) -> (Range<Int>, String) {
        var prefix = ""
        let n = bytes.count
        if n > 0 {
            if bytes[n - 1] != 0x0A { prefix += newline }
            // A blank line before the new section.
            let endsWithBlank: Bool = {
                guard n >= 1, bytes[n - 1] == 0x0A else { return false }
                var i = n - 2
                if i >= 0 && bytes[i] == 0x0D { i -= 1 }
                return i < 0 || bytes[i] == 0x0A
            }()
            if !endsWithBlank { prefix += newline }
        }
        return (n..<n, prefix + lines(sectionText))
    }

    /// Sections for a new table (or array of tables) at `path`, or nil when the value is not a table.
    func sectionsText(for value: TOMLValue, at keys: [String]) -> String? {
        switch value {
        case .table(let t):
            return TOMLSerializer.serialize(t, at: keys)
        case .array(let a) where TOMLSerializer.isArrayOfTables(a):
            return TOMLSerializer.serializeArrayOfTables(a.map { $0.tableValue! }, at: keys)
        default:
            return nil
        }
    }

    // MARK: set

    /// Sets the value at `path`: replaces an existing value in place (keeping the key
    /// text, surrounding whitespace and trailing comment), or inserts the key into the
    /// table that holds it (after its last key/value line, with the same indentation), or
    /// creates the table (`[a.b]` appended at the end of the document).
    public mutating func set(_ path: [String], to value: TOMLValue) throws {
        try set(resolve(path), to: value)
    }

    public mutating func set(_ pcs: [TOMLPathComponent], to value: TOMLValue) throws {
        guard let last = pcs.last else { throw editError(pcs, "cannot replace the whole document") }
        var expected = TOMLValue.table(table)
        guard expected.setValue(value, at: pcs[...]) else {
            throw editError(pcs, "cannot set '\(TOMLPathComponent.render(pcs))': \(describeObstacle(pcs))")
        }
        let expectedTable = expected.tableValue!
        let idx = index
        // An existing key/value or array element: replace the value text.
        if let e = idx.entry(pcs) {
            let en = idx.rec.entries[e]
            try commit([(en.valueStart..<en.valueEnd, TOMLSerializer.formatValue(value))], expected: expectedTable)
            return
        }
        if let existing = TOMLValue.table(table).value(at: pcs[...]) {
            // A table defined by headers or dotted keys, or an array of tables.
            if case .table(let old) = existing, case .table(let new) = value {
                for k in old.keys where new[k] == nil { _ = try remove(pcs + [.key(k)]) }
                for (k, v) in new where self.value(atPath: pcs + [.key(k)]) != v {
                    try set(pcs + [.key(k)], to: v)
                }
                return
            }
            _ = try remove(pcs)
            try set(pcs, to: value)
            return
        }
        let parent = Array(pcs.dropLast())
        guard case .key(let key) = last else {
            // An index one past the end appends.
            if case .index(let i) = last, case .array(let a)? = self.value(atPath: parent), i == a.count {
                try append(parent, value)
                return
            }
            throw editError(pcs, "index out of range")
        }
        try insertNew(parent: parent, keys: [key], value: value, expected: expectedTable)
    }

    func value(atPath path: [TOMLPathComponent]) -> TOMLValue? {
        TOMLValue.table(table).value(at: path[...])
    }

    func describeObstacle(_ pcs: [TOMLPathComponent]) -> String {
        var cur: TOMLValue = .table(table)
        for (j, c) in pcs.enumerated() {
            switch (c, cur) {
            case (.key(let k), .table(let t)):
                guard let v = t[k] else { return "a parent does not exist" }
                cur = v
            case (.index(let i), .array(let a)):
                guard i < a.count else { return "index \(i) is out of range" }
                cur = a[i]
            default:
                let at = TOMLPathComponent.render(Array(pcs[..<j]))
                return "'\(at)' is \(cur.article.replacingAll("an inline table", with: "a table"))"
            }
        }
        return "invalid path"
    }

    /// Where a table is defined in the source.
    enum TableSite {
        case root
        case section(Int)
        case inline(Int)                                   // entry whose value is the inline table
        case dotted(entry: Int, base: [TOMLPathComponent]) // defined by dotted keys relative to `base`
        case implicit                                      // only created by sub-table headers
    }

    /// The site of the table at `t`, or nil when it cannot hold new keys (a value that is not
    /// an inline table, an array of tables as a whole).
    func site(of t: [TOMLPathComponent]) -> TableSite? {
        let idx = index
        if t.isEmpty { return .root }
        if let e = idx.entry(t) { return idx.rec.entries[e].valueKind == 2 ? .inline(e) : nil }
        if let h = idx.headerByPath[t] {
            if !idx.rec.headers[h].isArray { return .section(h) }
            if case .index? = t.last { return .section(h) }
            return nil
        }
        if case .array? = value(atPath: t) { return nil }
        var found: TableSite? = nil
        for (i, e) in idx.rec.entries.enumerated() where e.kind == .keyValue && e.path.count > t.count
            && Array(e.path.prefix(t.count)) == t {
            let base = e.container == -1 ? idx.sectionPath(e.section) : idx.rec.entries[e.container].path
            if base.count < t.count && Array(t.prefix(base.count)) == base { found = .dotted(entry: i, base: base) }
        }
        return found ?? .implicit
    }

    func keysOnly(_ p: ArraySlice<TOMLPathComponent>) -> [String]? {
        var out: [String] = []
        for c in p {
            guard case .key(let k) = c else { return nil }
            out.append(k)
        }
        return out
    }

    /// Inserts `keys` (relative dotted key) = value under the table at `parent`.
    mutating func insertNew(parent: [TOMLPathComponent], keys: [String], value: TOMLValue, expected: TOMLTable) throws {
        let idx = index
        let full = parent + keys.map { .key($0) }
        let file = fileName
        let refuse = { (why: String) -> ConfigError in
            ConfigError(ConfigProblem(file: file, keyPath: TOMLPathComponent.render(full),
                                      message: "cannot set '\(TOMLPathComponent.render(full))': \(why)"))
        }
        guard let pv = self.value(atPath: parent) else {
            // The table does not exist: find the deepest existing ancestor.
            var a = parent
            while !a.isEmpty && self.value(atPath: a) == nil { a.removeLast() }
            guard case .table? = self.value(atPath: a) else {
                throw refuse("'\(TOMLPathComponent.render(a))' is \(self.value(atPath: a).map(Self.article) ?? "missing")")
            }
            guard let rest = keysOnly(parent[a.count...]) else { throw refuse("index out of range") }
            switch site(of: a) {
            case .inline(let e)?:
                try insertIntoInline(e, keys: rest + keys, value: value, expected: expected)
            case .dotted(let e, let base)? where idx.rec.entries[e].container != -1:
                let rel = keysOnly(a[base.count...]) ?? []
                try insertIntoInline(idx.rec.entries[e].container, keys: rel + rest + keys, value: value, expected: expected)
            case nil:
                throw refuse("'\(TOMLPathComponent.render(a))' cannot hold new keys")
            default:
                try appendTable(at: parent, keys: keys, value: value, expected: expected)
            }
            return
        }
        guard case .table = pv else {
            throw refuse("'\(TOMLPathComponent.render(parent))' is \(Self.article(pv))")
        }
        switch site(of: parent) {
        case .root?:
            try insertIntoSection(-1, keys: keys, value: value, expected: expected)
        case .section(let h)?:
            try insertIntoSection(h, keys: keys, value: value, expected: expected)
        case .inline(let e)?:
            try insertIntoInline(e, keys: keys, value: value, expected: expected)
        case .dotted(let e, let base)?:
            let rel = keysOnly(parent[base.count...]) ?? []
            let en = idx.rec.entries[e]
            if en.container != -1 {
                try insertIntoInline(en.container, keys: rel + keys, value: value, expected: expected)
            } else if let hp = addressableByHeader(parent), let sections = sectionsText(for: value, at: hp + keys) {
                try commit([appendAtEnd(sections)], expected: expected)
            } else {
                try insertLine(after: e, section: en.section, keys: rel + keys, value: value, expected: expected)
            }
        case .implicit?:
            try appendTable(at: parent, keys: keys, value: value, expected: expected)
        case nil:
            throw refuse("'\(TOMLPathComponent.render(parent))' cannot hold new keys")
        }
    }

    static func article(_ v: TOMLValue) -> String {
        if case .table = v { return "a table" }
        return v.article
    }

    mutating func appendTable(at parent: [TOMLPathComponent], keys: [String], value: TOMLValue, expected: TOMLTable) throws {
        let full = parent + keys.map { .key($0) }
        guard let headerPath = addressableByHeader(parent) else {
            throw editError(full, "cannot create a table inside an element of an array that is not the last one")
        }
        var text: String
        if let sections = sectionsText(for: value, at: headerPath + keys) {
            text = sections
        } else {
            var t = TOMLTable()
            var v = value
            for k in keys.dropFirst().reversed() {
                var wrap = TOMLTable()
                wrap[k] = v
                v = .table(wrap)
            }
            t[keys[0]] = v
            if keys.count > 1 {
                // Keep a scalar under a dotted key on one line.
                text = "[" + TOMLSerializer.formatKeyPath(headerPath) + "]\n"
                    + keys.map(TOMLSerializer.formatKey).joined(separator: ".") + " = " + TOMLSerializer.formatValue(value) + "\n"
            } else {
                text = TOMLSerializer.serialize(t, at: headerPath)
            }
        }
        try commit([appendAtEnd(text)], expected: expected)
    }

    /// Inserts `keys = value` as a new line in a section (-1: root).
    mutating func insertIntoSection(_ h: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
        let idx = index
        let sp = idx.sectionPath(h)
        if let headerPath = addressableByHeader(sp), let sections = sectionsText(for: value, at: headerPath + keys) {
            try commit([appendAtEnd(sections)], expected: expected)
            return
        }
        let entries = idx.topLevelEntries(section: h)
        if let last = entries.last {
            try insertLine(after: last, section: h, keys: keys, value: value, expected: expected)
            return
        }
        let line = keys.map(TOMLSerializer.formatKey).joined(separator: ".") + " = " + TOMLSerializer.formatValue(value)
        if h >= 0 {
            let hd = idx.rec.headers[h]
            let indent = String(decoding: bytes[hd.lineStart..<hd.start], as: UTF8.self)
            var at = hd.lineEnd
            var prefix = ""
            if at >= bytes.count && (bytes.last.map { $0 != 0x0A } ?? false) { prefix = newline; at = bytes.count }
            try commit([(at..<at, prefix + indent + line + newline)], expected: expected)
            return
        }
        // Root without key/values: before the first header (and its comments), or at the end.
        if idx.rec.headers.isEmpty {
            var prefix = ""
            if let b = bytes.last, b != 0x0A { prefix = newline }
            try commit([(bytes.count..<bytes.count, prefix + line + newline)], expected: expected)
        } else {
            let at = idx.attachedStart(ofHeader: 0)
            try commit([(at..<at, line + newline + newline)], expected: expected)
        }
    }

    /// Inserts a line after the top-level entry `after`, with its indentation.
    mutating func insertLine(after: Int, section: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
        let idx = index
        let e = idx.rec.entries[after]
        let indent = String(decoding: bytes[e.lineStart..<e.keyStart], as: UTF8.self)
        var prefix = ""
        let at = e.lineEnd
        if at >= bytes.count, let b = bytes.last, b != 0x0A { prefix = newline }
        let line = indent + keys.map(TOMLSerializer.formatKey).joined(separator: ".") + " = " + TOMLSerializer.formatValue(value)
        try commit([(at..<at, prefix + line + newline)], expected: expected)
    }

    /// Inserts `keys = value` into the inline table of entry `e`.
    mutating func insertIntoInline(_ e: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
        let idx = index
        let en = idx.rec.entries[e]
        let text = keys.map(TOMLSerializer.formatKey).joined(separator: ".") + " = " + TOMLSerializer.formatValue(value)
        let kids = idx.children(of: e)
        if let last = kids.last {
            let at = idx.rec.entries[last].valueEnd
            try commit([(at..<at, ", " + text)], expected: expected)
        } else {
            try commit([((en.valueStart + 1)..<(en.valueEnd - 1), " " + text + " ")], expected: expected)
        }
    }
}
