#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

/// A regular file mapped read-only (`MAP_PRIVATE`) and followed by at least one 0 byte,
/// the sentinel the parser stops at. Used by `TOMLParser.parse(contentsOfFile:)` for large
/// files so that the input never sits on the heap: `release(before:)` drops the pages the
/// parser has left behind (`MADV_DONTNEED`), so the resident part of the file stays within
/// about one window while the value tree grows. A dropped page of a private, unmodified
/// file mapping reads the file again when touched, so error messages that look back
/// (line:column of an earlier offset, "opened at", "first defined at") still work.
///
/// Like any reader, a file changed while it is being parsed gives an inconsistent view; a
/// file truncated while it is being parsed stops the process with SIGBUS (configuration
/// files are replaced with rename, which keeps the mapped inode intact).
final class _TOMLMappedFile {
    /// The document bytes; `base[count]` is 0.
    let base: UnsafePointer<UInt8>
    let count: Int
    private let mapped: UnsafeMutableRawPointer
    private let length: Int
    /// How far behind the cursor pages are released, and how often (a multiple of the page size).
    let window: Int
    /// Everything before this offset has been released.
    private(set) var releasedUpTo = 0
    /// Number of releases done (for tests).
    private(set) var releaseCount = 0

    static let pageSize: Int = {
        let s = Int(sysconf(Int32(_SC_PAGESIZE)))
        return s > 0 ? s : 4096
    }()

    /// Files smaller than this are read into memory instead (mapping them saves nothing).
    static let minimumSize = 512 * 1024
    /// The default window.
    static let defaultWindow = 64 * 1024

    private init(mapped: UnsafeMutableRawPointer, length: Int, count: Int, window: Int) {
        self.window = window
        self.mapped = mapped
        self.length = length
        self.count = count
        self.base = UnsafePointer(mapped.assumingMemoryBound(to: UInt8.self))
    }

    deinit { munmap(mapped, length) }

    /// Maps `path` when it is a regular file of at least `minimumSize` bytes; nil otherwise
    /// or when anything fails (the caller then reads the file, which reports the errors).
    static func mapIfLarge(_ path: String, minimumSize: Int = minimumSize, window: Int = defaultWindow) -> _TOMLMappedFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) >= minimumSize else { return nil }
        return map(fd: fd, size: Int(st.st_size), window: window)
    }

    /// Maps the open regular file `fd` of `size` bytes; nil when mapping is not possible
    /// (the caller reads the file instead).
    static func map(fd: Int32, size: Int, window: Int = defaultWindow) -> _TOMLMappedFile? {
        guard size > 0 else { return nil }
        let page = pageSize
        // Reserve room for the file plus the sentinel, then map the file over the start of
        // it. Bytes after the end of the file in its last page read as 0, and when the size
        // is a multiple of the page size the sentinel is the anonymous page that follows.
        let length = (size + 1 + page - 1) / page * page
        guard let reserve = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              reserve != MAP_FAILED else { return nil }
        guard let file = mmap(reserve, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0),
              file != MAP_FAILED, file == reserve else {
            munmap(reserve, length)
            return nil
        }
        let w = max(page, (window + page - 1) / page * page)
        return _TOMLMappedFile(mapped: reserve, length: length, count: size, window: w)
    }

    /// Drops the resident pages that lie entirely before `offset`.
    func release(before offset: Int) {
        let end = min(offset, count) / Self.pageSize * Self.pageSize
        guard end > releasedUpTo else { return }
        _ = madvise(mapped + releasedUpTo, end - releasedUpTo, MADV_DONTNEED)
        releasedUpTo = end
        releaseCount += 1
    }

    /// Drops every resident page (they read the file again when touched).
    func releaseAll() {
        _ = madvise(mapped, length, MADV_DONTNEED)
        releasedUpTo = 0
        releaseCount += 1
    }
}
