import FoundationEssentials

/// String helpers that Foundation has but FoundationEssentials does not (tetra imports only
/// FoundationEssentials: anything from `Foundation` links all of it and ICU's data, 40+ MB).
/// Matching is on code units (bytes), like NSString's literal search, never on graphemes.
public enum TrimSet: Sendable {
    /// Spaces and tabs (Unicode White_Space without line breaks).
    case whitespaces
    /// Line breaks: LF, VT, FF, CR, NEL, U+2028, U+2029.
    case newlines
    /// Both (Unicode White_Space).
    case whitespacesAndNewlines

    func contains(_ u: Unicode.Scalar) -> Bool {
        let isNewline = (0x0A...0x0D).contains(u.value) || u.value == 0x85 || u.value == 0x2028 || u.value == 0x2029
        switch self {
        case .whitespaces: return u.properties.isWhitespace && !isNewline
        case .newlines: return isNewline
        case .whitespacesAndNewlines: return u.properties.isWhitespace
        }
    }
}

extension StringProtocol {
    /// The string without leading and trailing characters of `set`.
    public func trimming(_ set: TrimSet) -> String {
        let scalars = String(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !set.contains($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !set.contains($0) })!
        return String(scalars[first...last])
    }

    /// Every occurrence of `target` replaced by `replacement` (left to right, not overlapping).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        let text = Array(utf8), pattern = Array(target.utf8)
        guard !pattern.isEmpty, text.count >= pattern.count else { return String(self) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        var changed = false
        while i < text.count {
            if text[i] == pattern[0], i + pattern.count <= text.count, text[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: replacement.utf8)
                i += pattern.count
                changed = true
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return changed ? String(decoding: out, as: UTF8.self) : String(self)
    }

    /// The range of the first occurrence of `target` (code units compared, like NSString).
    public func firstRange(ofLiteral target: String) -> Range<Index>? {
        let pattern = Array(target.utf8)
        guard !pattern.isEmpty else { return nil }
        let view = utf8
        var start = view.startIndex
        while start != view.endIndex {
            var a = start, b = 0
            while b < pattern.count, a != view.endIndex, view[a] == pattern[b] {
                a = view.index(after: a)
                b += 1
            }
            if b == pattern.count { return start..<a }
            start = view.index(after: start)
        }
        return nil
    }

    /// Left-aligned in a column of `width` characters: padded with spaces, never cut.
    public func padded(to width: Int) -> String {
        let n = count
        return n >= width ? String(self) : String(self) + String(repeating: " ", count: width - n)
    }
}

/// Numbers as text without `String(format:)` (a Foundation API).
public enum NumberText {
    /// `value` with exactly `digits` decimals, ties to even, like printf (`%.1f`).
    public static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrEven)
        guard scaled < 9.0e18 else { return "\(value)" }
        let n = Int64(scaled)
        let whole = n / Int64(scale), frac = n % Int64(scale)
        let sign = value < 0 && n != 0 ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        return sign + String(whole) + "." + zeroPadded(Int(frac), width: digits)
    }

    /// `value` in decimal with leading zeros to `width` digits (`%04d`); negative numbers keep the sign first.
    public static func zeroPadded<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value.magnitude)
        let pad = digits.count < width ? String(repeating: "0", count: width - digits.count) : ""
        return (value < 0 ? "-" : "") + pad + digits
    }

    /// Lower-case hex with leading zeros to `width` digits (`%08x`).
    public static func hex<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16)
        return digits.count < width ? String(repeating: "0", count: width - digits.count) + digits : digits
    }
}
