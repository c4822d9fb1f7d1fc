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

// MARK: - Internal tree

final class _PTable {
    /// Entries in document order. Open sub-tables and arrays of tables have a placeholder
    /// value and an entry in `kids`.
    @exclusivity(unchecked) var entries: [TOMLTable.Entry] = []
    /// Offset of the key that first defined each entry; only kept in detailed mode (used by
    /// "first defined at" messages).
    @exclusivity(unchecked) var offsets: [Int] = []
    /// Parallel to `entries` once the first child is added (empty before).
    @exclusivity(unchecked) var kids: [_PKid?] = []
    @exclusivity(unchecked) var map: _TOMLKeyIndex? = nil
    /// The keys' hashes, parallel to `entries` while there is a `map` (growing the map then
    /// needs no hashing).
    @exclusivity(unchecked) var hashes: [UInt32] = []
    let trackOffsets: Bool
    var definedByHeader = false
    /// Section in which dotted keys created or extended this table (-1: none).
    var dottedSection = -1
    let depth: Int
    /// Offset of the header / key that created it.
    var offset: Int

    init(depth: Int, offset: Int, trackOffsets: Bool, capacity: Int = 8) {
        self.depth = depth
        self.offset = offset
        self.trackOffsets = trackOffsets
        if capacity > 0 {
            entries.reserveCapacity(capacity)
            if trackOffsets { offsets.reserveCapacity(capacity) }
        }
    }

    @inline(__always)
    func find(_ key: String, hash: UInt32? = nil) -> Int? {
        if let map { return map.find(key, hash: hash ?? _TOMLKeyIndex.hash(key), in: entries) }
        var i = 0
        let n = entries.count
        while i < n {
            if entries[i].key == key { return i }
            i += 1
        }
        return nil
    }

    @inline(__always)
    func child(_ idx: Int) -> _PChild? {
        if kids.isEmpty { return nil }
        switch kids[idx] {
        case nil: return nil
        case .table(let t)?: return .table(t)
        case .arrayOfTables(let a)?: return .arrayOfTables(a)
        case .closed(let offset)?: return .table(reopen(idx, offset: Int(offset)))
        }
    }

    /// Replaces the open child table at `idx` by its value (a `[header]` table whose section
    /// ended, without sub-tables, in fast mode): the tree then holds no `_PTable` for it.
    func close(_ idx: Int) {
        guard idx < kids.count, case .table(let c)? = kids[idx], !c.trackOffsets, c.kids.isEmpty,
              c.definedByHeader, c.dottedSection == -1, c.offset <= Int(UInt32.max) else { return }
        kids[idx] = .closed(UInt32(c.offset))
        entries[idx].value = .table(c.toTable())
    }

    /// Turns a closed child back into an open table with the same state.
    @inline(never)
    func reopen(_ idx: Int, offset: Int) -> _PTable {
        let value = entries[idx].value
        entries[idx].value = .boolean(false)
        let c = _PTable(depth: depth + 1, offset: offset, trackOffsets: false, capacity: 0)
        c.definedByHeader = true
        if case .table(let t) = value {
            c.entries = t._entries
            if t._index != nil { c.buildMap() }
        }
        kids[idx] = .table(c)
        return c
    }

    /// Appends a new key (the caller checked that it is not present).
    @inline(__always)
    func append(_ key: String, _ value: TOMLValue, offset: Int, hash: UInt32? = nil) {
        if !kids.isEmpty { kids.append(nil) }
        appendKeyValue(key, value, offset: offset, hash: hash)
    }

    @inline(__always)
    func appendKeyValue(_ key: String, _ value: TOMLValue, offset: Int, hash: UInt32?) {
        let idx = entries.count
        if idx >= Self.slowGrowthFrom && idx == entries.capacity { growSlowly() }
        entries.append(TOMLTable.Entry(key: key, value: value))
        if trackOffsets { offsets.append(offset) }
        if map != nil {
            let h = hash ?? _TOMLKeyIndex.hash(key)
            hashes.append(h)
            map!.insert(hash: h, position: idx, hashes: hashes)
        } else if idx >= TOMLTable.indexThreshold {
            buildMap()
        }
    }

    /// Appends `key` unless present; returns the index of the existing key otherwise.
    @inline(__always)
    func appendIfAbsent(_ key: String, _ value: TOMLValue, offset: Int, hash: UInt32? = nil) -> Int? {
        if map != nil {
            let h = hash ?? _TOMLKeyIndex.hash(key)
            if let old = map!.find(key, hash: h, in: entries) { return old }
            append(key, value, offset: offset, hash: h)
            return nil
        }
        if let old = find(key) { return old }
        append(key, value, offset: offset)
        return nil
    }

    @inline(__always)
    func addChild(_ key: String, _ child: _PChild, offset: Int, hash: UInt32? = nil) {
        if kids.isEmpty {
            kids.reserveCapacity(entries.count + 8)
            for _ in 0..<entries.count { kids.append(nil) }
        }
        kids.append(_PKid(child))
        appendKeyValue(key, .boolean(false), offset: offset, hash: hash)
    }

    @inline(never)
    func buildMap() {
        hashes = entries.map { _TOMLKeyIndex.hash($0.key) }
        map = _TOMLKeyIndex(hashes: hashes)
    }

    /// Large tables grow by a quarter instead of doubling (less unused capacity in the tree).
    static let slowGrowthFrom = 2048

    @inline(never)
    func growSlowly() {
        let capacity = entries.count + entries.count / 4
        entries.reserveCapacity(capacity)
        if trackOffsets { offsets.reserveCapacity(capacity) }
        if !kids.isEmpty { kids.reserveCapacity(capacity) }
        if map != nil { hashes.reserveCapacity(capacity) }
    }

    /// Gives the arrays exactly their size, when the parser leaves the table's section
    /// (the table can still grow afterwards).
    func compact() {
        Self.shrink(&entries)
        Self.shrink(&offsets)
        Self.shrink(&kids)
    }

    /// Copies the elements into an array of exactly their count (the old one is released).
    @inline(__always)
    private static func shrink<T>(_ a: inout [T]) {
        let n = a.count
        guard a.capacity > n else { return }
        a = n == 0 ? [] : a.withUnsafeBufferPointer { Array($0) }
    }

    func toTable() -> TOMLTable {
        if !kids.isEmpty {
            for i in 0..<kids.count {
                if let c = kids[i], let v = c.toValue() { entries[i].value = v }
            }
            kids = []
        }
        let t = TOMLTable(_entries: entries, index: map)
        entries = []
        hashes = []
        return t
    }
}

/// Builds short ASCII strings directly in the stdlib's inline small-string form (16 bytes:
/// the bytes, then a discriminator byte `0xE0 | count` on 64-bit platforms). `works` checks
/// the layout once at startup; when it does not match, callers use `String(decoding:)`.
enum _SmallASCII {
    static let works: Bool = {
        guard MemoryLayout<String>.size == 16, MemoryLayout<Int>.size == 8 else { return false }
        let samples = ["", "a", "abc", "name", "services", "svc-00001-cache", "0123456789abcde", "A_b-9 \"'=.#"]
        for sample in samples {
            let bytes = Array(sample.utf8) + [0]
            let built = bytes.withUnsafeBufferPointer { make($0.baseAddress!, sample.utf8.count, readable: bytes.count) }
            var h1 = Hasher(), h2 = Hasher()
            h1.combine(built); h2.combine(sample)
            guard built == sample, built.utf8.count == sample.utf8.count, h1.finalize() == h2.finalize(),
                  Array(built.utf8) == Array(sample.utf8), built + "x" == sample + "x" else { return false }
        }
        return true
    }()

    /// `count` (at most 15) ASCII bytes at `p`; `readable` bytes may be read from `p`.
    @inline(__always)
    static func make(_ p: UnsafePointer<UInt8>, _ count: Int, readable: Int) -> String {
        var w0: UInt64 = 0, w1: UInt64 = 0
        let raw = UnsafeRawPointer(p)
        if count >= 8 {
            w0 = raw.loadUnaligned(as: UInt64.self)
            if count > 8 {
                w1 = raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) >> UInt64((16 - count) * 8)
            }
        } else if readable >= 8 {
            w0 = raw.loadUnaligned(as: UInt64.self) & ((1 << UInt64(count * 8)) &- 1)
        } else {
            for k in 0..<count { w0 |= UInt64(p[k]) << UInt64(8 * k) }
        }
        w1 |= UInt64(0xE0 | count) << 56
        return unsafeBitCast((w0, w1), to: String.self)
    }
}

/// A stack whose top elements move into a new array of exactly their count (the items of
/// arrays and inline tables being parsed; nested ones push above them).
final class _TOMLStack<T> {
    private var base: UnsafeMutablePointer<T>
    private var capacity = 16
    private(set) var count = 0

    init() { base = .allocate(capacity: 16) }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    @inline(__always)
    func push(_ v: __owned T) {
        if count == capacity { grow() }
        (base + count).initialize(to: v)
        count += 1
    }

    @inline(__always)
    subscript(i: Int) -> T { base[i] }

    @inline(__always)
    func keyAt(_ i: Int) -> String where T == TOMLTable.Entry { base[i].key }

    @inline(never)
    private func grow() {
        let bigger = UnsafeMutablePointer<T>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }

    /// Moves the elements from `start` up into an array of exactly their count.
    @inline(__always)
    func popArray(from start: Int) -> [T] {
        let k = count - start
        if k == 0 { return [] }
        // (Array(unsafeUninitializedCapacity:) would be a move, but it looks up the
        // array's type metadata on every call; a copy and a deinitialize cost less.)
        let out = Array(UnsafeBufferPointer(start: base + start, count: k))
        (base + start).deinitialize(count: k)
        count = start
        return out
    }

    /// Drops the elements from `start` up.
    func truncate(to start: Int) {
        (base + start).deinitialize(count: count - start)
        count = start
    }
}

extension _TOMLStack where T == TOMLTable.Entry {
    /// Whether an entry from `start` up has the key `k`.
    @inline(__always)
    func hasKey(_ k: String, from start: Int) -> Bool {
        var j = start
        while j < count {
            if keyAt(j) == k { return true }
            j += 1
        }
        return false
    }
}

/// Recently built small arrays and inline tables whose items are scalars (integers, floats,
/// booleans, strings; in practice strings of at most 15 bytes, see `raw`), by a hash of
/// their bytes: an identical
/// one later (the same `tags = ["web"]` or `env = { LOG = "info" }` in many sibling tables)
/// shares the earlier one's storage instead of allocating its own. Arrays are copy-on-write
/// values, so the sharing cannot be observed; equality here is byte-for-byte (strings are
/// not compared by Unicode equivalence, -0.0 is not 0.0), so nothing changes in the output.
/// A direct-mapped cache of 64 of each: a miss costs a hash of a few items.
final class _TOMLRecentValues {
    private var arrays: [[TOMLValue]] = []
    private var arrayHashes: [UInt64] = []
    private var tables: [[TOMLTable.Entry]] = []
    private var tableHashes: [UInt64] = []
    static let slots = 64
    static let maxItems = 8

    @inline(__always)
    private static func mix(_ h: UInt64, _ v: UInt64) -> UInt64 {
        let x = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
        return x ^ (x >> 29)
    }

    /// The string's two words. A string of at most 15 bytes is stored in them (the same
    /// bytes give the same words); a longer one holds a reference there, so it only ever
    /// matches itself. Equal words therefore always mean equal bytes.
    @inline(__always)
    private static func raw(_ s: String) -> (UInt64, UInt64) {
        unsafeBitCast(s, to: (UInt64, UInt64).self)
    }

    @inline(__always)
    private static func bits(_ s: String) -> UInt64? {
        let (a, b) = raw(s)
        return mix(mix(7, a), b)
    }

    /// A hash of a short scalar's kind and bytes; nil for anything else.
    @inline(__always)
    private static func bits(_ v: TOMLValue) -> UInt64? {
        switch v {
        case .integer(let x): return mix(1, UInt64(bitPattern: x))
        case .float(let d): return mix(2, d.bitPattern)
        case .boolean(let b): return b ? 3 : 4
        case .string(let s): return bits(s).map { mix(5, $0) }
        default: return nil
        }
    }

    @inline(__always)
    private static func same(_ a: String, _ b: String) -> Bool {
        raw(a) == raw(b)
    }

    @inline(__always)
    private static func same(_ a: TOMLValue, _ b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.integer(let x), .integer(let y)): return x == y
        case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
        case (.boolean(let x), .boolean(let y)): return x == y
        case (.string(let x), .string(let y)): return same(x, y)
        default: return false
        }
    }

    /// The array of the items from `start` up (popped), shared with an identical recent one.
    func array(_ stack: _TOMLStack<TOMLValue>, from start: Int) -> [TOMLValue] {
        share(stack, from: start, seed: 0, cache: &arrays, hashes: &arrayHashes, bits: Self.bits, same: Self.same)
    }

    /// The entries from `start` up (popped), shared with identical recent ones.
    func entries(_ stack: _TOMLStack<TOMLTable.Entry>, from start: Int) -> [TOMLTable.Entry] {
        share(stack, from: start, seed: 1 << 32, cache: &tables, hashes: &tableHashes,
              bits: { e in Self.bits(e.key).flatMap { kb in Self.bits(e.value).map { Self.mix(kb, $0) } } },
              same: { a, b in Self.same(a.key, b.key) && Self.same(a.value, b.value) })
    }

    /// Pops the items from `start` up as an array, or returns the identical one in `cache`
    /// (direct-mapped by a hash of the count, `seed` and every item's `bits`; an item without
    /// bits is never shared). A miss stores the new array in its slot.
    @inline(__always)
    private func share<E>(_ stack: _TOMLStack<E>, from start: Int, seed: UInt64, cache: inout [[E]], hashes: inout [UInt64],
                          bits: (E) -> UInt64?, same: (E, E) -> Bool) -> [E] {
        let k = stack.count - start
        guard k >= 1 && k <= Self.maxItems else { return stack.popArray(from: start) }
        var h: UInt64 = UInt64(k) | seed
        for j in start..<stack.count {
            guard let b = bits(stack[j]) else { return stack.popArray(from: start) }
            h = Self.mix(h, b)
        }
        if cache.isEmpty {
            cache = [[E]](repeating: [], count: Self.slots)
            hashes = [UInt64](repeating: 0, count: Self.slots)
        }
        let slot = Int(truncatingIfNeeded: h) & (Self.slots - 1)
        if hashes[slot] == h && cache[slot].count == k {
            let old = cache[slot]
            var equal = true
            for j in 0..<k where !same(old[j], stack[start + j]) { equal = false; break }
            if equal {
                stack.truncate(to: start)
                return old
            }
        }
        let a = stack.popArray(from: start)
        cache[slot] = a
        hashes[slot] = h
        return a
    }
}

/// Thrown in the fast mode when a message needs details the fast mode does not keep; the
/// document is parsed again in detailed mode, which throws the full error.
struct _RetryDetailed: Error {}

final class _PArrayOfTables {
    var tables: [_PTable] = []
    init() {}
}

enum _PChild {
    case table(_PTable)
    case arrayOfTables(_PArrayOfTables)
}

/// A child as `_PTable.kids` stores it.
enum _PKid {
    case table(_PTable)
    case arrayOfTables(_PArrayOfTables)
    /// A `[header]` table whose section ended (fast mode): its value is already in the
    /// parent's entry, and `child(_:)` turns it back into a `_PTable` when it is reopened.
    /// The payload is the offset of its header.
    case closed(UInt32)

    init(_ c: _PChild) {
        switch c {
        case .table(let t): self = .table(t)
        case .arrayOfTables(let a): self = .arrayOfTables(a)
        }
    }

    /// The value, or nil when it is already in the parent's entry.
    func toValue() -> TOMLValue? {
        switch self {
        case .table(let t): return .table(t.toTable())
        case .arrayOfTables(let a): return .array(a.tables.map { .table($0.toTable()) })
        case .closed: return nil
        }
    }
}

struct _ParseFailure: Error {
    var offset: Int
    var message: String
}

// MARK: - Recorder (document mode)

/// Spans recorded while parsing in document mode.
final class _TOMLRecorder {
    struct Header {
        var path: [TOMLPathComponent]
        var isArray: Bool
        var lineStart: Int
        var start: Int      // '['
        var keyStart: Int
        var keyEnd: Int
        var end: Int        // after the closing bracket(s)
        var lineEnd: Int    // after the newline
    }
    struct Entry {
        enum Kind { case keyValue, element }
        var kind: Kind
        var path: [TOMLPathComponent]
        var keyStart: Int
        var keyEnd: Int
        var keyParts: Int
        var valueStart: Int
        var valueEnd: Int
        /// Start of the line holding the key (top-level key/values only).
        var lineStart: Int
        /// After the newline ending the key/value line (top-level key/values only).
        var lineEnd: Int
        /// Header index of the section (-1: root section).
        var section: Int
        /// Index of the entry whose value (array or inline table) contains this one; -1 if top-level.
        var container: Int
        var valueKind: UInt8  // 0 scalar, 1 array, 2 inline table
    }
    struct ArrayInfo {
        var open: Int
        var close: Int          // offset of ']'
        var elements: [(start: Int, end: Int)]
        var trailingComma: Int? // offset of a comma after the last element
    }

    var headers: [Header] = []
    var entries: [Entry] = []
    var arrays: [Int: ArrayInfo] = [:]   // entry index -> array details
    /// Where each table was defined: header '[' offset, first dotted key, or inline '{'.
    var tableOffsets: [[TOMLPathComponent]: Int] = [:]
    var path: [TOMLPathComponent] = []
    var sectionPath: [TOMLPathComponent] = []
    var containerStack: [Int] = []
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

enum _TOMLText {
    /// 1-based line and column (in Unicode scalars) of a byte offset.
    static func position(of offset: Int, in bytes: [UInt8], count: Int? = nil) -> SourcePosition {
        bytes.withUnsafeBufferPointer { position(of: offset, in: UnsafeBufferPointer(rebasing: $0[0..<min(count ?? $0.count, $0.count)])) }
    }

    static func position(of offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> SourcePosition {
        var line = 1
        var lineStart = 0
        let end = min(offset, bytes.count)
        var i = 0
        while i < end {
            if bytes[i] == 0x0A { line += 1; lineStart = i + 1 }
            i += 1
        }
        var col = 1
        i = lineStart
        while i < end {
            if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        return SourcePosition(line: line, column: col)
    }

    /// First invalid UTF-8 byte, or nil.
    static func firstInvalidUTF8(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        var i = 0
        while i < n {
            if i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if w & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
            }
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            @inline(__always) func cont(_ j: Int) -> Bool { j < n && p[j] & 0xC0 == 0x80 }
            if b < 0xC2 { return i }
            if b < 0xE0 {
                guard cont(i + 1) else { return i }
                i += 2
            } else if b < 0xF0 {
                guard cont(i + 1), cont(i + 2) else { return i }
                let b1 = p[i + 1]
                if b == 0xE0 && b1 < 0xA0 { return i }
                if b == 0xED && b1 >= 0xA0 { return i }
                i += 3
            } else if b < 0xF5 {
                guard cont(i + 1), cont(i + 2), cont(i + 3) else { return i }
                let b1 = p[i + 1]
                if b == 0xF0 && b1 < 0x90 { return i }
                if b == 0xF4 && b1 >= 0x90 { return i }
                i += 4
            } else {
                return i
            }
        }
        return nil
    }
}

private let cQuote: UInt8 = 0x22      // "
private let cApos: UInt8 = 0x27       // '
private let cBackslash: UInt8 = 0x5C
private let cLF: UInt8 = 0x0A
private let cCR: UInt8 = 0x0D
private let cTab: UInt8 = 0x09
private let cSpace: UInt8 = 0x20
private let cHash: UInt8 = 0x23
private let cEq: UInt8 = 0x3D
private let cDot: UInt8 = 0x2E
private let cComma: UInt8 = 0x2C
private let cLBracket: UInt8 = 0x5B
private let cRBracket: UInt8 = 0x5D
private let cLBrace: UInt8 = 0x7B
private let cRBrace: UInt8 = 0x7D
private let cUnderscore: UInt8 = 0x5F
private let cPlus: UInt8 = 0x2B
private let cMinus: UInt8 = 0x2D
private let cColon: UInt8 = 0x3A

@inline(__always) private func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
@inline(__always) private func isHexDigit(_ c: UInt8) -> Bool {
    c &- 0x30 < 10 || (c | 0x20) &- 0x61 < 6
}
@inline(__always) private func hexValue(_ c: UInt8) -> UInt32 {
    c <= 0x39 ? UInt32(c - 0x30) : UInt32((c | 0x20) - 0x61 + 10)
}

private let bareKeyTable: [Bool] = {
    var t = [Bool](repeating: false, count: 256)
    for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
    for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
    for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
    t[Int(UInt8(ascii: "_"))] = true
    t[Int(UInt8(ascii: "-"))] = true
    return t
}()

struct _TOMLCore {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0
    let rec: _TOMLRecorder?
    let root: _PTable
    var current: _PTable
    /// Counts sections (each header starts a new one); inline tables get their own ids.
    var section = 0
    var nextSectionID = 1
    var headerIndex = -1
    var bomLength = 0
    /// The key parsed by `parseKey`: `key0` and `keyCount`; all parts in `keyParts` when dotted.
    var key0 = ""
    var key0Offset = 0
    /// Length of key0 in the source when it is a bare key (-1 when quoted).
    var key0BareLength = -1
    var keyCount = 0
    var keyParts: [String] = []
    var keyOffsets: [Int] = []
    var partsArray: [String] { keyCount == 1 ? [key0] : keyParts }

    var offsetsArray: [Int] { keyCount == 1 ? [key0Offset] : keyOffsets }
    var scratch: [UInt8] = []
    /// Whether short ASCII strings can be built directly (checked once per process).
    let smallStrings = _SmallASCII.works
    let maxDepth = TOMLParser.maxDepth
    let bareKey: [Bool] = bareKeyTable

    /// Detailed mode keeps what error messages need ("first defined at"); the fast mode
    /// re-parses in detailed mode when such an error occurs.
    let detailed: Bool

    /// The file buffer being parsed, whose pages are released behind the cursor (pages are
    /// only released before the start of the current top-level line; anything that looks
    /// further back calls `restore()` first).
    var source: _TOMLFileBuffer? = nil
    /// The table holding `current` and its index there, when `current` is a `[header]`
    /// table that can be closed when its section ends (fast mode only).
    var currentParent: _PTable? = nil
    var currentIndex = 0
    /// Capacity for the next new `[header]` table: the size of the section just left, as
    /// sibling tables tend to have the same number of keys (then it needs no trimming).
    var sizeHint = 8
    /// Scratch stacks for the items of arrays and inline tables being parsed.
    let valueStack = _TOMLStack<TOMLValue>()
    let entryStack = _TOMLStack<TOMLTable.Entry>()
    let recent = _TOMLRecentValues()
    /// Cursor offset at which to release the pages behind it next (never without a source).
    var nextRelease = Int.max

    init(p: UnsafePointer<UInt8>, n: Int, recorder: _TOMLRecorder?, detailed: Bool = false) {
        self.p = p
        self.n = n
        self.rec = recorder
        self.detailed = detailed || recorder != nil
        self.root = _PTable(depth: 0, offset: 0, trackOffsets: detailed || recorder != nil)
        self.current = root
        scratch.reserveCapacity(256)
        keyParts.reserveCapacity(8)
        keyOffsets.reserveCapacity(8)
    }

    // MARK: errors and descriptions

    func fail(_ message: String, at offset: Int? = nil) -> _ParseFailure {
        _ParseFailure(offset: offset ?? i, message: message)
    }

    /// Describes the character at `offset` for messages: 'x', newline, end of file, U+0007.
    func describe(at offset: Int) -> String {
        if offset >= n { return "end of file" }
        let c = p[offset]
        switch c {
        case cLF: return "newline"
        case cCR: return "carriage return"
        case cTab: return "tab"
        case cSpace: return "space"
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(c)))'"
        case 0..<0x20, 0x7F: return "control character \(Self.uplus(UInt32(c)))"
        default:
            var len = 1
            if c >= 0xF0 { len = 4 } else if c >= 0xE0 { len = 3 } else if c >= 0xC0 { len = 2 }
            len = min(len, n - offset)
            let s = String(decoding: UnsafeBufferPointer(start: p + offset, count: len), as: UTF8.self)
            if let sc = s.unicodeScalars.first, sc.properties.isWhitespace || !sc.properties.isAlphabetic {
                return "'\(s)' (\(Self.uplus(sc.value)))"
            }
            return "'\(s)'"
        }
    }

    static func uplus(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    func text(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: p + from, count: max(0, min(to, n) - from)), as: UTF8.self)
    }

    /// "line:column" of the key that first defined entry `idx` of `t`.
    func firstDefined(_ t: _PTable, _ idx: Int) throws -> String {
        guard detailed, idx < t.offsets.count else { throw _RetryDetailed() }
        return positionString(t.offsets[idx])
    }

    func positionString(_ offset: Int) -> String {
        source?.restore()
        var line = 1, lineStart = 0, j = 0
        while j < offset { if p[j] == cLF { line += 1; lineStart = j + 1 }; j += 1 }
        var col = 1
        j = lineStart
        while j < offset { if p[j] & 0xC0 != 0x80 { col += 1 }; j += 1 }
        return "\(line):\(col)"
    }

    func keyText(_ parts: ArraySlice<String>) -> String {
        parts.map { TOMLSerializer.formatKey($0) }.joined(separator: ".")
    }

    // MARK: whitespace, comments, newlines

    @inline(__always)
    mutating func skipWS() {
        while true {
            let c = p[i]
            if c == cSpace || c == cTab { i += 1 } else { return }
        }
    }

    /// Skips a comment starting at '#', up to (not including) the newline.
    @inline(never)
    mutating func skipComment() throws {
        i += 1
        while true {
            let c = p[i]
            if c >= 0x20 && c != 0x7F { i += 1; continue }  // includes UTF-8 bytes
            if c == cTab { i += 1; continue }
            if c == cLF { return }
            if c == cCR && p[i + 1] == cLF { return }
            if c == 0 && i >= n { return }
            throw fail("\(describe(at: i)) is not allowed in a comment")
        }
    }

    /// After a key/value or header: whitespace, an optional comment, then a newline or EOF.
    mutating func expectEndOfLine(after what: String) throws {
        skipWS()
        var c = p[i]
        if c == cHash { try skipComment(); c = p[i] }
        if c == cLF { i += 1; return }
        if c == cCR {
            if p[i + 1] == cLF { i += 2; return }
            throw fail("bare carriage return (expected a newline)")
        }
        if i >= n { return }
        throw fail("expected a newline after \(what), found \(describe(at: i))")
    }

    /// Inside arrays: whitespace, newlines and comments.
    @inline(__always)
    mutating func skipWSCommentsNewlines() throws {
        while true {
            let c = p[i]
            if c == cSpace || c == cTab || c == cLF { i += 1; continue }
            if c == cCR {
                if p[i + 1] == cLF { i += 2; continue }
                throw bareCarriageReturn()
            }
            if c == cHash { try skipComment(); continue }
            return
        }
    }

    @inline(never)
    func bareCarriageReturn() -> _ParseFailure {
        fail("bare carriage return (expected a newline)")
    }

    // MARK: document

    mutating func parseDocument() throws {
        if let bad = _TOMLText.firstInvalidUTF8(p, n) {
            throw fail("invalid UTF-8 byte 0x\(String(p[bad], radix: 16, uppercase: true))", at: bad)
        }
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3; bomLength = 3 }
        while true {
            if i >= nextRelease { releaseBehind() }
            skipWS()
            let c = p[i]
            if c == cLF { i += 1; continue }
            if c == cCR {
                if p[i + 1] == cLF { i += 2; continue }
                throw fail("bare carriage return (expected a newline)")
            }
            if c == cHash { try skipComment(); continue }
            if c == cLBracket { try parseHeader(); continue }
            if i >= n { return }
            try parseTopKeyValue()
        }
    }

    /// Releases the buffer's pages before the cursor (every `window` bytes).
    @inline(never)
    mutating func releaseBehind() {
        guard let source else { nextRelease = Int.max; return }
        source.release(before: i)
        nextRelease = i + source.window
    }

    // MARK: keys

    /// Parses a (possibly dotted) key into key0/keyCount (and keyParts/keyOffsets when
    /// dotted). Returns the end offset of the key.
    @inline(never)
    mutating func parseKey() throws -> Int {
        keyCount = 0
        while true {
            let start = i
            let c = p[i]
            let part: String
            if bareKey[Int(c)] {
                i += 1
                while bareKey[Int(p[i])] { i += 1 }
                part = asciiString(start, i - start)
            } else if c == cQuote {
                if p[i + 1] == cQuote && p[i + 2] == cQuote {
                    throw fail("multi-line strings cannot be used as keys")
                }
                part = try parseBasicString()
            } else if c == cApos {
                if p[i + 1] == cApos && p[i + 2] == cApos {
                    throw fail("multi-line strings cannot be used as keys")
                }
                part = try parseLiteralString()
            } else {
                if keyCount == 0 {
                    throw fail("expected a key, found \(describe(at: i))")
                }
                throw fail("expected a key after '.', found \(describe(at: i))")
            }
            if keyCount == 0 {
                key0 = part
                key0Offset = start
                key0BareLength = bareKey[Int(c)] ? i - start : -1
            } else {
                if keyCount == 1 {
                    keyParts.removeAll(keepingCapacity: true)
                    keyOffsets.removeAll(keepingCapacity: true)
                    keyParts.append(key0)
                    keyOffsets.append(key0Offset)
                }
                keyParts.append(part)
                keyOffsets.append(start)
            }
            keyCount += 1
            if keyCount > maxDepth {
                throw fail("key has too many parts (more than \(maxDepth))", at: start)
            }
            let end = i
            if p[i] == cSpace || p[i] == cTab { skipWS() }
            if p[i] == cDot {
                i += 1
                skipWS()
                continue
            }
            return end
        }
    }

    /// The String for `len` ASCII bytes at `start`: built directly in the inline small-string
    /// form when short (verified at startup, see `_SmallASCII`), else through the stdlib.
    @inline(__always)
    func asciiString(_ start: Int, _ len: Int) -> String {
        if len <= 15 && smallStrings {
            return _SmallASCII.make(p + start, len, readable: n + 1 - start)
        }
        return String(decoding: UnsafeBufferPointer(start: p + start, count: len), as: UTF8.self)
    }

    // MARK: headers

    mutating func parseHeader() throws {
        // The section being left usually gets no more keys: trim its spare capacity, and in
        // fast mode replace its table by its value (reopened if a later header needs it).
        let left = current.entries.count
        sizeHint = left >= 1 && left <= 64 ? left : 8
        current.compact()
        if let parent = currentParent {
            parent.close(currentIndex)
            currentParent = nil
        }
        let start = i
        let isArray = p[i + 1] == cLBracket
        i += isArray ? 2 : 1
        skipWS()
        let keyStart = i
        let keyEnd = try parseKey()
        if isArray {
            guard p[i] == cRBracket && p[i + 1] == cRBracket else {
                throw fail("expected ']]' to close the array-of-tables header, found \(describe(at: i))")
            }
            i += 2
        } else {
            guard p[i] == cRBracket else {
                throw fail("expected ']' to close the table header, found \(describe(at: i))")
            }
            i += 1
        }
        let end = i
        let parts = partsArray
        let offs = offsetsArray

        // Walk/create the intermediate tables.
        var t = root
        var path: [TOMLPathComponent] = []
        let recording = rec != nil
        for j in 0..<(parts.count - 1) {
            let k = parts[j]
            if recording { path.append(.key(k)) }
            if let idx = t.find(k) {
                switch t.child(idx) {
                case .table(let c)?:
                    t = c
                case .arrayOfTables(let a)?:
                    t = a.tables[a.tables.count - 1]
                    if recording { path.append(.index(a.tables.count - 1)) }
                case nil:
                    throw fail("cannot define table '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: offs[j])
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: offs[j]) }
                t.addChild(k, .table(c), offset: start)
                if let rec, rec.tableOffsets[path] == nil { rec.tableOffsets[path] = start }
                t = c
            }
        }
        let last = parts[parts.count - 1]
        if recording { path.append(.key(last)) }
        let lastOff = offs[parts.count - 1]
        if isArray {
            if let idx = t.find(last) {
                switch t.child(idx) {
                case .arrayOfTables(let a)?:
                    let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                    c.definedByHeader = true
                    a.tables.append(c)
                    if recording { path.append(.index(a.tables.count - 1)) }
                    current = c
                case .table?:
                    let name = keyText(parts[...])
                    throw fail("cannot define array of tables '\(name)': '\(name)' is already a table (defined at \(try firstDefined(t, idx)))", at: lastOff)
                case nil:
                    let name = keyText(parts[...])
                    throw fail("cannot define array of tables '\(name)': '\(name)' is already \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: lastOff)
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: lastOff) }
                c.definedByHeader = true
                let a = _PArrayOfTables()
                a.tables.append(c)
                t.addChild(last, .arrayOfTables(a), offset: start)
                if let rec { rec.tableOffsets[path] = start }
                if recording { path.append(.index(0)) }
                current = c
            }
        } else {
            if let idx = t.find(last) {
                switch t.child(idx) {
                case .table(let c)?:
                    if c.definedByHeader || c.dottedSection != -1 {
                        throw fail("table '\(keyText(parts[...]))' is already defined (at \(positionString(c.offset)))", at: start)
                    }
                    c.definedByHeader = true
                    c.offset = start
                    current = c
                    if !detailed { currentParent = t; currentIndex = idx }
                case .arrayOfTables?:
                    let name = keyText(parts[...])
                    throw fail("cannot define table '\(name)': '\(name)' is already an array of tables (defined at \(try firstDefined(t, idx)))", at: lastOff)
                case nil:
                    let name = keyText(parts[...])
                    throw fail("cannot define table '\(name)': '\(name)' is already \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: lastOff)
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed, capacity: sizeHint)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: lastOff) }
                c.definedByHeader = true
                t.addChild(last, .table(c), offset: start)
                current = c
                if !detailed { currentParent = t; currentIndex = t.entries.count - 1 }
            }
        }
        section = nextSectionID
        nextSectionID += 1
        try expectEndOfLine(after: "the table header")
        if let rec {
            var ls = start
            while ls > bomLength && p[ls - 1] != cLF { ls -= 1 }
            rec.headers.append(.init(path: path, isArray: isArray, lineStart: ls, start: start,
                                     keyStart: keyStart, keyEnd: keyEnd, end: end, lineEnd: i))
            headerIndex = rec.headers.count - 1
            rec.tableOffsets[path] = start
            rec.sectionPath = path
        }
    }

    // MARK: key/values

    mutating func parseTopKeyValue() throws {
        let keyStart = i
        let keyEnd = try parseKey()
        guard p[i] == cEq else {
            throw fail("expected '=' after key '\(keyText(partsArray[...]))', found \(describe(at: i))")
        }
        i += 1
        skipWS()
        if keyCount == 1 && rec == nil {
            // Capture the key before parsing the value: inline tables parse keys too.
            let k = key0, ko = key0Offset, kb = key0BareLength
            let value = try parseValue(depth: current.depth + 1)
            let cur = current
            let h: UInt32? = cur.map == nil ? nil : (kb >= 0 ? _TOMLKeyIndex.hash(p + ko, kb) : _TOMLKeyIndex.hash(k))
            if let idx = cur.appendIfAbsent(k, value, offset: ko, hash: h) {
                throw fail("duplicate key '\(TOMLSerializer.formatKey(k))' (first defined at \(try firstDefined(current, idx)))", at: ko)
            }
            try expectEndOfLine(after: "the value")
            return
        }
        let parts = partsArray
        let offs = offsetsArray
        let valueStart = i
        var entryIndex = -1
        if let rec {
            rec.path = rec.sectionPath
            for k in parts { rec.path.append(.key(k)) }
            entryIndex = rec.entries.count
            var ls = keyStart
            while ls > bomLength && p[ls - 1] != cLF { ls -= 1 }
            rec.entries.append(.init(kind: .keyValue, path: rec.path, keyStart: keyStart, keyEnd: keyEnd,
                                     keyParts: parts.count, valueStart: valueStart, valueEnd: valueStart,
                                     lineStart: ls, lineEnd: ls, section: headerIndex, container: -1, valueKind: 0))
            rec.containerStack.removeAll(keepingCapacity: true)
            rec.containerStack.append(entryIndex)
        }
        let value = try parseValue(depth: current.depth + parts.count)
        let valueEnd = i
        try insert(value, into: current, parts: parts, offsets: offs, section: section)
        try expectEndOfLine(after: "the value")
        if let rec {
            rec.entries[entryIndex].valueEnd = valueEnd
            rec.entries[entryIndex].lineEnd = i
            recordDottedTables(rec, base: rec.sectionPath, parts: parts, offsets: offs)
        }
    }

    @inline(never)
    func recordDottedTables(_ rec: _TOMLRecorder, base: [TOMLPathComponent], parts: [String], offsets: [Int]) {
        if parts.count < 2 { return }
        var path = base
        for j in 0..<(parts.count - 1) {
            path.append(.key(parts[j]))
            if rec.tableOffsets[path] == nil { rec.tableOffsets[path] = offsets[j] }
        }
    }

    /// Inserts a key/value (dotted keys create or extend tables) following TOML's rules.
    @inline(never)
    mutating func insert(_ value: TOMLValue, into table: _PTable, parts: [String], offsets: [Int], section: Int) throws {
        var t = table
        let count = parts.count
        if count > 1 {
            for j in 0..<(count - 1) {
                let k = parts[j]
                if let idx = t.find(k) {
                    switch t.child(idx) {
                    case .table(let c)?:
                        if c.definedByHeader {
                            throw fail("cannot add '\(keyText(parts[...]))' with dotted keys: table '\(keyText(parts[...j]))' is defined by a [table] header (at \(positionString(c.offset)))", at: offsets[j])
                        }
                        if c.dottedSection != -1 && c.dottedSection != section {
                            throw fail("cannot add '\(keyText(parts[...]))': table '\(keyText(parts[...j]))' was defined earlier (at \(positionString(c.offset))) and cannot be extended here", at: offsets[j])
                        }
                        c.dottedSection = section
                        t = c
                    case .arrayOfTables?:
                        throw fail("cannot add '\(keyText(parts[...]))' with dotted keys: '\(keyText(parts[...j]))' is an array of tables (defined at \(try firstDefined(t, idx)))", at: offsets[j])
                    case nil:
                        let v = t.entries[idx].value
                        if case .table = v {
                            throw fail("cannot add '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is an inline table (defined at \(try firstDefined(t, idx))), which cannot be extended", at: offsets[j])
                        }
                        throw fail("cannot add '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is \(v.article) (defined at \(try firstDefined(t, idx)))", at: offsets[j])
                    }
                } else {
                    let c = _PTable(depth: t.depth + 1, offset: offsets[j], trackOffsets: detailed)
                    if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: offsets[j]) }
                    c.dottedSection = section
                    t.addChild(k, .table(c), offset: offsets[j])
                    t = c
                }
            }
        }
        let last = parts[count - 1]
        if let idx = t.appendIfAbsent(last, value, offset: offsets[count - 1]) {
            throw fail("duplicate key '\(keyText(parts[...]))' (first defined at \(try firstDefined(t, idx)))", at: offsets[count - 1])
        }
    }

    // MARK: values

    /// Values. This is on the recursion path of nested arrays and inline tables, so it only
    /// dispatches: everything else is out of line to keep its stack frame small.
    mutating func parseValue(depth: Int) throws -> TOMLValue {
        switch p[i] {
        case cLBracket:
            return try parseArray(depth: depth + 1)
        case cLBrace:
            return try parseInlineTable(depth: depth + 1)
        default:
            return try parseScalar()
        }
    }

    @inline(never)
    mutating func parseScalar() throws -> TOMLValue {
        let c = p[i]
        switch c {
        case cQuote:
            if p[i + 1] == cQuote && p[i + 2] == cQuote { return .string(try parseMultilineBasicString()) }
            return .string(try parseBasicString())
        case cApos:
            if p[i + 1] == cApos && p[i + 2] == cApos { return .string(try parseMultilineLiteralString()) }
            return .string(try parseLiteralString())
        case UInt8(ascii: "t"):
            if p[i + 1] == UInt8(ascii: "r") && p[i + 2] == UInt8(ascii: "u") && p[i + 3] == UInt8(ascii: "e") {
                i += 4
                try checkValueEnd(from: i - 4)
                return .boolean(true)
            }
            throw invalidValue()
        case UInt8(ascii: "f"):
            if p[i + 1] == UInt8(ascii: "a") && p[i + 2] == UInt8(ascii: "l") && p[i + 3] == UInt8(ascii: "s") && p[i + 4] == UInt8(ascii: "e") {
                i += 5
                try checkValueEnd(from: i - 5)
                return .boolean(false)
            }
            throw invalidValue()
        case 0x30...0x39:
            if isDigit(p[i + 1]) {
                if isDigit(p[i + 2]) && isDigit(p[i + 3]) && p[i + 4] == cMinus { return try parseDateTime() }
                if p[i + 2] == cColon { return try parseDateTime() }
            }
            return try parseNumber()
        case cPlus, cMinus, UInt8(ascii: "i"), UInt8(ascii: "n"):
            return try parseNumber()
        default:
            throw valueExpected()
        }
    }

    @inline(never)
    func valueExpected() -> _ParseFailure {
        let c = p[i]
        if i >= n { return fail("expected a value, found end of file") }
        if c == cLF || c == cCR { return fail("expected a value, found end of line") }
        return invalidValue()
    }

    /// The token starting at i, for messages.
    func tokenEnd(from start: Int) -> Int {
        var j = start
        while true {
            let c = p[j]
            if bareKey[Int(c)] || c == cDot || c == cPlus || c == cColon || c >= 0x80 { j += 1 } else { break }
        }
        return max(j, start + 1)
    }

    @inline(never)
    func invalidValue() -> _ParseFailure {
        let c = p[i]
        if bareKey[Int(c)] || c >= 0x80 {
            let e = tokenEnd(from: i)
            return fail("invalid value '\(text(i, e))' (strings must be quoted)")
        }
        return fail("expected a value, found \(describe(at: i))")
    }

    /// After a bare value (number, boolean, date-time): must be followed by a delimiter.
    @inline(__always)
    func checkValueEnd(from start: Int) throws {
        let c = p[i]
        if c == cSpace || c == cTab || c == cLF || c == cComma || c == cRBracket || c == cRBrace || c == cHash || c == cCR { return }
        if c == 0 && i >= n { return }
        if bareKey[Int(c)] || c == cDot || c == cPlus || c == cColon || c >= 0x80 {
            throw invalidValueEnd(start)
        }
    }

    @inline(never)
    func invalidValueEnd(_ start: Int) -> _ParseFailure {
        fail("invalid value '\(text(start, tokenEnd(from: i)))'", at: start)
    }

    // MARK: strings

    /// Appends the UTF-8 encoding of a scalar to scratch.
    @inline(__always)
    mutating func appendScalar(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Parses an escape sequence at i (pointing at the backslash) into scratch.
    @inline(never)
    mutating func parseEscape() throws {
        let start = i
        let e = p[i + 1]
        switch e {
        case UInt8(ascii: "b"): scratch.append(0x08); i += 2
        case UInt8(ascii: "t"): scratch.append(0x09); i += 2
        case UInt8(ascii: "n"): scratch.append(0x0A); i += 2
        case UInt8(ascii: "f"): scratch.append(0x0C); i += 2
        case UInt8(ascii: "r"): scratch.append(0x0D); i += 2
        case cQuote: scratch.append(cQuote); i += 2
        case cBackslash: scratch.append(cBackslash); i += 2
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let len = e == UInt8(ascii: "u") ? 4 : 8
            var v: UInt32 = 0
            for k in 0..<len {
                let h = p[i + 2 + k]
                guard isHexDigit(h) else {
                    throw fail("invalid unicode escape '\(text(start, min(i + 2 + k + 1, n)))' in string: expected \(len) hex digits", at: start)
                }
                v = v &* 16 &+ hexValue(h)
            }
            guard v <= 0x10FFFF && !(0xD800...0xDFFF).contains(v) else {
                throw fail("invalid unicode escape '\(text(start, i + 2 + len))' in string: \(Self.uplus(v)) is not a Unicode scalar value", at: start)
            }
            appendScalar(v)
            i += 2 + len
        default:
            if i + 1 >= n { throw fail("unterminated string", at: start) }
            var len = 1
            if e >= 0xF0 { len = 4 } else if e >= 0xE0 { len = 3 } else if e >= 0xC0 { len = 2 }
            let shown: String
            if e < 0x20 || e == 0x7F { shown = "\\" + Self.uplus(UInt32(e)) } else { shown = text(start, start + 1 + len) }
            throw fail("invalid escape '\(shown)' in string", at: start)
        }
    }

    func controlCharError(_ kind: String) -> _ParseFailure {
        fail("\(describe(at: i)) is not allowed in \(kind)")
    }

    @inline(never)
    mutating func parseBasicString() throws -> String {
        let open = i
        i += 1
        let start = i
        // Fast path: no escapes.
        var high: UInt8 = 0
        while true {
            let c = p[i]
            if c == cQuote {
                let s = high < 0x80 ? asciiString(start, i - start)
                    : String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
                i += 1
                return s
            }
            high |= c
            if c == cBackslash { break }
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            i += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        while true {
            let c = p[i]
            if c == cQuote {
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c == cBackslash { try parseEscape(); continue }
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            scratch.append(c)
            i += 1
        }
    }

    @inline(never)
    mutating func parseLiteralString() throws -> String {
        let open = i
        i += 1
        let start = i
        var high: UInt8 = 0
        while true {
            let c = p[i]
            if c == cApos {
                let s = high < 0x80 ? asciiString(start, i - start)
                    : String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
                i += 1
                return s
            }
            high |= c
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            i += 1
        }
    }

    /// Skips the newline right after an opening delimiter.
    @inline(__always)
    mutating func skipLeadingNewline() {
        if p[i] == cLF { i += 1 } else if p[i] == cCR && p[i + 1] == cLF { i += 2 }
    }

    @inline(never)
    mutating func parseMultilineBasicString() throws -> String {
        let open = i
        i += 3
        skipLeadingNewline()
        scratch.removeAll(keepingCapacity: true)
        while true {
            let c = p[i]
            if c == cQuote {
                if p[i + 1] == cQuote && p[i + 2] == cQuote {
                    var q = 3
                    while p[i + q] == cQuote { q += 1 }
                    if q > 5 { throw fail("too many quotes at the end of a multi-line string", at: i + 5) }
                    for _ in 0..<(q - 3) { scratch.append(cQuote) }
                    i += q
                    return String(decoding: scratch, as: UTF8.self)
                }
                scratch.append(c)
                i += 1
                continue
            }
            if c == cBackslash {
                // Line-ending backslash: whitespace then a newline.
                var j = i + 1
                while p[j] == cSpace || p[j] == cTab { j += 1 }
                if p[j] == cLF || (p[j] == cCR && p[j + 1] == cLF) {
                    i = j
                    while true {
                        let d = p[i]
                        if d == cSpace || d == cTab || d == cLF { i += 1; continue }
                        if d == cCR && p[i + 1] == cLF { i += 2; continue }
                        break
                    }
                    continue
                }
                try parseEscape()
                continue
            }
            if c == cLF || c == cTab || c >= 0x20 && c != 0x7F { scratch.append(c); i += 1; continue }
            if c == cCR && p[i + 1] == cLF { scratch.append(cCR); scratch.append(cLF); i += 2; continue }
            if c == 0 && i >= n { throw fail("unterminated multi-line string (opened at \(positionString(open)))") }
            if c == cCR { throw fail("bare carriage return is not allowed in a string") }
            throw controlCharError("a string")
        }
    }

    @inline(never)
    mutating func parseMultilineLiteralString() throws -> String {
        let open = i
        i += 3
        skipLeadingNewline()
        let start = i
        while true {
            let c = p[i]
            if c == cApos {
                if p[i + 1] == cApos && p[i + 2] == cApos {
                    var q = 3
                    while p[i + q] == cApos { q += 1 }
                    if q > 5 { throw fail("too many quotes at the end of a multi-line string", at: i + 5) }
                    let end = i + q - 3
                    let s = String(decoding: UnsafeBufferPointer(start: p + start, count: end - start), as: UTF8.self)
                    i += q
                    return s
                }
                i += 1
                continue
            }
            if c == cLF || c == cTab || c >= 0x20 && c != 0x7F { i += 1; continue }
            if c == cCR && p[i + 1] == cLF { i += 2; continue }
            if c == 0 && i >= n { throw fail("unterminated multi-line string (opened at \(positionString(open)))") }
            if c == cCR { throw fail("bare carriage return is not allowed in a string") }
            throw controlCharError("a string")
        }
    }

    // MARK: numbers

    /// Reads digits (per `valid`) with single underscores between digits, appending digits to scratch.
    /// Returns the number of digits read.
    @inline(__always)
    mutating func readDigits(_ valid: (UInt8) -> Bool, tokenStart: Int) throws -> Int {
        var count = 0
        while true {
            let c = p[i]
            if valid(c) {
                scratch.append(c)
                count += 1
                i += 1
            } else if c == cUnderscore {
                if count == 0 || !valid(p[i + 1]) {
                    throw fail("invalid number '\(text(tokenStart, tokenEnd(from: tokenStart)))': underscores must be between digits", at: tokenStart)
                }
                i += 1
            } else {
                return count
            }
        }
    }

    @inline(never)
    mutating func parseNumber() throws -> TOMLValue {
        let start = i
        var negative = false
        var c = p[i]
        if c == cPlus || c == cMinus {
            negative = c == cMinus
            i += 1
            c = p[i]
        }
        if c == UInt8(ascii: "i") {
            if p[i + 1] == UInt8(ascii: "n") && p[i + 2] == UInt8(ascii: "f") {
                i += 3
                try checkValueEnd(from: start)
                return .float(negative ? -.infinity : .infinity)
            }
            i = start
            throw invalidValue()
        }
        if c == UInt8(ascii: "n") {
            if p[i + 1] == UInt8(ascii: "a") && p[i + 2] == UInt8(ascii: "n") {
                i += 3
                try checkValueEnd(from: start)
                return .float(.nan)
            }
            i = start
            throw invalidValue()
        }
        if !isDigit(c) {
            i = start
            if c == cDot { throw fail("invalid number '\(text(start, tokenEnd(from: start)))': a float needs a digit before '.'") }
            throw invalidValue()
        }
        // Prefixed integers.
        if c == UInt8(ascii: "0") {
            let r = p[i + 1]
            if r == UInt8(ascii: "x") || r == UInt8(ascii: "o") || r == UInt8(ascii: "b") {
                scratch.removeAll(keepingCapacity: true)
                if i != start {
                    throw fail("invalid number '\(text(start, tokenEnd(from: start)))': hexadecimal, octal and binary integers cannot have a sign", at: start)
                }
                i += 2
                let radix: UInt64
                let count: Int
                if r == UInt8(ascii: "x") {
                    radix = 16
                    count = try readDigits(isHexDigit, tokenStart: start)
                } else if r == UInt8(ascii: "o") {
                    radix = 8
                    count = try readDigits({ $0 &- 0x30 < 8 }, tokenStart: start)
                } else {
                    radix = 2
                    count = try readDigits({ $0 &- 0x30 < 2 }, tokenStart: start)
                }
                if count == 0 {
                    throw fail("invalid number '\(text(start, tokenEnd(from: start)))': missing digits", at: start)
                }
                var v: UInt64 = 0
                for d in scratch {
                    let (m, o1) = v.multipliedReportingOverflow(by: radix)
                    let (a, o2) = m.addingReportingOverflow(UInt64(hexValue(d)))
                    if o1 || o2 || a > UInt64(Int64.max) {
                        throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start)
                    }
                    v = a
                }
                try checkValueEnd(from: start)
                return .integer(Int64(v))
            }
        }
        // Fast path: a plain decimal integer (no underscores, at most 18 digits).
        do {
            var j = i
            var v: UInt64 = 0
            while isDigit(p[j]) && j - i < 18 {
                v = v &* 10 &+ UInt64(p[j] &- 0x30)
                j += 1
            }
            let next = p[j]
            if !(j - i > 1 && p[i] == UInt8(ascii: "0")) && !bareKey[Int(next)] && next != cDot
                && next != cColon && next != cPlus && next < 0x80 {
                i = j
                return .integer(negative ? -Int64(v) : Int64(v))
            }
        }
        scratch.removeAll(keepingCapacity: true)
        let intStart = i
        let intDigits = try readDigits(isDigit, tokenStart: start)
        if intDigits > 1 && p[intStart] == UInt8(ascii: "0") {
            throw fail("invalid number '\(text(start, tokenEnd(from: start)))': leading zeros are not allowed", at: start)
        }
        var isFloat = false
        if p[i] == cDot {
            isFloat = true
            scratch.append(cDot)
            i += 1
            if !isDigit(p[i]) {
                throw fail("invalid number '\(text(start, tokenEnd(from: start)))': expected a digit after '.'", at: start)
            }
            _ = try readDigits(isDigit, tokenStart: start)
        }
        if p[i] | 0x20 == UInt8(ascii: "e") {
            isFloat = true
            scratch.append(UInt8(ascii: "e"))
            i += 1
            if p[i] == cPlus || p[i] == cMinus { scratch.append(p[i]); i += 1 }
            if !isDigit(p[i]) {
                throw fail("invalid number '\(text(start, tokenEnd(from: start)))': expected a digit in the exponent", at: start)
            }
            _ = try readDigits(isDigit, tokenStart: start)
        }
        let c2 = p[i]
        if bareKey[Int(c2)] || c2 == cDot || c2 == cColon || c2 == cPlus || c2 >= 0x80 {
            throw fail("invalid number '\(text(start, tokenEnd(from: start)))'", at: start)
        }
        if isFloat {
            if negative { scratch.insert(cMinus, at: 0) }
            guard let d = Double(String(decoding: scratch, as: UTF8.self)) else {
                throw fail("invalid float '\(text(start, i))'", at: start)
            }
            return .float(d)
        }
        var v: UInt64 = 0
        for d in scratch {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d &- 0x30))
            if o1 || o2 { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
            v = a
        }
        if negative {
            if v > UInt64(Int64.max) + 1 { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
            return .integer(v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v))
        }
        if v > UInt64(Int64.max) { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
        return .integer(Int64(v))
    }

    // MARK: date-times

    @inline(__always)
    func twoDigits(_ at: Int) -> Int? {
        let a = p[at]
        guard isDigit(a) else { return nil }
        let b = p[at + 1]
        guard isDigit(b) else { return nil }
        return Int(a - 0x30) * 10 + Int(b - 0x30)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    @inline(never)
    mutating func parseDateTime() throws -> TOMLValue {
        let start = i
        func bad(_ what: String) -> _ParseFailure {
            fail("invalid \(what) '\(text(start, tokenEnd(from: start)))'", at: start)
        }
        var date: TOMLDateTime.Date? = nil
        var time: TOMLDateTime.Time? = nil
        var offset: Int? = nil
        if p[i + 2] != cColon {
            // full-date = YYYY-MM-DD
            guard let y1 = twoDigits(i), let y2 = twoDigits(i + 2), p[i + 4] == cMinus,
                  let m = twoDigits(i + 5), p[i + 7] == cMinus, let d = twoDigits(i + 8) else {
                throw bad("date")
            }
            let y = y1 * 100 + y2
            guard (1...12).contains(m) else {
                throw fail("invalid date '\(text(start, i + 10))': month must be 01 to 12", at: start)
            }
            guard d >= 1 && d <= Self.daysIn(month: m, year: y) else {
                throw fail("invalid date '\(text(start, i + 10))': day out of range for the month", at: start)
            }
            date = .init(year: y, month: m, day: d)
            i += 10
            let sep = p[i]
            if sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") {
                i += 1
            } else if sep == cSpace && isDigit(p[i + 1]) && isDigit(p[i + 2]) && p[i + 3] == cColon {
                i += 1
            } else {
                try checkValueEnd(from: start)
                return .datetime(TOMLDateTime(date: date, time: nil, offsetMinutes: nil))
            }
        }
        // partial-time = HH:MM:SS[.frac]
        let ts = i
        guard let h = twoDigits(i), p[i + 2] == cColon, let mi = twoDigits(i + 3), p[i + 5] == cColon,
              let s = twoDigits(i + 6) else {
            throw bad(date == nil ? "time" : "date-time")
        }
        guard h <= 23 else { throw fail("invalid time '\(text(ts, ts + 8))': hour must be 00 to 23", at: start) }
        guard mi <= 59 else { throw fail("invalid time '\(text(ts, ts + 8))': minute must be 00 to 59", at: start) }
        guard s <= 60 else { throw fail("invalid time '\(text(ts, ts + 8))': second must be 00 to 60", at: start) }
        i += 8
        var fraction = ""
        if p[i] == cDot {
            i += 1
            let fs = i
            while isDigit(p[i]) { i += 1 }
            if i == fs { throw bad("time") }
            fraction = text(fs, i)
        }
        time = .init(hour: h, minute: mi, second: s, fraction: fraction)
        if date != nil {
            let z = p[i]
            if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
                offset = 0
                i += 1
            } else if z == cPlus || z == cMinus {
                guard let oh = twoDigits(i + 1), p[i + 3] == cColon, let om = twoDigits(i + 4) else {
                    throw bad("date-time offset in")
                }
                guard oh <= 23 && om <= 59 else {
                    throw fail("invalid offset '\(text(i, i + 6))' in date-time", at: start)
                }
                offset = (oh * 60 + om) * (z == cMinus ? -1 : 1)
                i += 6
            }
        }
        try checkValueEnd(from: start)
        return .datetime(TOMLDateTime(date: date, time: time, offsetMinutes: offset))
    }

    // MARK: arrays and inline tables

    /// Arrays. Kept small (the recursion goes through here); the recording variant and the
    /// error paths are out of line.
    mutating func parseArray(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        if rec != nil { return try parseArrayRecording(depth: depth) }
        let open = i
        i += 1
        // Items go on a scratch stack (nested arrays push above them); the array gets
        // exactly their count.
        let base = valueStack.count
        while true {
            try skipWSCommentsNewlines()
            let c = p[i]
            if c == cRBracket { i += 1; break }
            if c == 0 && i >= n { throw unterminatedArray(open) }
            let v = try parseValue(depth: depth)
            valueStack.push(v)
            try skipWSCommentsNewlines()
            let d = p[i]
            if d == cComma { i += 1; continue }
            if d == cRBracket { i += 1; break }
            throw badArraySeparator(open)
        }
        return .array(recent.array(valueStack, from: base))
    }

    @inline(never)
    func nestingTooDeep() -> _ParseFailure {
        fail("nesting too deep (more than \(maxDepth) levels)")
    }

    @inline(never)
    func unterminatedArray(_ open: Int) -> _ParseFailure {
        fail("unterminated array (opened at \(positionString(open)))")
    }

    @inline(never)
    func badArraySeparator(_ open: Int) -> _ParseFailure {
        if p[i] == 0 && i >= n { return unterminatedArray(open) }
        return fail("expected ',' or ']' after an array element, found \(describe(at: i))")
    }

    @inline(never)
    mutating func parseArrayRecording(depth: Int) throws -> TOMLValue {
        let rec = self.rec!
        let open = i
        i += 1
        var items: [TOMLValue] = []
        var spans: [(start: Int, end: Int)] = []
        var trailingComma: Int? = nil
        let myEntry = rec.containerStack.last ?? -1
        if myEntry >= 0 { rec.entries[myEntry].valueKind = 1 }
        while true {
            try skipWSCommentsNewlines()
            let c = p[i]
            if c == cRBracket { i += 1; break }
            if c == 0 && i >= n { throw unterminatedArray(open) }
            trailingComma = nil
            let vs = i
            rec.path.append(.index(items.count))
            let e = rec.entries.count
            rec.entries.append(.init(kind: .element, path: rec.path, keyStart: vs, keyEnd: vs, keyParts: 0,
                                     valueStart: vs, valueEnd: vs, lineStart: vs, lineEnd: vs, section: headerIndex,
                                     container: myEntry, valueKind: 0))
            rec.containerStack.append(e)
            let v = try parseValue(depth: depth)
            rec.containerStack.removeLast()
            rec.entries[e].valueEnd = i
            rec.entries[e].lineEnd = i
            rec.path.removeLast()
            items.append(v)
            spans.append((vs, i))
            try skipWSCommentsNewlines()
            let d = p[i]
            if d == cComma { trailingComma = i; i += 1; continue }
            if d == cRBracket { i += 1; break }
            throw badArraySeparator(open)
        }
        if myEntry >= 0 {
            rec.arrays[myEntry] = .init(open: open, close: i - 1, elements: spans, trailingComma: trailingComma)
        }
        return .array(items)
    }

    mutating func parseInlineTable(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        if rec != nil { return try parseInlineTableFull(depth: depth) }
        // Fast path: simple keys, few entries. Anything else (dotted keys, duplicates,
        // errors, many keys) re-parses the table with the full path.
        let open = i
        i += 1
        skipWS()
        if p[i] == cRBrace {
            i += 1
            return .table(TOMLTable())
        }
        // The entries go on a scratch stack (nested tables push above them) and the table
        // gets an array of exactly their count.
        let base = entryStack.count
        while true {
            skipWS()
            let c = p[i]
            guard bareKey[Int(c)] || c == cQuote || c == cApos else { break }
            _ = try parseKey()
            guard keyCount == 1, p[i] == cEq, entryStack.count - base < 16 else { break }
            let k = key0
            if entryStack.hasKey(k, from: base) { break }
            i += 1
            skipWS()
            let v = try parseValue(depth: depth)
            entryStack.push(TOMLTable.Entry(key: k, value: v))
            skipWS()
            let d = p[i]
            if d == cComma {
                i += 1
                skipWS()
                if p[i] == cRBrace { break }
                continue
            }
            if d == cRBrace {
                i += 1
                return Self.makeTable(recent.entries(entryStack, from: base))
            }
            break
        }
        entryStack.truncate(to: base)
        i = open
        return try parseInlineTableFull(depth: depth)
    }


    @inline(never)
    static func makeTable(_ entries: [TOMLTable.Entry]) -> TOMLValue {
        .table(TOMLTable(_entries: entries, index: nil))
    }

    /// Inline tables in general (dotted keys, duplicates, document mode). On the recursion
    /// path, so the per-entry work and the errors are out of line.
    @inline(never)
    mutating func parseInlineTableFull(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        let open = i
        i += 1
        let table = _PTable(depth: depth, offset: open, trackOffsets: detailed)
        let sectionID = nextSectionID
        nextSectionID += 1
        var myEntry = -1
        var basePath: [TOMLPathComponent] = []
        if let rec {
            myEntry = rec.containerStack.last ?? -1
            if myEntry >= 0 { rec.entries[myEntry].valueKind = 2 }
            basePath = rec.path
            rec.tableOffsets[basePath] = open
        }
        skipWS()
        if p[i] == cRBrace {
            i += 1
            return .table(TOMLTable())
        }
        while true {
            skipWS()
            let c = p[i]
            if c == cLF || c == cCR || c == cRBrace || c == cComma || (c == 0 && i >= n) {
                throw inlineTableKeyExpected(open)
            }
            let keyStart = i
            let keyEnd = try parseKey()
            guard p[i] == cEq else { throw equalsExpected() }
            i += 1
            skipWS()
            let parts = partsArray
            let offs = offsetsArray
            if rec != nil {
                let e = beginInlineEntry(basePath: basePath, parts: parts, keyStart: keyStart, keyEnd: keyEnd, container: myEntry)
                let v = try parseValue(depth: depth + parts.count - 1)
                try endInlineEntry(e, value: v, table: table, basePath: basePath, parts: parts, offsets: offs, section: sectionID)
            } else {
                let v = try parseValue(depth: depth + parts.count - 1)
                try insert(v, into: table, parts: parts, offsets: offs, section: sectionID)
            }
            skipWS()
            let d = p[i]
            if d == cComma {
                i += 1
                skipWS()
                if p[i] == cRBrace { throw inlineTableTrailingComma() }
                continue
            }
            if d == cRBrace { i += 1; break }
            throw inlineTableSeparatorExpected(open)
        }
        return .table(table.toTable())
    }

    @inline(never)
    func beginInlineEntry(basePath: [TOMLPathComponent], parts: [String], keyStart: Int, keyEnd: Int, container: Int) -> Int {
        let rec = self.rec!
        rec.path = basePath
        for k in parts { rec.path.append(.key(k)) }
        let e = rec.entries.count
        rec.entries.append(.init(kind: .keyValue, path: rec.path, keyStart: keyStart, keyEnd: keyEnd,
                                 keyParts: parts.count, valueStart: i, valueEnd: i, lineStart: keyStart,
                                 lineEnd: keyStart, section: headerIndex, container: container, valueKind: 0))
        rec.containerStack.append(e)
        return e
    }

    @inline(never)
    mutating func endInlineEntry(_ e: Int, value: TOMLValue, table: _PTable, basePath: [TOMLPathComponent],
                                 parts: [String], offsets: [Int], section: Int) throws {
        let rec = self.rec!
        rec.containerStack.removeLast()
        rec.entries[e].valueEnd = i
        rec.entries[e].lineEnd = i
        rec.path = basePath
        try insert(value, into: table, parts: parts, offsets: offsets, section: section)
        recordDottedTables(rec, base: basePath, parts: parts, offsets: offsets)
    }

    @inline(never)
    func inlineTableKeyExpected(_ open: Int) -> _ParseFailure {
        let c = p[i]
        if c == cLF || c == cCR { return fail("newlines are not allowed in inline tables") }
        if c == 0 && i >= n { return fail("unterminated inline table (opened at \(positionString(open)))") }
        return fail("expected a key in the inline table, found \(describe(at: i))")
    }

    @inline(never)
    func equalsExpected() -> _ParseFailure {
        if p[i] == cLF || p[i] == cCR { return fail("expected '=' after key '\(keyText(partsArray[...]))', found end of line") }
        return fail("expected '=' after key '\(keyText(partsArray[...]))', found \(describe(at: i))")
    }

    @inline(never)
    func inlineTableTrailingComma() -> _ParseFailure {
        fail("trailing comma is not allowed in an inline table")
    }

    @inline(never)
    func inlineTableSeparatorExpected(_ open: Int) -> _ParseFailure {
        let d = p[i]
        if d == cLF || d == cCR { return fail("newlines are not allowed in inline tables") }
        if d == 0 && i >= n { return fail("unterminated inline table (opened at \(positionString(open)))") }
        return fail("expected ',' or '}' after a value in the inline table, found \(describe(at: i))")
    }
}
