#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

/// A regular file read into its own anonymous memory mapping, followed by at least one 0
/// byte (the sentinel the parser stops at). Used by `TOMLParser.parse(contentsOfFile:)` for
/// large files so that the input does not stay resident while the value tree grows:
/// `release(before:)` gives the pages the parser has left behind back to the system
/// (`MADV_DONTNEED`), so at the end of the parse only about one window of the file is
/// resident. Error messages that look back (line:column of an earlier offset, "first
/// defined at", the detailed re-parse) call `restore()` first, which reads the released
/// part from the file again.
///
/// (Mapping the file itself does not work as well: the page cache holds large folios, and
/// touching one byte of a folio maps all of it, up to a megabyte at a time.)
final class _TOMLFileBuffer {
    /// The document bytes; `base[count]` is 0.
    let base: UnsafePointer<UInt8>
    let count: Int
    /// How far behind the cursor pages are released, and how often (a multiple of the page size).
    let window: Int
    private let mapped: UnsafeMutableRawPointer
    private let length: Int
    private let fd: Int32
    /// Everything before this offset has been released.
    private(set) var releasedUpTo = 0
    /// Number of releases done (for tests).
    private(set) var releaseCount = 0

    static let pageSize: Int = {
        let s = Int(sysconf(Int32(_SC_PAGESIZE)))
        return s > 0 ? s : 4096
    }()

    /// Files smaller than this are read into an ordinary array instead (nothing to gain).
    static let minimumSize = 512 * 1024
    /// The default window.
    static let defaultWindow = 32 * 1024

    private init(mapped: UnsafeMutableRawPointer, length: Int, count: Int, window: Int, fd: Int32) {
        self.mapped = mapped
        self.length = length
        self.count = count
        self.window = window
        self.fd = fd
        self.base = UnsafePointer(mapped.assumingMemoryBound(to: UInt8.self))
    }

    deinit {
        munmap(mapped, length)
        close(fd)
    }

    /// Reads `path` when it is a regular file of at least `minimumSize` bytes; nil otherwise
    /// or when anything fails (the caller then reads the file the ordinary way, which
    /// reports the errors).
    static func readIfLarge(_ path: String, minimumSize: Int = minimumSize, window: Int = defaultWindow) -> _TOMLFileBuffer? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) >= max(1, minimumSize) else {
            close(fd)
            return nil
        }
        let size = Int(st.st_size)
        let page = pageSize
        let length = (size + 1 + page - 1) / page * page
        guard let mem = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mem != MAP_FAILED else {
            close(fd)
            return nil
        }
        // The whole file, then the zero sentinel (the mapping is zero-filled). A file that
        // changed size since fstat is left to the ordinary reader.
        guard readFully(fd, into: mem, count: size, at: 0) == size, pread(fd, mem, 1, off_t(size)) == 0 else {
            munmap(mem, length)
            close(fd)
            return nil
        }
        let w = max(page, (window + page - 1) / page * page)
        return _TOMLFileBuffer(mapped: mem, length: length, count: size, window: w, fd: fd)
    }

    /// pread until `count` bytes are read or the file ends; returns the bytes read (-1 on error).
    private static func readFully(_ fd: Int32, into mem: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Int {
        var done = 0
        while done < count {
            let r = pread(fd, mem + done, count - done, off_t(offset + done))
            if r < 0 {
                if errno == EINTR { continue }
                return -1
            }
            if r == 0 { break }
            done += r
        }
        return done
    }

    /// Gives back the pages that lie entirely before `offset` (they read as 0 until `restore()`).
    func release(before offset: Int) {
        let end = min(offset, count) / Self.pageSize * Self.pageSize
        guard end > releasedUpTo else { return }
        _ = madvise(mapped + releasedUpTo, end - releasedUpTo, MADV_DONTNEED)
        releasedUpTo = end
        releaseCount += 1
    }

    /// Gives back every page (the buffer is not read after this).
    func releaseAll() {
        _ = madvise(mapped, length, MADV_DONTNEED)
        releasedUpTo = count
        releaseCount += 1
    }

    /// Reads the released part again, for messages that look back and for a second parse.
    /// If the file changed meanwhile, what it holds now is what they see.
    func restore() {
        guard releasedUpTo > 0 else { return }
        let n = releasedUpTo
        let got = Self.readFully(fd, into: mapped, count: n, at: 0)
        if got < n {
            // The file shrank: keep the buffer free of stray zeros so that scanning still
            // stops only at the sentinel.
            (mapped + max(0, got)).initializeMemory(as: UInt8.self, repeating: 0x20, count: n - max(0, got))
        }
        releasedUpTo = 0
    }
}
