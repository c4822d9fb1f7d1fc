import FoundationEssentials
import Glibc

/// Path strings taken apart as NSString did (`lastPathComponent`, `deletingLastPathComponent`,
/// `standardizingPath`): NSString is a Foundation API, and tetra imports only FoundationEssentials.
public enum PathText {
    /// Repeated slashes collapsed and a trailing one dropped (`/` stays `/`).
    static func fixingSlashes(_ path: String) -> String {
        var out = ""
        out.reserveCapacity(path.utf8.count)
        var lastWasSlash = false
        for c in path {
            if c == "/" && lastWasSlash { continue }
            lastWasSlash = c == "/"
            out.append(c)
        }
        if out.count > 1 && out.hasSuffix("/") { out.removeLast() }
        return out
    }

    /// `/a/b/` -> `b`; `/` -> `/`; `a` -> `a`; `` -> ``.
    public static func lastComponent(_ path: String) -> String {
        let p = fixingSlashes(path)
        if p == "/" { return p }
        guard let slash = p.lastIndex(of: "/") else { return p }
        return String(p[p.index(after: slash)...])
    }

    /// `/a/b` -> `/a`; `/a` -> `/`; `/` -> `/`; `a` -> ``; `a/b/` -> `a`.
    public static func parent(_ path: String) -> String {
        let p = fixingSlashes(path)
        if p == "/" || p.isEmpty { return p }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    /// An absolute path with `.`, `..` and repeated slashes removed and symlinks resolved as
    /// far as the path exists; the part that does not exist is kept as written.
    public static func standardized(_ absolute: String) -> String {
        var out = "/"
        var exists = true
        for c in absolute.split(separator: "/") where c != "." {
            if c == ".." {
                out = parent(out)
                continue
            }
            let next = (out == "/" ? "" : out) + "/" + c
            if exists, let resolved = realpath(next, nil) {
                out = String(cString: resolved)
                free(resolved)
            } else {
                exists = false
                out = next
            }
        }
        return out
    }
}
