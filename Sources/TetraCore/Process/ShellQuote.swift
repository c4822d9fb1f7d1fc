import FoundationEssentials

/// POSIX shell quoting for the rare unavoidable remote shell command line (ssh passes its
/// arguments to the remote user's shell as one string). Everything else uses argv arrays.
public enum ShellQuote {
    /// Quotes one word so that a POSIX shell reads it back as exactly `s`: safe words stay
    /// bare, everything else is wrapped in single quotes with `'` written as `'\''`; the
    /// empty string becomes `''`.
    public static func quote(_ s: String) -> String {
        if s.isEmpty { return "''" }
        if isSafeBare(s) { return s }
        return "'" + s.replacingAll("'", with: "'\\''") + "'"
    }

    /// Quotes each word and joins them with spaces.
    public static func join(_ words: [String]) -> String {
        words.map(quote).joined(separator: " ")
    }

    /// Characters that are never special to a POSIX shell in any position of a word we emit.
    /// Deliberately excluded: `=` (a first word `a=b` would be an assignment), `~` (tilde
    /// expansion), `{}` (brace expansion in bash), `^` (a pipe in old Bourne shells), and all
    /// glob, quote, expansion and control characters.
    static func isSafeBare(_ s: String) -> Bool {
        s.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == 0x2D /* - */ || c == 0x5F /* _ */ || c == 0x2E /* . */ || c == 0x2F /* / */
                || c == 0x3A /* : */ || c == 0x2C /* , */ || c == 0x2B /* + */ || c == 0x40 /* @ */
                || c == 0x25 /* % */
        }
    }
}
