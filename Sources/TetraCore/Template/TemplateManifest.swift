import FoundationEssentials

/// What a template says about itself: a description, default values, and how its files are
/// written. A directory template keeps it in `template.toml` at its root (not part of the
/// result); a file template in a header comment whose first line is `{{!-- template` and
/// whose last line is `--}}`, with TOML in between (the engine drops the comment, so the
/// header never reaches the output):
///
///     {{!-- template
///     description = "A web app with an HTTP health check"
///     output = "{{ name }}.toml"
///     [defaults]
///     name = "web"
///     --}}
///
/// Keys: `description` (string); `[defaults]` (values used when neither `--vars` nor
/// `--set` gives them); `output` (file templates: the written file's name, itself a
/// template; default: the template's file name without a `.tmpl` suffix); `verbatim`
/// (directory templates: globs of files copied unchanged instead of rendered, e.g.
/// `["files/**"]` for an org's per-environment `*.tmpl` files; `*` stays within one path
/// component, `**` crosses them, `?` is one character).
public struct TemplateManifest: Sendable, Equatable {
    public var description: String?
    public var defaults: TOMLTable
    public var verbatim: [String]
    public var output: String?

    public init(description: String? = nil, defaults: TOMLTable = TOMLTable(), verbatim: [String] = [], output: String? = nil) {
        self.description = description
        self.defaults = defaults
        self.verbatim = verbatim
        self.output = output
    }

    /// The file name of a directory template's manifest.
    public static let fileName = "template.toml"
    /// The first line of a file template's manifest header.
    public static let headerStart = "{{!-- template"
    public static let headerEnd = "--}}"

    static let knownKeys: Set<String> = ["description", "defaults", "verbatim", "output"]

    /// Parses and validates a manifest (every problem reported, exit 3).
    /// - Parameter lineOffset: added to line numbers (a header starts after its first line).
    public static func parse(_ text: String, file: String, lineOffset: Int = 0, directory: Bool) throws -> TemplateManifest {
        let table: TOMLTable
        do {
            table = try TOMLParser.parse(text, file: file)
        } catch var error as ConfigError {
            error.problems = error.problems.map { p in
                var p = p
                if let pos = p.position { p.position = SourcePosition(line: pos.line + lineOffset, column: pos.column) }
                return p
            }
            throw error
        }
        var manifest = TemplateManifest()
        var problems: [ConfigProblem] = []
        func problem(_ key: String, _ message: String) {
            problems.append(ConfigProblem(file: file, keyPath: key, message: message))
        }
        for (key, value) in table {
            switch key {
            case "description":
                if let s = value.stringValue { manifest.description = s } else { problem(key, "must be a string, not \(value.typeName)") }
            case "defaults":
                if let t = value.tableValue { manifest.defaults = t } else { problem(key, "must be a table, not \(value.typeName)") }
            case "verbatim":
                if !directory { problem(key, "applies to directory templates only") }
                if let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                    manifest.verbatim = items.compactMap(\.stringValue)
                } else {
                    problem(key, "must be an array of glob strings")
                }
            case "output":
                if directory { problem(key, "applies to file templates only") }
                if let s = value.stringValue, !s.isEmpty { manifest.output = s } else { problem(key, "must be a non-empty string") }
            default:
                problem(key, "unknown key (known: \(knownKeys.sorted().joined(separator: ", ")))")
            }
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        return manifest
    }

    /// The manifest header of a file template, if the source starts with one. A header that
    /// is opened but never closed is an error.
    public static func header(of source: String, file: String) throws -> TemplateManifest? {
        guard source.hasPrefix(headerStart) else { return nil }
        var lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first.map({ $0.trimming(.whitespaces) == headerStart }) == true else { return nil }
        lines.removeFirst()
        guard let end = lines.firstIndex(where: { $0.trimming(.whitespaces) == headerEnd }) else {
            throw ConfigError(ConfigProblem(file: file, position: SourcePosition(line: 1, column: 1),
                                            message: "the template header is never closed (a line '\(headerEnd)')"))
        }
        let body = lines[..<end].joined(separator: "\n") + "\n"
        return try parse(body, file: file, lineOffset: 1, directory: false)
    }
}

/// Glob patterns over `/`-separated relative paths: `*` (within a component), `**` (any
/// number of components), `?` (one character), everything else literal.
public enum Glob {
    public static func matches(_ pattern: String, _ path: String) -> Bool {
        match(Array(pattern.utf8)[...], Array(path.utf8)[...])
    }

    private static func match(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var p = p, s = s
        while let c = p.first {
            if c == UInt8(ascii: "*") {
                let doubled = p.count >= 2 && p[p.startIndex + 1] == UInt8(ascii: "*")
                if doubled {
                    let rest = p.dropFirst(2)
                    // `**/` also matches zero directories.
                    if rest.first == UInt8(ascii: "/"), match(rest.dropFirst(), s) { return true }
                    var tail = s
                    while true {
                        if match(rest, tail) { return true }
                        if tail.isEmpty { return false }
                        tail = tail.dropFirst()
                    }
                }
                let rest = p.dropFirst()
                var tail = s
                while true {
                    if match(rest, tail) { return true }
                    guard let first = tail.first, first != UInt8(ascii: "/") else { return false }
                    tail = tail.dropFirst()
                }
            }
            guard let d = s.first else { return false }
            if c == UInt8(ascii: "?") {
                if d == UInt8(ascii: "/") { return false }
            } else if c != d {
                return false
            }
            p = p.dropFirst()
            s = s.dropFirst()
        }
        return s.isEmpty
    }
}
