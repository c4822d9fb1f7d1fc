import FoundationEssentials

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
    public var marginNanoseconds: Int64 = FileStamp.margin

    static let magic = "tetra-ports-cache 2"

    public init(cachePath: String, sourcePath: String) {
        self.cachePath = cachePath
        self.sourcePath = sourcePath
    }

    public init(paths: StatePaths) {
        self.init(cachePath: paths.state + "/cache/ports.cache", sourcePath: paths.portsFile)
    }

    public typealias Identity = FileStamp

    public static func identity(of path: String) -> Identity? { FileStamp.of(path) }

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
                  let cached = FileStamp(fields: Array(fields[3..<8])), cached == current,
                  current.settled(before: created, margin: marginNanoseconds),
                  UInt64(fields[8]) == FileStamp.checksum(UnsafeBufferPointer(rebasing: bytes[(headerEnd + 1)...])) else { return nil }
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
        let now = FileStamp.now()
        guard identity.settled(before: now, margin: marginNanoseconds) else { return }
        let dir = PathText.parent(cachePath)
        let stateDir = PathText.parent(dir)
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
        let sum = body.withUnsafeBufferPointer { FileStamp.checksum($0) }
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
