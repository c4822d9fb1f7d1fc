import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

/// A TOML document that keeps every byte of its source (comments, blank lines, key
/// order, quoting, number formats, whitespace): `render()` of an untouched document is
/// byte-identical to the input. Edits splice only the bytes they change and re-parse.
public struct TOMLDocument: Sendable {
    /// The source (valid UTF-8).
    public private(set) var bytes: [UInt8]
    /// The decoded value.
    public private(set) var table: TOMLTable
    /// The file name used in error messages.
    public var fileName: String?
    private var box: _TOMLIndexBox

    /// Parses TOML text. Errors are `ConfigError` (exit 3) with `line:column`.
    public init(parsing text: String, fileName: String? = nil) throws {
        try self.init(bytes: Array(text.utf8), fileName: fileName)
    }

    /// Parses UTF-8 bytes. Errors are `ConfigError` (exit 3) with `line:column`.
    public init(bytes: [UInt8], fileName: String? = nil) throws {
        var b = bytes
        b.reserveCapacity(b.count + 1)
        b.append(0)
        try self.init(sentinelTerminated: b, fileName: fileName)
    }

    /// Parses UTF-8 data (one copy, no per-byte iteration).
    public init(data: Data, fileName: String? = nil) throws {
        try self.init(sentinelTerminated: _TOMLBytes.sentinelTerminated(data), fileName: fileName)
    }

    init(sentinelTerminated b: [UInt8], fileName: String?, recorder: _TOMLRecorder? = nil) throws {
        var b = b
        table = try _TOMLParse.run(sentinelTerminated: b, file: fileName, recorder: recorder)
        b.removeLast()
        bytes = b
        self.fileName = fileName
        box = _TOMLIndexBox()
        if let recorder { box.set(_TOMLIndex(recorder: recorder, bytes: b)) }
    }

    /// Reads and parses a file; errors name the file (`displayName` if given, else the path).
    /// A missing file is `CoreError.notFound` (exit 4); a parse error is `ConfigError` (exit 3).
    public init(contentsOfFile path: String, displayName: String? = nil) throws {
        let bytes = try TOMLDocument.readFile(path, extra: 1)
        try self.init(sentinelTerminated: bytes, fileName: displayName ?? path)
    }

    /// Reads a whole file into memory followed by `extra` zero bytes.
    static func readFile(_ path: String, extra: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            let err = errno
            if err == ENOENT { throw CoreError.notFound(what: "file", name: path) }
            throw ConfigError(ConfigProblem(file: path, message: "cannot read file: \(String(cString: strerror(err)))"))
        }
        defer { close(fd) }
        var st = stat()
        var size = 0
        if fstat(fd, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw ConfigError(ConfigProblem(file: path, message: "cannot read file: it is a directory"))
            }
            if (st.st_mode & S_IFMT) == S_IFREG { size = Int(st.st_size) }
        }
        var out = [UInt8]()
        // Read directly into the array's storage when the size is known.
        if size > 0 {
            out = [UInt8](unsafeUninitializedCapacity: size + extra) { buf, initialized in
                var done = 0
                while done < size {
                    let r = read(fd, buf.baseAddress! + done, size - done)
                    if r < 0 { if errno == EINTR { continue }; break }
                    if r == 0 { break }
                    done += r
                }
                initialized = done
            }
        }
        // Whatever is left (files whose size is unknown or that grew).
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
            if r < 0 {
                if errno == EINTR { continue }
                throw ConfigError(ConfigProblem(file: path, message: "cannot read file: \(String(cString: strerror(errno)))"))
            }
            if r == 0 { break }
            out.append(contentsOf: chunk[0..<r])
        }
        for _ in 0..<extra { out.append(0) }
        return out
    }

    // MARK: rendering

    /// The document text.
    public func render() -> String { String(decoding: bytes, as: UTF8.self) }
    /// The document bytes.
    public func renderBytes() -> [UInt8] { bytes }

    /// Writes the document with the one atomic writer (a symlink followed, a special file
    /// refused), keeping the mode of an existing file.
    public func write(toFile path: String) throws {
        var st = stat()
        let mode = stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o644
        try AtomicFile.write(Data(bytes), to: path, mode: mode)
    }

    // MARK: positions

    var index: _TOMLIndex {
        box.get {
            let rec = _TOMLRecorder()
            // The document parsed before, so this cannot fail.
            _ = try? _TOMLParse.run(bytes, file: nil, recorder: rec)
            return _TOMLIndex(recorder: rec, bytes: bytes)
        }
    }

    /// Position of the value of the key at `path` (for a table: where it is defined).
    /// Components that are integers index into arrays (`["servers", "0", "name"]`).
    public func position(of path: [String]) -> SourcePosition? {
        position(of: resolve(path))
    }

    /// Position of the value at `path` (for a table: its header or first key).
    public func position(of path: [TOMLPathComponent]) -> SourcePosition? {
        let idx = index
        if let e = idx.entry(path) { return idx.position(idx.rec.entries[e].valueStart) }
        if let off = idx.rec.tableOffsets[path] { return idx.position(off) }
        if path.isEmpty { return nil }
        return nil
    }

    /// Position of the key at `path` (for array elements: the element).
    public func keyPosition(of path: [TOMLPathComponent]) -> SourcePosition? {
        let idx = index
        if let e = idx.entry(path) {
            let en = idx.rec.entries[e]
            return idx.position(en.kind == .keyValue ? en.keyStart : en.valueStart)
        }
        if let h = idx.headerByPath[path] { return idx.position(idx.rec.headers[h].keyStart) }
        if let off = idx.rec.tableOffsets[path] { return idx.position(off) }
        return nil
    }

    /// Converts a `[String]` path to path components, treating integer components as
    /// array indices where the value at that point is an array.
    public func resolve(_ path: [String]) -> [TOMLPathComponent] {
        var out: [TOMLPathComponent] = []
        var cur: TOMLValue? = .table(table)
        for comp in path {
            if case .array(let a)? = cur, let i = Int(comp), i >= 0 {
                out.append(.index(i))
                cur = i < a.count ? a[i] : nil
            } else {
                out.append(.key(comp))
                if case .table(let t)? = cur { cur = t[comp] } else { cur = nil }
            }
        }
        return out
    }

    /// The value at a path.
    public func value(at path: [String]) -> TOMLValue? {
        TOMLValue.table(table).value(at: resolve(path)[...])
    }
}

enum _TOMLBytes {
    /// The bytes of `data` followed by a 0 sentinel.
    static func sentinelTerminated(_ data: Data) -> [UInt8] {
        let n = data.count
        return [UInt8](unsafeUninitializedCapacity: n + 1) { buf, initialized in
            data.withUnsafeBytes { raw in
                if n > 0 { buf.baseAddress!.update(from: raw.bindMemory(to: UInt8.self).baseAddress!, count: n) }
            }
            buf[n] = 0
            initialized = n + 1
        }
    }
}

extension TOMLParser {
    /// Parses UTF-8 data (one copy, no per-byte iteration). Errors are `ConfigError` (exit 3).
    public static func parse(data: Data, file: String? = nil) throws -> TOMLTable {
        try _TOMLParse.run(sentinelTerminated: _TOMLBytes.sentinelTerminated(data), file: file, recorder: nil)
    }

    /// Reads and parses a file; a missing file is `CoreError.notFound` (exit 4).
    /// Large regular files are released behind the parser as it goes (see `_TOMLFileBuffer`);
    /// the result and the errors are the same.
    public static func parse(contentsOfFile path: String, displayName: String? = nil) throws -> TOMLTable {
        if let buffer = _TOMLFileBuffer.readIfLarge(path) {
            return try _TOMLParse.run(buffer: buffer, file: displayName ?? path)
        }
        return try _TOMLParse.run(sentinelTerminated: TOMLDocument.readFile(path, extra: 1), file: displayName ?? path, recorder: nil)
    }
}

// MARK: - Index

final class _TOMLIndexBox: @unchecked Sendable {
    private let lock = Lock()
    private var index: _TOMLIndex?

    func get(_ build: () -> _TOMLIndex) -> _TOMLIndex {
        lock.lock()
        defer { lock.unlock() }
        if let index { return index }
        let i = build()
        index = i
        return i
    }

    func set(_ i: _TOMLIndex) {
        lock.lock()
        index = i
        lock.unlock()
    }
}

/// Spans of every key, value and header of a document, by path.
final class _TOMLIndex: @unchecked Sendable {
    let rec: _TOMLRecorder
    let entryByPath: [[TOMLPathComponent]: Int]
    let headerByPath: [[TOMLPathComponent]: Int]
    let lineStarts: [Int]

    init(recorder: _TOMLRecorder, bytes: [UInt8]) {
        rec = recorder
        var e: [[TOMLPathComponent]: Int] = [:]
        for (i, en) in recorder.entries.enumerated() { e[en.path] = i }
        entryByPath = e
        var h: [[TOMLPathComponent]: Int] = [:]
        for (i, hd) in recorder.headers.enumerated() { h[hd.path] = i }
        headerByPath = h
        var ls = [0]
        for (i, b) in bytes.enumerated() where b == 0x0A { ls.append(i + 1) }
        lineStarts = ls
        self.bytes = bytes
    }

    let bytes: [UInt8]

    func entry(_ path: [TOMLPathComponent]) -> Int? { entryByPath[path] }

    func position(_ offset: Int) -> SourcePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        var col = 1
        var i = lineStarts[lo]
        while i < offset && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        return SourcePosition(line: lo + 1, column: col)
    }

    func lineStart(_ offset: Int) -> Int {
        let floor = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var i = offset
        while i > floor && bytes[i - 1] != 0x0A { i -= 1 }
        return i
    }

    /// Top-level key/value entries of a section (-1: root), in order.
    func topLevelEntries(section: Int) -> [Int] {
        var out: [Int] = []
        for (i, e) in rec.entries.enumerated() where e.container == -1 && e.kind == .keyValue && e.section == section {
            out.append(i)
        }
        return out
    }

    /// Direct children (key/values or elements) of the inline table or array of entry `c`.
    func children(of c: Int) -> [Int] {
        var out: [Int] = []
        for (i, e) in rec.entries.enumerated() where e.container == c { out.append(i) }
        return out
    }

    func sectionPath(_ section: Int) -> [TOMLPathComponent] {
        section < 0 ? [] : rec.headers[section].path
    }

    func isBlankOrComment(lineAt start: Int) -> (blank: Bool, comment: Bool) {
        var i = start
        while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        if i >= bytes.count || bytes[i] == 0x0A || bytes[i] == 0x0D { return (true, false) }
        return (false, bytes[i] == UInt8(ascii: "#"))
    }

    /// Start of the comment lines directly above a header (no blank line between),
    /// unless they reach the start of the file (a file comment).
    func attachedStart(ofHeader h: Int) -> Int {
        var start = rec.headers[h].lineStart
        var cur = start
        let floor = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while cur > floor {
            let prev = lineStart(cur - 1)
            let kind = isBlankOrComment(lineAt: prev)
            if kind.comment { cur = prev } else { break }
        }
        if cur == floor { return start }
        start = cur
        return start
    }

    /// The bytes of a section: from its header (with attached comments) to the next header.
    func sectionRange(_ h: Int) -> Range<Int> {
        let start = attachedStart(ofHeader: h)
        let end = h + 1 < rec.headers.count ? attachedStart(ofHeader: h + 1) : bytes.count
        return start..<max(start, end)
    }
}

// MARK: - Editing

extension TOMLDocument {
    private var newline: String {
        if let i = bytes.firstIndex(of: 0x0A), i > 0, bytes[i - 1] == 0x0D { return "\r\n" }
        return "\n"
    }

    private func editError(_ path: [TOMLPathComponent], _ message: String) -> ConfigError {
        ConfigError(ConfigProblem(file: fileName, keyPath: TOMLPathComponent.render(path), message: message))
    }

    private func lines(_ text: String) -> String {
        newline == "\n" ? text : text.replacingAll("\n", with: "\r\n")
    }

    /// Applies byte-range replacements (non-overlapping), re-parses and checks the result.
    private mutating func commit(_ edits: [(Range<Int>, String)], expected: TOMLTable?) throws {
        try commit(edits, anyOf: expected.map { [$0] } ?? [])
    }

    /// Like `commit(_:expected:)`, accepting any of several results (none: no check).
    private mutating func commit(_ edits: [(Range<Int>, String)], anyOf expected: [TOMLTable]) throws {
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

    private func keyText(_ parts: ArraySlice<TOMLPathComponent>) -> String {
        parts.map { c -> String in
            if case .key(let k) = c { return TOMLSerializer.formatKey(k) }
            return "?"
        }.joined(separator: ".")
    }

    private func isHeaderAOT(_ path: [TOMLPathComponent]) -> Bool {
        index.headerByPath[path + [.index(0)]] != nil && index.rec.headers[index.headerByPath[path + [.index(0)]]!].isArray
    }

    /// Checks that every index in the path refers to the last element of a [[header]] array.
    private func addressableByHeader(_ path: [TOMLPathComponent]) -> [String]? {
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
    private func appendAtEnd(_ sectionText: String) -> (Range<Int>, String) {
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
    private func sectionsText(for value: TOMLValue, at keys: [String]) -> String? {
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

    private func describeObstacle(_ pcs: [TOMLPathComponent]) -> String {
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
    private enum TableSite {
        case root
        case section(Int)
        case inline(Int)                                   // entry whose value is the inline table
        case dotted(entry: Int, base: [TOMLPathComponent]) // defined by dotted keys relative to `base`
        case implicit                                      // only created by sub-table headers
    }

    /// The site of the table at `t`, or nil when it cannot hold new keys (a value that is not
    /// an inline table, an array of tables as a whole).
    private func site(of t: [TOMLPathComponent]) -> TableSite? {
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

    private func keysOnly(_ p: ArraySlice<TOMLPathComponent>) -> [String]? {
        var out: [String] = []
        for c in p {
            guard case .key(let k) = c else { return nil }
            out.append(k)
        }
        return out
    }

    /// Inserts `keys` (relative dotted key) = value under the table at `parent`.
    private mutating func insertNew(parent: [TOMLPathComponent], keys: [String], value: TOMLValue, expected: TOMLTable) throws {
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

    private mutating func appendTable(at parent: [TOMLPathComponent], keys: [String], value: TOMLValue, expected: TOMLTable) throws {
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
    private mutating func insertIntoSection(_ h: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
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
    private mutating func insertLine(after: Int, section: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
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
    private mutating func insertIntoInline(_ e: Int, keys: [String], value: TOMLValue, expected: TOMLTable) throws {
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

    // MARK: remove

    /// Removes the key at `path` (its whole line, including a multi-line value; for a
    /// table, its sections). Returns whether it existed.
    @discardableResult
    public mutating func remove(_ path: [String]) throws -> Bool {
        try remove(resolve(path))
    }

    @discardableResult
    public mutating func remove(_ pcs: [TOMLPathComponent]) throws -> Bool {
        guard !pcs.isEmpty, value(atPath: pcs) != nil else { return false }
        var expected = TOMLValue.table(table)
        expected.removeValue(at: pcs[...])
        // Tables that only existed through the removed dotted key go away with it.
        var accepted = [expected.tableValue!]
        var pruned = expected
        var j = pcs.count - 1
        while j > 0, case .table(let t)? = pruned.value(at: pcs[..<j]), t.isEmpty {
            pruned.removeValue(at: pcs[..<j])
            accepted.append(pruned.tableValue!)
            j -= 1
        }
        let idx = index
        if let e = idx.entry(pcs) {
            let en = idx.rec.entries[e]
            if en.container == -1 {
                try commit([(en.lineStart..<en.lineEnd, "")], anyOf: accepted)
            } else {
                try commit([removeListItem(e)], anyOf: accepted)
            }
            return true
        }
        // A table or array of tables: its sections and any dotted key/values under it.
        var ranges: [Range<Int>] = []
        for (h, hd) in idx.rec.headers.enumerated() where hd.path.count >= pcs.count && Array(hd.path.prefix(pcs.count)) == pcs {
            ranges.append(idx.sectionRange(h))
        }
        func under(_ p: [TOMLPathComponent]) -> Bool { p.count > pcs.count && Array(p.prefix(pcs.count)) == pcs }
        var inlineItems: [Int] = []
        for (i, en) in idx.rec.entries.enumerated() where en.kind == .keyValue && under(en.path) {
            if en.container == -1 {
                let r = en.lineStart..<en.lineEnd
                if !ranges.contains(where: { $0.contains(r.lowerBound) }) { ranges.append(r) }
            } else if !under(idx.rec.entries[en.container].path) && idx.rec.entries[en.container].path != pcs {
                inlineItems.append(i)
            }
        }
        var edits: [(Range<Int>, String)] = []
        for c in Set(inlineItems.map { idx.rec.entries[$0].container }) {
            edits.append(contentsOf: removeItems(inlineItems.filter { idx.rec.entries[$0].container == c }))
        }
        // Trailing blank lines before a removed last section go too.
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for r in ranges {
            if let l = merged.last, l.upperBound >= r.lowerBound {
                merged[merged.count - 1] = l.lowerBound..<max(l.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        if var l = merged.last, l.upperBound == bytes.count {
            var s = l.lowerBound
            while s > 0 {
                let prev = idx.lineStart(s - 1)
                if idx.isBlankOrComment(lineAt: prev).blank && prev < s { s = prev } else { break }
            }
            l = s..<l.upperBound
            merged[merged.count - 1] = l
        }
        try commit(merged.map { ($0, "") } + edits, anyOf: accepted)
        return true
    }

    /// The range removing an element of an array or a key/value of an inline table.
    private func removeListItem(_ e: Int) -> (Range<Int>, String) {
        let idx = index
        let en = idx.rec.entries[e]
        let siblings = idx.children(of: en.container)
        let pos = siblings.firstIndex(of: e)!
        let start: (Int) -> Int = { i in
            let x = idx.rec.entries[i]
            return x.kind == .keyValue ? x.keyStart : x.valueStart
        }
        let container = idx.rec.entries[en.container]
        if siblings.count == 1 {
            return ((container.valueStart + 1)..<(container.valueEnd - 1), "")
        }
        // An element alone on its line in a multi-line array: remove the line.
        let ls = idx.lineStart(start(e))
        let beforeBlank = bytes[ls..<start(e)].allSatisfy { $0 == 0x20 || $0 == 0x09 }
        if beforeBlank && container.valueKind == 1 {
            var j = en.valueEnd
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
            if j < bytes.count && bytes[j] == UInt8(ascii: ",") { j += 1 }
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
            if j < bytes.count && bytes[j] == UInt8(ascii: "#") { while j < bytes.count && bytes[j] != 0x0A { j += 1 } }
            if j < bytes.count && bytes[j] == 0x0D { j += 1 }
            if j < bytes.count && bytes[j] == 0x0A {
                return (ls..<(j + 1), "")
            }
        }
        if pos < siblings.count - 1 {
            return (start(e)..<start(siblings[pos + 1]), "")
        }
        let prev = idx.rec.entries[siblings[pos - 1]]
        return (prev.valueEnd..<en.valueEnd, "")
    }

    /// Ranges removing several items of the same array or inline table.
    private func removeItems(_ items: [Int]) -> [(Range<Int>, String)] {
        let idx = index
        guard let first = items.first else { return [] }
        let container = idx.rec.entries[first].container
        if items.count == 1 { return [removeListItem(first)] }
        let siblings = idx.children(of: container)
        let removed = Set(items)
        let start: (Int) -> Int = { i in
            let x = idx.rec.entries[i]
            return x.kind == .keyValue ? x.keyStart : x.valueStart
        }
        let c = idx.rec.entries[container]
        if siblings.allSatisfy({ removed.contains($0) }) {
            return [((c.valueStart + 1)..<(c.valueEnd - 1), "")]
        }
        var out: [(Range<Int>, String)] = []
        var j = 0
        while j < siblings.count {
            guard removed.contains(siblings[j]) else { j += 1; continue }
            var k = j
            while k + 1 < siblings.count && removed.contains(siblings[k + 1]) { k += 1 }
            if k + 1 < siblings.count {
                out.append((start(siblings[j])..<start(siblings[k + 1]), ""))
            } else {
                let prev = idx.rec.entries[siblings[j - 1]]
                out.append((prev.valueEnd..<idx.rec.entries[siblings[k]].valueEnd, ""))
            }
            j = k + 1
        }
        return out
    }

    // MARK: append

    /// Appends to an existing array, keeping its style (single-line arrays stay on one
    /// line; multi-line arrays get a new line with the same indentation and trailing-comma
    /// style). For an array of tables (`[[x]]`), adds a `[[x]]` section.
    public mutating func append(_ path: [String], _ value: TOMLValue) throws {
        try append(resolve(path), value)
    }

    public mutating func append(_ pcs: [TOMLPathComponent], _ value: TOMLValue) throws {
        guard let cur = self.value(atPath: pcs) else {
            throw editError(pcs, "cannot append to '\(TOMLPathComponent.render(pcs))': no such array")
        }
        guard case .array(var items) = cur else {
            throw editError(pcs, "cannot append to '\(TOMLPathComponent.render(pcs))': it is \(cur.article.replacingAll("an inline table", with: "a table")), not an array")
        }
        items.append(value)
        var expected = TOMLValue.table(table)
        _ = expected.setValue(.array(items), at: pcs[...])
        let expectedTable = expected.tableValue!
        let idx = index
        if let e = idx.entry(pcs), let info = idx.rec.arrays[e] {
            try commit(insertArrayItem(info, value), expected: expectedTable)
            return
        }
        if let e = idx.entry(pcs), idx.rec.entries[e].valueKind == 1 {
            throw editError(pcs, "cannot append to this array")
        }
        // An array of tables defined by [[headers]].
        guard case .table(let t) = value else {
            throw editError(pcs, "cannot append \(value.article.replacingAll("an inline table", with: "a table")) to an array of tables")
        }
        guard let keys = addressableByHeader(pcs) else {
            throw editError(pcs, "cannot append to this array of tables")
        }
        let text = TOMLSerializer.serializeArrayOfTables([t], at: keys)
        let lastHeader = idx.rec.headers.indices.last { h in
            let hp = idx.rec.headers[h].path
            return hp.count > pcs.count && Array(hp.prefix(pcs.count)) == pcs
        }
        if let lh = lastHeader {
            let end = idx.sectionRange(lh).upperBound
            if end < bytes.count {
                // Before the next section, separated by a blank line.
                var prefix = ""
                if end >= 2 && !(bytes[end - 1] == 0x0A && (bytes[end - 2] == 0x0A || (end >= 3 && bytes[end - 2] == 0x0D && bytes[end - 3] == 0x0A))) {
                    prefix = newline
                }
                try commit([(end..<end, prefix + lines(text) + newline)], expected: expectedTable)
                return
            }
        }
        try commit([appendAtEnd(text)], expected: expectedTable)
    }

    private func insertArrayItem(_ info: _TOMLRecorder.ArrayInfo, _ value: TOMLValue) -> [(Range<Int>, String)] {
        let text = TOMLSerializer.formatValue(value)
        let idx = index
        let multiLine = bytes[info.open..<info.close].contains(0x0A)
        guard let last = info.elements.last else {
            if !multiLine { return [((info.open + 1)..<info.close, text)] }
            let ls = idx.lineStart(info.close)
            let closeIndent = String(decoding: bytes[ls..<info.close].prefix { $0 == 0x20 || $0 == 0x09 }, as: UTF8.self)
            let onlyWS = bytes[ls..<info.close].allSatisfy { $0 == 0x20 || $0 == 0x09 }
            if onlyWS { return [(ls..<ls, closeIndent + "    " + text + "," + newline)] }
            return [(info.close..<info.close, newline + closeIndent + "    " + text + "," + newline)]
        }
        if !multiLine {
            var sep = ", "
            if info.elements.count > 1 {
                var j = info.elements[0].end
                while j < bytes.count && bytes[j] != UInt8(ascii: ",") { j += 1 }
                if j + 1 < bytes.count && bytes[j + 1] != 0x20 { sep = "," }
            }
            if let tc = info.trailingComma {
                return [((tc + 1)..<(tc + 1), (sep == "," ? "" : " ") + text + ",")]
            }
            return [(last.end..<last.end, sep + text)]
        }
        // Multi-line: indentation of the last element's line.
        let ls = idx.lineStart(last.start)
        let indentBytes = bytes[ls..<last.start]
        let indent: String
        if indentBytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
            indent = String(decoding: indentBytes, as: UTF8.self)
        } else {
            let fl = idx.lineStart(info.elements[0].start)
            indent = String(decoding: bytes[fl..<info.elements[0].start].prefix { $0 == 0x20 || $0 == 0x09 }, as: UTF8.self)
        }
        // End of the last element's line (before its newline).
        var j = info.trailingComma.map { $0 + 1 } ?? last.end
        var closeOnLine = false
        while j < bytes.count && bytes[j] != 0x0A {
            if j == info.close { closeOnLine = true; break }
            if bytes[j] == UInt8(ascii: "#") { while j < bytes.count && bytes[j] != 0x0A { j += 1 }; break }
            j += 1
        }
        if closeOnLine {
            if info.trailingComma != nil {
                let at = info.trailingComma! + 1
                return [(at..<at, newline + indent + text + ",")]
            }
            return [(last.end..<last.end, "," + newline + indent + text)]
        }
        let eol = (j > 0 && bytes[j - 1] == 0x0D) ? j - 1 : j
        if info.trailingComma != nil {
            return [(eol..<eol, newline + indent + text + ",")]
        }
        if eol == last.end { return [(eol..<eol, "," + newline + indent + text)] }
        return [(last.end..<last.end, ","), (eol..<eol, newline + indent + text)]
    }

    // MARK: tables

    /// Makes sure a table exists at `path`: adds a `[path]` header at the end of the
    /// document when it does not exist (or only exists implicitly); inside an inline table,
    /// adds `key = {}`.
    public mutating func addTable(_ path: [String]) throws {
        let pcs = resolve(path)
        guard let last = pcs.last else { return }
        if let v = value(atPath: pcs) {
            guard case .table = v else {
                throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': it already exists as \(Self.article(v))")
            }
            guard case .implicit? = site(of: pcs) else { return }
            guard let keys = addressableByHeader(pcs) else {
                throw editError(pcs, "cannot add a table inside an element of an array that is not the last one")
            }
            try commit([appendAtEnd("[" + TOMLSerializer.formatKeyPath(keys) + "]\n")], expected: table)
            return
        }
        guard case .key(let key) = last else {
            throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': index out of range")
        }
        var expected = TOMLValue.table(table)
        guard expected.setValue(.table(TOMLTable()), at: pcs[...]) else {
            throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': \(describeObstacle(pcs))")
        }
        try insertNew(parent: Array(pcs.dropLast()), keys: [key], value: .table(TOMLTable()), expected: expected.tableValue!)
    }
}

// MARK: - Value paths

extension TOMLValue {
    /// The value at a path of keys and indices.
    public func value(at path: ArraySlice<TOMLPathComponent>) -> TOMLValue? {
        var cur = self
        for c in path {
            switch (c, cur) {
            case (.key(let k), .table(let t)):
                guard let v = t[k] else { return nil }
                cur = v
            case (.index(let i), .array(let a)):
                guard i >= 0 && i < a.count else { return nil }
                cur = a[i]
            default:
                return nil
            }
        }
        return cur
    }

    /// Sets the value at a path, creating missing tables for keys. Returns false when a
    /// non-table value or a missing array element is in the way.
    mutating func setValue(_ v: TOMLValue, at path: ArraySlice<TOMLPathComponent>) -> Bool {
        guard let first = path.first else { self = v; return true }
        switch (first, self) {
        case (.key(let k), .table(var t)):
            var child = t[k] ?? .table(TOMLTable())
            if t[k] == nil && path.count > 1, case .index = path[path.startIndex + 1] { return false }
            guard child.setValue(v, at: path.dropFirst()) else { return false }
            t[k] = child
            self = .table(t)
            return true
        case (.index(let i), .array(var a)):
            if i == a.count && path.count == 1 { a.append(v); self = .array(a); return true }
            guard i >= 0 && i < a.count else { return false }
            var child = a[i]
            guard child.setValue(v, at: path.dropFirst()) else { return false }
            a[i] = child
            self = .array(a)
            return true
        default:
            return false
        }
    }

    /// Removes the value at a path (no-op when absent).
    mutating func removeValue(at path: ArraySlice<TOMLPathComponent>) {
        guard let first = path.first else { return }
        switch (first, self) {
        case (.key(let k), .table(var t)):
            if path.count == 1 {
                t[k] = nil
            } else if var child = t[k] {
                child.removeValue(at: path.dropFirst())
                t[k] = child
            }
            self = .table(t)
        case (.index(let i), .array(var a)):
            guard i >= 0 && i < a.count else { return }
            if path.count == 1 {
                a.remove(at: i)
            } else {
                var child = a[i]
                child.removeValue(at: path.dropFirst())
                a[i] = child
            }
            self = .array(a)
        default:
            return
        }
    }
}
