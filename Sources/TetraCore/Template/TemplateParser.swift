/// Turns template source into a flat `TemplateProgram` in one pass over the bytes (no regexes):
/// 1. tokenize into alternating text / tag tokens (`textRanges.count == tags.count + 1`),
/// 2. apply the Mustache "standalone line" rule and the Handlebars `~` trim markers,
/// 3. build the program, checking that every block is closed by the matching tag.
struct TemplateParser {
    private let bytes: [UInt8]
    private let name: String
    /// Subtracted from every reported column (partials re-parsed with an indentation).
    private let columnShift: Int

    private var line = 1
    private var lineStart = 0
    /// All literal text (escapes resolved); each text token is a range of it.
    private var text: [UInt8] = []
    private var textRanges: [(start: Int, end: Int)] = []
    private var currentStart = 0
    private var tags: [Tag] = []

    private struct Tag {
        enum Kind {
            case variable(TemplatePath)
            case open(TemplateBlockKind, TemplatePath)
            case close(String)
            /// `{{else}}`, or `{{else if x}}` / `{{else unless x}}` (a chained block).
            case otherwise(TemplateBlockKind?, TemplatePath?)
            case comment
            case partial(String)
            /// `{{{{raw}}}}` and `{{{{/raw}}}}`: render nothing, their content is text.
            case raw
        }
        var kind: Kind
        var position: SourcePosition
        var trimLeft = false
        var trimRight = false
        /// Whitespace before a standalone tag (used to indent standalone partials).
        var indent = ""

        var standaloneCapable: Bool {
            if case .variable = kind { return false }
            return true
        }
    }

    init(source: String, name: String, columnShift: Int = 0) {
        self.bytes = Array(source.utf8)
        self.name = name
        self.columnShift = columnShift
    }

    mutating func parse() throws -> TemplateProgram {
        text.reserveCapacity(bytes.count)
        try tokenize()
        applyWhitespaceRules()
        return try build()
    }

    // MARK: - Errors and positions

    private func position(at offset: Int) -> SourcePosition {
        var column = 1
        var k = lineStart
        while k < offset {
            if bytes[k] & 0xC0 != 0x80 { column += 1 }
            k += 1
        }
        return SourcePosition(line: line, column: max(1, column - columnShift))
    }

    private func error(_ message: String, at position: SourcePosition) -> ConfigError {
        ConfigError(ConfigProblem(file: name, position: position, message: message))
    }

    /// Moves the line counters over `bytes[from..<to]`.
    private mutating func countLines(_ from: Int, _ to: Int) {
        var k = from
        while k < to {
            if bytes[k] == 0x0A { line += 1; lineStart = k + 1 }
            k += 1
        }
    }

    /// The first offset in `from..<limit` where `a b` (two bytes) occur.
    private func find2(_ a: UInt8, _ b: UInt8, from: Int, limit: Int? = nil) -> Int? {
        let end = (limit ?? bytes.count) - 1
        var k = from
        while k < end {
            if bytes[k] == a, bytes[k + 1] == b { return k }
            k += 1
        }
        return nil
    }

    private func find(_ pattern: StaticString, from: Int) -> Int? {
        let m = pattern.utf8CodeUnitCount
        let p = pattern.utf8Start
        guard m > 0, bytes.count >= m else { return nil }
        var k = from
        while k <= bytes.count - m {
            if bytes[k] == p[0] {
                var q = 1
                while q < m, bytes[k + q] == p[q] { q += 1 }
                if q == m { return k }
            }
            k += 1
        }
        return nil
    }

    private func string(_ from: Int, _ to: Int) -> String {
        String(decoding: bytes[from..<max(from, to)], as: UTF8.self)
    }

    /// `from..<to` without leading and trailing whitespace.
    private func trimmed(_ from: Int, _ to: Int) -> (Int, Int) {
        var a = from, b = to
        while a < b, Self.isSpace(bytes[a]) { a += 1 }
        while b > a, Self.isSpace(bytes[b - 1]) { b -= 1 }
        return (a, b)
    }

    // MARK: - 1. Tokens

    private static let lbrace: UInt8 = 0x7B, rbrace: UInt8 = 0x7D, backslash: UInt8 = 0x5C
    private static let tilde: UInt8 = 0x7E, bang: UInt8 = 0x21, dash: UInt8 = 0x2D

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private mutating func tokenize() throws {
        let n = bytes.count
        var textStart = 0
        var j = 0
        while j < n {
            let b = bytes[j]
            if b == 0x0A {
                line += 1; lineStart = j + 1; j += 1
            } else if b == Self.backslash {
                if j + 2 < n, bytes[j + 1] == Self.lbrace, bytes[j + 2] == Self.lbrace {
                    // `\{{` is a literal `{{`.
                    text.append(contentsOf: bytes[textStart..<j])
                    text.append(Self.lbrace); text.append(Self.lbrace)
                    j += 3; textStart = j
                } else if j + 3 < n, bytes[j + 1] == Self.backslash, bytes[j + 2] == Self.lbrace, bytes[j + 3] == Self.lbrace {
                    // `\\{{ x }}` is a literal backslash followed by a tag.
                    text.append(contentsOf: bytes[textStart...j])
                    j += 2; textStart = j
                } else {
                    j += 1
                }
            } else if b == Self.lbrace, j + 1 < n, bytes[j + 1] == Self.lbrace {
                text.append(contentsOf: bytes[textStart..<j])
                j = try lexTag(at: j)
                textStart = j
            } else {
                j += 1
            }
        }
        text.append(contentsOf: bytes[textStart..<n])
        textRanges.append((currentStart, text.count))
    }

    private mutating func push(_ tag: Tag) {
        textRanges.append((currentStart, text.count))
        currentStart = text.count
        tags.append(tag)
    }

    /// Lexes the tag starting at `start` (which holds `{{`); returns the offset after it.
    private mutating func lexTag(at start: Int) throws -> Int {
        let n = bytes.count
        let pos = position(at: start)

        // {{{{raw}}}} ... {{{{/raw}}}}
        if start + 3 < n, bytes[start + 2] == Self.lbrace, bytes[start + 3] == Self.lbrace {
            guard let close = find("}}}}", from: start + 4) else {
                throw error("unterminated '{{{{' (missing '}}}}')", at: pos)
            }
            let (a, b) = trimmed(start + 4, close)
            let word = string(a, b)
            guard word == "raw" else {
                throw error("unknown raw block '{{{{\(word)}}}}'; only {{{{raw}}}} ... {{{{/raw}}}} is supported", at: pos)
            }
            countLines(start, close + 4)
            push(Tag(kind: .raw, position: pos))
            let contentStart = close + 4
            guard let end = find("{{{{/raw}}}}", from: contentStart) else {
                throw error("unclosed {{{{raw}}}} block: missing {{{{/raw}}}}", at: pos)
            }
            text.append(contentsOf: bytes[contentStart..<end])
            countLines(contentStart, end)
            push(Tag(kind: .raw, position: position(at: end)))
            return end + 12
        }

        // {{{ x }}}: a synonym of {{ x }} (nothing is ever escaped).
        if start + 2 < n, bytes[start + 2] == Self.lbrace {
            guard let close = find("}}}", from: start + 3) else {
                throw error("unterminated '{{{' (missing '}}}')", at: pos)
            }
            var tag = Tag(kind: .comment, position: pos)
            var from = start + 3, to = close
            if from < to, bytes[from] == Self.tilde { tag.trimLeft = true; from += 1 }
            if to > from, bytes[to - 1] == Self.tilde { tag.trimRight = true; to -= 1 }
            let (a, b) = trimmed(from, to)
            if a == b { throw error("empty tag '{{{}}}': write a variable name inside", at: pos) }
            do {
                tag.kind = .variable(try Self.parsePath(string(a, b)))
            } catch let message as TemplateSyntaxMessage {
                throw error(message.text, at: pos)
            }
            countLines(start, close + 3)
            push(tag)
            return close + 3
        }

        var tag = Tag(kind: .comment, position: pos)
        var k = start + 2
        if k < n, bytes[k] == Self.tilde { tag.trimLeft = true; k += 1 }
        var first = k
        while first < n, Self.isSpace(bytes[first]) { first += 1 }

        // Comments: {{! ... }} and {{!-- ... --}}
        if first < n, bytes[first] == Self.bang {
            let end: Int
            if first + 2 < n, bytes[first + 1] == Self.dash, bytes[first + 2] == Self.dash {
                var search = first + 3
                var found: Int? = nil
                while let d = find2(Self.dash, Self.dash, from: search) {
                    var e = d + 2
                    if e < n, bytes[e] == Self.tilde { e += 1 }
                    if e + 1 < n, bytes[e] == Self.rbrace, bytes[e + 1] == Self.rbrace {
                        found = e
                        break
                    }
                    search = d + 1
                }
                guard let f = found else {
                    throw error("unterminated comment '{{!--' (missing '--}}')", at: pos)
                }
                end = f
            } else {
                guard let f = find2(Self.rbrace, Self.rbrace, from: first + 1) else {
                    throw error("unterminated comment '{{!' (missing '}}')", at: pos)
                }
                end = f
            }
            if end > first + 1, bytes[end - 1] == Self.tilde { tag.trimRight = true }
            countLines(start, end + 2)
            push(tag)
            return end + 2
        }

        guard let close = find2(Self.rbrace, Self.rbrace, from: k) else {
            throw error("unterminated tag: '{{' without a matching '}}'", at: pos)
        }
        if find2(Self.lbrace, Self.lbrace, from: k, limit: close + 1) != nil {
            throw error("unterminated tag: '{{' without a matching '}}' before the next '{{'", at: pos)
        }
        var to = close
        if to > k, bytes[to - 1] == Self.tilde { tag.trimRight = true; to -= 1 }
        let (a, b) = trimmed(k, to)
        do {
            tag.kind = try classify(a, b)
        } catch let message as TemplateSyntaxMessage {
            throw error(message.text, at: pos)
        }
        countLines(start, close + 2)
        push(tag)
        return close + 2
    }

    // MARK: Tag contents

    struct TemplateSyntaxMessage: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    /// The words of `from..<to`, split at whitespace except inside `[...]` (`a.[b c]`).
    private func words(_ from: Int, _ to: Int) -> [String] {
        var result: [String] = []
        var start = -1
        var inBrackets = false
        var k = from
        while k < to {
            let c = bytes[k]
            if c == 0x5B { inBrackets = true } else if c == 0x5D { inBrackets = false }
            if !inBrackets && Self.isSpace(c) {
                if start >= 0 { result.append(string(start, k)); start = -1 }
            } else if start < 0 {
                start = k
            }
            k += 1
        }
        if start >= 0 { result.append(string(start, to)) }
        return result
    }

    /// What the (trimmed) tag content `from..<to` is.
    private func classify(_ from: Int, _ to: Int) throws -> Tag.Kind {
        guard from < to else {
            throw TemplateSyntaxMessage("empty tag '{{ }}': write a variable name between '{{' and '}}'")
        }
        switch bytes[from] {
        case 0x23: // #
            let parts = words(from + 1, to)
            guard let helper = parts.first else {
                throw TemplateSyntaxMessage("missing block name after '{{#'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
            }
            guard let kind = TemplateBlockKind(rawValue: helper) else {
                throw TemplateSyntaxMessage("unknown block helper '{{#\(helper)}}'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
            }
            return .open(kind, try Self.blockArgument(kind, Array(parts.dropFirst())))
        case 0x2F: // /
            let parts = words(from + 1, to)
            guard parts.count == 1 else {
                if parts.isEmpty { throw TemplateSyntaxMessage("missing block name in closing tag '{{/}}'") }
                throw TemplateSyntaxMessage("unexpected '\(parts.dropFirst().joined(separator: " "))' in closing tag '{{/\(parts[0])}}'")
            }
            return .close(parts[0])
        case 0x3E: // >
            let parts = words(from + 1, to)
            guard let partialName = parts.first else {
                throw TemplateSyntaxMessage("missing partial name after '{{>'")
            }
            guard parts.count == 1 else {
                throw TemplateSyntaxMessage("partial arguments are not supported: '{{> \(parts.joined(separator: " "))}}'; a partial sees the variables of the place it is included from")
            }
            return .partial(partialName)
        case 0x5E: // ^
            throw TemplateSyntaxMessage("'{{^' is not supported; use {{#unless x}} or {{else}}")
        case 0x26: // &
            let (a, b) = trimmed(from + 1, to)
            throw TemplateSyntaxMessage("'{{&' is not supported; values are never escaped, write {{ \(string(a, b)) }}")
        default:
            break
        }
        let parts = words(from, to)
        if parts.count == 1 && parts[0] != "else" {
            return .variable(try Self.parsePath(parts[0]))
        }
        if parts[0] == "else" {
            if parts.count == 1 { return .otherwise(nil, nil) }
            guard let kind = TemplateBlockKind(rawValue: parts[1]), kind != .each else {
                throw TemplateSyntaxMessage("unexpected '\(parts.dropFirst().joined(separator: " "))' after 'else'; only {{else}}, {{else if x}} and {{else unless x}} are supported")
            }
            return .otherwise(kind, try Self.blockArgument(kind, Array(parts.dropFirst(2))))
        }
        throw TemplateSyntaxMessage("unknown helper '\(parts[0])' in '{{ \(parts.joined(separator: " ")) }}': templates have no helpers, only variables, {{#if}}, {{#unless}}, {{#each}} and {{> partial}}")
    }

    private static func blockArgument(_ kind: TemplateBlockKind, _ args: [String]) throws -> TemplatePath {
        guard let first = args.first else {
            throw TemplateSyntaxMessage("{{#\(kind.rawValue)}} needs a variable, e.g. {{#\(kind.rawValue) name}}")
        }
        guard args.count == 1 else {
            if args.contains("as") {
                throw TemplateSyntaxMessage("block parameters ('as |x|') are not supported; inside {{#each}} use {{ . }}, {{ @index }} and {{ @key }}")
            }
            throw TemplateSyntaxMessage("{{#\(kind.rawValue)}} takes one variable, found '\(args.joined(separator: " "))'")
        }
        return try parsePath(first)
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
    }

    /// Parses `name`, `a.b.c`, `a.[key with.dots]`, `.`, `this`, `./x`, `this.x`, `../x`,
    /// `@root`, `@root.x`, `@index`, `@key`, `@first`, `@last`.
    static func parsePath(_ text: String) throws -> TemplatePath {
        if text != "this", text.utf8.allSatisfy(isNameByte) {
            return TemplatePath(base: .scope, segments: [text], text: text)
        }
        if text == "." || text == "this" { return TemplatePath(base: .current, segments: [], text: text) }
        if text.hasPrefix("@") {
            let rest = text.dropFirst()
            if rest == "root" { return TemplatePath(base: .root, segments: [], text: text) }
            if rest.hasPrefix("root.") {
                return TemplatePath(base: .root, segments: try segments(rest.dropFirst(5), whole: text), text: text)
            }
            if let data = TemplateDataVariable(rawValue: String(rest)) {
                return TemplatePath(base: .data(data), segments: [], text: text)
            }
            let known = rest.split(separator: ".").first.map(String.init) ?? ""
            if TemplateDataVariable(rawValue: known) != nil {
                throw TemplateSyntaxMessage("'@\(known)' has no fields: '\(text)'")
            }
            throw TemplateSyntaxMessage("unknown data variable '\(text)'; known: @index, @key, @first, @last, @root")
        }
        var rest = Substring(text)
        var base = TemplatePath.Base.scope
        if rest.hasPrefix("./") {
            base = .current; rest = rest.dropFirst(2)
        } else if rest.hasPrefix("this.") {
            base = .current; rest = rest.dropFirst(5)
        } else {
            var ups = 0
            while rest.hasPrefix("../") { ups += 1; rest = rest.dropFirst(3) }
            if rest == ".." { ups += 1; rest = "" }
            if ups > 0 {
                base = .parent(ups)
                if rest.isEmpty { return TemplatePath(base: base, segments: [], text: text) }
            }
        }
        return TemplatePath(base: base, segments: try segments(rest, whole: text), text: text)
    }

    private static func segments(_ s: Substring, whole: String) throws -> [String] {
        let b = Array(s.utf8)
        var result: [String] = []
        var k = 0
        func invalid(_ why: String) -> TemplateSyntaxMessage {
            TemplateSyntaxMessage("invalid variable name '\(whole)': \(why)")
        }
        if b.isEmpty { throw invalid("a name is missing") }
        while true {
            guard k < b.count else { throw invalid("a name is missing after '.'") }
            if b[k] == 0x5B { // [literal segment]
                guard let close = b[(k + 1)...].firstIndex(of: 0x5D) else { throw invalid("missing ']'") }
                guard close > k + 1 else { throw invalid("empty '[]'") }
                result.append(String(decoding: b[(k + 1)..<close], as: UTF8.self))
                k = close + 1
            } else {
                let startK = k
                while k < b.count, isNameByte(b[k]) { k += 1 }
                guard k > startK else {
                    let bad = String(decoding: b[k...].prefix(while: { $0 != 0x2E }), as: UTF8.self)
                    if bad.isEmpty { throw invalid("a name is missing") }
                    throw invalid("'\(bad)' is not a name (letters, digits, '_' and '-'; use [ ] around other keys: a.[b c])")
                }
                result.append(String(decoding: b[startK..<k], as: UTF8.self))
            }
            if k == b.count { return result }
            guard b[k] == 0x2E else {
                let bad = String(decoding: b[k...], as: UTF8.self)
                throw invalid("unexpected '\(bad)' (letters, digits, '_' and '-'; use [ ] around other keys: a.[b c])")
            }
            k += 1
        }
    }

    // MARK: - 2. Standalone lines and trim markers

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    private mutating func applyWhitespaceRules() {
        // Mustache "standalone" rule, evaluated on the text as written.
        var starts = textRanges.map { $0.start }
        var ends = textRanges.map { $0.end }
        for t in tags.indices where tags[t].standaloneCapable && !tags[t].trimLeft && !tags[t].trimRight {
            let (leftStart, leftEnd) = textRanges[t], (rightStart, rightEnd) = textRanges[t + 1]
            // Left: only blanks since the last newline (or since the start of the file).
            var p = leftEnd
            while p > leftStart, Self.isBlank(text[p - 1]) { p -= 1 }
            let leftOK = p == leftStart ? t == 0 : text[p - 1] == 0x0A
            guard leftOK else { continue }
            // Right: only blanks (and a CR) up to the next newline (or the end of the file).
            var q = rightStart
            while q < rightEnd, Self.isBlank(text[q]) { q += 1 }
            if q < rightEnd, text[q] == 0x0D, q + 1 < rightEnd, text[q + 1] == 0x0A { q += 1 }
            let cut: Int
            if q == rightEnd, t + 1 == tags.count {
                cut = q
            } else if q < rightEnd, text[q] == 0x0A {
                cut = q + 1
            } else {
                continue
            }
            if p < leftEnd { tags[t].indent = String(decoding: text[p..<leftEnd], as: UTF8.self) }
            ends[t] = min(ends[t], p)
            starts[t + 1] = max(starts[t + 1], cut)
        }

        // Handlebars `~`: strip all whitespace (newlines included) next to the tag.
        for t in tags.indices {
            if tags[t].trimLeft {
                while ends[t] > starts[t], Self.isSpace(text[ends[t] - 1]) { ends[t] -= 1 }
            }
            if tags[t].trimRight {
                while starts[t + 1] < ends[t + 1], Self.isSpace(text[starts[t + 1]]) { starts[t + 1] += 1 }
            }
        }
        for t in textRanges.indices {
            textRanges[t] = (starts[t], max(starts[t], ends[t]))
        }
    }

    // MARK: - 3. Tree

    private struct OpenBlock {
        var kind: TemplateBlockKind
        var path: TemplatePath
        var position: SourcePosition
        /// Index of the block's op in the program.
        var op: Int
        var inElse = false
        /// Opened by `{{else if x}}`: closed together with the block it continues.
        var chained = false
    }

    private mutating func build() throws -> TemplateProgram {
        var program = TemplateProgram()
        program.text = text
        var stack: [OpenBlock] = []

        func open(_ kind: TemplateBlockKind, _ path: TemplatePath, _ position: SourcePosition, chained: Bool) {
            let code: TemplateOp.Code = kind == .if ? .ifBlock : kind == .unless ? .unlessBlock : .each
            let index = program.emit(TemplateOp(code: code, a: program.addPath(path), b: 0, c: 0), position)
            stack.append(OpenBlock(kind: kind, path: path, position: position, op: index, chained: chained))
        }
        /// Closes the innermost block and the chain it belongs to.
        func closeChain() {
            let end = Int32(program.ops.count)
            while let block = stack.popLast() {
                if !block.inElse { program.ops[block.op].b = end }
                program.ops[block.op].c = end
                if !block.chained { break }
            }
            program.mergeBarrier = program.ops.count
        }
        func head() -> OpenBlock {
            var index = stack.count - 1
            while stack[index].chained { index -= 1 }
            return stack[index]
        }

        for t in 0...tags.count {
            program.emitText(textRanges[t].start, textRanges[t].end)
            guard t < tags.count else { break }
            let tag = tags[t]
            switch tag.kind {
            case .variable(let path):
                program.emit(TemplateOp(code: .variable, a: program.addPath(path), b: 0, c: 0), tag.position)
            case .open(let kind, let path):
                open(kind, path, tag.position, chained: false)
            case .otherwise(let chainKind, let path):
                guard let top = stack.last else {
                    throw error("{{else}} outside of a block", at: tag.position)
                }
                if top.inElse {
                    let first = head()
                    throw error("a second {{else}} in the {{#\(first.kind.rawValue)}} block opened at \(first.position)", at: tag.position)
                }
                stack[stack.count - 1].inElse = true
                program.ops[top.op].b = Int32(program.ops.count)
                program.mergeBarrier = program.ops.count
                if let chainKind, let path {
                    open(chainKind, path, tag.position, chained: true)
                }
            case .close(let closeName):
                guard !stack.isEmpty else {
                    throw error("{{/\(closeName)}} without a matching {{#\(closeName)}}", at: tag.position)
                }
                let opened = head()
                guard opened.kind.rawValue == closeName else {
                    throw error("{{/\(closeName)}} does not match {{#\(opened.kind.rawValue) \(opened.path.text)}} opened at \(opened.position); close it with {{/\(opened.kind.rawValue)}}", at: tag.position)
                }
                closeChain()
            case .partial(let partialName):
                program.partials.append(TemplatePartialRef(name: partialName, indent: tag.indent))
                program.emit(TemplateOp(code: .partial, a: Int32(program.partials.count - 1), b: 0, c: 0), tag.position)
            case .comment, .raw:
                break
            }
        }
        if !stack.isEmpty {
            let open = head()
            throw error("unclosed {{#\(open.kind.rawValue) \(open.path.text)}}: missing {{/\(open.kind.rawValue)}}", at: open.position)
        }
        text = []
        return program
    }
}

