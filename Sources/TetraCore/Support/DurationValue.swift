import FoundationEssentials

/// A duration as written on the command line and in config files: `500ms`, `30s`, `5m`,
/// `2h`, `7d`, and combinations in decreasing order such as `1h30m` or `2m30s`.
/// Decimal numbers are accepted (`1.5h`); a bare number without a unit is not (is `30`
/// seconds or minutes?), except `0`, which is zero in every unit (`--lock-wait 0`).
public struct DurationValue: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: TimeInterval

    public init(seconds: TimeInterval) { self.seconds = seconds }

    public static func < (a: DurationValue, b: DurationValue) -> Bool { a.seconds < b.seconds }

    /// The canonical spelling (`1h30m`, `500ms`); `parse(description)` gives the value back.
    public var description: String { Self.format(seconds) }

    static let units: [(name: String, seconds: Double)] = [
        ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1), ("ms", 0.001),
    ]

    static func error(_ text: String) -> CoreError {
        CoreError.invalidArgument("invalid duration '\(Names.printable(text))' (expected e.g. 500ms, 30s, 5m, 2h, 7d)",
                                  hint: "a duration is a number followed by ms, s, m, h or d; parts combine as in 1h30m")
    }

    /// Parses a duration; throws `CoreError.invalidArgument` (exit 2) with the expected forms.
    public static func parse(_ text: String) throws -> DurationValue {
        let b = Array(text.trimming(.whitespaces).utf8)
        guard !b.isEmpty else { throw error(text) }
        if b == [0x30] { return DurationValue(seconds: 0) }
        var i = 0
        var total = 0.0
        var lastRank = -1
        while i < b.count {
            // number
            let numStart = i
            var sawDot = false
            while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || (b[i] == 0x2E && !sawDot) {
                if b[i] == 0x2E { sawDot = true }
                i += 1
            }
            guard i > numStart, let number = Double(String(decoding: b[numStart..<i], as: UTF8.self)),
                  number.isFinite else { throw error(text) }
            // unit
            let unitStart = i
            while i < b.count, (b[i] >= 0x61 && b[i] <= 0x7A) || (b[i] >= 0x41 && b[i] <= 0x5A) { i += 1 }
            let unit = String(decoding: b[unitStart..<i], as: UTF8.self).lowercased()
            guard let rank = units.firstIndex(where: { $0.name == unit }) else { throw error(text) }
            // Units must decrease (1h30m, not 30m1h or 1h1h).
            guard rank > lastRank else { throw error(text) }
            lastRank = rank
            total += number * units[rank].seconds
        }
        guard total.isFinite, total < 1e12 else { throw error(text) }
        return DurationValue(seconds: total)
    }

    /// Seconds of a duration text (convenience for `parse(text).seconds`).
    public static func seconds(_ text: String) throws -> TimeInterval { try parse(text).seconds }

    /// `0s`, `500ms`, `30s`, `1m30s`, `2h`, `7d`, `1d2h`. Sub-millisecond parts are rounded.
    public static func format(_ seconds: TimeInterval) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        let negative = seconds < 0
        var ms = Int64((abs(seconds) * 1000).rounded())
        if ms == 0 { return "0s" }
        var out = negative ? "-" : ""
        let parts: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
        for (name, size) in parts where ms >= size {
            out += "\(ms / size)\(name)"
            ms %= size
        }
        return out
    }
}

/// The duration parser used by the CLI for `--lock-wait`, `--since`, `--timeout`, ...
public enum DurationParser {
    /// Seconds of `500ms`, `30s`, `5m`, `2h`, `7d`, `1h30m`; throws `CoreError.invalidArgument`.
    public static func parse(_ text: String) throws -> TimeInterval { try DurationValue.parse(text).seconds }
    public static func format(_ seconds: TimeInterval) -> String { DurationValue.format(seconds) }
}
