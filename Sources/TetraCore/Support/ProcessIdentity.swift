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
    public static func parseStartTime(statLine: String) -> UInt64? {
        guard let close = statLine.lastIndex(of: ")") else { return nil }
        let rest = statLine[statLine.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] is field 3 (state); field 22 is rest[19].
        guard rest.count > 19 else { return nil }
        return UInt64(rest[19].trimming(.whitespacesAndNewlines))
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
