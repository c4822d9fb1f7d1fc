import FoundationEssentials

/// A size in bytes as written by users: `100B`, `512KB`, `10MB`, `1GiB`, `1.5GB`.
/// Decimal units are powers of 1000 (KB, MB, GB, TB), binary units powers of 1024
/// (KiB, MiB, GiB, TiB). Units are matched case-insensitively except that the `i` form
/// always means binary; a bare number means bytes.
public struct SizeValue: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func < (a: SizeValue, b: SizeValue) -> Bool { a.bytes < b.bytes }

    public var description: String { Self.format(bytes) }

    static let unitTable: [String: Double] = [
        "b": 1,
        "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
        "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
        "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
    ]

    static func error(_ text: String) -> CoreError {
        CoreError.invalidArgument("invalid size '\(Names.printable(text))' (expected e.g. 100B, 512KB, 10MB, 1GiB)",
                                  hint: "KB, MB, GB are powers of 1000; KiB, MiB, GiB powers of 1024")
    }

    /// Parses a size; throws `CoreError.invalidArgument` (exit 2).
    public static func parse(_ text: String) throws -> SizeValue {
        let trimmed = text.trimming(.whitespaces)
        let b = Array(trimmed.utf8)
        var i = 0
        var sawDot = false
        while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || (b[i] == 0x2E && !sawDot) {
            if b[i] == 0x2E { sawDot = true }
            i += 1
        }
        guard i > 0, let number = Double(String(decoding: b[0..<i], as: UTF8.self)), number.isFinite else {
            throw error(text)
        }
        let unit = String(decoding: b[i...], as: UTF8.self).trimming(.whitespaces).lowercased()
        let factor: Double
        if unit.isEmpty { factor = 1 } else if let f = unitTable[unit] { factor = f } else { throw error(text) }
        let value = (number * factor).rounded()
        guard value < 9.0e18 else { throw error(text) }
        return SizeValue(bytes: Int64(value))
    }

    /// Bytes of a size text.
    public static func bytes(_ text: String) throws -> Int64 { try parse(text).bytes }

    /// Human form: `512B`, `1KiB`, `1.5GiB` (binary, default) or `1.5GB` (decimal). One decimal
    /// at most, `.0` dropped. `parse(format(n))` returns n when the value is exact.
    public static func format(_ bytes: Int64, binary: Bool = true) -> String {
        let base: Double = binary ? 1024 : 1000
        let names = binary ? ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] : ["B", "KB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var index = 0
        while abs(value) >= base, index < names.count - 1 {
            value /= base
            index += 1
        }
        if index == 0 { return "\(bytes)B" }
        let rounded = (value * 10).rounded() / 10
        if rounded == rounded.rounded() { return "\(Int64(rounded))\(names[index])" }
        return NumberText.fixed(rounded, digits: 1) + names[index]
    }
}
