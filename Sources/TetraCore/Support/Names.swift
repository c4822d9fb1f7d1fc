import FoundationEssentials

/// Validation of user-supplied names before they touch a path or a command line (SPEC §1).
public enum Names {
    public static let maxLength = 63
    public static let hint = "names use a-z, 0-9, '.', '_', '-' and start with a letter or digit (max 63)"

    /// True for `^[a-z0-9][a-z0-9_.-]{0,62}$` that is not `.`/`..` and does not contain `..`.
    public static func isValid(_ name: String) -> Bool { problem(with: name) == nil }

    /// Throws `CoreError.invalidArgument` (exit 2) naming `what` ("org", "env", "port", ...)
    /// and the reason, e.g. `invalid org name '../x': must start with a letter or digit`.
    public static func validate(_ name: String, what: String) throws {
        if let reason = problem(with: name) {
            throw CoreError.invalidArgument("invalid \(what) name '\(printable(name))': \(reason)", hint: hint)
        }
    }

    /// Validates and returns the name (for use in expressions).
    @discardableResult
    public static func validated(_ name: String, what: String) throws -> String {
        try validate(name, what: what)
        return name
    }

    /// Why a name is invalid, or nil when it is valid.
    public static func problem(with name: String) -> String? {
        let b = Array(name.utf8)
        if b.isEmpty { return "a name cannot be empty" }
        if b.count > maxLength { return "longer than \(maxLength) characters" }
        // Byte-level check: Foundation's String.contains(String) is slow enough to matter when
        // validating a 10,000-name registry.
        if b == [0x2E] || zip(b, b.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E }) { return "'..' is not allowed" }
        func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        if !isLowerAlnum(b[0]) {
            if b[0] >= 0x41 && b[0] <= 0x5A { return "upper-case letters are not allowed" }
            return "must start with a lower-case letter or digit"
        }
        for c in b where !(isLowerAlnum(c) || c == 0x2E || c == 0x5F || c == 0x2D) {
            if c >= 0x41 && c <= 0x5A { return "upper-case letters are not allowed" }
            if c == 0x2F { return "'/' is not allowed" }
            if c < 0x20 || c == 0x7F { return "control characters are not allowed" }
            if c == 0x20 { return "spaces are not allowed" }
            if c >= 0x80 { return "only ASCII letters, digits, '.', '_' and '-' are allowed" }
            return "'\(Character(Unicode.Scalar(c)))' is not allowed"
        }
        return nil
    }

    /// Validates a DNS name and returns it lower-cased: labels of 1-63 characters of a-z, 0-9
    /// and '-', not starting or ending with '-', at most 253 characters in all, at least one
    /// label; with `allowWildcard`, a leading `*.` followed by at least two labels.
    @discardableResult
    public static func validateDomain(_ domain: String, allowWildcard: Bool = false) throws -> String {
        let lower = domain.lowercased()
        func fail(_ reason: String) -> CoreError {
            CoreError.invalidArgument("invalid domain '\(printable(domain))': \(reason)",
                                      hint: allowWildcard ? "a DNS name such as example.com or *.example.com"
                                                          : "a DNS name such as example.com (no wildcards here)")
        }
        if lower.isEmpty { throw fail("a domain cannot be empty") }
        if lower.utf8.count > 253 { throw fail("longer than 253 characters") }
        if lower.hasSuffix(".") { throw fail("remove the trailing '.'") }
        var labels = lower.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.first == "*" {
            guard allowWildcard else { throw fail("wildcards are not allowed here") }
            labels.removeFirst()
            if labels.count < 2 { throw fail("a wildcard needs at least two labels after '*.' (*.example.com)") }
        }
        for label in labels {
            let b = Array(label.utf8)
            if b.isEmpty { throw fail("empty label") }
            if b.count > 63 { throw fail("label '\(printable(label))' is longer than 63 characters") }
            for c in b where !((c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D) {
                if c == 0x2A { throw fail("'*' is only allowed as the whole first label") }
                throw fail("label '\(printable(label))' may contain only a-z, 0-9 and '-'")
            }
            if b.first == 0x2D || b.last == 0x2D {
                throw fail("label '\(printable(label))' cannot start or end with '-'")
            }
        }
        if let last = labels.last, last.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            throw fail("the last label is numeric (an IP address is not a domain name)")
        }
        return lower
    }

    /// A name made safe for a one-line message: control and non-printable characters escaped.
    public static func printable(_ text: String, maxLength: Int = 80) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        if out.count > maxLength { out = String(out.prefix(maxLength)) + "…" }
        return out
    }
}
