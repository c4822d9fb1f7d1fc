// TOML arrays and inline tables (fast and recording variants) and their errors.

extension _TOMLCore {

    /// Arrays. Kept small (the recursion goes through here); the recording variant and the
    /// error paths are out of line.
    mutating func parseArray(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        if rec != nil { return try parseArrayRecording(depth: depth) }
        let open = i
        i += 1
        // Items go on a scratch stack (nested arrays push above them); the array gets
        // exactly their count.
        let base = valueStack.count
        while true {
            try skipWSCommentsNewlines()
            let c = p[i]
            if c == cRBracket { i += 1; break }
            if c == 0 && i >= n { throw unterminatedArray(open) }
            let v = try parseValue(depth: depth)
            valueStack.push(v)
            try skipWSCommentsNewlines()
            let d = p[i]
            if d == cComma { i += 1; continue }
            if d == cRBracket { i += 1; break }
            throw badArraySeparator(open)
        }
        return .array(recent.array(valueStack, from: base))
    }

    @inline(never)
    func nestingTooDeep() -> _ParseFailure {
        fail("nesting too deep (more than \(maxDepth) levels)")
    }

    @inline(never)
    func unterminatedArray(_ open: Int) -> _ParseFailure {
        fail("unterminated array (opened at \(positionString(open)))")
    }

    @inline(never)
    func badArraySeparator(_ open: Int) -> _ParseFailure {
        if p[i] == 0 && i >= n { return unterminatedArray(open) }
        return fail("expected ',' or ']' after an array element, found \(describe(at: i))")
    }

    @inline(never)
    mutating func parseArrayRecording(depth: Int) throws -> TOMLValue {
        let rec = self.rec!
        let open = i
        i += 1
        var items: [TOMLValue] = []
        var spans: [(start: Int, end: Int)] = []
        var trailingComma: Int? = nil
        let myEntry = rec.containerStack.last ?? -1
        if myEntry >= 0 { rec.entries[myEntry].valueKind = 1 }
        while true {
            try skipWSCommentsNewlines()
            let c = p[i]
            if c == cRBracket { i += 1; break }
            if c == 0 && i >= n { throw unterminatedArray(open) }
            trailingComma = nil
            let vs = i
            rec.path.append(.index(items.count))
            let e = rec.entries.count
            rec.entries.append(.init(kind: .element, path: rec.path, keyStart: vs, keyEnd: vs, keyParts: 0,
                                     valueStart: vs, valueEnd: vs, lineStart: vs, lineEnd: vs, section: headerIndex,
                                     container: myEntry, valueKind: 0))
            rec.containerStack.append(e)
            let v = try parseValue(depth: depth)
            rec.containerStack.removeLast()
            rec.entries[e].valueEnd = i
            rec.entries[e].lineEnd = i
            rec.path.removeLast()
            items.append(v)
            spans.append((vs, i))
            try skipWSCommentsNewlines()
            let d = p[i]
            if d == cComma { trailingComma = i; i += 1; continue }
            if d == cRBracket { i += 1; break }
            throw badArraySeparator(open)
        }
        if myEntry >= 0 {
            rec.arrays[myEntry] = .init(open: open, close: i - 1, elements: spans, trailingComma: trailingComma)
        }
        return .array(items)
    }

    mutating func parseInlineTable(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        if rec != nil { return try parseInlineTableFull(depth: depth) }
        // Fast path: simple keys, few entries. Anything else (dotted keys, duplicates,
        // errors, many keys) re-parses the table with the full path.
        let open = i
        i += 1
        skipWS()
        if p[i] == cRBrace {
            i += 1
            return .table(TOMLTable())
        }
        // The entries go on a scratch stack (nested tables push above them) and the table
        // gets an array of exactly their count.
        let base = entryStack.count
        while true {
            skipWS()
            let c = p[i]
            guard bareKey[Int(c)] || c == cQuote || c == cApos else { break }
            _ = try parseKey()
            guard keyCount == 1, p[i] == cEq, entryStack.count - base < 16 else { break }
            let k = key0
            if entryStack.hasKey(k, from: base) { break }
            i += 1
            skipWS()
            let v = try parseValue(depth: depth)
            entryStack.push(TOMLTable.Entry(key: k, value: v))
            skipWS()
            let d = p[i]
            if d == cComma {
                i += 1
                skipWS()
                if p[i] == cRBrace { break }
                continue
            }
            if d == cRBrace {
                i += 1
                return Self.makeTable(recent.entries(entryStack, from: base))
            }
            break
        }
        entryStack.truncate(to: base)
        i = open
        return try parseInlineTableFull(depth: depth)
    }


    @inline(never)
    static func makeTable(_ entries: [TOMLTable.Entry]) -> TOMLValue {
        .table(TOMLTable(_entries: entries, index: nil))
    }

    /// Inline tables in general (dotted keys, duplicates, document mode). On the recursion
    /// path, so the per-entry work and the errors are out of line.
    @inline(never)
    mutating func parseInlineTableFull(depth: Int) throws -> TOMLValue {
        if depth > maxDepth { throw nestingTooDeep() }
        let open = i
        i += 1
        let table = _PTable(depth: depth, offset: open, trackOffsets: detailed)
        let sectionID = nextSectionID
        nextSectionID += 1
        var myEntry = -1
        var basePath: [TOMLPathComponent] = []
        if let rec {
            myEntry = rec.containerStack.last ?? -1
            if myEntry >= 0 { rec.entries[myEntry].valueKind = 2 }
            basePath = rec.path
            rec.tableOffsets[basePath] = open
        }
        skipWS()
        if p[i] == cRBrace {
            i += 1
            return .table(TOMLTable())
        }
        while true {
            skipWS()
            let c = p[i]
            if c == cLF || c == cCR || c == cRBrace || c == cComma || (c == 0 && i >= n) {
                throw inlineTableKeyExpected(open)
            }
            let keyStart = i
            let keyEnd = try parseKey()
            guard p[i] == cEq else { throw equalsExpected() }
            i += 1
            skipWS()
            let parts = partsArray
            let offs = offsetsArray
            if rec != nil {
                let e = beginInlineEntry(basePath: basePath, parts: parts, keyStart: keyStart, keyEnd: keyEnd, container: myEntry)
                let v = try parseValue(depth: depth + parts.count - 1)
                try endInlineEntry(e, value: v, table: table, basePath: basePath, parts: parts, offsets: offs, section: sectionID)
            } else {
                let v = try parseValue(depth: depth + parts.count - 1)
                try insert(v, into: table, parts: parts, offsets: offs, section: sectionID)
            }
            skipWS()
            let d = p[i]
            if d == cComma {
                i += 1
                skipWS()
                if p[i] == cRBrace { throw inlineTableTrailingComma() }
                continue
            }
            if d == cRBrace { i += 1; break }
            throw inlineTableSeparatorExpected(open)
        }
        return .table(table.toTable())
    }

    @inline(never)
    func beginInlineEntry(basePath: [TOMLPathComponent], parts: [String], keyStart: Int, keyEnd: Int, container: Int) -> Int {
        let rec = self.rec!
        rec.path = basePath
        for k in parts { rec.path.append(.key(k)) }
        let e = rec.entries.count
        rec.entries.append(.init(kind: .keyValue, path: rec.path, keyStart: keyStart, keyEnd: keyEnd,
                                 keyParts: parts.count, valueStart: i, valueEnd: i, lineStart: keyStart,
                                 lineEnd: keyStart, section: headerIndex, container: container, valueKind: 0))
        rec.containerStack.append(e)
        return e
    }

    @inline(never)
    mutating func endInlineEntry(_ e: Int, value: TOMLValue, table: _PTable, basePath: [TOMLPathComponent],
                                 parts: [String], offsets: [Int], section: Int) throws {
        let rec = self.rec!
        rec.containerStack.removeLast()
        rec.entries[e].valueEnd = i
        rec.entries[e].lineEnd = i
        rec.path = basePath
        try insert(value, into: table, parts: parts, offsets: offsets, section: section)
        recordDottedTables(rec, base: basePath, parts: parts, offsets: offsets)
    }

    @inline(never)
    func inlineTableKeyExpected(_ open: Int) -> _ParseFailure {
        let c = p[i]
        if c == cLF || c == cCR { return fail("newlines are not allowed in inline tables") }
        if c == 0 && i >= n { return fail("unterminated inline table (opened at \(positionString(open)))") }
        return fail("expected a key in the inline table, found \(describe(at: i))")
    }

    @inline(never)
    func equalsExpected() -> _ParseFailure {
        if p[i] == cLF || p[i] == cCR { return fail("expected '=' after key '\(keyText(partsArray[...]))', found end of line") }
        return fail("expected '=' after key '\(keyText(partsArray[...]))', found \(describe(at: i))")
    }

    @inline(never)
    func inlineTableTrailingComma() -> _ParseFailure {
        fail("trailing comma is not allowed in an inline table")
    }

    @inline(never)
    func inlineTableSeparatorExpected(_ open: Int) -> _ParseFailure {
        let d = p[i]
        if d == cLF || d == cCR { return fail("newlines are not allowed in inline tables") }
        if d == 0 && i >= n { return fail("unterminated inline table (opened at \(positionString(open)))") }
        return fail("expected ',' or '}' after a value in the inline table, found \(describe(at: i))")
    }
}
