import FoundationEssentials
import Glibc

/// ISO 8601 timestamps as used across tetra: UTC, whole seconds, `2026-11-21T17:03:00Z`.
/// Formatting uses `gmtime_r` (thread-safe, no formatter objects shared between threads).
public enum Timestamps {
    /// `2026-11-21T17:03:00Z` (UTC, seconds; fractions are truncated). Written digit by digit
    /// into one buffer: `ssl list` formats thousands of these.
    public static func iso8601(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        return String(unsafeUninitializedCapacity: 20) { buf in
            func put(_ v: Int32, _ at: Int, _ width: Int) {
                var x = Int(v)
                for k in stride(from: at + width - 1, through: at, by: -1) { buf[k] = UInt8(0x30 + x % 10); x /= 10 }
            }
            put(t.tm_year + 1900, 0, 4); buf[4] = 0x2D; put(t.tm_mon + 1, 5, 2); buf[7] = 0x2D; put(t.tm_mday, 8, 2)
            buf[10] = 0x54; put(t.tm_hour, 11, 2); buf[13] = 0x3A; put(t.tm_min, 14, 2); buf[16] = 0x3A; put(t.tm_sec, 17, 2)
            buf[19] = 0x5A
            return 20
        }
    }

    /// `20261121T170300Z`: sortable and safe in file names (release ids, backups).
    public static func compact(_ date: Date) -> String {
        let f = fields(date)
        return "\(pad(f.year, 4))\(pad(f.month))\(pad(f.day))T\(pad(f.hour))\(pad(f.minute))\(pad(f.second))Z"
    }

    /// An RFC 3339 time with any offset (git's `%cI`) as UTC (`...Z`); the text unchanged
    /// when it does not parse.
    public static func utc(_ text: String) -> String {
        parseISO8601(text).map(iso8601) ?? text
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (also a space or lower-case `t`
    /// instead of `T`, and `z`). Returns nil for anything else.
    public static func parseISO8601(_ text: String) -> Date? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += n
            return v
        }
        func expect(_ chars: [UInt8]) -> Bool {
            guard i < b.count, chars.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect([0x2D]), let month = digits(2), expect([0x2D]), let day = digits(2),
              expect([0x54, 0x74, 0x20]), let hour = digits(2), expect([0x3A]), let minute = digits(2),
              expect([0x3A]), let second = digits(2) else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                fraction += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign = b[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = digits(2), expect([0x3A]), let om = digits(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let epoch = timegm(&t)
        // timegm normalises out-of-range days (Feb 31 -> Mar 3): refuse those.
        guard t.tm_mday == Int32(day), t.tm_mon == Int32(month - 1) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(epoch - offset) + fraction)
    }

    private static func pad(_ v: Int32, _ width: Int = 2) -> String { NumberText.zeroPadded(v, width: width) }

    private static func fields(_ date: Date) -> (year: Int32, month: Int32, day: Int32, hour: Int32, minute: Int32, second: Int32) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        return (t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    }
}

/// A monotonic clock for measuring durations and deadlines (immune to wall-clock changes).
public enum Monotonic {
    /// Seconds since an arbitrary fixed point (boot).
    public static func now() -> TimeInterval {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return TimeInterval(ts.tv_sec) + TimeInterval(ts.tv_nsec) / 1e9
    }
}
