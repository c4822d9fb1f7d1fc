import Dispatch
import FoundationEssentials
import Glibc

/// A log file written line by line with a timestamp per line, rotated by size:
/// `stdout.log` → `stdout.log.1` → ... → `stdout.log.<keep>` (the oldest is dropped).
/// Rotation happens between lines, by the only writer, so no line is ever lost or split.
public final class RotatingLog: @unchecked Sendable {
    public let path: String
    public let maxSize: Int64
    public let keep: Int
    private let lock = Lock()
    private var fd: Int32 = -1
    private var size: Int64 = 0

    public init(path: String, maxSize: Int64, keep: Int) {
        self.path = path
        self.maxSize = maxSize
        self.keep = keep
    }

    deinit { if fd >= 0 { close(fd) } }

    private func openIfNeeded() {
        guard fd < 0 else { return }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        var st = stat()
        size = (fd >= 0 && fstat(fd, &st) == 0) ? Int64(st.st_size) : 0
    }

    /// Appends complete lines (each ending in "\n"), rotating before a line that would make
    /// the file larger than `maxSize`.
    public func append(lines: [[UInt8]]) {
        lock.lock()
        defer { lock.unlock() }
        openIfNeeded()
        guard fd >= 0 else { return }
        var batch: [UInt8] = []
        for line in lines {
            if size + Int64(batch.count) > 0, size + Int64(batch.count) + Int64(line.count) > maxSize {
                flush(&batch)
                rotate()
                guard fd >= 0 else { return }
            }
            batch += line
        }
        flush(&batch)
    }

    private func flush(_ batch: inout [UInt8]) {
        guard !batch.isEmpty else { return }
        var off = 0
        batch.withUnsafeBytes { buf in
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 { if errno == EINTR { continue }; break }
                off += n
            }
        }
        size += Int64(off)
        batch.removeAll(keepingCapacity: true)
    }

    private func rotate() {
        close(fd)
        fd = -1
        unlink("\(path).\(keep)")
        if keep > 1 {
            for i in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(i)", "\(path).\(i + 1)") }
        }
        rename(path, "\(path).1")
        openIfNeeded()
    }

    /// The files of a log, oldest first (rotated ones, then the live one).
    public static func files(_ path: String) -> [String] {
        var out: [String] = []
        var i = 1
        while FileManager.default.fileExists(atPath: "\(path).\(i)") { out.append("\(path).\(i)"); i += 1 }
        out.reverse()
        if FileManager.default.fileExists(atPath: path) { out.append(path) }
        return out
    }
}

/// Splits a byte stream into lines, stamping each with the time its first byte arrived.
/// A line longer than `maxLine` is cut (the rest continues as a new line).
public struct LineAssembler: Sendable {
    public var maxLine = 65536
    private var partial: [UInt8] = []
    private var partialTime: Date? = nil

    public init() {}

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, at time: Date) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for b in bytes {
            if partial.isEmpty, partialTime == nil { partialTime = time }
            if b == 0x0A {
                out.append(Self.stamp(partial, partialTime ?? time))
                partial.removeAll(keepingCapacity: true)
                partialTime = nil
            } else {
                partial.append(b)
                if partial.count >= maxLine {
                    out.append(Self.stamp(partial, partialTime ?? time))
                    partial.removeAll(keepingCapacity: true)
                    partialTime = nil
                }
            }
        }
        return out
    }

    /// The unterminated rest at end of stream.
    public mutating func finish(at time: Date) -> [[UInt8]] {
        guard !partial.isEmpty else { return [] }
        defer { partial.removeAll(); partialTime = nil }
        return [Self.stamp(partial, partialTime ?? time)]
    }

    static func stamp(_ line: [UInt8], _ time: Date) -> [UInt8] {
        Array(ServiceRecord.formatDate(time).utf8) + [0x20] + line + [0x0A]
    }
}

/// Reads a pipe until EOF on its own thread, writing timestamped lines to a log.
final class PipeLogger: @unchecked Sendable {
    let fd: Int32
    let log: RotatingLog
    let done = DispatchSemaphore(value: 0)

    init(fd: Int32, log: RotatingLog) {
        self.fd = fd
        self.log = log
    }

    func start() {
        Threads.start(name: "tetra-log-pump", stackSize: 1 << 18) { [self] in
            var assembler = LineAssembler()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                let now = Date()
                let lines = buffer.withUnsafeBytes { assembler.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: now) }
                if !lines.isEmpty { log.append(lines: lines) }
            }
            let rest = assembler.finish(at: Date())
            if !rest.isEmpty { log.append(lines: rest) }
            close(fd)
            done.signal()
        }
    }
}

/// One line of `svc logs`.
public struct LogLine: Sendable, Encodable, Equatable {
    public var time: Date?
    public var stream: String
    public var line: String
}

public enum LogReader {
    /// Splits `2026-11-21T20:15:03.123Z text` into its time and text.
    public static func parse(_ raw: Substring, stream: String) -> LogLine {
        if let space = raw.firstIndex(of: " "), let t = Timestamps.parseISO8601(String(raw[..<space])) {
            return LogLine(time: t, stream: stream, line: String(raw[raw.index(after: space)...]))
        }
        return LogLine(time: nil, stream: stream, line: String(raw))
    }

    /// The last `limit` lines (all when nil) at or after `since`, oldest first, across the
    /// rotated files.
    public static func read(_ path: String, stream: String, since: Date?, limit: Int?) -> [LogLine] {
        var lines: [LogLine] = []
        for file in RotatingLog.files(path) {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) where !raw.isEmpty {
                let l = parse(raw, stream: stream)
                if let since, let t = l.time, t < since { continue }
                lines.append(l)
            }
        }
        if let limit, lines.count > limit { lines = Array(lines.suffix(limit)) }
        return lines
    }
}

/// Follows a live log file (`svc logs -f`): new complete lines since the last call, across
/// rotations (a new inode at the path).
public final class LogFollower: @unchecked Sendable {
    let path: String
    let stream: String
    private var inode: UInt64 = 0
    private var offset: Int64 = 0
    private var pending: [UInt8] = []

    /// Starts at the current end of the file.
    public init(path: String, stream: String) {
        self.path = path
        self.stream = stream
        var st = stat()
        if stat(path, &st) == 0 {
            inode = UInt64(st.st_ino)
            offset = Int64(st.st_size)
        }
    }

    public func poll() -> [LogLine] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        var out: [LogLine] = []
        if UInt64(st.st_ino) != inode {
            // Rotated: finish the old file (now path.1), then start the new one from 0.
            if inode != 0 { out += readFrom("\(path).1", expectInode: inode) }
            inode = UInt64(st.st_ino)
            offset = 0
            pending = []
        }
        out += readFrom(path, expectInode: inode)
        return out
    }

    private func readFrom(_ file: String, expectInode: UInt64) -> [LogLine] {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, UInt64(st.st_ino) == expectInode, Int64(st.st_size) > offset else { return [] }
        lseek(fd, off_t(offset), SEEK_SET)
        var buf = [UInt8](repeating: 0, count: Int(Int64(st.st_size) - offset))
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return [] }
        offset += Int64(n)
        pending += buf[0..<n]
        var out: [LogLine] = []
        while let nl = pending.firstIndex(of: 0x0A) {
            let raw = String(decoding: pending[..<nl], as: UTF8.self)
            out.append(LogReader.parse(Substring(raw), stream: stream))
            pending.removeSubrange(...nl)
        }
        return out
    }
}
