import FoundationEssentials
import Glibc

/// Walks a release tree with `opendir`/`lstat` (no symlink is ever followed). A release holds
/// directories and regular files only: a symlink, device, FIFO or socket, or a name with a
/// control character, is refused with `CoreError.invalidArgument` naming it.
enum TreeWalker {
    enum Kind { case directory, file }

    /// An entry as a walk saw it (what later steps need of its `lstat`), so one walk can
    /// serve several steps of a push (the snapshot's walk feeds the render).
    struct Entry: Sendable, Equatable {
        var path: String
        var kind: Kind
        /// `st_mode` (type and permission bits).
        var mode: mode_t
        var size: Int64
        /// sha256 of a file's content, when the walk knew it.
        var hash: String?
    }

    /// Calls `visit(relativePath, kind, stat)` for every entry below `root` (not `root`
    /// itself), parents before children. `relativePath` uses '/' and has no leading "./".
    static func walk(_ root: String, _ visit: (String, Kind, stat) throws -> Void) throws {
        var st = stat()
        guard lstat(root, &st) == 0 else { throw IOError("read", path: root, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw IOError("read", path: root, reason: "not a directory") }
        try walkDirectory(root, relative: "", visit)
    }

    private static func walkDirectory(_ absolute: String, relative: String, _ visit: (String, Kind, stat) throws -> Void) throws {
        // Every entry is read and `lstat`ed relative to the open directory (one path component
        // to resolve, not the whole path), then the directory is closed before descending, so
        // a deep tree holds one descriptor at a time.
        var entries: [(name: String, st: stat)] = []
        do {
            guard let dir = opendir(absolute) else { throw IOError("read", path: absolute, errno: errno) }
            defer { closedir(dir) }
            let fd = dirfd(dir)
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = entryName(entry)
                if name == "." || name == ".." { continue }
                names.append(name)
            }
            names = ReleaseManifest.sortedPaths(names)
            entries.reserveCapacity(names.count)
            for name in names {
                var st = stat()
                guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw IOError("read", path: absolute + "/" + name, errno: errno)
                }
                entries.append((name, st))
            }
        }
        for (name, st) in entries {
            let rel = relative.isEmpty ? name : relative + "/" + name
            if name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x5C }) {
                throw CoreError.invalidArgument("file name '\(Names.printable(rel))' contains a control character or backslash",
                                                hint: "rename the file in the org's files/")
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try visit(rel, .directory, st)
                try walkDirectory(absolute + "/" + name, relative: rel, visit)
            case S_IFREG:
                try visit(rel, .file, st)
            case S_IFLNK:
                throw CoreError.invalidArgument("'\(Names.printable(rel))' is a symbolic link; releases hold regular files only",
                                                hint: "replace the link by a copy of the file")
            default:
                throw CoreError.invalidArgument("'\(Names.printable(rel))' is not a regular file or directory")
            }
        }
    }

    /// Calls `visit(relativePath)` for every regular file below `root` whose name ends with
    /// `suffix`, taking entry types from `readdir` (an `lstat` only where the file system does
    /// not say): a listing by name that does not `stat` every file. Symlinks and other entries
    /// are skipped (`walk` refuses them).
    static func files(under root: String, endingWith suffix: String, _ visit: (String) throws -> Void) throws {
        func list(_ absolute: String, _ relative: String) throws {
            guard let dir = opendir(absolute) else { throw IOError("read", path: absolute, errno: errno) }
            var found: [(String, Bool)] = [] // name, is a directory
            let suffixBytes = Array(suffix.utf8)
            while let entry = readdir(dir) {
                var type = entry.pointee.d_type
                // A regular file not ending with the suffix: skipped without making a String.
                if type == UInt8(DT_REG), !entryNameEnds(entry, with: suffixBytes) { continue }
                let name = entryName(entry)
                if name == "." || name == ".." { continue }
                if type == UInt8(DT_UNKNOWN) {
                    var st = stat()
                    guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                    type = (st.st_mode & S_IFMT) == S_IFDIR ? UInt8(DT_DIR) : (st.st_mode & S_IFMT) == S_IFREG ? UInt8(DT_REG) : 0
                }
                if type == UInt8(DT_DIR) {
                    found.append((name, true))
                } else if type == UInt8(DT_REG), name.hasSuffix(suffix) {
                    found.append((name, false))
                }
            }
            closedir(dir)
            for (name, isDirectory) in found.sorted(by: { ReleaseManifest.pathOrder($0.0, $1.0) }) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                if isDirectory { try list(absolute + "/" + name, rel) } else { try visit(rel) }
            }
        }
        try list(root, "")
    }

    static func entryNameEnds(_ entry: UnsafeMutablePointer<dirent>, with suffix: [UInt8]) -> Bool {
        withUnsafeBytes(of: entry.pointee.d_name) { raw -> Bool in
            let bytes = raw.bindMemory(to: UInt8.self)
            let len = bytes.firstIndex(of: 0) ?? bytes.count
            guard len >= suffix.count else { return false }
            return bytes[(len - suffix.count)..<len].elementsEqual(suffix)
        }
    }

    static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
            let bytes = raw.bindMemory(to: UInt8.self)
            let len = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<len]), as: UTF8.self)
        }
    }
}

/// Local file operations for releases.
enum LocalFiles {
    /// Copies a regular file (content and permission bits), creating `to` exclusively.
    /// Returns the number of bytes copied. `chunk`, when given, sees every block read (the
    /// copy-and-hash of local uploads).
    @discardableResult
    static func copyFile(from: String, to: String, mode: mode_t,
                         chunk: ((UnsafeRawBufferPointer) -> Void)? = nil) throws -> Int64 {
        let src = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard src >= 0 else { throw IOError("read", path: from, errno: errno) }
        defer { close(src) }
        let dst = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard dst >= 0 else { throw IOError("write", path: to, errno: errno) }
        var ok = false
        defer {
            close(dst)
            if !ok { unlink(to) }
        }
        let size = 1 << 18
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(src, buf, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("read", path: from, errno: errno)
            }
            if n == 0 { break }
            chunk?(UnsafeRawBufferPointer(start: buf, count: n))
            var off = 0
            while off < n {
                let w = write(dst, buf + off, n - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw IOError("write", path: to, errno: errno)
                }
                off += w
            }
            total += Int64(n)
        }
        if fchmod(dst, mode & 0o7777) != 0 { throw IOError("write", path: to, errno: errno) }
        ok = true
        return total
    }

    /// `rm -rf` without following symlinks. Missing paths are fine.
    static func removeTree(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw IOError("remove", path: path, errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try removeContents(path, mode: st.st_mode)
            if rmdir(path) != 0 && errno != ENOENT { throw IOError("remove", path: path, errno: errno) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw IOError("remove", path: path, errno: errno)
        }
    }

    /// Empties the directory `path` (whose `lstat` mode is `mode`). An entry that `readdir`
    /// reports as neither a directory nor of unknown type is removed with one `unlinkat`
    /// relative to the directory (no `lstat`, no path walk: a release's prune is one system
    /// call per file); a directory, an entry of unknown type, or one `unlinkat` refuses as a
    /// directory goes through `removeTree`, which `lstat`s it first.
    private static func removeContents(_ path: String, mode: mode_t) throws {
        // Make sure we may list and delete inside (a release may contain 0500 directories).
        if (mode & 0o700) != 0o700 { _ = chmod(path, (mode & 0o7777) | 0o700) }
        guard let dir = opendir(path) else { throw IOError("remove", path: path, errno: errno) }
        defer { closedir(dir) }
        var entries: [(name: String, type: UInt8)] = []
        while let entry = readdir(dir) {
            let name = TreeWalker.entryName(entry)
            if name != "." && name != ".." { entries.append((name, entry.pointee.d_type)) }
        }
        let fd = dirfd(dir)
        for (name, type) in entries {
            if fd >= 0, Int(type) != Int(DT_DIR), Int(type) != Int(DT_UNKNOWN) {
                if unlinkat(fd, name, 0) == 0 || errno == ENOENT { continue }
                if errno != EISDIR && errno != EPERM { throw IOError("remove", path: path + "/" + name, errno: errno) }
            }
            try removeTree(path + "/" + name)
        }
    }

    /// Flushes the file system holding `path` to disk (`syncfs`: only that file system, not
    /// every mounted one as `sync` would), so a release is durable before `current` points to it.
    static func syncFileSystem(of path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if _tetra_syncfs(fd) != 0 { sync() }
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Directory entries' names (not "." / ".."), unsorted; nil when `path` is missing.
    static func list(_ path: String) throws -> [String]? {
        try entries(of: path)?.map(\.name)
    }

    /// A directory entry as `readdir` gives it.
    struct DirectoryEntry {
        var name: String
        /// From the entry's type; nil when the file system does not say.
        var isDirectory: Bool?
        var inode: UInt64
    }

    /// The entries of a directory, without `stat` (nil when it does not exist).
    static func entries(of path: String) throws -> [DirectoryEntry]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return nil }
            throw IOError("read", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var out: [DirectoryEntry] = []
        while let entry = readdir(dir) {
            let name = TreeWalker.entryName(entry)
            if name == "." || name == ".." { continue }
            let type = entry.pointee.d_type
            out.append(DirectoryEntry(name: name, isDirectory: type == UInt8(DT_UNKNOWN) ? nil : type == UInt8(DT_DIR),
                                      inode: UInt64(entry.pointee.d_ino)))
        }
        return out
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// glibc's `syncfs` (Linux 2.6.39+) is declared only with _GNU_SOURCE, which the Glibc module
/// does not define; bound by name (works in static and dynamic builds alike, where a `dlsym`
/// lookup fails in a static binary).
@_silgen_name("syncfs")
private func _tetra_syncfs(_ fd: Int32) -> Int32
