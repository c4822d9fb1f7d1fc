/// A compact hash index from keys to their positions in a table's key array.
///
/// Open addressing with linear probing; each slot holds the key's 32-bit hash and its
/// position, so growing never re-hashes strings. The parser computes hashes directly
/// from the source bytes while scanning keys.
struct _TOMLKeyIndex: Sendable {
    /// `size` slots of (hash << 32) | (position + 1), 0 for empty; then the entry count.
    /// A single array keeps `Optional<_TOMLKeyIndex>` (and so `TOMLTable`) pointer-sized.
    private var slots: [UInt64]

    private var mask: Int { slots.count - 2 }
    var count: Int { Int(truncatingIfNeeded: slots[slots.count - 1]) }

    init(capacity: Int) {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size + 1)
    }

    /// Builds an index over the keys of `entries`.
    init(entries: [TOMLTable.Entry]) {
        self.init(capacity: entries.count)
        for (i, e) in entries.enumerated() { insert(hash: Self.hash(e.key), position: i) }
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
        var s = Int(truncatingIfNeeded: h) & mask
        let tag = UInt64(h) << 32
        while true {
            let e = slots[s]
            if e == 0 { return nil }
            if e & 0xFFFF_FFFF_0000_0000 == tag {
                let pos = Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1
                if entries[pos].key == key { return pos }
            }
            s = (s + 1) & mask
        }
    }

    /// Adds a new key's position (the caller made sure the key is not present).
    @inline(__always)
    mutating func insert(hash h: UInt32, position: Int) {
        let n = count
        // At most 3/4 full (linear probing stays short at that load).
        if (n + 1) * 4 > (slots.count - 1) * 3 { grow() }
        let mask = self.mask
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = (UInt64(h) << 32) | UInt64(position + 1)
        slots[slots.count - 1] = UInt64(n + 1)
    }

    private mutating func grow() {
        let old = slots
        let size = (old.count - 1) * 2
        slots = [UInt64](repeating: 0, count: size + 1)
        let mask = size - 1
        for e in old.dropLast() where e != 0 {
            var s = Int(truncatingIfNeeded: e >> 32) & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = e
        }
        slots[size] = old[old.count - 1]
    }
}
