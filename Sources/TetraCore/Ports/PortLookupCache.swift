import Foundation

/// A lookup cache of the registry's `[ports]` table, so that `tetra ports get NAME` on a
/// large registry does not parse every line of `ports.toml` for every lookup (the way git
/// keeps file stat data in its index instead of re-reading the work tree).
///
/// The cache (`state/cache/ports.cache`, 0600) holds the `stat` identity of `ports.toml`
/// when it was parsed — device, inode, size, mtime and ctime in nanoseconds — and the
/// `name port` pairs of its `[ports]` table. It is used only when
/// - `ports.toml` has exactly that identity now (any write, rename, `cp -p`, `touch`
///   changes the inode, size, mtime or ctime; ctime cannot be set by a user), and
/// - the file's last change (ctime) is more than `margin` older than the cache itself, so
///   a write landing in the same coarse filesystem-clock tick as the read that filled the
///   cache can never be mistaken for the cached content ("racily clean" in git's terms).
/// Anything else — a missing or corrupt cache, a newer file, a name not in it — is a miss:
/// the caller parses the file as before and offers the cache a new snapshot. The cache
/// never decides an error: syntax errors and "not found" hints always come from a parse.
public struct PortLookupCache: Sendable {
    public let cachePath: String
    public let sourcePath: String
    /// How much older than the cache the file's last change must be.
    public var marginNanoseconds: Int64 = 1_000_000_000

    static let magic = "tetra-ports-cache 2"

    /// FNV-1a over the body: the cache is written without fsync (a read-only command should
    /// not wait for the disk), so a torn file after a crash must be detected, not trusted.
    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    public init(cachePath: String, sourcePath: String) {
        self.cachePath = cachePath
        self.sourcePath = sourcePath
    }

    public init(paths: StatePaths) {
        self.init(cachePath: paths.state + "/cache/ports.cache", sourcePath: paths.portsFile)
    }

    /// The identity of a file as `stat` reports it.
    public struct Identity: Sendable, Equatable {
        var device: UInt64, inode: UInt64, size: Int64, mtime: Int64, ctime: Int64

        init(_ s: stat) {
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
            size = Int64(s.st_size)
            mtime = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
            ctime = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
        }

        init?(fields: [Substring]) {
            guard fields.count == 5, let d = UInt64(fields[0]), let i = UInt64(fields[1]), let s = Int64(fields[2]),
                  let m = Int64(fields[3]), let c = Int64(fields[4]) else { return nil }
            device = d; inode = i; size = s; mtime = m; ctime = c
        }

        var fields: String { "\(device) \(inode) \(size) \(mtime) \(ctime)" }
    }

    public static func identity(of path: String) -> Identity? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return Identity(s)
    }

    static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The cached port of `name`, or nil on any kind of miss.
    public func lookup(_ name: String) -> Int? {
        guard let current = Self.identity(of: sourcePath),
              let data = FileManager.default.contents(atPath: cachePath) else { return nil }
        return data.withUnsafeBytes { raw -> Int? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let headerEnd = bytes.firstIndex(of: 0x0A) else { return nil }
            let header = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<headerEnd]), as: UTF8.self)
            let fields = header.split(separator: " ")
            // magic(2 words) created identity(5) checksum
            guard fields.count == 9, fields[0] + " " + fields[1] == Self.magic, let created = Int64(fields[2]),
                  let cached = Identity(fields: Array(fields[3..<8])), cached == current,
                  current.ctime < created - marginNanoseconds, current.mtime < created - marginNanoseconds,
                  UInt64(fields[8]) == Self.checksum(UnsafeBufferPointer(rebasing: bytes[(headerEnd + 1)...])) else { return nil }
            // Lines "name port\n"; find "\nname " and read the number.
            let key = Array(name.utf8)
            var i = headerEnd + 1
            let n = bytes.count
            while i < n {
                var lineEnd = i
                while lineEnd < n && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                let space = i + key.count
                if space < lineEnd && bytes[space] == 0x20 {
                    var same = true
                    for k in 0..<key.count where bytes[i + k] != key[k] { same = false; break }
                    if same {
                        var value = 0
                        var j = space + 1
                        guard j < lineEnd else { return nil }
                        while j < lineEnd {
                            let c = bytes[j]
                            guard c >= 0x30 && c <= 0x39, value < 100_000 else { return nil }
                            value = value * 10 + Int(c - 0x30)
                            j += 1
                        }
                        return PortNumber.isValid(value) ? value : nil
                    }
                }
                i = lineEnd + 1
            }
            return nil
        }
    }

    /// Offers a snapshot: `ports` as parsed from the file whose identity was `identity`
    /// both before and after it was read. Written only when it could be trusted later
    /// (the file is older than the margin); failures are ignored (a cache is optional).
    public func store(_ ports: [(name: String, port: Int)], identity: Identity) {
        let now = Self.nowNanoseconds()
        guard identity.ctime < now - marginNanoseconds, identity.mtime < now - marginNanoseconds else { return }
        let dir = (cachePath as NSString).deletingLastPathComponent
        let stateDir = (dir as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: stateDir) else { return }
        // Built byte by byte: this runs on the first lookup of a large registry.
        var body: [UInt8] = []
        body.reserveCapacity(ports.count * 16)
        for (name, port) in ports where PortNumber.isValid(port) {
            var valid = true
            var count = 0
            for (k, c) in name.utf8.enumerated() {
                let alnum = (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
                if !(alnum || (k > 0 && (c == 0x5F || c == 0x2E || c == 0x2D))) { valid = false; break }
                count += 1
            }
            guard valid, count > 0, count <= 63 else { continue }
            body.append(contentsOf: name.utf8)
            body.append(0x20)
            var div = 1
            while div * 10 <= port { div *= 10 }
            var rest = port
            while div > 0 { body.append(UInt8(0x30 + rest / div)); rest %= div; div /= 10 }
            body.append(0x0A)
        }
        let sum = body.withUnsafeBufferPointer { Self.checksum($0) }
        var data = Data("\(Self.magic) \(now) \(identity.fields) \(sum)\n".utf8)
        data.append(contentsOf: body)
        do {
            try AtomicFile.ensureDirectory(dir, mode: 0o700)
            try AtomicFile.write(data, to: cachePath, mode: 0o600, durable: false)
        } catch {
            // A cache that cannot be written only costs the next lookup a parse.
        }
    }
}
