import FoundationEssentials

/// Tags on orgs, environments, hosts, services, certificates, volumes and ports
/// (`tags = ["critical", "team:pay"]`, docs/search.md): lower-case letters, digits and
/// `.`, `_`, `-`, `:`, starting with a letter or digit, at most 63 bytes. `search tag:team:pay`
/// finds them.
public enum Tags {
    public static let hint = "tags use a-z, 0-9, '.', '_', '-', ':' and start with a letter or digit (max 63), e.g. team:pay"

    /// Why `tag` is not a valid tag, or nil.
    public static func problem(with tag: String) -> String? {
        let b = Array(tag.utf8)
        if b.isEmpty { return "a tag cannot be empty" }
        if b.count > 63 { return "longer than 63 characters" }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        guard alnum(b[0]) else { return "must start with a lower-case letter or digit" }
        for c in b where !(alnum(c) || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x3A) {
            if c >= 0x41 && c <= 0x5A { return "upper-case letters are not allowed" }
            return "'\(Names.printable(String(decoding: [c], as: UTF8.self)))' is not allowed"
        }
        return nil
    }

    /// Throws exit 2 for an invalid tag given on the command line.
    public static func validate(_ tag: String) throws {
        if let reason = problem(with: tag) {
            throw CoreError.invalidArgument("invalid tag '\(Names.printable(tag))': \(reason)", hint: hint)
        }
    }

    /// The problems of a `tags` list, one message per bad or repeated tag.
    public static func problems(_ tags: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for t in tags {
            if let reason = problem(with: t) { out.append("invalid tag '\(Names.printable(t))': \(reason)") }
            else if !seen.insert(t).inserted { out.append("tag '\(t)' is listed twice") }
        }
        return out
    }
}
