/// Turns template source into a `TemplateNode` tree in one pass over the bytes (no regexes):
/// 1. tokenize into alternating text / tag tokens (`texts.count == tags.count + 1`),
/// 2. apply the Mustache "standalone line" rule and the Handlebars `~` trim markers,
/// 3. build the block tree, checking that every block is closed by the matching tag.
struct TemplateParser {
    private let bytes: [UInt8]
    private let name: String
    /// Subtracted from every reported column (partials re-parsed with an indentation).
    private let columnShift: Int

    private var line = 1
    private var lineStart = 0
    private var texts: [[UInt8]] = []
    private var tags: [Tag] = []
    private var current: [UInt8] = []

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

    mutating func parse() throws -> [TemplateNode] {
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

    private func find(_ pattern: [UInt8], from: Int) -> Int? {
        let n = bytes.count, m = pattern.count
        guard m > 0, n >= m else { return nil }
        var k = from
        let first = pattern[0]
        while k <= n - m {
            if bytes[k] == first {
                var ok = true
                var p = 1
                while p < m { if bytes[k + p] != pattern[p] { ok = false; break }; p += 1 }
                if ok { return k }
            }
            k += 1
        }
        return nil
    }

    private func string(_ from: Int, _ to: Int) -> String {
        String(decoding: bytes[from..<max(from, to)], as: UTF8.self)
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
                    current.append(contentsOf: bytes[textStart..<j])
                    current.append(Self.lbrace); current.append(Self.lbrace)
                    j += 3; textStart = j
                } else if j + 3 < n, bytes[j + 1] == Self.backslash, bytes[j + 2] == Self.lbrace, bytes[j + 3] == Self.lbrace {
                    // `\\{{ x }}` is a literal backslash followed by a tag.
                    current.append(contentsOf: bytes[textStart...j])
                    j += 2; textStart = j
                } else {
                    j += 1
                }
            } else if b == Self.lbrace, j + 1 < n, bytes[j + 1] == Self.lbrace {
                current.append(contentsOf: bytes[textStart..<j])
                j = try lexTag(at: j)
                textStart = j
            } else {
                j += 1
            }
        }
        current.append(contentsOf: bytes[textStart..<n])
        texts.append(current)
        current = []
    }

    private mutating func push(_ tag: Tag) {
        texts.append(current)
        current = []
        tags.append(tag)
    }

    /// Lexes the tag starting at `start` (which holds `{{`); returns the offset after it.
    private mutating func lexTag(at start: Int) throws -> Int {
        let n = bytes.count
        let pos = position(at: start)

        // {{{{raw}}}} ... {{{{/raw}}}}
        if start + 3 < n, bytes[start + 2] == Self.lbrace, bytes[start + 3] == Self.lbrace {
            guard let close = find(Array("}}}}".utf8), from: start + 4) else {
                throw error("unterminated '{{{{' (missing '}}}}')", at: pos)
            }
            let word = string(start + 4, close).trimmingTemplateSpace()
            guard word == "raw" else {
                throw error("unknown raw block '{{{{\(word)}}}}'; only {{{{raw}}}} ... {{{{/raw}}}} is supported", at: pos)
            }
            countLines(start, close + 4)
            push(Tag(kind: .raw, position: pos))
            let contentStart = close + 4
            guard let end = find(Array("{{{{/raw}}}}".utf8), from: contentStart) else {
                throw error("unclosed {{{{raw}}}} block: missing {{{{/raw}}}}", at: pos)
            }
            current.append(contentsOf: bytes[contentStart..<end])
            countLines(contentStart, end)
            push(Tag(kind: .raw, position: position(at: end)))
            return end + 12
        }

        // {{{ x }}}: a synonym of {{ x }} (nothing is ever escaped).
        if start + 2 < n, bytes[start + 2] == Self.lbrace {
            guard let close = find(Array("}}}".utf8), from: start + 3) else {
                throw error("unterminated '{{{' (missing '}}}')", at: pos)
            }
            var tag = Tag(kind: .comment, position: pos)
            var from = start + 3, to = close
            if from < to, bytes[from] == Self.tilde { tag.trimLeft = true; from += 1 }
            if to > from, bytes[to - 1] == Self.tilde { tag.trimRight = true; to -= 1 }
            let content = string(from, to).trimmingTemplateSpace()
            if content.isEmpty { throw error("empty tag '{{{}}}': write a variable name inside", at: pos) }
            do {
                tag.kind = .variable(try Self.parsePath(content))
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
                while let d = find(Array("--".utf8), from: search) {
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
                guard let f = find(Array("}}".utf8), from: first + 1) else {
                    throw error("unterminated comment '{{!' (missing '}}')", at: pos)
                }
                end = f
            }
            if end > first + 1, bytes[end - 1] == Self.tilde { tag.trimRight = true }
            countLines(start, end + 2)
            push(tag)
            return end + 2
        }

        guard let close = find(Array("}}".utf8), from: k) else {
            throw error("unterminated tag: '{{' without a matching '}}'", at: pos)
        }
        if find(Array("{{".utf8), from: k).map({ $0 < close }) == true {
            throw error("unterminated tag: '{{' without a matching '}}' before the next '{{'", at: pos)
        }
        var to = close
        if to > k, bytes[to - 1] == Self.tilde { tag.trimRight = true; to -= 1 }
        let content = string(k, to).trimmingTemplateSpace()
        do {
            tag.kind = try Self.classify(content)
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

    /// Splits at whitespace, except inside `[...]` (a key with spaces: `a.[b c]`).
    private static func words(_ s: Substring) -> [Substring] {
        var result: [Substring] = []
        var start: Substring.Index? = nil
        var inBrackets = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "[" { inBrackets = true } else if c == "]" { inBrackets = false }
            let space = !inBrackets && (c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n")
            if space {
                if let st = start { result.append(s[st..<i]); start = nil }
            } else if start == nil {
                start = i
            }
            i = s.index(after: i)
        }
        if let st = start { result.append(s[st..<s.endIndex]) }
        return result
    }

    private static func classify(_ content: String) throws -> Tag.Kind {
        guard let sigil = content.first else {
            throw TemplateSyntaxMessage("empty tag '{{ }}': write a variable name between '{{' and '}}'")
        }
        switch sigil {
        case "#":
            let parts = words(content.dropFirst())
            guard let helper = parts.first else {
                throw TemplateSyntaxMessage("missing block name after '{{#'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
            }
            guard let kind = TemplateBlockKind(rawValue: String(helper)) else {
                throw TemplateSyntaxMessage("unknown block helper '{{#\(helper)}}'; supported blocks are {{#if}}, {{#unless}} and {{#each}}")
            }
            return .open(kind, try blockArgument(kind, Array(parts.dropFirst())))
        case "/":
            let parts = words(content.dropFirst())
            guard parts.count == 1 else {
                if parts.isEmpty { throw TemplateSyntaxMessage("missing block name in closing tag '{{/}}'") }
                throw TemplateSyntaxMessage("unexpected '\(parts.dropFirst().joined(separator: " "))' in closing tag '{{/\(parts[0])}}'")
            }
            return .close(String(parts[0]))
        case ">":
            let parts = words(content.dropFirst())
            guard let partialName = parts.first else {
                throw TemplateSyntaxMessage("missing partial name after '{{>'")
            }
            guard parts.count == 1 else {
                throw TemplateSyntaxMessage("partial arguments are not supported: '{{> \(parts.joined(separator: " "))}}'; a partial sees the variables of the place it is included from")
            }
            return .partial(String(partialName))
        case "^":
            throw TemplateSyntaxMessage("'{{^' is not supported; use {{#unless x}} or {{else}}")
        case "&":
            throw TemplateSyntaxMessage("'{{&' is not supported; values are never escaped, write {{ \(content.dropFirst().trimmingTemplateSpace()) }}")
        default:
            break
        }
        let parts = words(Substring(content))
        if parts[0] == "else" {
            if parts.count == 1 { return .otherwise(nil, nil) }
            guard let kind = TemplateBlockKind(rawValue: String(parts[1])), kind != .each else {
                throw TemplateSyntaxMessage("unexpected '\(parts.dropFirst().joined(separator: " "))' after 'else'; only {{else}}, {{else if x}} and {{else unless x}} are supported")
            }
            return .otherwise(kind, try blockArgument(kind, Array(parts.dropFirst(2))))
        }
        if parts.count > 1 {
            throw TemplateSyntaxMessage("unknown helper '\(parts[0])' in '{{ \(parts.joined(separator: " ")) }}': templates have no helpers, only variables, {{#if}}, {{#unless}}, {{#each}} and {{> partial}}")
        }
        return .variable(try parsePath(content))
    }

    private static func blockArgument(_ kind: TemplateBlockKind, _ args: [Substring]) throws -> TemplatePath {
        guard let first = args.first else {
            throw TemplateSyntaxMessage("{{#\(kind.rawValue)}} needs a variable, e.g. {{#\(kind.rawValue) name}}")
        }
        guard args.count == 1 else {
            if args.contains("as") {
                throw TemplateSyntaxMessage("block parameters ('as |x|') are not supported; inside {{#each}} use {{ . }}, {{ @index }} and {{ @key }}")
            }
            throw TemplateSyntaxMessage("{{#\(kind.rawValue)}} takes one variable, found '\(args.joined(separator: " "))'")
        }
        return try parsePath(String(first))
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
    }

    /// Parses `name`, `a.b.c`, `a.[key with.dots]`, `.`, `this`, `./x`, `this.x`, `../x`,
    /// `@root`, `@root.x`, `@index`, `@key`, `@first`, `@last`.
    static func parsePath(_ text: String) throws -> TemplatePath {
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
        var starts = [Int](repeating: 0, count: texts.count)
        var ends = texts.map(\.count)

        // Mustache "standalone" rule, evaluated on the original text.
        for t in tags.indices where tags[t].standaloneCapable && !tags[t].trimLeft && !tags[t].trimRight {
            let left = texts[t], right = texts[t + 1]
            // Left: only blanks since the last newline (or since the start of the file).
            var p = left.count
            while p > 0, Self.isBlank(left[p - 1]) { p -= 1 }
            let leftOK = p == 0 ? t == 0 : left[p - 1] == 0x0A
            guard leftOK else { continue }
            // Right: only blanks (and a CR) up to the next newline (or the end of the file).
            var q = 0
            while q < right.count, Self.isBlank(right[q]) { q += 1 }
            if q < right.count, right[q] == 0x0D, q + 1 < right.count, right[q + 1] == 0x0A { q += 1 }
            let rightEnd: Int
            if q == right.count, t + 1 == tags.count {
                rightEnd = q
            } else if q < right.count, right[q] == 0x0A {
                rightEnd = q + 1
            } else {
                continue
            }
            tags[t].indent = String(decoding: left[p...], as: UTF8.self)
            ends[t] = min(ends[t], p)
            starts[t + 1] = max(starts[t + 1], rightEnd)
        }

        // Handlebars `~`: strip all whitespace (newlines included) next to the tag.
        for t in tags.indices {
            if tags[t].trimLeft {
                let text = texts[t]
                while ends[t] > starts[t], Self.isSpace(text[ends[t] - 1]) { ends[t] -= 1 }
            }
            if tags[t].trimRight {
                let text = texts[t + 1]
                while starts[t + 1] < ends[t + 1], Self.isSpace(text[starts[t + 1]]) { starts[t + 1] += 1 }
            }
        }

        for t in texts.indices where starts[t] != 0 || ends[t] != texts[t].count {
            texts[t] = starts[t] < ends[t] ? Array(texts[t][starts[t]..<ends[t]]) : []
        }
    }

    // MARK: - 3. Tree

    private struct OpenBlock {
        var kind: TemplateBlockKind
        var path: TemplatePath
        var position: SourcePosition
        var body: [TemplateNode] = []
        var otherwise: [TemplateNode] = []
        var inElse = false
        /// Opened by `{{else if x}}`: closed together with the block it continues.
        var chained = false

        var node: TemplateNode {
            switch kind {
            case .if: return .conditional(path, negated: false, then: body, otherwise: otherwise, position)
            case .unless: return .conditional(path, negated: true, then: body, otherwise: otherwise, position)
            case .each: return .each(path, body: body, otherwise: otherwise, position)
            }
        }
    }

    private func build() throws -> [TemplateNode] {
        var root: [TemplateNode] = []
        var stack: [OpenBlock] = []

        func append(_ node: TemplateNode) {
            if stack.isEmpty {
                root.append(node)
            } else if stack[stack.count - 1].inElse {
                stack[stack.count - 1].otherwise.append(node)
            } else {
                stack[stack.count - 1].body.append(node)
            }
        }
        /// Closes the innermost block and the chain it belongs to; returns the chain's head.
        func closeChain() -> OpenBlock {
            var block = stack.removeLast()
            while block.chained {
                let node = block.node
                block = stack.removeLast()
                block.otherwise.append(node)
            }
            return block
        }

        for t in 0...tags.count {
            if !texts[t].isEmpty { append(.text(texts[t])) }
            guard t < tags.count else { break }
            let tag = tags[t]
            switch tag.kind {
            case .variable(let path):
                append(.variable(path, tag.position))
            case .open(let kind, let path):
                stack.append(OpenBlock(kind: kind, path: path, position: tag.position))
            case .otherwise(let chainKind, let path):
                guard let top = stack.last else {
                    throw error("{{else}} outside of a block", at: tag.position)
                }
                if top.inElse {
                    var head = stack.count - 1
                    while stack[head].chained { head -= 1 }
                    throw error("a second {{else}} in the {{#\(stack[head].kind.rawValue)}} block opened at \(stack[head].position)", at: tag.position)
                }
                stack[stack.count - 1].inElse = true
                if let chainKind, let path {
                    stack.append(OpenBlock(kind: chainKind, path: path, position: tag.position, chained: true))
                }
            case .close(let closeName):
                guard !stack.isEmpty else {
                    throw error("{{/\(closeName)}} without a matching {{#\(closeName)}}", at: tag.position)
                }
                var head = stack.count - 1
                while stack[head].chained { head -= 1 }
                let opened = stack[head]
                guard opened.kind.rawValue == closeName else {
                    throw error("{{/\(closeName)}} does not match {{#\(opened.kind.rawValue) \(opened.path.text)}} opened at \(opened.position); close it with {{/\(opened.kind.rawValue)}}", at: tag.position)
                }
                let block = closeChain()
                append(block.node)
            case .partial(let partialName):
                append(.partial(name: partialName, indent: tag.indent, tag.position))
            case .comment, .raw:
                break
            }
        }
        if !stack.isEmpty {
            var head = stack.count - 1
            while stack[head].chained { head -= 1 }
            let open = stack[head]
            throw error("unclosed {{#\(open.kind.rawValue) \(open.path.text)}}: missing {{/\(open.kind.rawValue)}}", at: open.position)
        }
        return root
    }
}

fileprivate extension StringProtocol {
    func trimmingTemplateSpace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
