// The TOML parser's state and its document-level grammar: whitespace and comments, keys,
// [headers] and [[arrays of tables]], key/value lines. Values are parsed in
// TOMLParserScalars.swift and TOMLParserContainers.swift.

struct _TOMLCore {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0
    let rec: _TOMLRecorder?
    let root: _PTable
    var current: _PTable
    /// Counts sections (each header starts a new one); inline tables get their own ids.
    var section = 0
    var nextSectionID = 1
    var headerIndex = -1
    var bomLength = 0
    /// The key parsed by `parseKey`: `key0` and `keyCount`; all parts in `keyParts` when dotted.
    var key0 = ""
    var key0Offset = 0
    /// Length of key0 in the source when it is a bare key (-1 when quoted).
    var key0BareLength = -1
    var keyCount = 0
    var keyParts: [String] = []
    var keyOffsets: [Int] = []
    var partsArray: [String] { keyCount == 1 ? [key0] : keyParts }

    var offsetsArray: [Int] { keyCount == 1 ? [key0Offset] : keyOffsets }
    var scratch: [UInt8] = []
    /// Whether short ASCII strings can be built directly (checked once per process).
    let smallStrings = _SmallASCII.works
    let maxDepth = TOMLParser.maxDepth
    let bareKey: [Bool] = bareKeyTable

    /// Detailed mode keeps what error messages need ("first defined at"); the fast mode
    /// re-parses in detailed mode when such an error occurs.
    let detailed: Bool

    /// The file buffer being parsed, whose pages are released behind the cursor (pages are
    /// only released before the start of the current top-level line; anything that looks
    /// further back calls `restore()` first).
    var source: _TOMLFileBuffer? = nil
    /// The table holding `current` and its index there, when `current` is a `[header]`
    /// table that can be closed when its section ends (fast mode only).
    var currentParent: _PTable? = nil
    var currentIndex = 0
    /// Capacity for the next new `[header]` table: the size of the section just left, as
    /// sibling tables tend to have the same number of keys (then it needs no trimming).
    var sizeHint = 8
    /// Scratch stacks for the items of arrays and inline tables being parsed.
    let valueStack = _TOMLStack<TOMLValue>()
    let entryStack = _TOMLStack<TOMLTable.Entry>()
    let recent = _TOMLRecentValues()
    /// Cursor offset at which to release the pages behind it next (never without a source).
    var nextRelease = Int.max

    init(p: UnsafePointer<UInt8>, n: Int, recorder: _TOMLRecorder?, detailed: Bool = false) {
        self.p = p
        self.n = n
        self.rec = recorder
        self.detailed = detailed || recorder != nil
        self.root = _PTable(depth: 0, offset: 0, trackOffsets: detailed || recorder != nil)
        self.current = root
        scratch.reserveCapacity(256)
        keyParts.reserveCapacity(8)
        keyOffsets.reserveCapacity(8)
    }

    // MARK: errors and descriptions

    func fail(_ message: String, at offset: Int? = nil) -> _ParseFailure {
        _ParseFailure(offset: offset ?? i, message: message)
    }

    /// Describes the character at `offset` for messages: 'x', newline, end of file, U+0007.
    func describe(at offset: Int) -> String {
        if offset >= n { return "end of file" }
        let c = p[offset]
        switch c {
        case cLF: return "newline"
        case cCR: return "carriage return"
        case cTab: return "tab"
        case cSpace: return "space"
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(c)))'"
        case 0..<0x20, 0x7F: return "control character \(Self.uplus(UInt32(c)))"
        default:
            var len = 1
            if c >= 0xF0 { len = 4 } else if c >= 0xE0 { len = 3 } else if c >= 0xC0 { len = 2 }
            len = min(len, n - offset)
            let s = String(decoding: UnsafeBufferPointer(start: p + offset, count: len), as: UTF8.self)
            if let sc = s.unicodeScalars.first, sc.properties.isWhitespace || !sc.properties.isAlphabetic {
                return "'\(s)' (\(Self.uplus(sc.value)))"
            }
            return "'\(s)'"
        }
    }

    static func uplus(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    func text(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: p + from, count: max(0, min(to, n) - from)), as: UTF8.self)
    }

    /// "line:column" of the key that first defined entry `idx` of `t`.
    func firstDefined(_ t: _PTable, _ idx: Int) throws -> String {
        guard detailed, idx < t.offsets.count else { throw _RetryDetailed() }
        return positionString(t.offsets[idx])
    }

    func positionString(_ offset: Int) -> String {
        source?.restore()
        var line = 1, lineStart = 0, j = 0
        while j < offset { if p[j] == cLF { line += 1; lineStart = j + 1 }; j += 1 }
        var col = 1
        j = lineStart
        while j < offset { if p[j] & 0xC0 != 0x80 { col += 1 }; j += 1 }
        return "\(line):\(col)"
    }

    func keyText(_ parts: ArraySlice<String>) -> String {
        parts.map { TOMLSerializer.formatKey($0) }.joined(separator: ".")
    }

    // MARK: whitespace, comments, newlines

    @inline(__always)
    mutating func skipWS() {
        while true {
            let c = p[i]
            if c == cSpace || c == cTab { i += 1 } else { return }
        }
    }

    /// Skips a comment starting at '#', up to (not including) the newline.
    @inline(never)
    mutating func skipComment() throws {
        i += 1
        while true {
            let c = p[i]
            if c >= 0x20 && c != 0x7F { i += 1; continue }  // includes UTF-8 bytes
            if c == cTab { i += 1; continue }
            if c == cLF { return }
            if c == cCR && p[i + 1] == cLF { return }
            if c == 0 && i >= n { return }
            throw fail("\(describe(at: i)) is not allowed in a comment")
        }
    }

    /// After a key/value or header: whitespace, an optional comment, then a newline or EOF.
    mutating func expectEndOfLine(after what: String) throws {
        skipWS()
        var c = p[i]
        if c == cHash { try skipComment(); c = p[i] }
        if c == cLF { i += 1; return }
        if c == cCR {
            if p[i + 1] == cLF { i += 2; return }
            throw fail("bare carriage return (expected a newline)")
        }
        if i >= n { return }
        throw fail("expected a newline after \(what), found \(describe(at: i))")
    }

    /// Inside arrays: whitespace, newlines and comments.
    @inline(__always)
    mutating func skipWSCommentsNewlines() throws {
        while true {
            let c = p[i]
            if c == cSpace || c == cTab || c == cLF { i += 1; continue }
            if c == cCR {
                if p[i + 1] == cLF { i += 2; continue }
                throw bareCarriageReturn()
            }
            if c == cHash { try skipComment(); continue }
            return
        }
    }

    @inline(never)
    func bareCarriageReturn() -> _ParseFailure {
        fail("bare carriage return (expected a newline)")
    }

    // MARK: document

    mutating func parseDocument() throws {
        if let bad = _TOMLText.firstInvalidUTF8(p, n) {
            throw fail("invalid UTF-8 byte 0x\(String(p[bad], radix: 16, uppercase: true))", at: bad)
        }
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3; bomLength = 3 }
        while true {
            if i >= nextRelease { releaseBehind() }
            skipWS()
            let c = p[i]
            if c == cLF { i += 1; continue }
            if c == cCR {
                if p[i + 1] == cLF { i += 2; continue }
                throw fail("bare carriage return (expected a newline)")
            }
            if c == cHash { try skipComment(); continue }
            if c == cLBracket { try parseHeader(); continue }
            if i >= n { return }
            try parseTopKeyValue()
        }
    }

    /// Releases the buffer's pages before the cursor (every `window` bytes).
    @inline(never)
    mutating func releaseBehind() {
        guard let source else { nextRelease = Int.max; return }
        source.release(before: i)
        nextRelease = i + source.window
    }

    // MARK: keys

    /// Parses a (possibly dotted) key into key0/keyCount (and keyParts/keyOffsets when
    /// dotted). Returns the end offset of the key.
    @inline(never)
    mutating func parseKey() throws -> Int {
        keyCount = 0
        while true {
            let start = i
            let c = p[i]
            let part: String
            if bareKey[Int(c)] {
                i += 1
                while bareKey[Int(p[i])] { i += 1 }
                part = asciiString(start, i - start)
            } else if c == cQuote {
                if p[i + 1] == cQuote && p[i + 2] == cQuote {
                    throw fail("multi-line strings cannot be used as keys")
                }
                part = try parseBasicString()
            } else if c == cApos {
                if p[i + 1] == cApos && p[i + 2] == cApos {
                    throw fail("multi-line strings cannot be used as keys")
                }
                part = try parseLiteralString()
            } else {
                if keyCount == 0 {
                    throw fail("expected a key, found \(describe(at: i))")
                }
                throw fail("expected a key after '.', found \(describe(at: i))")
            }
            if keyCount == 0 {
                key0 = part
                key0Offset = start
                key0BareLength = bareKey[Int(c)] ? i - start : -1
            } else {
                if keyCount == 1 {
                    keyParts.removeAll(keepingCapacity: true)
                    keyOffsets.removeAll(keepingCapacity: true)
                    keyParts.append(key0)
                    keyOffsets.append(key0Offset)
                }
                keyParts.append(part)
                keyOffsets.append(start)
            }
            keyCount += 1
            if keyCount > maxDepth {
                throw fail("key has too many parts (more than \(maxDepth))", at: start)
            }
            let end = i
            if p[i] == cSpace || p[i] == cTab { skipWS() }
            if p[i] == cDot {
                i += 1
                skipWS()
                continue
            }
            return end
        }
    }

    /// The String for `len` ASCII bytes at `start`: built directly in the inline small-string
    /// form when short (verified at startup, see `_SmallASCII`), else through the stdlib.
    @inline(__always)
    func asciiString(_ start: Int, _ len: Int) -> String {
        if len <= 15 && smallStrings {
            return _SmallASCII.make(p + start, len, readable: n + 1 - start)
        }
        return String(decoding: UnsafeBufferPointer(start: p + start, count: len), as: UTF8.self)
    }

    // MARK: headers

    mutating func parseHeader() throws {
        // The section being left usually gets no more keys: trim its spare capacity, and in
        // fast mode replace its table by its value (reopened if a later header needs it).
        let left = current.entries.count
        sizeHint = left >= 1 && left <= 64 ? left : 8
        current.compact()
        if let parent = currentParent {
            parent.close(currentIndex)
            currentParent = nil
        }
        let start = i
        let isArray = p[i + 1] == cLBracket
        i += isArray ? 2 : 1
        skipWS()
        let keyStart = i
        let keyEnd = try parseKey()
        if isArray {
            guard p[i] == cRBracket && p[i + 1] == cRBracket else {
                throw fail("expected ']]' to close the array-of-tables header, found \(describe(at: i))")
            }
            i += 2
        } else {
            guard p[i] == cRBracket else {
                throw fail("expected ']' to close the table header, found \(describe(at: i))")
            }
            i += 1
        }
        let end = i
        let parts = partsArray
        let offs = offsetsArray

        // Walk/create the intermediate tables.
        var t = root
        var path: [TOMLPathComponent] = []
        let recording = rec != nil
        for j in 0..<(parts.count - 1) {
            let k = parts[j]
            if recording { path.append(.key(k)) }
            if let idx = t.find(k) {
                switch t.child(idx) {
                case .table(let c)?:
                    t = c
                case .arrayOfTables(let a)?:
                    t = a.tables[a.tables.count - 1]
                    if recording { path.append(.index(a.tables.count - 1)) }
                case nil:
                    throw fail("cannot define table '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: offs[j])
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: offs[j]) }
                t.addChild(k, .table(c), offset: start)
                if let rec, rec.tableOffsets[path] == nil { rec.tableOffsets[path] = start }
                t = c
            }
        }
        let last = parts[parts.count - 1]
        if recording { path.append(.key(last)) }
        let lastOff = offs[parts.count - 1]
        if isArray {
            if let idx = t.find(last) {
                switch t.child(idx) {
                case .arrayOfTables(let a)?:
                    let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                    c.definedByHeader = true
                    a.tables.append(c)
                    if recording { path.append(.index(a.tables.count - 1)) }
                    current = c
                case .table?:
                    let name = keyText(parts[...])
                    throw fail("cannot define array of tables '\(name)': '\(name)' is already a table (defined at \(try firstDefined(t, idx)))", at: lastOff)
                case nil:
                    let name = keyText(parts[...])
                    throw fail("cannot define array of tables '\(name)': '\(name)' is already \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: lastOff)
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: lastOff) }
                c.definedByHeader = true
                let a = _PArrayOfTables()
                a.tables.append(c)
                t.addChild(last, .arrayOfTables(a), offset: start)
                if let rec { rec.tableOffsets[path] = start }
                if recording { path.append(.index(0)) }
                current = c
            }
        } else {
            if let idx = t.find(last) {
                switch t.child(idx) {
                case .table(let c)?:
                    if c.definedByHeader || c.dottedSection != -1 {
                        throw fail("table '\(keyText(parts[...]))' is already defined (at \(positionString(c.offset)))", at: start)
                    }
                    c.definedByHeader = true
                    c.offset = start
                    current = c
                    if !detailed { currentParent = t; currentIndex = idx }
                case .arrayOfTables?:
                    let name = keyText(parts[...])
                    throw fail("cannot define table '\(name)': '\(name)' is already an array of tables (defined at \(try firstDefined(t, idx)))", at: lastOff)
                case nil:
                    let name = keyText(parts[...])
                    throw fail("cannot define table '\(name)': '\(name)' is already \(t.entries[idx].value.article) (defined at \(try firstDefined(t, idx)))", at: lastOff)
                }
            } else {
                let c = _PTable(depth: t.depth + 1, offset: start, trackOffsets: detailed, capacity: sizeHint)
                if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: lastOff) }
                c.definedByHeader = true
                t.addChild(last, .table(c), offset: start)
                current = c
                if !detailed { currentParent = t; currentIndex = t.entries.count - 1 }
            }
        }
        section = nextSectionID
        nextSectionID += 1
        try expectEndOfLine(after: "the table header")
        if let rec {
            var ls = start
            while ls > bomLength && p[ls - 1] != cLF { ls -= 1 }
            rec.headers.append(.init(path: path, isArray: isArray, lineStart: ls, start: start,
                                     keyStart: keyStart, keyEnd: keyEnd, end: end, lineEnd: i))
            headerIndex = rec.headers.count - 1
            rec.tableOffsets[path] = start
            rec.sectionPath = path
        }
    }

    // MARK: key/values

    mutating func parseTopKeyValue() throws {
        let keyStart = i
        let keyEnd = try parseKey()
        guard p[i] == cEq else {
            throw fail("expected '=' after key '\(keyText(partsArray[...]))', found \(describe(at: i))")
        }
        i += 1
        skipWS()
        if keyCount == 1 && rec == nil {
            // Capture the key before parsing the value: inline tables parse keys too.
            let k = key0, ko = key0Offset, kb = key0BareLength
            let value = try parseValue(depth: current.depth + 1)
            let cur = current
            let h: UInt32? = cur.map == nil ? nil : (kb >= 0 ? _TOMLKeyIndex.hash(p + ko, kb) : _TOMLKeyIndex.hash(k))
            if let idx = cur.appendIfAbsent(k, value, offset: ko, hash: h) {
                throw fail("duplicate key '\(TOMLSerializer.formatKey(k))' (first defined at \(try firstDefined(current, idx)))", at: ko)
            }
            try expectEndOfLine(after: "the value")
            return
        }
        let parts = partsArray
        let offs = offsetsArray
        let valueStart = i
        var entryIndex = -1
        if let rec {
            rec.path = rec.sectionPath
            for k in parts { rec.path.append(.key(k)) }
            entryIndex = rec.entries.count
            var ls = keyStart
            while ls > bomLength && p[ls - 1] != cLF { ls -= 1 }
            rec.entries.append(.init(kind: .keyValue, path: rec.path, keyStart: keyStart, keyEnd: keyEnd,
                                     keyParts: parts.count, valueStart: valueStart, valueEnd: valueStart,
                                     lineStart: ls, lineEnd: ls, section: headerIndex, container: -1, valueKind: 0))
            rec.containerStack.removeAll(keepingCapacity: true)
            rec.containerStack.append(entryIndex)
        }
        let value = try parseValue(depth: current.depth + parts.count)
        let valueEnd = i
        try insert(value, into: current, parts: parts, offsets: offs, section: section)
        try expectEndOfLine(after: "the value")
        if let rec {
            rec.entries[entryIndex].valueEnd = valueEnd
            rec.entries[entryIndex].lineEnd = i
            recordDottedTables(rec, base: rec.sectionPath, parts: parts, offsets: offs)
        }
    }

    @inline(never)
    func recordDottedTables(_ rec: _TOMLRecorder, base: [TOMLPathComponent], parts: [String], offsets: [Int]) {
        if parts.count < 2 { return }
        var path = base
        for j in 0..<(parts.count - 1) {
            path.append(.key(parts[j]))
            if rec.tableOffsets[path] == nil { rec.tableOffsets[path] = offsets[j] }
        }
    }

    /// Inserts a key/value (dotted keys create or extend tables) following TOML's rules.
    @inline(never)
    mutating func insert(_ value: TOMLValue, into table: _PTable, parts: [String], offsets: [Int], section: Int) throws {
        var t = table
        let count = parts.count
        if count > 1 {
            for j in 0..<(count - 1) {
                let k = parts[j]
                if let idx = t.find(k) {
                    switch t.child(idx) {
                    case .table(let c)?:
                        if c.definedByHeader {
                            throw fail("cannot add '\(keyText(parts[...]))' with dotted keys: table '\(keyText(parts[...j]))' is defined by a [table] header (at \(positionString(c.offset)))", at: offsets[j])
                        }
                        if c.dottedSection != -1 && c.dottedSection != section {
                            throw fail("cannot add '\(keyText(parts[...]))': table '\(keyText(parts[...j]))' was defined earlier (at \(positionString(c.offset))) and cannot be extended here", at: offsets[j])
                        }
                        c.dottedSection = section
                        t = c
                    case .arrayOfTables?:
                        throw fail("cannot add '\(keyText(parts[...]))' with dotted keys: '\(keyText(parts[...j]))' is an array of tables (defined at \(try firstDefined(t, idx)))", at: offsets[j])
                    case nil:
                        let v = t.entries[idx].value
                        if case .table = v {
                            throw fail("cannot add '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is an inline table (defined at \(try firstDefined(t, idx))), which cannot be extended", at: offsets[j])
                        }
                        throw fail("cannot add '\(keyText(parts[...]))': '\(keyText(parts[...j]))' is \(v.article) (defined at \(try firstDefined(t, idx)))", at: offsets[j])
                    }
                } else {
                    let c = _PTable(depth: t.depth + 1, offset: offsets[j], trackOffsets: detailed)
                    if c.depth > maxDepth { throw fail("tables nested too deeply (more than \(maxDepth) levels)", at: offsets[j]) }
                    c.dottedSection = section
                    t.addChild(k, .table(c), offset: offsets[j])
                    t = c
                }
            }
        }
        let last = parts[count - 1]
        if let idx = t.appendIfAbsent(last, value, offset: offsets[count - 1]) {
            throw fail("duplicate key '\(keyText(parts[...]))' (first defined at \(try firstDefined(t, idx)))", at: offsets[count - 1])
        }
    }

}
