/// A compact hash index from keys to their positions in a table's key array.
///
/// Open addressing with linear probing, at most 3/4 full; each slot holds the position and
/// the top bits of the key's 32-bit hash (growing hashes the keys again). The parser
/// computes hashes directly from the source bytes while scanning keys.
struct _TOMLKeyIndex: Sendable {
    /// `size` slots (a power of two), then the entry count. A slot is 0 when empty, else
    /// `tag << shift | (position + 1)` with `shift = log2(size)`: positions + 1 stay below
    /// `size` (the index is at most 3/4 full), and the tag, the hash's top `32 - shift`
    /// bits, rejects most other keys without comparing strings. Four bytes a slot; a single
    /// array keeps `Optional<_TOMLKeyIndex>` (and so `TOMLTable`) pointer-sized.
    private var slots: [UInt32]

    private var size: Int { slots.count - 1 }
    private var mask: Int { slots.count - 2 }
    private var shift: Int { size.trailingZeroBitCount }
    var count: Int { Int(slots[slots.count - 1]) }

    init(capacity: Int) {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        precondition(size <= 1 << 31, "table too large")
        slots = [UInt32](repeating: 0, count: size + 1)
    }

    /// Builds an index over the keys of `entries`.
    init(entries: [TOMLTable.Entry]) {
        self.init(capacity: entries.count)
        for (i, e) in entries.enumerated() { place(hash: Self.hash(e.key), position: i) }
        slots[slots.count - 1] = UInt32(entries.count)
    }

    /// Builds an index over keys with these hashes.
    init(hashes: [UInt32]) {
        self.init(capacity: hashes.count)
        for (i, h) in hashes.enumerated() { place(hash: h, position: i) }
        slots[slots.count - 1] = UInt32(hashes.count)
    }

    // MARK: hashing

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: n)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(p[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
        }
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }

    @inline(__always)
    static func hash(_ s: String) -> UInt32 {
        var s = s
        return s.withUTF8 { u in
            guard let base = u.baseAddress else { return hash(UnsafePointer(bitPattern: 1)!, 0) }
            return hash(base, u.count)
        }
    }

    // MARK: lookup and insertion

    @inline(__always)
    func find(_ key: String, hash h: UInt32, in entries: [TOMLTable.Entry]) -> Int? {
        let mask = self.mask
        let shift = UInt32(self.shift)
        let tag = h >> shift
        let positionMask = UInt32(mask)
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = slots[s]
            if e == 0 { return nil }
            if e >> shift == tag {
                let pos = Int(e & positionMask) - 1
                if entries[pos].key == key { return pos }
            }
            s = (s + 1) & mask
        }
    }

    /// Adds a new key's position (the caller made sure the key is not present); `entries`
    /// are the table's entries (growing the index hashes their keys again).
    @inline(__always)
    mutating func insert(hash h: UInt32, position: Int, in entries: [TOMLTable.Entry]) {
        let n = count
        if (n + 1) * 4 > size * 3 { grow { Self.hash(entries[$0].key) } }
        place(hash: h, position: position)
        slots[slots.count - 1] = UInt32(n + 1)
    }

    /// Same, when the hashes of the keys by position are at hand.
    @inline(__always)
    mutating func insert(hash h: UInt32, position: Int, hashes: [UInt32]) {
        let n = count
        if (n + 1) * 4 > size * 3 { grow { hashes[$0] } }
        place(hash: h, position: position)
        slots[slots.count - 1] = UInt32(n + 1)
    }

    @inline(__always)
    private mutating func place(hash h: UInt32, position: Int) {
        let mask = self.mask
        let shift = UInt32(self.shift)
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = (h >> shift) << shift | UInt32(position + 1)
    }

    @inline(never)
    private mutating func grow(_ hashOf: (Int) -> UInt32) {
        let old = slots
        let oldMask = UInt32(old.count - 2)
        let size = (old.count - 1) * 2
        precondition(size <= 1 << 31, "table too large")
        slots = [UInt32](repeating: 0, count: size + 1)
        for e in old.dropLast() where e != 0 {
            let pos = Int(e & oldMask) - 1
            place(hash: hashOf(pos), position: pos)
        }
        slots[size] = old[old.count - 1]
    }
}
