import FoundationEssentials
import Glibc

/// One meta.toml as `SSLService.scanList` sees it: byte ranges into the file's bytes, valid
/// only during the callback. String ranges are the contents between the quotes of a TOML basic
/// string that is plain ASCII with no control characters and only the escapes `\"`, `\\`, `\n`,
/// `\t`, `\r`, which are written the same way in JSON: the bytes can be copied into JSON as
/// they are. Date ranges are `YYYY-MM-DDTHH:MM:SSZ` exactly as `Timestamps.iso8601` writes
/// them (so as `ssl list` prints them).
public struct MetaBytes {
    public var base: UnsafePointer<UInt8>
    public var domain: Range<Int> = 0..<0
    public var issuer: Range<Int> = 0..<0
    public var serial: Range<Int> = 0..<0
    public var source: Range<Int> = 0..<0
    public var keyType: Range<Int> = 0..<0
    public var notBefore: Range<Int> = 0..<0
    public var notAfter: Range<Int> = 0..<0
    public var names: [Range<Int>] = []
    /// not_after in seconds since 1970.
    public var notAfterEpoch: Int = 0
    /// Whole days from now to not_after, rounded down (as `SSLService.daysLeft`).
    public var daysLeft: Int = 0
    /// Seconds from now to not_after (as `Date.timeIntervalSince`).
    public var secondsLeft: Double = 0

    public func bytes(_ r: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base + r.lowerBound, count: r.count) }
    /// A field as a String, its escapes translated (the table output and tests).
    public func string(_ r: Range<Int>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(r.count)
        var i = r.lowerBound
        while i < r.upperBound {
            let c = base[i]
            if c == 0x5C {
                switch base[i + 1] {
                case 0x6E: out.append(0x0A)
                case 0x74: out.append(0x09)
                case 0x72: out.append(0x0D)
                case let e: out.append(e)
                }
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The byte-level scanner behind `scanList`. It accepts a strict subset of what
/// `MetaFastReader` (and so the TOML decoder) accepts, with the same values; anything else
/// (non-ASCII text, other escapes, other date forms, a missing or repeated key) makes it
/// return false and the caller reads the file the general way.
enum MetaScanner {
    /// Keys of meta.toml, as bit positions for the "seen" mask.
    private enum Key: Int {
        case domain, names, subject, issuer, notBefore, notAfter, serial, fingerprint, source, keyType, created
        case acmeServer, acmeCA, email, httpPort, webroot, days
    }

    private static let required: UInt32 = (1 << 11) - 1

    private static func key(_ p: UnsafePointer<UInt8>, _ n: Int) -> Key? {
        func eq(_ s: StaticString) -> Bool { s.utf8CodeUnitCount == n && memcmp(p, s.utf8Start, n) == 0 }
        switch p[0] {
        case 0x64: return eq("domain") ? .domain : eq("days") ? .days : nil
        case 0x6E: return eq("names") ? .names : eq("not_before") ? .notBefore : eq("not_after") ? .notAfter : nil
        case 0x73: return eq("subject") ? .subject : eq("serial") ? .serial : eq("source") ? .source : nil
        case 0x69: return eq("issuer") ? .issuer : nil
        case 0x66: return eq("fingerprint_sha256") ? .fingerprint : nil
        case 0x6B: return eq("key_type") ? .keyType : nil
        case 0x63: return eq("created") ? .created : nil
        case 0x61: return eq("acme_server") ? .acmeServer : eq("acme_ca") ? .acmeCA : nil
        case 0x65: return eq("email") ? .email : nil
        case 0x68: return eq("http_port") ? .httpPort : nil
        case 0x77: return eq("webroot") ? .webroot : nil
        default: return nil
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` at p (20 bytes, a real date, second < 60): seconds since 1970.
    static func epoch(_ p: UnsafePointer<UInt8>) -> Int? {
        var ok = true
        func num(_ at: Int, _ width: Int) -> Int {
            var v = 0
            for k in at..<(at + width) {
                let c = p[k] &- 0x30
                if c > 9 { ok = false }
                v = v * 10 + Int(c)
            }
            return v
        }
        let year = num(0, 4), month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2), second = num(17, 2)
        guard ok, p[4] == 0x2D, p[7] == 0x2D, p[10] == 0x54, p[13] == 0x3A, p[16] == 0x3A, p[19] == 0x5A,
              month >= 1, month <= 12, day >= 1, hour < 24, minute < 60, second < 60 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = month == 2 ? (leap ? 29 : 28) : (month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31
        guard day <= monthDays else { return nil }
        return daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    }

    /// Scans `b[0..<n]` into `m` (its `names` array is reused). False: read the file the general way.
    static func scan(_ b: UnsafePointer<UInt8>, _ n: Int, into m: inout MetaBytes) -> Bool {
        m.base = b
        m.names.removeAll(keepingCapacity: true)
        var seen: UInt32 = 0
        var i = 0
        @inline(__always) func skipSpaces() { while i < n, b[i] == 0x20 || b[i] == 0x09 { i += 1 } }
        /// A basic string at i: its content range; i after the closing quote.
        @inline(__always) func string() -> Range<Int>? {
            guard i < n, b[i] == 0x22 else { return nil }
            i += 1
            let start = i
            let lo: UInt64 = 0x0101_0101_0101_0101, hi: UInt64 = 0x8080_8080_8080_8080
            while true {
                // Eight bytes at a time while none is '"', '\\', below 0x20 or above 0x7E.
                while i + 8 <= n {
                    let x = UInt64(littleEndian: UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self))
                    let q = x ^ (0x22 &* lo), s = x ^ (0x5C &* lo)
                    let special = ((q &- lo) & ~q) | ((s &- lo) & ~s) | ((x &- 0x20 &* lo) & ~x) | (x &+ lo) | x
                    if special & hi != 0 { break }
                    i += 8
                }
                guard i < n else { return nil }
                let c = b[i]
                if c == 0x22 { i += 1; return start..<(i - 1) }
                if c < 0x20 || c >= 0x7F { return nil }
                if c == 0x5C {
                    guard i + 1 < n else { return nil }
                    switch b[i + 1] {
                    case 0x22, 0x5C, 0x6E, 0x74, 0x72: i += 2
                    default: return nil
                    }
                    continue
                }
                i += 1
            }
        }
        @inline(__always) func date() -> (Range<Int>, Int)? {
            guard i + 20 <= n, let e = epoch(b + i) else { return nil }
            i += 20
            return ((i - 20)..<i, e)
        }
        @inline(__always) func skipLine() {
            if let nl = memchr(b + i, 0x0A, n - i) { i = UnsafeRawPointer(nl).assumingMemoryBound(to: UInt8.self) - b } else { i = n }
        }
        while i < n {
            skipSpaces()
            if i >= n { break }
            if b[i] == 0x0A { i += 1; continue }
            if b[i] == 0x23 { skipLine(); continue }
            let keyStart = i
            while i < n, (b[i] >= 0x61 && b[i] <= 0x7A) || (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x5F { i += 1 }
            guard i > keyStart, let key = key(b + keyStart, i - keyStart) else { return false }
            let bit: UInt32 = 1 << UInt32(key.rawValue)
            guard seen & bit == 0 else { return false }
            seen |= bit
            skipSpaces()
            guard i < n, b[i] == 0x3D else { return false }
            i += 1
            skipSpaces()
            switch key {
            case .domain: guard let r = string() else { return false }; m.domain = r
            case .issuer: guard let r = string() else { return false }; m.issuer = r
            case .serial: guard let r = string() else { return false }; m.serial = r
            case .keyType: guard let r = string() else { return false }; m.keyType = r
            case .source:
                guard let r = string() else { return false }
                let p = b + r.lowerBound
                func eq(_ s: StaticString) -> Bool { s.utf8CodeUnitCount == r.count && memcmp(p, s.utf8Start, r.count) == 0 }
                guard eq("acme") || eq("self-signed") || eq("imported") else { return false }
                m.source = r
            case .subject, .fingerprint, .acmeServer, .acmeCA, .email, .webroot:
                guard string() != nil else { return false }
            case .notBefore: guard let (r, _) = date() else { return false }; m.notBefore = r
            case .notAfter:
                guard let (r, e) = date() else { return false }
                m.notAfter = r
                m.notAfterEpoch = e
            case .created: guard date() != nil else { return false }
            case .httpPort, .days:
                // Plain decimal without sign or leading zero, as MetaFastReader reads it.
                let start = i
                while i < n, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > start, i - start <= 18, b[start] != 0x30 || i - start == 1 else { return false }
            case .names:
                guard i < n, b[i] == 0x5B else { return false }
                i += 1
                skipSpaces()
                if i < n, b[i] == 0x5D {
                    i += 1
                } else {
                    while true {
                        guard let r = string() else { return false }
                        m.names.append(r)
                        skipSpaces()
                        guard i < n else { return false }
                        if b[i] == 0x5D { i += 1; break }
                        guard b[i] == 0x2C else { return false }
                        i += 1
                        skipSpaces()
                    }
                }
            }
            skipSpaces()
            if i < n, b[i] == 0x23 { skipLine() }
            if i < n, b[i] == 0x0D { i += 1; guard i < n, b[i] == 0x0A else { return false } }
            guard i >= n || b[i] == 0x0A else { return false }
            i += 1
        }
        return seen & required == required
    }
}

extension SSLService {
    /// What `list()` returns, without building a Record per certificate: `fast` gets each
    /// meta.toml tetra wrote as byte ranges (no String, Date or array per certificate), `slow`
    /// gets a Record for any other file (read by the general reader, as `list()` does), in
    /// `list()`'s order (byte-wise by directory name). Unreadable files are warned about and
    /// skipped as in `list()`.
    public func scanList(now: Date, fast: (MetaBytes) -> Void, slow: (Record) -> Void) {
        let ssl = paths.ssl
        guard let dir = opendir(ssl) else { return }
        // Directory names in one arena, sorted by memcmp (the order of String's < for ASCII).
        var arena = [UInt8]()
        var entries: [(offset: Int, count: Int)] = []
        arena.reserveCapacity(16384)
        while let entry = readdir(dir) {
            withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { c in
                    let len = strlen(c)
                    let p = UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self)
                    if len == 0 || p[0] == 0x2E { return } // ".", "..", hidden (staging directories)
                    if len == 8 && memcmp(p, "accounts", 8) == 0 { return }
                    entries.append((arena.count, len))
                    arena.append(contentsOf: UnsafeBufferPointer(start: p, count: len))
                }
            }
        }
        closedir(dir)
        let dirfd = open(ssl, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if dirfd >= 0 { close(dirfd) } }
        var buffer = [UInt8](repeating: 0, count: 8192)
        var path = [UInt8](repeating: 0, count: 512)
        let suffix: StaticString = "/meta.toml"
        var m = MetaBytes(base: UnsafePointer(bitPattern: 1)!)
        m.names.reserveCapacity(16)
        let nowRef = now.timeIntervalSinceReferenceDate
        arena.withUnsafeBufferPointer { names in
            let base = names.baseAddress!
            entries.sort { a, b in
                let c = memcmp(base + a.offset, base + b.offset, min(a.count, b.count))
                return c != 0 ? c < 0 : a.count < b.count
            }
            for e in entries {
                func name() -> String { String(decoding: UnsafeBufferPointer(start: base + e.offset, count: e.count), as: UTF8.self) }
                var fd: Int32 = -1
                if dirfd >= 0, e.count + suffix.utf8CodeUnitCount < path.count {
                    path.withUnsafeMutableBufferPointer { p in
                        memcpy(p.baseAddress!, base + e.offset, e.count)
                        memcpy(p.baseAddress! + e.count, suffix.utf8Start, suffix.utf8CodeUnitCount)
                        p[e.count + suffix.utf8CodeUnitCount] = 0
                        fd = p.withMemoryRebound(to: CChar.self) { openat(dirfd, $0.baseAddress!, O_RDONLY | O_CLOEXEC) }
                    }
                } else {
                    fd = open(ssl + "/" + name() + "/meta.toml", O_RDONLY | O_CLOEXEC)
                }
                guard fd >= 0 else {
                    var st = stat()
                    if stat(ssl + "/" + name(), &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                        core.progress.warn("ssl/\(name()) has no meta.toml; skipped")
                    }
                    continue
                }
                // One read; a file that fills the buffer is read on into a larger one.
                var total = 0
                var failed = false
                while true {
                    if total == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
                    let got = buffer.withUnsafeMutableBufferPointer { read(fd, $0.baseAddress! + total, $0.count - total) }
                    if got < 0 { if errno == EINTR { continue }; failed = true; break }
                    if got == 0 { break }
                    total += got
                    if total < buffer.count { break }
                }
                close(fd)
                if failed {
                    var st = stat()
                    if stat(ssl + "/" + name(), &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                        core.progress.warn("ssl/\(name()) has no meta.toml; skipped")
                    }
                    continue
                }
                let scanned = buffer.withUnsafeBufferPointer { b -> Bool in
                    guard MetaScanner.scan(b.baseAddress!, total, into: &m) else { return false }
                    let delta = Double(m.notAfterEpoch - 978_307_200) - nowRef
                    m.secondsLeft = delta
                    m.daysLeft = Int((delta / 86400).rounded(.down))
                    fast(m)
                    return true
                }
                if scanned { continue }
                let file = ssl + "/" + name() + "/meta.toml"
                do {
                    slow(record(try CertificateMeta.parse(Array(buffer[0..<total]), file: file), now: now))
                } catch let e as any TetraError {
                    core.progress.warn("skipped ssl/\(name()): \(e.message)")
                } catch {
                    core.progress.warn("skipped ssl/\(name()): \(error)")
                }
            }
        }
    }
}
