/// Runs a parsed template with a context and writes the output into a byte buffer.
/// A struct (not a class) so that its state is checked for exclusive access statically.
struct TemplateRenderState {
    struct Frame {
        var value: TOMLValue
        var index: Int
        var count: Int
        var key: String?
    }

    private(set) var out: [UInt8] = []
    private(set) var usedRoots: Set<String> = []
    private(set) var usedPartials: Set<String> = []
    /// When true, `ConfigError`s are collected in `problems` instead of ending the render.
    var collecting = false
    private(set) var problems: [ConfigProblem] = []
    private var seenProblems: Set<String> = []
    /// The `{{#each}}` items, innermost last (the root context is not a frame).
    private var frames: [Frame] = []
    private let root: TOMLTable
    private let provider: (any TemplatePartialProvider)?
    private var partialCache: [String: Template] = [:]
    /// The partial tags being rendered, outermost first: where each was included from.
    private var includes: [(file: String, position: SourcePosition, partial: String)] = []

    /// The template rendered (first of the chain in limit errors).
    private let rootName: String
    private let interrupt: InterruptFlag?
    private let maxOutput: Int
    private var steps = 0

    init(context: TOMLTable, partials: (any TemplatePartialProvider)?, capacity: Int,
         root rootName: String, interrupt: InterruptFlag?, maxOutput: Int) {
        root = context
        provider = partials
        self.rootName = rootName
        self.interrupt = interrupt
        self.maxOutput = maxOutput
        out.reserveCapacity(min(capacity, maxOutput))
    }

    // MARK: Bounds

    /// Counts one step; checks the interrupt flag now and then, and the bounds.
    private mutating func step(_ position: SourcePosition, _ file: String) throws {
        steps += 1
        if steps & 4095 == 0 { try interrupt?.check() }
        if out.count > maxOutput {
            throw limit("rendered output exceeds the limit of \(maxOutput >> 20 > 0 ? "\(maxOutput >> 20) MiB" : "\(maxOutput) bytes") per file", position, file)
        }
        if steps > Template.maxRenderSteps {
            throw limit("rendering takes more than \(Template.maxRenderSteps) steps", position, file)
        }
    }

    /// The chain being rendered: `a.tmpl -> p1 -> p2`.
    var chain: String {
        var names = [rootName] + includes.map(\.partial)
        if names.count > 10 { names = Array(names.prefix(5)) + ["..."] + Array(names.suffix(3)) }
        return names.joined(separator: " -> ")
    }

    private func limit(_ message: String, _ position: SourcePosition, _ file: String) -> TemplateLimitError {
        TemplateLimitError(ConfigProblem(file: file, position: position.line > 0 ? position : nil, message: message + " (" + chain + ")"))
    }

    // MARK: Errors

    private func fail(_ message: String, _ position: SourcePosition, _ file: String) -> ConfigError {
        var text = message
        if !includes.isEmpty {
            var chain = includes.reversed().map { "\($0.file):\($0.position)" }
            if chain.count > 4 { chain = Array(chain.prefix(2)) + ["..."] + Array(chain.suffix(1)) }
            text += " (in a partial included from " + chain.joined(separator: ", ") + ")"
        }
        return ConfigError(ConfigProblem(file: file, position: position, message: text))
    }

    // MARK: Program

    /// Runs ops `from..<to` of `program`.
    mutating func run(_ program: TemplateProgram, _ from: Int, _ to: Int, file: String) throws {
        var pc = from
        while pc < to {
            let op = program.ops[pc]
            try step(program.positions[pc], file)
            switch op.code {
            case .text:
                program.text.withUnsafeBufferPointer { buffer in
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[Int(op.a)..<Int(op.b)]))
                }
                pc += 1
            case .variable:
                let path = program.paths[Int(op.a)]
                do {
                    let value = try resolve(path, program.positions[pc], file)
                    try write(value, path, program.positions[pc], file)
                } catch let error as ConfigError where collecting {
                    record(error)
                }
                pc += 1
            case .ifBlock, .unlessBlock:
                let value: TOMLValue
                do {
                    value = try resolve(program.paths[Int(op.a)], program.positions[pc], file)
                } catch let error as ConfigError where collecting {
                    record(error)
                    value = .boolean(op.code == .unlessBlock) // continue with the else branch
                }
                if TemplateValues.isTruthy(value) == (op.code == .ifBlock) {
                    try run(program, pc + 1, Int(op.b), file: file)
                } else {
                    try run(program, Int(op.b), Int(op.c), file: file)
                }
                pc = Int(op.c)
            case .each:
                let path = program.paths[Int(op.a)]
                do {
                    let value = try resolve(path, program.positions[pc], file)
                    try runEach(value, path, program, body: pc + 1, otherwise: Int(op.b), end: Int(op.c), program.positions[pc], file)
                } catch let error as ConfigError where collecting {
                    record(error)
                }
                pc = Int(op.c)
            case .partial:
                do {
                    try runPartial(program.partials[Int(op.a)], program.positions[pc], file)
                } catch let error as ConfigError where collecting {
                    record(error)
                }
                pc += 1
            }
        }
        if to > from, out.count > maxOutput { try step(program.positions[to - 1], file) }
    }

    /// Validation mode: problems are collected (once each) and rendering goes on.
    private mutating func record(_ error: ConfigError) {
        for problem in error.problems where seenProblems.insert(problem.description).inserted {
            problems.append(problem)
        }
    }

    private mutating func runEach(_ value: TOMLValue, _ path: TemplatePath, _ program: TemplateProgram,
                                  body: Int, otherwise: Int, end: Int, _ position: SourcePosition, _ file: String) throws {
        switch value {
        case .array(let items):
            if items.isEmpty { return try run(program, otherwise, end, file: file) }
            frames.append(Frame(value: .boolean(false), index: 0, count: items.count, key: nil))
            let top = frames.count - 1
            for (i, item) in items.enumerated() {
                frames[top] = Frame(value: item, index: i, count: items.count, key: nil)
                try run(program, body, otherwise, file: file)
            }
            frames.removeLast()
        case .table(let table):
            if table.isEmpty { return try run(program, otherwise, end, file: file) }
            frames.append(Frame(value: .boolean(false), index: 0, count: table.count, key: nil))
            let top = frames.count - 1
            var i = 0
            for (key, item) in table {
                frames[top] = Frame(value: item, index: i, count: table.count, key: key)
                try run(program, body, otherwise, file: file)
                i += 1
            }
            frames.removeLast()
        default:
            throw fail("cannot iterate over '\(path.text)': it is \(TemplateValues.article(value)); {{#each}} needs an array or a table", position, file)
        }
    }

    private mutating func runPartial(_ ref: TemplatePartialRef, _ position: SourcePosition, _ file: String) throws {
        if includes.count >= Template.maxPartialDepth {
            var chain = includes.map(\.partial)
            if chain.count > 6 { chain = Array(chain.prefix(3)) + ["..."] + Array(chain.suffix(2)) }
            chain.append(ref.name)
            throw fail("partials nested more than \(Template.maxPartialDepth) levels deep (\(chain.joined(separator: " > "))); does '\(ref.name)' include itself without an end?", position, file)
        }
        let template = try loadPartial(ref.name, ref.indent, position, file)
        usedPartials.insert(ref.name)
        includes.append((file, position, ref.name))
        try run(template.program, 0, template.program.ops.count, file: template.name)
        includes.removeLast()
    }

    private mutating func loadPartial(_ name: String, _ indent: String, _ position: SourcePosition, _ file: String) throws -> Template {
        let cacheKey = indent.isEmpty ? name : name + "\u{0}" + indent
        if let cached = partialCache[cacheKey] { return cached }
        let base: Template
        if let cached = partialCache[name] {
            base = cached
        } else {
            guard let provider else {
                throw fail("undefined partial '\(name)' (no partials are available here)", position, file)
            }
            guard let found = try provider.partial(named: name) else {
                var message = "undefined partial '\(name)'"
                if let close = TemplateValues.closest(name, among: provider.partialNames) {
                    message += "; did you mean '\(close)'?"
                }
                throw fail(message, position, file)
            }
            base = found
            partialCache[name] = base
        }
        if indent.isEmpty { return base }
        // A standalone partial: every line of its source is indented like the tag.
        let indented = try Template(source: TemplateValues.indentLines(base.source, indent),
                                    name: base.name, columnShift: indent.count)
        partialCache[cacheKey] = indented
        return indented
    }

    // MARK: Variables

    private mutating func markRoot(_ segments: [String]) {
        if let first = segments.first {
            usedRoots.insert(first)
        } else {
            usedRoots.formUnion(root.keys)
        }
    }

    private mutating func resolve(_ path: TemplatePath, _ position: SourcePosition, _ file: String) throws -> TOMLValue {
        switch path.base {
        case .scope:
            return try lookOutward(from: frames.count - 1, path, position, file)
        case .current:
            let top = frames.count - 1
            guard top >= 0 else {
                markRoot(path.segments)
                return try descend(.table(root), path, from: 0, position, file)
            }
            return path.segments.isEmpty ? frames[top].value : try descend(frames[top].value, path, from: 0, position, file)
        case .parent(let ups):
            let start = frames.count - 1 - ups
            guard start >= -1 else {
                throw fail("'\(path.text)' goes above the root context (only \(frames.count) enclosing {{#each}} here)", position, file)
            }
            if path.segments.isEmpty {
                if start == -1 { markRoot([]); return .table(root) }
                return frames[start].value
            }
            return try lookOutward(from: start, path, position, file)
        case .root:
            markRoot(path.segments)
            return try descend(.table(root), path, from: 0, position, file)
        case .data(let data):
            let top = frames.count - 1
            guard top >= 0 else {
                throw fail("'@\(data.rawValue)' is only defined inside {{#each}}", position, file)
            }
            switch data {
            case .index: return .integer(Int64(frames[top].index))
            case .first: return .boolean(frames[top].index == 0)
            case .last: return .boolean(frames[top].index == frames[top].count - 1)
            case .key:
                guard let key = frames[top].key else {
                    throw fail("'@key' is only defined in {{#each}} over a table; this {{#each}} is over an array (use @index)", position, file)
                }
                return .string(key)
            }
        }
    }

    /// Looks the first segment up in the items `start`, `start - 1`, ..., 0, then the root.
    private mutating func lookOutward(from start: Int, _ path: TemplatePath, _ position: SourcePosition, _ file: String) throws -> TOMLValue {
        let first = path.segments[0]
        var i = start
        while i >= 0 {
            if case .table(let table) = frames[i].value, let value = table[first] {
                return path.segments.count == 1 ? value : try descend(value, path, from: 1, position, file)
            }
            i -= 1
        }
        if let value = root[first] {
            usedRoots.insert(first)
            return path.segments.count == 1 ? value : try descend(value, path, from: 1, position, file)
        }
        var candidates: [String] = []
        var seen = Set<String>()
        i = start
        while i >= 0 {
            for key in frames[i].value.tableValue?.keys ?? [] where seen.insert(key).inserted { candidates.append(key) }
            i -= 1
        }
        for key in root.keys where seen.insert(key).inserted { candidates.append(key) }
        throw undefined(path, failing: 0, candidates: candidates, position, file)
    }

    private func descend(_ start: TOMLValue, _ path: TemplatePath, from: Int, _ position: SourcePosition, _ file: String) throws -> TOMLValue {
        var value = start
        var k = from
        let segments = path.segments
        while k < segments.count {
            let segment = segments[k]
            switch value {
            case .table(let table):
                guard let next = table[segment] else {
                    throw undefined(path, failing: k, candidates: table.keys, position, file)
                }
                value = next
            case .array(let items):
                guard let index = Int(segment), index >= 0, index < items.count else {
                    let prefix = TemplateValues.prefix(path, upTo: k - 1)
                    throw fail("undefined variable '\(TemplateValues.prefix(path, upTo: k))': '\(prefix)' is an array of \(items.count) item\(items.count == 1 ? "" : "s"), indexed from 0", position, file)
                }
                value = items[index]
            default:
                let prefix = TemplateValues.prefix(path, upTo: k - 1)
                throw fail("undefined variable '\(TemplateValues.prefix(path, upTo: k))': '\(prefix)' is \(TemplateValues.article(value)), not a table", position, file)
            }
            k += 1
        }
        return value
    }

    private func undefined(_ path: TemplatePath, failing k: Int, candidates: [String], _ position: SourcePosition, _ file: String) -> ConfigError {
        let written = TemplateValues.prefix(path, upTo: k)
        var message = "undefined variable '\(written)'"
        if let suggestion = TemplateValues.closest(path.segments[k], among: candidates) {
            var fixed = path
            fixed.segments[k] = suggestion
            message += "; did you mean '\(TemplateValues.prefix(fixed, upTo: k))'?"
        }
        return fail(message, position, file)
    }

    private mutating func write(_ value: TOMLValue, _ path: TemplatePath, _ position: SourcePosition, _ file: String) throws {
        switch value {
        case .string(let s):
            var s = s
            s.withUTF8 { out.append(contentsOf: $0) }
        case .integer(let i):
            DecimalBytes.append(i, to: &out)
        case .boolean(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .float(let d):
            out.append(contentsOf: TemplateValues.formatFloat(d).utf8)
        case .datetime(let d):
            out.append(contentsOf: TemplateValues.formatDateTime(d).utf8)
        case .array, .table:
            throw fail("cannot render \(TemplateValues.article(value)) as text ('\(path.text)'); use {{#each \(path.text)}} ... {{/each}}\(value.tableValue.flatMap { $0.keys.first }.map { " or a field such as '\(path.segments.isEmpty ? $0 : path.text + "." + $0)'" } ?? "")", position, file)
        }
    }
}

/// Value helpers shared by the renderer (formatting, truthiness, suggestions).
enum TemplateValues {
    /// false, "", 0, 0.0, NaN, [] and {} are false; everything else is true.
    static func isTruthy(_ value: TOMLValue) -> Bool {
        switch value {
        case .string(let s): return !s.isEmpty
        case .integer(let i): return i != 0
        case .float(let d): return d != 0 && !d.isNaN
        case .boolean(let b): return b
        case .datetime: return true
        case .array(let a): return !a.isEmpty
        case .table(let t): return !t.isEmpty
        }
    }

    static func article(_ value: TOMLValue) -> String {
        let name = value.typeName
        return (name.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + name
    }

    /// Shortest representation that reads back to the same Double, always with a
    /// fraction or an exponent (`2.0`, `1.5`, `1e+20`), TOML spellings for inf and nan.
    static func formatFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return d.description
    }

    /// RFC 3339 / TOML form: `2026-11-21T16:03:01Z`, `2026-11-21T16:03:01.5+01:00`,
    /// `2026-11-21T16:03:01`, `2026-11-21`, `16:03:01`.
    static func formatDateTime(_ d: TOMLDateTime) -> String {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        var s = ""
        if let date = d.date { s += pad(date.year, 4) + "-" + pad(date.month, 2) + "-" + pad(date.day, 2) }
        if let time = d.time {
            if d.date != nil { s += "T" }
            s += pad(time.hour, 2) + ":" + pad(time.minute, 2) + ":" + pad(time.second, 2)
            if !time.fraction.isEmpty { s += "." + time.fraction }
            if let offset = d.offsetMinutes {
                if offset == 0 {
                    s += "Z"
                } else {
                    let a = abs(offset)
                    s += (offset < 0 ? "-" : "+") + pad(a / 60, 2) + ":" + pad(a % 60, 2)
                }
            }
        }
        return s
    }

    /// The path as written, up to and including segment `k` (all of it when k is the last).
    static func prefix(_ path: TemplatePath, upTo k: Int) -> String {
        var s: String
        switch path.base {
        case .scope: s = ""
        case .current: s = path.text.hasPrefix("this") ? "this" : "."
        case .parent(let n): s = String(repeating: "../", count: n)
        case .root: s = "@root"
        case .data(let d): s = "@" + d.rawValue
        }
        guard k >= 0 else { return s.isEmpty ? path.text : s }
        for (i, segment) in path.segments.prefix(k + 1).enumerated() {
            let plain = !segment.isEmpty && segment.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
            }
            let piece = plain ? segment : "[" + segment + "]"
            switch path.base {
            case .scope: s += (i == 0 ? "" : ".") + piece
            case .current: s += (s == "." ? "/" : ".") + piece
            case .parent: s += (i == 0 ? "" : ".") + piece
            default: s += "." + piece
            }
        }
        return s
    }

    /// A candidate close to `word`: the same letters in another case, else the closest by
    /// `Suggest` (edit distance), compared case-insensitively.
    static func closest(_ word: String, among candidates: [String]) -> String? {
        let lower = word.lowercased()
        if let same = candidates.first(where: { $0.lowercased() == lower && $0 != word }) { return same }
        let lowered = candidates.map { $0.lowercased() }
        guard let match = Suggest.closest(to: lower, in: lowered), let index = lowered.firstIndex(of: match) else { return nil }
        return candidates[index]
    }

    /// Puts `indent` in front of every non-empty line of `source` (standalone partials).
    static func indentLines(_ source: String, _ indent: String) -> String {
        let bytes = Array(source.utf8), pad = Array(indent.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + pad.count * 16)
        var lineStart = 0
        while lineStart < bytes.count {
            var end = lineStart
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let empty = end == lineStart || (end == lineStart + 1 && bytes[lineStart] == 0x0D)
            if !empty { out.append(contentsOf: pad) }
            out.append(contentsOf: bytes[lineStart..<min(end + 1, bytes.count)])
            lineStart = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
