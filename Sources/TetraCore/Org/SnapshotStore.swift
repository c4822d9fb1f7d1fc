import FoundationEssentials
import Glibc

/// Snapshots of org sources: a content-addressed store of our own under `state/snapshots/`
/// (mode 0700, like all of `state/`).
///
/// ```
/// state/snapshots/objects/ab/abcdef…      file contents by sha256 (0444, shared by snapshots)
/// state/snapshots/manifests/<id>          "MODE SHA256 PATH" lines, sorted; id = sha256 of it (16 hex)
/// state/snapshots/log/<org>.jsonl         when each snapshot was taken and why
/// state/snapshots/cache/<org>.tsv         stat cache (size, mtime, inode): unchanged files are not read again
/// ```
/// `secrets.env` and its encrypted forms (`secrets*.env.age`) are never part of a snapshot (see docs/orgs.md: a rollback must not bring back a
/// rotated secret, and the store never holds secret material).
public struct SnapshotStore: Sendable {
    public let root: String
    public var interrupt: InterruptFlag?

    public init(paths: StatePaths, interrupt: InterruptFlag? = nil) {
        root = paths.snapshots
        self.interrupt = interrupt
    }

    /// Files of the org directory that are not snapshotted (top level).
    public static let excluded = SecretFileNames()

    public struct Entry: Codable, Sendable, Equatable {
        public var time: String
        public var org: String
        public var id: String
        public var reason: String
        public var by: String
        public var files: Int
    }

    public struct Taken: Sendable, Equatable {
        public var id: String
        public var files: Int
        /// Objects that were not in the store yet.
        public var newObjects: Int
        /// The entries below `scanning` (paths relative to it) as the snapshot's walk saw
        /// them, with their hashes (`take(scanning:)`).
        var scanned: [TreeWalker.Entry]? = nil
    }

    var objects: String { root + "/objects" }
    var manifests: String { root + "/manifests" }
    func logFile(_ org: String) -> String { root + "/log/" + org + ".jsonl" }
    func cacheFile(_ org: String) -> String { root + "/cache/" + org + ".tsv" }
    func objectPath(_ hash: String) -> String { objects + "/" + hash.prefix(2) + "/" + hash }

    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 16 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    func validate(_ id: String) throws {
        guard Self.isValidID(id) else {
            throw CoreError.invalidArgument("invalid snapshot id '\(Names.printable(id))'", hint: "snapshot ids are 16 hex digits")
        }
    }

    public func exists(_ id: String) -> Bool {
        Self.isValidID(id) && LocalFiles.exists(manifests + "/" + id)
    }

    struct CacheRow { var size: Int64; var mtime: Int; var ctime: Int; var ino: UInt64; var hash: Range<Int>; var path: Range<Int> }

    /// The stat cache as read: rows in file order (the walk's order when it was written), each
    /// pointing into the file's bytes. Lookups follow a cursor, so a walk of an unchanged tree
    /// matches row after row by comparing bytes; after an added or removed file one lookup
    /// goes through an index (built once) and the cursor continues from there.
    struct StatCache {
        var bytes: [UInt8] = []
        var rows: [CacheRow] = []
        private var cursor = 0
        private var index: [String: Int]? = nil

        init() {}

        init(_ data: [UInt8]) {
            bytes = data
            rows.reserveCapacity(data.count / 120)
            data.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {
                    var end = start
                    while end < all.count, all[end] != 0x0A { end += 1 }
                    // HASH \t SIZE \t MTIME \t CTIME \t INO \t PATH: five tabs, then the path
                    // (which may contain tabs); field starts kept in a tuple, no allocation.
                    var tabs: (Int, Int, Int, Int, Int) = (-1, -1, -1, -1, -1)
                    var found = 0
                    var i = start
                    while i < end, found < 5 {
                        if all[i] == 0x09 {
                            switch found {
                            case 0: tabs.0 = i
                            case 1: tabs.1 = i
                            case 2: tabs.2 = i
                            case 3: tabs.3 = i
                            default: tabs.4 = i
                            }
                            found += 1
                        }
                        i += 1
                    }
                    func number(_ r: Range<Int>) -> Int? {
                        guard !r.isEmpty, r.count < 20 else { return nil }
                        var v = 0
                        for i in r { let d = Int(all[i]) - 48; guard d >= 0 && d <= 9 else { return nil }; v = v * 10 + d }
                        return v
                    }
                    if found == 5, tabs.0 - start == 64, let size = number(tabs.0 + 1..<tabs.1), let m = number(tabs.1 + 1..<tabs.2),
                       let c = number(tabs.2 + 1..<tabs.3), let ino = number(tabs.3 + 1..<tabs.4), tabs.4 + 1 < end {
                        rows.append(CacheRow(size: Int64(size), mtime: m, ctime: c, ino: UInt64(ino), hash: start..<tabs.0,
                                             path: tabs.4 + 1..<end))
                    }
                    start = end + 1
                }
            }
        }

        var count: Int { rows.count }

        func path(_ row: CacheRow) -> String {
            bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[row.path]), as: UTF8.self) }
        }

        func hash(_ row: CacheRow) -> String {
            bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[row.hash]), as: UTF8.self) }
        }

        private func pathEquals(_ i: Int, _ path: String) -> Bool {
            let range = rows[i].path
            return path.utf8.withContiguousStorageIfAvailable { p in
                p.count == range.count && bytes.withUnsafeBufferPointer { all in
                    memcmp(p.baseAddress!, all.baseAddress! + range.lowerBound, range.count) == 0
                }
            } ?? (path == self.path(rows[i]))
        }

        /// The row recorded for `path`, if any.
        mutating func row(for path: String) -> CacheRow? {
            if cursor < rows.count, pathEquals(cursor, path) {
                cursor += 1
                return rows[cursor - 1]
            }
            if index == nil {
                var made: [String: Int] = [:]
                made.reserveCapacity(rows.count)
                for (i, row) in rows.enumerated() { made[self.path(row)] = i }
                index = made
            }
            guard let i = index![path] else { return nil }
            cursor = i + 1
            return rows[i]
        }
    }

    /// The stat cache, when its checksum line (the last) matches the rows; a torn, edited or
    /// older cache is not trusted (the files are hashed again and the cache is rebuilt).
    func loadCache(_ org: String) -> StatCache {
        guard let data = try? AtomicFile.readIfExists(cacheFile(org)) else { return StatCache() }
        var bytes = [UInt8](data)
        guard bytes.last == 0x0A, let start = bytes.dropLast().lastIndex(of: 0x0A).map({ $0 + 1 }) ?? (bytes.count > 1 ? 0 : nil)
        else { return StatCache() }
        let trailer = String(decoding: bytes[start..<(bytes.count - 1)], as: UTF8.self)
        let sum = bytes.withUnsafeBufferPointer { FileStamp.checksum(UnsafeBufferPointer(rebasing: $0[..<start])) }
        guard trailer == Self.cacheTrailer(sum) else { return StatCache() }
        bytes.removeSubrange(start...)
        return StatCache(bytes)
    }

    static func cacheTrailer(_ checksum: UInt64) -> String { "#checksum \(checksum)" }

    static func nanos(_ t: timespec) -> Int { t.tv_sec * 1_000_000_000 + t.tv_nsec }

    /// Snapshots the org directory `directory` (everything except `secrets.env`).
    /// `scanning`: a directory of the org (e.g. "files") whose entries are returned in
    /// `Taken.scanned`, so the render that follows does not walk it again.
    public func take(org: String, directory: String, reason: String, by: String, now: Date,
                     scanning: String? = nil) throws -> Taken {
        try Names.validate(org, what: "org")
        for dir in [root, objects, manifests, root + "/log", root + "/cache"] { try AtomicFile.ensureDirectory(dir, mode: 0o700) }
        // tetra never removes objects; if someone removed the store, nothing is trusted.
        let objectsPresent = LocalFiles.isDirectory(objects + "/tmp")
        var cache = objectsPresent ? loadCache(org) : StatCache()
        try AtomicFile.ensureDirectory(objects + "/tmp", mode: 0o700)
        // Temp objects of killed runs (their pid is gone) are removed.
        OrgService.removeStaleScratch(objects + "/tmp")
        var newCache: [UInt8] = []
        newCache.reserveCapacity(cache.count * 120 + 4096)
        var lines: [(path: String, mode: mode_t, hash: String)] = []
        var newObjects = 0
        var count = 0
        let scanPrefix = scanning.map { $0 + "/" }
        var scanned: [TreeWalker.Entry] = []
        try TreeWalker.walk(directory) { rel, kind, st in
            // The path relative to the scanned directory, for entries inside it.
            let scannedPath = scanPrefix.flatMap { rel.hasPrefix($0) ? String(rel.utf8.dropFirst($0.utf8.count)) : nil }
            if let scannedPath, kind == .directory {
                scanned.append(TreeWalker.Entry(path: scannedPath, kind: kind, mode: st.st_mode, size: Int64(st.st_size)))
            }
            guard kind == .file else { return }
            if !rel.utf8.contains(UInt8(ascii: "/")), Self.excluded.contains(rel) { return }
            // A git org's repository is git's to keep: the snapshot holds the work tree.
            if rel.hasPrefix(".git/") || rel == ".git" { return }
            count += 1
            if count % 256 == 0 { try interrupt?.check() }
            let path = directory + "/" + rel
            var hash: String? = nil
            // Size, mtime (ns) and inode, as git with core.trustctime=false: ctime changes with
            // every hard link (a push links plain files into its scratch tree).
            // A cached hash counts only when its object is in the store: a snapshot never
            // records an object it does not hold (a wrong cached hash is hashed again).
            if objectsPresent, let row = cache.row(for: rel), row.size == Int64(st.st_size), row.mtime == Self.nanos(st.st_mtim),
               row.ino == UInt64(st.st_ino), case let h = cache.hash(row), LocalFiles.exists(objectPath(h)) {
                hash = h
            }
            if hash == nil {
                let h = try SHA256.hex(ofFile: path)
                if LocalFiles.exists(objectPath(h)) { hash = h }
            }
            if hash == nil {
                let dir = objects + "/tmp"
                try AtomicFile.ensureDirectory(dir, mode: 0o700)
                let temp = dir + "/obj-\(getpid())-" + TargetLockRecord.newToken()
                let got = try LocalTransport.copyVerifying(from: path, to: temp, mode: 0o444)
                let final = objectPath(got.hash)
                if LocalFiles.exists(final) {
                    unlink(temp)
                } else {
                    try AtomicFile.ensureDirectory(PathText.parent(final), mode: 0o700)
                    guard rename(temp, final) == 0 else {
                        let e = errno
                        unlink(temp)
                        throw IOError("store", path: final, errno: e)
                    }
                    newObjects += 1
                }
                hash = got.hash
            }
            if let scannedPath {
                scanned.append(TreeWalker.Entry(path: scannedPath, kind: kind, mode: st.st_mode, size: Int64(st.st_size), hash: hash))
            }
            lines.append((rel, st.st_mode & 0o777, hash!))
            // HASH \t SIZE \t MTIME \t CTIME \t INO \t PATH (see loadCache)
            newCache.append(contentsOf: hash!.utf8)
            for number in [Int(st.st_size), Self.nanos(st.st_mtim), Self.nanos(st.st_ctim), Int(st.st_ino)] {
                newCache.append(0x09)
                DecimalBytes.append(Int64(number), to: &newCache)
            }
            newCache.append(0x09)
            newCache.append(contentsOf: rel.utf8)
            newCache.append(0x0A)
        }
        // "MODE SHA256 PATH" lines in byte order of the paths (the walk's order is close to it).
        let order = ReleaseManifest.sortedPaths(lines.map(\.path))
        var position: [String: Int] = [:]
        if zip(order, lines).contains(where: { $0 != $1.path }) {
            position.reserveCapacity(lines.count)
            for (i, line) in lines.enumerated() { position[line.path] = i }
        }
        var text: [UInt8] = []
        text.reserveCapacity(lines.count * 100)
        for (i, path) in order.enumerated() {
            let line = position.isEmpty ? lines[i] : lines[position[path]!]
            // the mode in octal (permission bits: at most 4 digits)
            let mode = Int(line.mode)
            var started = false
            for shift in stride(from: 9, through: 0, by: -3) {
                let digit = (mode >> shift) & 7
                if digit != 0 || started || shift == 0 { text.append(UInt8(48 + digit)); started = true }
            }
            text.append(0x20)
            text.append(contentsOf: line.hash.utf8)
            text.append(0x20)
            text.append(contentsOf: line.path.utf8)
            text.append(0x0A)
        }
        var hasher = SHA256()
        text.withUnsafeBytes { hasher.update($0) }
        let id = String(hasher.finalizeHex().prefix(16))
        let manifestPath = manifests + "/" + id
        if !LocalFiles.exists(manifestPath) {
            try AtomicFile.write(Data(text), to: manifestPath, mode: 0o600)
        }
        let sum = newCache.withUnsafeBufferPointer { FileStamp.checksum($0) }
        newCache.append(contentsOf: (Self.cacheTrailer(sum) + "\n").utf8)
        Self.writeWithoutSync(Data(newCache), to: cacheFile(org))
        let entry = Entry(time: Timestamps.iso8601(now), org: org, id: id, reason: reason, by: by, files: lines.count)
        try AtomicFile.appendLine(Self.json(entry), to: logFile(org), mode: 0o600)
        return Taken(id: id, files: lines.count, newObjects: newObjects, scanned: scanning == nil ? nil : scanned)
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The files of a snapshot: path → (mode, sha256).
    public func manifest(_ id: String) throws -> [(path: String, mode: mode_t, hash: String)] {
        try validate(id)
        guard let data = try AtomicFile.readIfExists(manifests + "/" + id) else {
            throw CoreError.notFound(what: "snapshot", name: id, hint: "snapshots are kept on the machine that took them, under \(root)")
        }
        var out: [(String, mode_t, String)] = []
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.isEmpty {
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count == 3, let mode = mode_t(f[0], radix: 8), f[1].count == 64,
                  Self.isRelativeInside(String(f[2])) else {
                throw CoreError.failed("snapshot \(id) is corrupt (\(manifests)/\(id):\(n + 1): not a 'MODE SHA256 PATH' line)")
            }
            out.append((String(f[2]), mode, String(f[1])))
        }
        // The id is the manifest's own hash: an edited (well-formed) manifest is not trusted.
        guard SHA256.hex(of: data).hasPrefix(id) else {
            throw CoreError.failed("snapshot \(id) is corrupt (\(manifests)/\(id) does not match its id)",
                                   hint: "the store was changed outside tetra: this snapshot cannot be used; take another from an unchanged working copy")
        }
        return out
    }

    /// Writes the files of snapshot `id` into the existing empty directory `destination`.
    public func restore(_ id: String, into destination: String) throws {
        for file in try manifest(id) {
            let dest = destination + "/" + file.path
            try AtomicFile.ensureDirectory(PathText.parent(dest), mode: 0o755)
            try copyObject(file.hash, to: dest, mode: file.mode & 0o777, snapshot: id)
        }
    }

    /// Snapshots taken of `org`, oldest first.
    public func log(_ org: String) throws -> [Entry] {
        try Names.validate(org, what: "org")
        guard let data = try AtomicFile.readIfExists(logFile(org)) else { return [] }
        let decoder = JSONDecoder()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? decoder.decode(Entry.self, from: Data($0.utf8))
        }
    }

    /// A relative path without empty, `.` or `..` components (a byte scan: a local upload
    /// checks every path of a manifest with it).
    static func isRelativeInside(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes[0] != UInt8(ascii: "/") else { return false }
            var start = 0
            for i in 0...bytes.count {
                guard i == bytes.count || bytes[i] == UInt8(ascii: "/") else { continue }
                let n = i - start
                if n == 0 { return false }
                if n <= 2, bytes[start] == UInt8(ascii: "."), n == 1 || bytes[start + 1] == UInt8(ascii: ".") { return false }
                start = i + 1
            }
            return true
        }
    }

    /// A cache file: temp + rename (readers see old or new), no fsync (a lost cache only
    /// means files are read again).
    static func writeWithoutSync(_ data: Data, to path: String) {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        let ok = (try? AtomicFile.writeAll(fd: fd, data: data, path: temp)) != nil
        close(fd)
        if !ok || rename(temp, path) != 0 { unlink(temp) }
    }
}
