import FoundationEssentials
import Glibc

/// Where a template comes from.
public enum TemplateOrigin: String, Sendable, Codable, Equatable {
    /// Compiled into the binary from the repository's `templates/` folder.
    case builtin = "built-in"
    /// `$TETRA_DIR/library/templates/` (the git-backed library).
    case library
    /// A file or directory given by path on the command line.
    case path
}

/// One template known to the catalog (not yet loaded).
///
/// Naming: templates live two levels deep under a `templates/` folder, `KIND/NAME`. A
/// directory `templates/org/default/` is the directory template `org/default` (every file
/// under it); a file `templates/service/web.toml` is the file template `service/web` (the
/// name drops the last extension). Files directly under `templates/`, hidden files and
/// directories, symbolic links and names with characters outside `[A-Za-z0-9._-]` are not
/// templates. A library template overrides the built-in of the same name.
public struct TemplateEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case file, directory }

    public var name: String
    public var kind: Kind
    public var origin: TemplateOrigin
    /// For messages and `template show`: `templates/service/web.toml` for a built-in, the
    /// absolute path for library and path templates.
    public var location: String
    /// Files, relative to the template (a file template: its file name alone), sorted.
    public var files: [String]
    /// False when another template of the same name wins (a built-in under a library one).
    public var active: Bool = true

    /// Storage key of each file: the path under `templates/` for built-ins, an absolute
    /// path otherwise.
    var storage: [String: String] = [:]
}

/// A template with its files read and its manifest parsed.
public struct LoadedTemplate: Sendable {
    public var entry: TemplateEntry
    public var manifest: TemplateManifest
    /// Every file except a directory template's `template.toml`, sorted by path.
    public var files: [File]

    public struct File: Sendable, Equatable {
        /// Relative to the template.
        public var path: String
        public var contents: String
        /// Where it is, for messages (`templates/org/default/org.toml`, an absolute path).
        public var location: String
        public var executable: Bool
        /// Copied unchanged instead of rendered (a directory template's `verbatim` globs).
        public var verbatim: Bool
    }

    /// One output file.
    public struct Output: Sendable, Equatable, Encodable {
        /// Relative to the output directory.
        public var path: String
        public var contents: String
        /// 0600 when the render read `secrets`, 0755 for executable sources, else 0644.
        public var mode: UInt16
        /// False for files copied unchanged.
        public var rendered: Bool
    }

    /// The context: the manifest's defaults, overridden by `values` (tables merge key by key).
    public func context(_ values: TOMLTable) -> TOMLTable {
        TemplateInput.merge(manifest.defaults, values)
    }

    /// Renders every file (nothing is written). On errors, every problem of every file is
    /// reported (`file:line:column`, exit 3), not only the first.
    public func render(_ values: TOMLTable, partials: (any TemplatePartialProvider)? = nil) throws -> [Output] {
        try renderReport(values, partials: partials).outputs
    }

    /// `render`, also reporting the top-level names the files read (to point out values
    /// that no file uses).
    /// `interrupt`, when given, is checked while rendering (Ctrl-C ends a runaway render).
    public func renderReport(_ values: TOMLTable, partials: (any TemplatePartialProvider)? = nil,
                             interrupt: InterruptFlag? = nil) throws -> (outputs: [Output], usedRoots: Set<String>) {
        let context = self.context(values)
        var used = Set<String>()
        var outputs: [Output] = []
        var problems: [ConfigProblem] = []
        var compiled: [(File, Template?)] = []
        for file in files {
            if file.verbatim { compiled.append((file, nil)); continue }
            do {
                compiled.append((file, try Template(source: file.contents, name: file.location)))
            } catch let error as ConfigError {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        for (file, template) in compiled {
            guard let template else {
                outputs.append(Output(path: file.path, contents: file.contents, mode: file.executable ? 0o755 : 0o644, rendered: false))
                continue
            }
            let result: TemplateRenderResult
            do {
                result = try template.renderResult(context, partials: partials, interrupt: interrupt)
            } catch is ConfigError {
                problems += try template.validate(context, partials: partials, interrupt: interrupt)
                continue
            }
            used.formUnion(result.usedRoots)
            let mode: UInt16 = result.usesSecrets ? 0o600 : (file.executable ? 0o755 : 0o644)
            do {
                outputs.append(Output(path: try outputPath(for: file, context: context, partials: partials),
                                      contents: result.text, mode: mode, rendered: true))
            } catch let error as ConfigError {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        var seen = Set<String>()
        for output in outputs where !seen.insert(output.path).inserted {
            throw ConfigError(ConfigProblem(file: entry.location, message: "two files would be written to \(output.path)"))
        }
        if entry.kind == .file, let output = manifest.output, let t = try? Template(source: output, name: "output") {
            used.formUnion(t.referencedVariables())
        }
        return (outputs, used)
    }

    /// A rendered file's path: `.tmpl` dropped; a file template's manifest `output` rendered.
    func outputPath(for file: File, context: TOMLTable, partials: (any TemplatePartialProvider)?) throws -> String {
        if entry.kind == .file, let pattern = manifest.output {
            let name = try Template(source: pattern, name: file.location + " (output)").render(context, partials: partials)
            guard TemplateInput.isSafeRelativePath(name) else {
                throw ConfigError(ConfigProblem(file: file.location, keyPath: "output",
                                                message: "the output name '\(Names.printable(name))' is not a relative path inside the output directory"))
            }
            return name
        }
        return file.path.hasSuffix(".tmpl") ? String(file.path.dropLast(5)) : file.path
    }

    /// Top-level names the rendered files certainly use (outside loops), sorted.
    public var variables: [String] {
        var names = Set<String>()
        for file in files where !file.verbatim {
            if let t = try? Template(source: file.contents, name: file.location) { names.formUnion(t.referencedVariables()) }
        }
        if let output = manifest.output, let t = try? Template(source: output, name: "output") {
            names.formUnion(t.referencedVariables())
        }
        return names.sorted()
    }
}

/// The built-in templates and the library's, by name.
public struct TemplateCatalog: Sendable {
    /// `$TETRA_DIR/library/templates` (need not exist).
    public var libraryTemplates: String?
    /// The built-in files: path under `templates/` → contents.
    public var builtinFiles: [(path: String, contents: String)]

    public init(libraryTemplates: String?, builtinFiles: [(path: String, contents: String)] = BuiltinTemplates.files) {
        self.libraryTemplates = libraryTemplates
        self.builtinFiles = builtinFiles
    }

    /// The catalog of a state root: built-ins and `library/templates`.
    public init(paths: StatePaths) {
        self.init(libraryTemplates: paths.library + "/templates")
    }

    /// Every template of both origins, sorted by name, a library template before the
    /// built-in it overrides (which is marked inactive).
    public func entries() throws -> [TemplateEntry] {
        let library = try libraryEntries()
        let libraryNames = Set(library.map(\.name))
        var builtins = builtinEntries()
        for i in builtins.indices where libraryNames.contains(builtins[i].name) { builtins[i].active = false }
        return (library + builtins).sorted {
            $0.name != $1.name ? $0.name < $1.name : ($0.origin == .library && $1.origin != .library)
        }
    }

    /// The names of the templates that win (for completion).
    public func activeNames() -> [String] {
        ((try? entries()) ?? builtinEntries()).filter(\.active).map(\.name)
    }

    /// The template that wins for `name` (library over built-in), or nil.
    public func entry(named name: String) throws -> TemplateEntry? {
        guard TemplateInput.isTemplateName(name) else { return nil }
        if let lib = try libraryEntries().first(where: { $0.name == name }) { return lib }
        return builtinEntries().first { $0.name == name }
    }

    /// Finds a template by name, or fails with "not found" (exit 4) and a suggestion.
    public func require(_ name: String) throws -> TemplateEntry {
        if let entry = try entry(named: name) { return entry }
        let names = activeNames()
        var hint = "see 'tetra template list'"
        if let close = Suggest.closest(to: name, in: names) ?? names.first(where: { $0.hasSuffix("/" + name) }) {
            hint = "did you mean '\(close)'? (\(hint))"
        }
        throw CoreError.notFound(what: "template", name: name, hint: hint)
    }

    // MARK: - Built-ins

    public func builtinEntries() -> [TemplateEntry] {
        Self.group(builtinFiles.map(\.path), origin: .builtin) { "templates/" + $0 }
    }

    // MARK: - Library

    public func libraryEntries() throws -> [TemplateEntry] {
        guard let root = libraryTemplates else { return [] }
        var isDir = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir else { return [] }
        let files = Self.regularFiles(under: root, maxDepth: nil)
        return Self.group(files, origin: .library) { root + "/" + $0 }
    }

    /// Relative paths of the regular files under `root` (no hidden names, no symlinks), sorted.
    static func regularFiles(under root: String, maxDepth: Int?) -> [String] {
        scan(under: root, maxDepth: maxDepth).files
    }

    /// Paths under the library's `templates/` that are symlinks or special files: they are
    /// ignored (a library must not point outside itself), and reported as warnings.
    public func librarySkipped() -> [String] {
        guard let root = libraryTemplates else { return [] }
        return Self.scan(under: root, maxDepth: nil).skipped
    }

    /// The regular files under `root` and what was skipped (symlinks, sockets, ...), sorted.
    static func scan(under root: String, maxDepth: Int?) -> (files: [String], skipped: [String]) {
        var out: [String] = []
        var skipped: [String] = []
        func walk(_ dir: String, _ prefix: String, _ depth: Int) {
            guard let items = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for item in items where !item.hasPrefix(".") {
                let full = dir + "/" + item
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFREG: out.append(prefix + item)
                case S_IFDIR: if maxDepth.map({ depth < $0 }) ?? true { walk(full, prefix + item + "/", depth + 1) }
                default: skipped.append(prefix + item) // symlinks, sockets, ...: a library must not point outside itself
                }
            }
        }
        walk(root, "", 0)
        return (out.sorted(), skipped.sorted())
    }

    /// Groups file paths (relative to a `templates/` folder) into templates.
    static func group(_ paths: [String], origin: TemplateOrigin, location: (String) -> String) -> [TemplateEntry] {
        var byName: [String: TemplateEntry] = [:]
        for path in paths {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, parts.allSatisfy(TemplateInput.isNameComponent) else { continue }
            let kind = parts[0]
            if parts.count == 2 {
                let file = parts[1]
                let stem = file.contains(".") && !file.hasPrefix(".") ? String(file[..<file.lastIndex(of: ".")!]) : file
                let name = kind + "/" + stem
                // A directory of the same name wins; of two files, the first in sort order.
                if byName[name] != nil { continue }
                var entry = TemplateEntry(name: name, kind: .file, origin: origin, location: location(path), files: [file])
                entry.storage[file] = origin == .builtin ? path : location(path)
                byName[name] = entry
            } else {
                let name = kind + "/" + parts[1]
                let relative = parts[2...].joined(separator: "/")
                let dirLocation = location(kind + "/" + parts[1])
                if byName[name]?.kind != .directory {
                    byName[name] = TemplateEntry(name: name, kind: .directory, origin: origin, location: dirLocation, files: [])
                }
                byName[name]!.files.append(relative)
                byName[name]!.storage[relative] = origin == .builtin ? path : location(path)
            }
        }
        return byName.values.map { e in
            var e = e
            e.files.sort()
            return e
        }.sorted { $0.name < $1.name }
    }

    // MARK: - Loading

    /// Reads the files of `entry` and parses its manifest.
    public func load(_ entry: TemplateEntry) throws -> LoadedTemplate {
        var contents: [String: (String, Bool)] = [:]
        for file in entry.files {
            guard let key = entry.storage[file] else { continue }
            if entry.origin == .builtin {
                guard let text = builtinFiles.first(where: { $0.path == key })?.contents else { continue }
                contents[file] = (text, false)
            } else {
                contents[file] = try Self.readText(key)
            }
        }
        return try Self.assemble(entry, contents: contents)
    }

    /// A template given by path: a file (a file template) or a directory (every file under
    /// it; its `template.toml` is the manifest).
    public static func load(path: String, displayName: String) throws -> LoadedTemplate {
        var isDir = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CoreError.notFound(what: "template", name: displayName, hint: "see 'tetra template list'")
        }
        // Messages name the files as the user wrote the path.
        if isDir {
            let files = regularFiles(under: path, maxDepth: nil)
            var entry = TemplateEntry(name: displayName, kind: .directory, origin: .path, location: displayName, files: files)
            var contents: [String: (String, Bool)] = [:]
            for file in files {
                entry.storage[file] = path + "/" + file
                contents[file] = try readText(path + "/" + file)
            }
            return try assemble(entry, contents: contents)
        }
        let file = PathText.lastComponent(path)
        var entry = TemplateEntry(name: displayName, kind: .file, origin: .path, location: displayName, files: [file])
        entry.storage[file] = path
        return try assemble(entry, contents: [file: try readText(path)])
    }

    static func readText(_ path: String) throws -> (String, Bool) {
        guard let data = try AtomicFile.readIfExists(path) else {
            throw CoreError.notFound(what: "file", name: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(ConfigProblem(file: path, message: "not UTF-8 text (templates are text files)"))
        }
        return (text, access(path, X_OK) == 0)
    }

    static func assemble(_ entry: TemplateEntry, contents: [String: (String, Bool)]) throws -> LoadedTemplate {
        var manifest = TemplateManifest()
        var files: [LoadedTemplate.File] = []
        func location(_ file: String) -> String {
            entry.kind == .file ? entry.location : entry.location + "/" + file
        }
        if entry.kind == .directory {
            if let (text, _) = contents[TemplateManifest.fileName] {
                manifest = try TemplateManifest.parse(text, file: location(TemplateManifest.fileName), directory: true)
            }
            for path in entry.files where path != TemplateManifest.fileName {
                guard let (text, exec) = contents[path] else { continue }
                let verbatim = manifest.verbatim.contains { Glob.matches($0, path) }
                files.append(.init(path: path, contents: text, location: location(path), executable: exec, verbatim: verbatim))
            }
        } else if let path = entry.files.first, let (text, exec) = contents[path] {
            manifest = try TemplateManifest.header(of: text, file: entry.location) ?? TemplateManifest()
            files.append(.init(path: path, contents: text, location: entry.location, executable: exec, verbatim: false))
        }
        return LoadedTemplate(entry: entry, manifest: manifest, files: files)
    }
}

/// `{{> name}}` for catalog templates: an org's own partial directories first
/// (`DIR/NAME.tmpl`, then `DIR/NAME`), then the catalog template `NAME` (a file template,
/// library over built-in), then the catalog template `partial/NAME`.
public struct CatalogPartials: TemplatePartialProvider {
    public let catalog: TemplateCatalog
    public let directories: [String]

    public init(catalog: TemplateCatalog, directories: [String] = []) {
        self.catalog = catalog
        self.directories = directories
    }

    public func partial(named name: String) throws -> Template? {
        guard TemplateInput.isSafeRelativePath(name) else { return nil }
        for dir in directories {
            for candidate in [dir + "/" + name + ".tmpl", dir + "/" + name] {
                var st = stat()
                if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                    return try Template(source: try TemplateCatalog.readText(candidate).0, name: candidate)
                }
            }
        }
        for candidate in [name, "partial/" + name] {
            if let entry = try catalog.entry(named: candidate), entry.kind == .file {
                let loaded = try catalog.load(entry)
                if let file = loaded.files.first { return try Template(source: file.contents, name: file.location) }
            }
        }
        return nil
    }

    public var partialNames: [String] {
        var names: [String] = []
        for dir in directories {
            names += TemplateCatalog.regularFiles(under: dir, maxDepth: nil).map { $0.hasSuffix(".tmpl") ? String($0.dropLast(5)) : $0 }
        }
        let catalogNames = catalog.activeNames()
        names += catalogNames
        names += catalogNames.filter { $0.hasPrefix("partial/") }.map { String($0.dropFirst(8)) }
        return names
    }
}

/// Values for templates: `--set` assignments, merging, name checks.
public enum TemplateInput {
    /// `base` overridden by `over`: tables merge key by key (recursively), any other value
    /// replaces.
    public static func merge(_ base: TOMLTable, _ over: TOMLTable) -> TOMLTable {
        var out = base
        for (key, value) in over {
            if case .table(let a)? = out[key], case .table(let b) = value {
                out[key] = .table(merge(a, b))
            } else {
                out[key] = value
            }
        }
        return out
    }

    /// Parses `--set KEY=VALUE`: KEY is a dotted TOML key (`db.port`, `a."b.c"`); VALUE is a
    /// TOML value when it parses as one (`8080`, `true`, `[1, 2]`, `"quoted"`,
    /// `{ a = 1 }`, `2026-11-21`), otherwise the text as a string (`api`, `a b`, empty).
    public static func assignment(_ text: String) throws -> (path: [String], value: TOMLValue) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw CoreError.invalidArgument("invalid --set '\(Names.printable(text))': expected KEY=VALUE")
        }
        let keyText = String(text[..<eq]).trimming(.whitespaces)
        let valueText = String(text[text.index(after: eq)...])
        let path = try ConfigFiles.keyPath(keyText)
        let value: TOMLValue
        if let parsed = try? ConfigFiles.value(valueText) {
            value = parsed
        } else {
            value = .string(valueText)
        }
        return (path, value)
    }

    /// Sets `value` at `path`, creating tables on the way (a non-table on the way is replaced).
    public static func set(_ value: TOMLValue, at path: [String], in table: inout TOMLTable) {
        guard let first = path.first else { return }
        if path.count == 1 {
            table[first] = value
            return
        }
        var inner = table[first]?.tableValue ?? TOMLTable()
        set(value, at: Array(path.dropFirst()), in: &inner)
        table[first] = .table(inner)
    }

    /// `[A-Za-z0-9_][A-Za-z0-9._-]*` (so never `.` or `..`).
    public static func isNameComponent(_ s: String) -> Bool {
        guard let first = s.utf8.first, isAlnum(first) || first == UInt8(ascii: "_") else { return false }
        return s.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// `KIND/NAME`, both name components.
    public static func isTemplateName(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { isNameComponent(String($0)) }
    }

    /// A relative path of name components (`a/b.conf`): no `..`, no leading `/`, no empty
    /// or hidden components.
    public static func isSafeRelativePath(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { isNameComponent(String($0)) }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
