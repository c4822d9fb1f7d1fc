// The parser's internal tree (reference-typed tables that headers and dotted keys extend in
// place), its scratch stacks, the sharing of repeated small values, and the recorder of
// byte spans used in document mode. See TOMLParser.swift for the overview.

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
