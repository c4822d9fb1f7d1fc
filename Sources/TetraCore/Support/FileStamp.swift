import FoundationEssentials
import Glibc

/// The identity of a file as `stat` reports it — device, inode, size, mtime and ctime in
/// nanoseconds — for caches that must notice any change to the file they summarise (the
/// way git keeps stat data in its index). Any write, rename over, `cp -p` or `touch`
/// changes one of them; ctime cannot be set by a user.
///
/// The rule every cache here follows ("racily clean" in git's terms): an entry is trusted
/// only when the file's stamp is unchanged AND its last change is older than the cache by
/// more than `FileStamp.margin`, so a write landing in the same coarse filesystem-clock tick
/// as the read that filled the cache can never pass for the cached content.
public struct FileStamp: Sendable, Equatable {
    public var device: UInt64, inode: UInt64, size: Int64, mtime: Int64, ctime: Int64

    /// One second, in nanoseconds.
    public static let margin: Int64 = 1_000_000_000

    public init(_ s: stat) {
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
        size = Int64(s.st_size)
        mtime = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
        ctime = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
    }

    /// The stamp of `path` (following links; relative paths from `directory`, an open
    /// directory descriptor), nil when it cannot be stat'ed.
    public static func of(_ path: String, relativeTo directory: Int32 = AT_FDCWD) -> FileStamp? {
        var s = stat()
        guard fstatat(directory, path, &s, 0) == 0 else { return nil }
        return FileStamp(s)
    }

    /// Parses the five numbers `fields` writes.
    public init?<S: StringProtocol>(fields: [S]) {
        guard fields.count == 5, let d = UInt64(fields[0]), let i = UInt64(fields[1]), let s = Int64(fields[2]),
              let m = Int64(fields[3]), let c = Int64(fields[4]) else { return nil }
        device = d; inode = i; size = s; mtime = m; ctime = c
    }

    /// "device inode size mtime ctime".
    public var fields: String { "\(device) \(inode) \(size) \(mtime) \(ctime)" }

    /// Whether the file last changed more than `margin` before `time` (nanoseconds).
    public func settled(before time: Int64, margin: Int64 = FileStamp.margin) -> Bool {
        ctime < time - margin && mtime < time - margin
    }

    /// The wall clock in nanoseconds (the clock file timestamps come from).
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// FNV-1a, for caches written without fsync: a torn file must be detected, not trusted.
    public static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
