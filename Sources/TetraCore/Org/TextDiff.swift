import FoundationEssentials

/// File-level and line-level differences between rendered trees.
public struct FileChanges: Codable, Sendable, Equatable {
    public var added: [String]
    public var removed: [String]
    public var changed: [String]

    public init(added: [String] = [], removed: [String] = [], changed: [String] = []) {
        self.added = added
        self.removed = removed
        self.changed = changed
    }

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    public var count: Int { added.count + removed.count + changed.count }

    /// From `old` to `new` (path → sha256).
    public static func between(old: [String: String], new: [String: String]) -> FileChanges {
        var c = FileChanges()
        var matched = 0
        for (path, hash) in new {
            if let o = old[path] {
                matched += 1
                if o != hash { c.changed.append(path) }
            } else {
                c.added.append(path)
            }
        }
        // Every old path was matched: nothing was removed (no second pass over old).
        if matched < old.count {
            for path in old.keys where new[path] == nil { c.removed.append(path) }
        }
        c.added.sort(by: ReleaseManifest.pathOrder)
        c.removed.sort(by: ReleaseManifest.pathOrder)
        c.changed.sort(by: ReleaseManifest.pathOrder)
        return c
    }

    /// `+ a`, `- b`, `~ c` lines.
    public var lines: [String] {
        added.map { "+ " + $0 } + removed.map { "- " + $0 } + changed.map { "~ " + $0 }
    }
}

/// Unified diffs of text files (a longest-common-subsequence line diff; very large files are
/// shown as replaced whole).
public enum TextDiff {
    public static func unified(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        // Lines keep their newline: a last line without one differs from the same text with
        // one, and is marked as `diff -u` marks it.
        let a = lines(old), b = lines(new)
        let ops = diff(a, b)
        var out = "--- \(oldName)\n+++ \(newName)\n"
        // Group ops into hunks.
        var i = 0
        while i < ops.count {
            guard let start = ops[i...].firstIndex(where: { $0.kind != .same }) else { break }
            var end = start
            var j = start
            while j < ops.count {
                if ops[j].kind != .same { end = j; j += 1; continue }
                // Run of same lines: does another change follow within 2*context?
                let nextChange = ops[j...].firstIndex(where: { $0.kind != .same })
                if let n = nextChange, n - j <= 2 * context { j = n; continue }
                break
            }
            let lo = max(0, start - context)
            let hi = min(ops.count - 1, end + context)
            let slice = ops[lo...hi]
            let oldStart = (slice.first { $0.kind != .insert }?.oldLine ?? ops[lo].oldLine)
            let newStart = (slice.first { $0.kind != .delete }?.newLine ?? ops[lo].newLine)
            let oldCount = slice.filter { $0.kind != .insert }.count
            let newCount = slice.filter { $0.kind != .delete }.count
            func range(_ start: Int, _ count: Int) -> String {
                count == 1 ? "\(start + 1)" : "\(start + (count > 0 ? 1 : 0)),\(count)"
            }
            out += "@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\n"
            for op in slice {
                switch op.kind {
                case .same: out += " " + op.text
                case .delete: out += "-" + op.text
                case .insert: out += "+" + op.text
                }
                if !op.text.hasSuffix("\n") { out += "\n\\ No newline at end of file\n" }
            }
            i = hi + 1
        }
        return out
    }

    /// The lines of `text`, each with its newline (the last one may have none); "" has none.
    static func lines(_ text: String) -> [String] {
        var out: [String] = []
        var line = ""
        for c in text.unicodeScalars {
            line.unicodeScalars.append(c)
            if c == "\n" { out.append(line); line = "" }
        }
        if !line.isEmpty { out.append(line) }
        return out
    }

    struct Op { enum Kind { case same, delete, insert }; var kind: Kind; var text: String; var oldLine: Int; var newLine: Int }

    static func diff(_ a: [String], _ b: [String]) -> [Op] {
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        let am = Array(a[prefix..<(a.count - suffix)]), bm = Array(b[prefix..<(b.count - suffix)])
        var ops: [Op] = []
        for k in 0..<prefix { ops.append(Op(kind: .same, text: a[k], oldLine: k, newLine: k)) }
        let n = am.count, m = bm.count
        if n * m > 4_000_000 {
            for (k, l) in am.enumerated() { ops.append(Op(kind: .delete, text: l, oldLine: prefix + k, newLine: prefix)) }
            for (k, l) in bm.enumerated() { ops.append(Op(kind: .insert, text: l, oldLine: prefix + n, newLine: prefix + k)) }
        } else {
            var lcs = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
            if n > 0 && m > 0 {
                for x in stride(from: n - 1, through: 0, by: -1) {
                    for y in stride(from: m - 1, through: 0, by: -1) {
                        lcs[x][y] = am[x] == bm[y] ? lcs[x + 1][y + 1] + 1 : max(lcs[x + 1][y], lcs[x][y + 1])
                    }
                }
            }
            var x = 0, y = 0
            while x < n || y < m {
                if x < n, y < m, am[x] == bm[y] {
                    ops.append(Op(kind: .same, text: am[x], oldLine: prefix + x, newLine: prefix + y)); x += 1; y += 1
                } else if x < n, y == m || lcs[x + 1][y] >= lcs[x][y + 1] {
                    ops.append(Op(kind: .delete, text: am[x], oldLine: prefix + x, newLine: prefix + y)); x += 1
                } else {
                    ops.append(Op(kind: .insert, text: bm[y], oldLine: prefix + x, newLine: prefix + y)); y += 1
                }
            }
        }
        for k in 0..<suffix {
            let oi = a.count - suffix + k, ni = b.count - suffix + k
            ops.append(Op(kind: .same, text: a[oi], oldLine: oi, newLine: ni))
        }
        return ops
    }
}
