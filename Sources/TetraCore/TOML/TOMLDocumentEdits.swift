import FoundationEssentials
import Glibc
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

// Editing a TOMLDocument, part two: `remove`, `append` and `addTable`.

extension TOMLDocument {
    // MARK: remove

    /// Removes the key at `path` (its whole line, including a multi-line value; for a
    /// table, its sections). Returns whether it existed.
    @discardableResult
    public mutating func remove(_ path: [String]) throws -> Bool {
        try remove(resolve(path))
    }

    @discardableResult
    public mutating func remove(_ pcs: [TOMLPathComponent]) throws -> Bool {
        guard !pcs.isEmpty, value(atPath: pcs) != nil else { return false }
        var expected = TOMLValue.table(table)
        expected.removeValue(at: pcs[...])
        // Tables that only existed through the removed dotted key go away with it.
        var accepted = [expected.tableValue!]
        var pruned = expected
        var j = pcs.count - 1
        while j > 0, case .table(let t)? = pruned.value(at: pcs[..<j]), t.isEmpty {
            pruned.removeValue(at: pcs[..<j])
            accepted.append(pruned.tableValue!)
            j -= 1
        }
        let idx = index
        if let e = idx.entry(pcs) {
            let en = idx.rec.entries[e]
            if en.container == -1 {
                try commit([(en.lineStart..<en.lineEnd, "")], anyOf: accepted)
            } else {
                try commit([removeListItem(e)], anyOf: accepted)
            }
            return true
        }
        // A table or array of tables: its sections and any dotted key/values under it.
        var ranges: [Range<Int>] = []
        for (h, hd) in idx.rec.headers.enumerated() where hd.path.count >= pcs.count && Array(hd.path.prefix(pcs.count)) == pcs {
            ranges.append(idx.sectionRange(h))
        }
        func under(_ p: [TOMLPathComponent]) -> Bool { p.count > pcs.count && Array(p.prefix(pcs.count)) == pcs }
        var inlineItems: [Int] = []
        for (i, en) in idx.rec.entries.enumerated() where en.kind == .keyValue && under(en.path) {
            if en.container == -1 {
                let r = en.lineStart..<en.lineEnd
                if !ranges.contains(where: { $0.contains(r.lowerBound) }) { ranges.append(r) }
            } else if !under(idx.rec.entries[en.container].path) && idx.rec.entries[en.container].path != pcs {
                inlineItems.append(i)
            }
        }
        var edits: [(Range<Int>, String)] = []
        for c in Set(inlineItems.map { idx.rec.entries[$0].container }) {
            edits.append(contentsOf: removeItems(inlineItems.filter { idx.rec.entries[$0].container == c }))
        }
        // Trailing blank lines before a removed last section go too.
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for r in ranges {
            if let l = merged.last, l.upperBound >= r.lowerBound {
                merged[merged.count - 1] = l.lowerBound..<max(l.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        if var l = merged.last, l.upperBound == bytes.count {
            var s = l.lowerBound
            while s > 0 {
                let prev = idx.lineStart(s - 1)
                if idx.isBlankOrComment(lineAt: prev).blank && prev < s { s = prev } else { break }
            }
            l = s..<l.upperBound
            merged[merged.count - 1] = l
        }
        try commit(merged.map { ($0, "") } + edits, anyOf: accepted)
        return true
    }

    /// The range removing an element of an array or a key/value of an inline table.
    func removeListItem(_ e: Int) -> (Range<Int>, String) {
        let idx = index
        let en = idx.rec.entries[e]
        let siblings = idx.children(of: en.container)
        let pos = siblings.firstIndex(of: e)!
        let start: (Int) -> Int = { i in
            let x = idx.rec.entries[i]
            return x.kind == .keyValue ? x.keyStart : x.valueStart
        }
        let container = idx.rec.entries[en.container]
        if siblings.count == 1 {
            return ((container.valueStart + 1)..<(container.valueEnd - 1), "")
        }
        // An element alone on its line in a multi-line array: remove the line.
        let ls = idx.lineStart(start(e))
        let beforeBlank = bytes[ls..<start(e)].allSatisfy { $0 == 0x20 || $0 == 0x09 }
        if beforeBlank && container.valueKind == 1 {
            var j = en.valueEnd
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
            if j < bytes.count && bytes[j] == UInt8(ascii: ",") { j += 1 }
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
            if j < bytes.count && bytes[j] == UInt8(ascii: "#") { while j < bytes.count && bytes[j] != 0x0A { j += 1 } }
            if j < bytes.count && bytes[j] == 0x0D { j += 1 }
            if j < bytes.count && bytes[j] == 0x0A {
                return (ls..<(j + 1), "")
            }
        }
        if pos < siblings.count - 1 {
            return (start(e)..<start(siblings[pos + 1]), "")
        }
        let prev = idx.rec.entries[siblings[pos - 1]]
        return (prev.valueEnd..<en.valueEnd, "")
    }

    /// Ranges removing several items of the same array or inline table.
    func removeItems(_ items: [Int]) -> [(Range<Int>, String)] {
        let idx = index
        guard let first = items.first else { return [] }
        let container = idx.rec.entries[first].container
        if items.count == 1 { return [removeListItem(first)] }
        let siblings = idx.children(of: container)
        let removed = Set(items)
        let start: (Int) -> Int = { i in
            let x = idx.rec.entries[i]
            return x.kind == .keyValue ? x.keyStart : x.valueStart
        }
        let c = idx.rec.entries[container]
        if siblings.allSatisfy({ removed.contains($0) }) {
            return [((c.valueStart + 1)..<(c.valueEnd - 1), "")]
        }
        var out: [(Range<Int>, String)] = []
        var j = 0
        while j < siblings.count {
            guard removed.contains(siblings[j]) else { j += 1; continue }
            var k = j
            while k + 1 < siblings.count && removed.contains(siblings[k + 1]) { k += 1 }
            if k + 1 < siblings.count {
                out.append((start(siblings[j])..<start(siblings[k + 1]), ""))
            } else {
                let prev = idx.rec.entries[siblings[j - 1]]
                out.append((prev.valueEnd..<idx.rec.entries[siblings[k]].valueEnd, ""))
            }
            j = k + 1
        }
        return out
    }

    // MARK: append

    /// Appends to an existing array, keeping its style (single-line arrays stay on one
    /// line; multi-line arrays get a new line with the same indentation and trailing-comma
    /// style). For an array of tables (`[[x]]`), adds a `[[x]]` section.
    public mutating func append(_ path: [String], _ value: TOMLValue) throws {
        try append(resolve(path), value)
    }

    public mutating func append(_ pcs: [TOMLPathComponent], _ value: TOMLValue) throws {
        guard let cur = self.value(atPath: pcs) else {
            throw editError(pcs, "cannot append to '\(TOMLPathComponent.render(pcs))': no such array")
        }
        guard case .array(var items) = cur else {
            throw editError(pcs, "cannot append to '\(TOMLPathComponent.render(pcs))': it is \(cur.article.replacingAll("an inline table", with: "a table")), not an array")
        }
        items.append(value)
        var expected = TOMLValue.table(table)
        _ = expected.setValue(.array(items), at: pcs[...])
        let expectedTable = expected.tableValue!
        let idx = index
        if let e = idx.entry(pcs), let info = idx.rec.arrays[e] {
            try commit(insertArrayItem(info, value), expected: expectedTable)
            return
        }
        if let e = idx.entry(pcs), idx.rec.entries[e].valueKind == 1 {
            throw editError(pcs, "cannot append to this array")
        }
        // An array of tables defined by [[headers]].
        guard case .table(let t) = value else {
            throw editError(pcs, "cannot append \(value.article.replacingAll("an inline table", with: "a table")) to an array of tables")
        }
        guard let keys = addressableByHeader(pcs) else {
            throw editError(pcs, "cannot append to this array of tables")
        }
        let text = TOMLSerializer.serializeArrayOfTables([t], at: keys)
        let lastHeader = idx.rec.headers.indices.last { h in
            let hp = idx.rec.headers[h].path
            return hp.count > pcs.count && Array(hp.prefix(pcs.count)) == pcs
        }
        if let lh = lastHeader {
            let end = idx.sectionRange(lh).upperBound
            if end < bytes.count {
                // Before the next section, separated by a blank line.
                var prefix = ""
                if end >= 2 && !(bytes[end - 1] == 0x0A && (bytes[end - 2] == 0x0A || (end >= 3 && bytes[end - 2] == 0x0D && bytes[end - 3] == 0x0A))) {
                    prefix = newline
                }
                try commit([(end..<end, prefix + lines(text) + newline)], expected: expectedTable)
                return
            }
        }
        try commit([appendAtEnd(text)], expected: expectedTable)
    }

    func insertArrayItem(_ info: _TOMLRecorder.ArrayInfo, _ value: TOMLValue) -> [(Range<Int>, String)] {
        let text = TOMLSerializer.formatValue(value)
        let idx = index
        let multiLine = bytes[info.open..<info.close].contains(0x0A)
        guard let last = info.elements.last else {
            if !multiLine { return [((info.open + 1)..<info.close, text)] }
            let ls = idx.lineStart(info.close)
            let closeIndent = String(decoding: bytes[ls..<info.close].prefix { $0 == 0x20 || $0 == 0x09 }, as: UTF8.self)
            let onlyWS = bytes[ls..<info.close].allSatisfy { $0 == 0x20 || $0 == 0x09 }
            if onlyWS { return [(ls..<ls, closeIndent + "    " + text + "," + newline)] }
            return [(info.close..<info.close, newline + closeIndent + "    " + text + "," + newline)]
        }
        if !multiLine {
            var sep = ", "
            if info.elements.count > 1 {
                var j = info.elements[0].end
                while j < bytes.count && bytes[j] != UInt8(ascii: ",") { j += 1 }
                if j + 1 < bytes.count && bytes[j + 1] != 0x20 { sep = "," }
            }
            if let tc = info.trailingComma {
                return [((tc + 1)..<(tc + 1), (sep == "," ? "" : " ") + text + ",")]
            }
            return [(last.end..<last.end, sep + text)]
        }
        // Multi-line: indentation of the last element's line.
        let ls = idx.lineStart(last.start)
        let indentBytes = bytes[ls..<last.start]
        let indent: String
        if indentBytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
            indent = String(decoding: indentBytes, as: UTF8.self)
        } else {
            let fl = idx.lineStart(info.elements[0].start)
            indent = String(decoding: bytes[fl..<info.elements[0].start].prefix { $0 == 0x20 || $0 == 0x09 }, as: UTF8.self)
        }
        // End of the last element's line (before its newline).
        var j = info.trailingComma.map { $0 + 1 } ?? last.end
        var closeOnLine = false
        while j < bytes.count && bytes[j] != 0x0A {
            if j == info.close { closeOnLine = true; break }
            if bytes[j] == UInt8(ascii: "#") { while j < bytes.count && bytes[j] != 0x0A { j += 1 }; break }
            j += 1
        }
        if closeOnLine {
            if info.trailingComma != nil {
                let at = info.trailingComma! + 1
                return [(at..<at, newline + indent + text + ",")]
            }
            return [(last.end..<last.end, "," + newline + indent + text)]
        }
        let eol = (j > 0 && bytes[j - 1] == 0x0D) ? j - 1 : j
        if info.trailingComma != nil {
            return [(eol..<eol, newline + indent + text + ",")]
        }
        if eol == last.end { return [(eol..<eol, "," + newline + indent + text)] }
        return [(last.end..<last.end, ","), (eol..<eol, newline + indent + text)]
    }

    // MARK: tables

    /// Makes sure a table exists at `path`: adds a `[path]` header at the end of the
    /// document when it does not exist (or only exists implicitly); inside an inline table,
    /// adds `key = {}`.
    public mutating func addTable(_ path: [String]) throws {
        let pcs = resolve(path)
        guard let last = pcs.last else { return }
        if let v = value(atPath: pcs) {
            guard case .table = v else {
                throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': it already exists as \(Self.article(v))")
            }
            guard case .implicit? = site(of: pcs) else { return }
            guard let keys = addressableByHeader(pcs) else {
                throw editError(pcs, "cannot add a table inside an element of an array that is not the last one")
            }
            try commit([appendAtEnd("[" + TOMLSerializer.formatKeyPath(keys) + "]\n")], expected: table)
            return
        }
        guard case .key(let key) = last else {
            throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': index out of range")
        }
        var expected = TOMLValue.table(table)
        guard expected.setValue(.table(TOMLTable()), at: pcs[...]) else {
            throw editError(pcs, "cannot add table '\(TOMLPathComponent.render(pcs))': \(describeObstacle(pcs))")
        }
        try insertNew(parent: Array(pcs.dropLast()), keys: [key], value: .table(TOMLTable()), expected: expected.tableValue!)
    }
}
