import FoundationEssentials
import Glibc

/// Crash-safe file writes (SPEC §1 Safety): every file is written to a temporary file in the
/// same directory, fsynced, then renamed over the target, and the directory is fsynced. A
/// reader sees the old file or the new one, never a mix; a failure (full disk, permissions,
/// crash) leaves the old file intact and removes the temporary file.
///
/// A path that is a symlink is followed to its target, and the target is replaced (the link
/// stays a link). A path that exists and is not a regular file (fifo, device, socket,
/// directory) or lies on /proc or /sys is refused (exit 2) and left as it was: nothing is
/// ever renamed over a symlink or a special file. Temporary files a killed run left next to
/// the target (`.NAME.tmp-PID-RANDOM` whose PID is dead) are removed by the next write.
public enum AtomicFile {
    /// Writes `data` to `path` atomically with exactly `mode` (umask does not widen or narrow
    /// it). The temporary file is created with O_EXCL and a mode no wider than `mode`, so a
    /// secret is never readable by others, not even briefly.
    /// `durable: false` skips both fsyncs: still atomic for readers, but after a power loss
    /// the file may be the old one, empty or torn. Only for caches that verify themselves.
    public static func write(_ data: Data, to named: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        let path = try writeTarget(named)
        let dir = directory(of: path)
        let base = PathText.lastComponent(path)
        guard !base.isEmpty, base != ".", base != ".." else {
            throw IOError("write", path: path, reason: "not a file path")
        }
        sweepStaleTemps(dir: dir, base: base)
        var fd: Int32 = -1
        var tempPath = ""
        // Unique temp name: pid + random; retry on the (unlikely) collision.
        for _ in 0..<16 {
            tempPath = dir + "/." + base + ".tmp-\(getpid())-" + randomHex(8)
            fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 0o777)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw IOError("write", path: path, errno: errno) }
        var ok = false
        defer {
            if !ok {
                if fd >= 0 { close(fd) }
                unlink(tempPath)
            }
        }
        // Exact mode regardless of umask (umask can only have narrowed it until now).
        if fchmod(fd, mode & 0o7777) != 0 { throw IOError("write", path: path, errno: errno) }
        try writeAll(fd: fd, data: data, path: path)
        if durable && fsync(fd) != 0 { throw IOError("write", path: path, errno: errno) }
        let closeResult = close(fd)
        fd = -1
        if closeResult != 0 { throw IOError("write", path: path, errno: errno) }
        if rename(tempPath, path) != 0 { throw IOError("write", path: path, errno: errno) }
        ok = true
        if durable { syncDirectory(dir) }
    }

    /// Writes a string as UTF-8.
    public static func write(string: String, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        try write(Data(string.utf8), to: path, mode: mode, durable: durable)
    }

    /// `mkdir -p` with `mode` for every directory it creates (existing directories are left
    /// as they are). State directories use 0700.
    public static func ensureDirectory(_ path: String, mode: mode_t = 0o700) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw IOError("create directory", path: path, errno: ENOTDIR)
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        var current = path.hasPrefix("/") ? "" : "."
        for component in components {
            current += "/" + component
            if component == "." || component == ".." { continue }
            if mkdir(current, mode & 0o7777) == 0 {
                _ = chmod(current, mode & 0o7777) // exact mode regardless of umask
                continue
            }
            let err = errno
            if err == EEXIST {
                var cst = stat()
                if stat(current, &cst) == 0, (cst.st_mode & S_IFMT) == S_IFDIR { continue }
                throw IOError("create directory", path: path, reason: "\(current) exists and is not a directory")
            }
            throw IOError("create directory", path: path, errno: err)
        }
    }

    /// Appends one line (a '\n' is added when missing) with a single `write(2)` on an
    /// O_APPEND descriptor, then fsyncs. With O_APPEND the kernel moves to the end and writes
    /// as one step, and on local Linux file systems a single write(2) to a regular file is
    /// not interleaved with other writers' (the inode lock is held for the whole write), so
    /// lines from concurrent processes never mix, also with writers that do not lock. Lines
    /// are expected to be small (well under PIPE_BUF, 4096 bytes). tetra's own appenders
    /// additionally hold an flock on the file for the write, so a short write (disk full,
    /// signal) completed by a second call and the repair of a torn last line left by a crash
    /// (we start on a new line) are exact too. (Against a foreign writer that does not lock,
    /// the repair may see its write in progress and add one '\n' too many: a blank line,
    /// which readers of line-based logs skip.) The file is created with exactly `mode` when
    /// it does not exist.
    public static func appendLine(_ line: String, to path: String, mode: mode_t = 0o600) throws {
        var bytes = Data(line.utf8)
        if bytes.last != 0x0A { bytes.append(0x0A) }
        var created = true
        var fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 0o777)
        if fd < 0 && errno == EEXIST {
            created = false
            fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC, 0)
            if fd < 0 && errno == EACCES { fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0) } // write-only file
        }
        guard fd >= 0 else { throw IOError("append to", path: path, errno: errno) }
        defer { close(fd) }
        if created { _ = fchmod(fd, mode & 0o7777) }
        // Appenders serialise on an flock of the file for the check-and-write below (held for
        // microseconds; released before the fsync). It makes the torn-line repair exact and
        // keeps even a short-written line whole.
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        // A torn last line (a crash mid-write) must not swallow ours: start on a new line.
        var st = stat()
        if !created, fstat(fd, &st) == 0, st.st_size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, st.st_size - 1) == 1, last != 0x0A { bytes.insert(0x0A, at: 0) }
        }
        do {
            try writeAll(fd: fd, data: bytes, path: path, operation: "append to")
        } catch {
            _ = flock(fd, LOCK_UN)
            throw error
        }
        _ = flock(fd, LOCK_UN)
        if fsync(fd) != 0 { throw IOError("append to", path: path, errno: errno) }
        if created { syncDirectory(directory(of: path)) }
    }

    /// Reads a whole file; nil when it does not exist, throws on other errors. With `limit`,
    /// a file larger than that is refused (exit 3) before it is read (config files).
    public static func readIfExists(_ path: String, limit: Int? = nil) throws -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw IOError("read", path: path, errno: errno)
        }
        defer { close(fd) }
        if let limit {
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) > limit {
                throw InputFile.tooLarge(path, limit: limit)
            }
            return try InputFile.read(fd: fd, display: path, limit: limit, interrupt: nil)
        }
        return try readAll(fd: fd, path: path)
    }

    /// The file a write to `path` replaces: symlinks followed (the final target may not
    /// exist yet). Refuses, exit 2, a path that exists and is not a regular file, and any
    /// path on /proc or /sys (their "regular" files are kernel interfaces).
    public static func writeTarget(_ path: String) throws -> String {
        var current = path
        for _ in 0..<40 {
            var st = stat()
            guard lstat(current, &st) == 0 else {
                guard errno == ENOENT else { throw IOError("write", path: path, errno: errno) }
                try refuseKernelFileSystem(current, named: path)
                return current
            }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                try refuseKernelFileSystem(current, named: path)
                return current
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(current, &buffer, buffer.count - 1)
                guard n > 0 else { throw IOError("write", path: path, errno: errno) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                current = target.hasPrefix("/") ? target : directory(of: current) + "/" + target
            default:
                throw notRegular(path, mode: st.st_mode)
            }
        }
        throw IOError("write", path: path, errno: ELOOP)
    }

    static func notRegular(_ path: String, mode: mode_t) -> CoreError {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a fifo"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        case S_IFDIR: kind = "a directory"
        default: kind = "not a regular file"
        }
        return CoreError.invalidArgument("\(path) is \(kind); tetra writes only regular files and left it as it was",
                                         hint: "name a regular file (use - for standard output where the command allows it)")
    }

    /// /proc and /sys hold kernel interfaces that look like regular files: never written.
    static func refuseKernelFileSystem(_ path: String, named: String) throws {
        guard let resolved = realpath(directory(of: path), nil) else { return } // the write reports the real error
        let dir = String(cString: resolved)
        free(resolved)
        if ["/proc", "/sys"].contains(where: { dir == $0 || dir.hasPrefix($0 + "/") }) {
            throw CoreError.invalidArgument("\(named) is on a kernel file system (/proc or /sys); tetra does not write there")
        }
    }

    /// Removes `.BASE.tmp-PID-*` files in `dir` left by a process that is gone (a kill -9 or a
    /// power loss mid-write). Temporary files of a live process are left alone.
    static func sweepStaleTemps(dir: String, base: String) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        let prefix = "." + base + ".tmp-"
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count).split(separator: "-", maxSplits: 1)
            guard rest.count == 2, let pid = pid_t(rest[0]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    // MARK: - helpers

    static func writeAll(fd: Int32, data: Data, path: String, operation: String = "write") throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard var p = raw.baseAddress else { return }
            var remaining = raw.count
            while remaining > 0 {
                let n = Glibc.write(fd, p, remaining)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw IOError(operation, path: path, errno: errno)
                }
                if n == 0 { throw IOError(operation, path: path, errno: EIO) }
                p += n
                remaining -= n
            }
        }
    }

    static func readAll(fd: Int32, path: String) throws -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("read", path: path, errno: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// fsync of a directory makes a rename or a create durable. Errors are ignored: some file
    /// systems refuse fsync on directories (EINVAL), and the data itself is already synced.
    static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return SHA256.hex((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &g) })
    }
}
