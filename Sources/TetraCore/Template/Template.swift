/// The template engine for `*.tmpl` files (SPEC §3 "template"): logic-less, Handlebars-like.
/// Parsed once into a flat program (`Template.init`), rendered many times against a TOML
/// table. It never prints and never touches files: partials come from a caller-given provider.
///
/// Syntax (docs/templates.md is written from this):
/// - `{{ name }}`, `{{ env.name }}`, `{{ a.[key.with dots] }}`, `{{ list.0 }}`. Names are
///   letters, digits, `_`, `-`; other keys go in `[ ]`. `{{{ x }}}` is the same as `{{ x }}`:
///   nothing is ever HTML-escaped.
/// - Values: strings as they are, integers in decimal, floats shortest round-trip and always
///   with a fraction or exponent (`2.0`, `0.1`, `1e+20`, `inf`, `nan`), booleans `true` /
///   `false`, date-times in RFC 3339 / TOML form (`Z` for offset 0). A table or array is an
///   error ("use {{#each}}").
/// - `{{#each x}}...{{else}}...{{/each}}` over arrays and tables (document order).
///   Inside: `{{ . }}` / `{{ this }}` is the item, `{{ @index }}` (0-based), `{{ @first }}`,
///   `{{ @last }}`, `{{ @key }}` (tables only). A bare name is looked up in the innermost
///   item's fields, then outward through enclosing items to the root; `./x` / `this.x`: the
///   item only; `../x` skips the innermost item; `@root.x`: the root context.
/// - `{{#if x}}`, `{{#unless x}}`, with `{{else}}` and chained `{{else if y}}` /
///   `{{else unless y}}`, closed by `{{/if}}` (the helper's name). false, "", 0, 0.0, nan,
///   [] and {} are false; everything else is true.
/// - An undefined variable is an error everywhere, `{{#if}}` included (`file:line:col`, with
///   "did you mean" when a close name exists in scope).
/// - `{{> name}}` includes a partial (any name without spaces: `{{> nginx/tls.conf}}`), which
///   sees the variables of the place it is included from; no arguments. At most
///   `maxPartialDepth` (32) levels.
/// - `{{! c }}` ends at the first `}}`; `{{!-- c --}}` may contain `}}`.
/// - `\{{` is a literal `{{` (and `\\{{ x }}` a backslash before a tag);
///   `{{{{raw}}}} ... {{{{/raw}}}}` copies its content literally.
/// - No helpers: `{{#with}}`, `{{ upper x }}`, `{{^x}}`, `{{& x}}`, `as |x|` are errors.
/// - Whitespace: a line holding only one block tag (`{{#...}}`, `{{else}}`, `{{/...}}`), a
///   comment, a partial or a raw-block tag, plus spaces/tabs, is removed with its line end
///   (Mustache "standalone" rule; LF or CRLF). A standalone partial has every non-empty line
///   indented like its tag. `{{~` / `~}}` strip all whitespace (newlines included) before /
///   after a tag; a tag with a `~` is never standalone.
public struct Template: Sendable {
    /// The name used in error messages (usually the file's path).
    public let name: String
    /// The source text as given.
    public let source: String
    let program: TemplateProgram

    /// How deeply partials may include partials before rendering fails.
    public static let maxPartialDepth = 32
    /// The most output one template may render (16 MiB); beyond it the render fails (exit 3)
    /// naming the chain of partials that was being rendered.
    public static let maxOutputBytes = 16 << 20
    /// The most output all templates of one org release may render together (256 MiB).
    public static let maxReleaseOutputBytes = 256 << 20
    /// The most steps (text, tags, items, partial includes) one render may take: a bound on
    /// work that renders nothing (partials that include partials twice, 32 deep).
    public static let maxRenderSteps = 8_000_000

    /// Parses `source`. Throws `ConfigError` (`name:line:column: message`) on a syntax error.
    public init(source: String, name: String) throws {
        try self.init(source: source, name: name, columnShift: 0)
    }

    init(source: String, name: String, columnShift: Int) throws {
        var parser = TemplateParser(source: source, name: name, columnShift: columnShift)
        self.program = try parser.parse()
        self.name = name
        self.source = source
    }

    /// Renders the template. Throws `ConfigError` with the position of the offending tag
    /// (undefined variable or partial, a table rendered as text, ...), or whatever the
    /// partial provider throws.
    public func render(_ context: TOMLTable, partials: (any TemplatePartialProvider)? = nil) throws -> String {
        try renderResult(context, partials: partials).text
    }

    /// Renders the template and reports which top-level context names and partials were used.
    /// `interrupt`: checked while rendering; a raised flag ends it with `CoreError.interrupted`.
    /// `maxOutput`: the output bound (`TemplateLimitError`, exit 3, beyond it).
    public func renderResult(_ context: TOMLTable, partials: (any TemplatePartialProvider)? = nil,
                             interrupt: InterruptFlag? = nil, maxOutput: Int = Template.maxOutputBytes) throws -> TemplateRenderResult {
        var state = TemplateRenderState(context: context, partials: partials, capacity: source.utf8.count + source.utf8.count / 2,
                                        root: name, interrupt: interrupt, maxOutput: maxOutput)
        try state.run(program, 0, program.ops.count, file: name)
        return TemplateRenderResult(text: String(decoding: state.out, as: UTF8.self),
                                    usedRoots: state.usedRoots, usedPartials: state.usedPartials)
    }

    /// Renders for validation: every problem (undefined variables and partials, tables
    /// rendered as text, syntax errors in partials, ...) instead of only the first, each
    /// reported once, in template order. An empty array means the template renders.
    /// Rendering goes on after a problem: the tag renders nothing, an `{{#if}}` /
    /// `{{#unless}}` on an undefined variable takes its `{{else}}` branch, an `{{#each}}`
    /// is skipped. Errors other than `ConfigError` (from the partial provider) are thrown.
    public func validate(_ context: TOMLTable, partials: (any TemplatePartialProvider)? = nil,
                         interrupt: InterruptFlag? = nil) throws -> [ConfigProblem] {
        var state = TemplateRenderState(context: context, partials: partials, capacity: source.utf8.count,
                                        root: name, interrupt: interrupt, maxOutput: Template.maxOutputBytes)
        state.collecting = true
        try state.run(program, 0, program.ops.count, file: name)
        return state.problems
    }

    /// Parses and renders in one call.
    public static func render(source: String, name: String, context: TOMLTable,
                              partials: (any TemplatePartialProvider)? = nil) throws -> String {
        try Template(source: source, name: name).render(context, partials: partials)
    }

    /// Top-level context names this template certainly refers to, sorted: the first name of
    /// every path outside `{{#each}}` blocks, of `@root.x` paths, and of `../x` paths that
    /// climb out of every enclosing `{{#each}}`. A bare name inside an `{{#each}}` body may
    /// belong to the item, so it is not listed (render to know for sure: `usedRoots`).
    /// Partials are not followed.
    public func referencedVariables() -> [String] {
        var names = Set<String>()
        let program = self.program
        func visit(_ from: Int, _ to: Int, depth: Int) {
            var pc = from
            while pc < to {
                let op = program.ops[pc]
                switch op.code {
                case .text, .partial:
                    pc += 1
                case .variable:
                    add(program.paths[Int(op.a)], depth)
                    pc += 1
                case .ifBlock, .unlessBlock, .each:
                    add(program.paths[Int(op.a)], depth)
                    visit(pc + 1, Int(op.b), depth: op.code == .each ? depth + 1 : depth)
                    visit(Int(op.b), Int(op.c), depth: depth)
                    pc = Int(op.c)
                }
            }
        }
        func add(_ path: TemplatePath, _ depth: Int) {
            guard let first = path.segments.first else { return }
            switch path.base {
            case .scope, .current: if depth == 0 { names.insert(first) }
            case .parent(let n): if n >= depth { names.insert(first) }
            case .root: names.insert(first)
            case .data: break
            }
        }
        visit(0, program.ops.count, depth: 0)
        return names.sorted()
    }

    /// Names of the partials this template includes directly (`{{> name}}`), sorted.
    public func referencedPartials() -> [String] {
        Set(program.partials.map(\.name)).sorted()
    }
}

/// A render went over a bound (output size or work): exit 3, naming the template and the
/// chain of partials being rendered (`a.tmpl -> p1 -> p2`). Not a `ConfigError`, so that
/// validation does not collect it and go on.
public struct TemplateLimitError: TetraError, Equatable {
    public var problem: ConfigProblem
    public init(_ problem: ConfigProblem) { self.problem = problem }
    public var exitCode: ExitCode { .invalidConfig }
    public var kind: String { "config" }
    public var message: String { problem.description }
    public var hint: String? {
        "a partial included more than once at every level multiplies the output; the limits are \(Template.maxOutputBytes >> 20) MiB per file and \(Template.maxReleaseOutputBytes >> 20) MiB per release"
    }
}

/// The output of a render and what it touched.
public struct TemplateRenderResult: Sendable, Equatable {
    public var text: String
    /// Top-level context names the render read (`secrets` for `{{ secrets.KEY }}`), including
    /// names only tested by `{{#if}}` or iterated by `{{#each}}`, and those read by partials.
    public var usedRoots: Set<String>
    /// Names of the partials that were rendered.
    public var usedPartials: Set<String>

    public init(text: String, usedRoots: Set<String>, usedPartials: Set<String>) {
        self.text = text
        self.usedRoots = usedRoots
        self.usedPartials = usedPartials
    }

    /// True when the output may contain secrets (write it with mode 0600).
    public var usesSecrets: Bool { usedRoots.contains("secrets") }
}

/// Supplies the partials `{{> name}}` refers to. Return nil for an unknown name (the render
/// fails with "undefined partial 'name'"). Called at most once per name and render.
public protocol TemplatePartialProvider: Sendable {
    func partial(named name: String) throws -> Template?
    /// The names that exist, for "did you mean" suggestions (default: none).
    var partialNames: [String] { get }
}

extension TemplatePartialProvider {
    public var partialNames: [String] { [] }
}

/// A ready-made provider: a fixed set of templates, or a lookup closure.
public struct TemplatePartials: TemplatePartialProvider {
    private let lookup: @Sendable (String) throws -> Template?
    public let partialNames: [String]

    /// Partials by name.
    public init(_ templates: [String: Template]) {
        lookup = { templates[$0] }
        partialNames = templates.keys.sorted()
    }

    /// Partials by name, parsed from source (the template name is the partial's name).
    public init(sources: [String: String]) throws {
        var templates: [String: Template] = [:]
        for (name, source) in sources { templates[name] = try Template(source: source, name: name) }
        self.init(templates)
    }

    /// Partials found by a closure (e.g. reading `partials/NAME.tmpl` on demand); `names`
    /// only feeds "did you mean" suggestions.
    public init(names: [String] = [], lookup: @escaping @Sendable (String) throws -> Template?) {
        self.lookup = lookup
        self.partialNames = names
    }

    public func partial(named name: String) throws -> Template? {
        try lookup(name)
    }
}
