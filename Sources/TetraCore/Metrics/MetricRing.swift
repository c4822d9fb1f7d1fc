import FoundationEssentials
import Glibc

/// A metrics ring file: a 64-byte header, then `capacity` fixed-size records
/// (`MetricRecord`, 96 bytes). Its size is fixed when it is created; record `seq` lives in
/// slot `(seq - 1) % capacity`, so the newest record overwrites the oldest.
///
/// Header, little-endian: `magic "tetramtr" | version u32 | record_size u32 | capacity u32 |
/// step_seconds u32 (0: one record per sample) | checksum u32 (FNV-1a of the 24 bytes before)`,
/// the rest zero.
///
/// Each write is one `pwrite` of one record at its slot: no rename, no fsync. A writer killed
/// (even mid-`pwrite`, or by a power loss) leaves at most one record half written; its
/// checksum does not match and readers skip it, so no sequence of crashes can make a ring
/// unreadable. A rename per sample would cost a file creation, a copy of the whole ring and a
/// directory update every few seconds for nothing the checksum does not already give.
public struct MetricRing: Sendable {
    public static let headerSize = 64
    public static let version: UInt32 = 1
    static let magic = Array("tetramtr".utf8)

    public var path: String
    public var capacity: Int
    public var stepSeconds: Int

    /// Bytes of a ring file of `capacity` records.
    public static func fileSize(capacity: Int) -> Int { headerSize + capacity * MetricRecord.size }

    public init(path: String, capacity: Int, stepSeconds: Int) {
        self.path = path
        self.capacity = capacity
        self.stepSeconds = stepSeconds
    }

    /// Why the ring at `path` cannot be read: not a ring, another version or record size.
    public struct Corrupt: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "metrics ring \(path) is corrupt (\(reason))" }
    }

    func headerBytes() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.headerSize)
        b.replaceSubrange(0..<8, with: Self.magic)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: UInt32(MetricRecord.size).littleEndian, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: UInt32(capacity).littleEndian, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: UInt32(stepSeconds).littleEndian, toByteOffset: 20, as: UInt32.self)
        }
        let sum = Self.fnv(b[0..<24])
        b.withUnsafeMutableBytes { $0.storeBytes(of: sum.littleEndian, toByteOffset: 24, as: UInt32.self) }
        return b
    }

    static func fnv(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for byte in bytes { h = (h ^ UInt32(byte)) &* 16_777_619 }
        return h
    }

    /// Checks a file's header against this ring's shape.
    func checkHeader(_ bytes: [UInt8], fileSize: Int) throws {
        func corrupt(_ why: String) -> Corrupt { Corrupt(path: path, reason: why) }
        guard bytes.count >= Self.headerSize, Array(bytes[0..<8]) == Self.magic else { throw corrupt("not a metrics ring") }
        func u32(_ o: Int) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) } }
        guard u32(24) == Self.fnv(bytes[0..<24]) else { throw corrupt("header checksum does not match") }
        guard u32(8) == Self.version else { throw corrupt("version \(u32(8)), this tetra reads \(Self.version)") }
        guard u32(12) == UInt32(MetricRecord.size) else { throw corrupt("record size \(u32(12)), expected \(MetricRecord.size)") }
        guard u32(16) == UInt32(capacity), u32(20) == UInt32(stepSeconds) else {
            throw corrupt("capacity \(u32(16)) step \(u32(20))s, expected \(capacity) step \(stepSeconds)s")
        }
        guard fileSize == Self.fileSize(capacity: capacity) else { throw corrupt("size \(fileSize), expected \(Self.fileSize(capacity: capacity))") }
    }

    /// Opens a regular file (never through a symlink) and returns its descriptor and size.
    static func openRegular(_ path: String, flags: Int32) throws -> (Int32, Int) {
        let fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CoreError.failed("cannot open metrics ring \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CoreError.failed("metrics ring \(path) is not a regular file")
        }
        return (fd, Int(st.st_size))
    }

    static func readAll(_ fd: Int32, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Every written record of the file, oldest first. A missing file is empty; a torn or
    /// never written record is skipped; a file that is not this ring throws `Corrupt`.
    public func read() throws -> [MetricRecord] {
        guard LocalFiles.exists(path) else { return [] }
        let (fd, size) = try Self.openRegular(path, flags: O_RDONLY)
        defer { close(fd) }
        let bytes = Self.readAll(fd, size: size)
        try checkHeader(bytes, fileSize: size)
        return Self.records(in: bytes, capacity: capacity)
    }

    static func records(in bytes: [UInt8], capacity: Int) -> [MetricRecord] {
        var out: [MetricRecord] = []
        out.reserveCapacity(capacity)
        bytes.withUnsafeBytes { p in
            for slot in 0..<capacity {
                let start = headerSize + slot * MetricRecord.size
                guard start + MetricRecord.size <= p.count else { break }
                if let r = MetricRecord.decode(UnsafeRawBufferPointer(rebasing: p[start..<(start + MetricRecord.size)])),
                   Int((r.seq - 1) % UInt32(capacity)) == slot {
                    out.append(r)
                }
            }
        }
        out.sort { $0.seq < $1.seq }
        // Records older than a full turn of the ring (left by a writer that restarted its
        // sequence) are dropped: the newest `capacity` sequence numbers are the ring.
        if let last = out.last?.seq, last > UInt32(capacity) {
            out.removeAll { $0.seq <= last - UInt32(capacity) }
        }
        return out
    }
}

/// A ring open for writing (by the service's supervisor alone).
public final class MetricRingWriter {
    public let ring: MetricRing
    let fd: Int32
    /// The newest record (nil: the ring is empty).
    public private(set) var last: MetricRecord?

    /// Opens the ring, creating it at its full size when it is missing. A corrupt file is moved
    /// aside to `<path>.corrupt` and a new ring started; `warn` names it.
    public init(_ ring: MetricRing, warn: (String) -> Void) throws {
        self.ring = ring
        if LocalFiles.exists(ring.path) {
            do {
                let (fd, size) = try MetricRing.openRegular(ring.path, flags: O_RDWR)
                let bytes = MetricRing.readAll(fd, size: size)
                do {
                    try ring.checkHeader(bytes, fileSize: size)
                    self.fd = fd
                    last = MetricRing.records(in: bytes, capacity: ring.capacity).last
                    return
                } catch {
                    close(fd)
                    throw error
                }
            } catch let corrupt as MetricRing.Corrupt {
                warn("\(corrupt); moved to \(ring.path).corrupt, a new ring is started")
                guard rename(ring.path, ring.path + ".corrupt") == 0 else {
                    throw CoreError.failed("cannot move \(ring.path) aside: \(String(cString: strerror(errno)))")
                }
            }
        }
        fd = try Self.create(ring)
    }

    /// A new ring: written under a temporary name at its full size, then renamed in place.
    static func create(_ ring: MetricRing) throws -> Int32 {
        let temp = ring.path + ".new"
        unlink(temp)
        let (fd, _) = try MetricRing.openRegular(temp, flags: O_RDWR | O_CREAT | O_EXCL)
        let header = ring.headerBytes()
        let ok = header.withUnsafeBytes { pwrite(fd, $0.baseAddress!, header.count, 0) } == header.count
            && ftruncate(fd, off_t(MetricRing.fileSize(capacity: ring.capacity))) == 0
            && rename(temp, ring.path) == 0
        guard ok else {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(temp)
            throw CoreError.failed("cannot create metrics ring \(ring.path): \(reason)")
        }
        return fd
    }

    deinit { close(fd) }

    /// Writes `record` at its slot (one pwrite).
    public func write(_ record: MetricRecord) {
        let bytes = record.encoded()
        let slot = Int((record.seq - 1) % UInt32(ring.capacity))
        let offset = off_t(MetricRing.headerSize + slot * MetricRecord.size)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, bytes.count, offset) }
        last = record
    }
}
