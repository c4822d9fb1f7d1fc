import FoundationEssentials
import Glibc

/// Facts about local processes, used to describe lock holders and detect dead ones.
public enum ProcessIdentity {
    /// True when a process with this pid exists. `kill(pid, 0)` failing with EPERM means it
    /// exists but belongs to another user: alive. A zombie counts as alive until reaped.
    public static func isAlive(pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM
    }

    /// The start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat),
    /// nil when unknown. Together with the pid it identifies a process across pid reuse.
    public static func startTime(pid: Int32) -> UInt64? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        return parseStartTime(statLine: String(decoding: data, as: UTF8.self))
    }

    /// Parses field 22 of a /proc/<pid>/stat line. The command (field 2) is in parentheses and
    /// may itself contain spaces and ')', so fields are counted from the *last* ')'.
    public static func parseStartTime(statLine: String) -> UInt64? { statFields(statLine).startTime }

    /// Field 3 (state, one letter) and field 22 (start time) of a /proc/PID/stat line, read
    /// on its bytes after the last ")" (the command may hold spaces and parentheses). Byte
    /// scanning: `svc list` and `tetra dash` check every service's processes each time.
    public static func statFields(_ statLine: String) -> (state: UInt8?, startTime: UInt64?) {
        var line = statLine
        return line.withUTF8 { bytes -> (UInt8?, UInt64?) in
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return (nil, nil) }
            var field = 2, i = close + 1, state: UInt8? = nil
            let isSpace = { (b: UInt8) in b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }
            while i < bytes.count {
                while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                guard i < bytes.count else { break }
                field += 1
                let start = i
                while i < bytes.count, !isSpace(bytes[i]) { i += 1 }
                if field == 3 { state = bytes[start] }
                if field == 22 {
                    var v: UInt64 = 0
                    for b in bytes[start..<i] {
                        guard b >= 0x30, b <= 0x39 else { return (state, nil) }
                        let (m, o1) = v.multipliedReportingOverflow(by: 10)
                        let (n, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
                        guard !o1, !o2 else { return (state, nil) }
                        v = n
                    }
                    return (state, v)
                }
            }
            return (state, nil)
        }
    }

    /// This process.
    public static var currentPID: Int32 { getpid() }

    /// The host name (`gethostname`), without any DNS lookup.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        let name = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
