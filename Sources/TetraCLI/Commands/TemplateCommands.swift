import FoundationEssentials
import Glibc
import TetraCore

/// The `template` group: built-in and library templates (SPEC §3 "template").
enum TemplateCommands {
    static var spec: CommandSpec {
        CommandSpec("template", summary: "Config templates: built-in and from the library",
                    discussion: """
                    A template is named KIND/NAME: a file templates/KIND/NAME.EXT (a file template) or a
                    directory templates/KIND/NAME/ (every file under it). Built-in templates are compiled
                    into tetra; the library's (tetra library init) override built-ins of the same name.
                    """,
                    subcommands: [list, show, render])
    }

    static func catalog(_ env: CommandEnvironment) -> TemplateCatalog {
        TemplateCatalog(paths: env.paths)
    }

    /// Warns (stderr) about symlinks and special files in the library, which are ignored.
    static func warnSkipped(_ catalog: TemplateCatalog, _ env: CommandEnvironment) {
        for path in catalog.librarySkipped() {
            env.core.progress.warn("library templates/\(Names.printable(path)) is a symlink or special file: ignored (a library template must be a regular file)")
        }
    }

    /// A template by name (library over built-in), or by path: NAME starting with `/`, `./`,
    /// `../` or `~/` is always a path; any other NAME is a path only when no template has
    /// that name and a file or directory exists there.
    static func resolve(_ name: String, _ env: CommandEnvironment) throws -> LoadedTemplate {
        let catalog = catalog(env)
        warnSkipped(catalog, env)
        let explicitPath = name.hasPrefix("/") || name.hasPrefix("./") || name.hasPrefix("../") || name.hasPrefix("~/")
            || name == "." || name == ".."
        if !explicitPath, let entry = try catalog.entry(named: name) {
            return try catalog.load(entry)
        }
        let absolute = env.core.absolutePath(name)
        if explicitPath || FileManager.default.fileExists(atPath: absolute) {
            var display = name
            while display.count > 1, display.hasSuffix("/") { display.removeLast() }
            return try TemplateCatalog.load(path: absolute, displayName: display)
        }
        _ = try catalog.require(name) // not found, with a suggestion
        throw CoreError.notFound(what: "template", name: name)
    }

    // MARK: - list

    struct ListRecord: Encodable {
        let name: String
        let kind: TemplateEntry.Kind
        let origin: TemplateOrigin
        let active: Bool
        /// For people: "overrides built-in", "overridden by library"; left out when neither.
        let note: String?
        let description: String?
        let location: String
        let files: [String]
    }

    static func records(_ entries: [TemplateEntry], catalog: TemplateCatalog) -> [ListRecord] {
        let libraryNames = Set(entries.filter { $0.origin == .library }.map(\.name))
        let builtinNames = Set(entries.filter { $0.origin == .builtin }.map(\.name))
        return entries.map { e in
            var description: String?
            do {
                description = try catalog.load(e).manifest.description
            } catch {
                description = "invalid: \((error as? any TetraError)?.message ?? "\(error)")"
            }
            var note: String? = nil
            if e.origin == .library && builtinNames.contains(e.name) { note = "overrides built-in" }
            else if e.origin == .builtin && libraryNames.contains(e.name) { note = "overridden by library" }
            return ListRecord(name: e.name, kind: e.kind, origin: e.origin, active: e.active, note: note,
                              description: description, location: e.location, files: e.files)
        }
    }

    static func listTable(_ env: CommandEnvironment, _ records: [ListRecord]) -> String {
        env.table(["name", "kind", "origin", "status", "description"], records.map {
            [$0.name, $0.kind.rawValue, $0.origin.rawValue, $0.active ? ($0.note.map { "active, " + $0 } ?? "active") : $0.note ?? "",
             $0.description ?? ""]
        })
    }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List templates, built-in and from the library, and which one wins",
                    discussion: """
                    A library template overrides the built-in of the same name: both are listed, the
                    built-in one as "overridden by library".
                    """,
                    examples: ["tetra template list", "tetra template list --json"], json: true,
                    handler: { _, env in
                        let catalog = catalog(env)
                        warnSkipped(catalog, env)
                        let records = records(try catalog.entries(), catalog: catalog)
                        struct Result: Encodable { let templates: [ListRecord] }
                        return CommandOutput(json: Result(templates: records),
                                             text: records.isEmpty ? "no templates\n" : listTable(env, records))
                    })
    }

    // MARK: - show

    struct ShowResult: Encodable {
        struct File: Encodable {
            let path: String
            let verbatim: Bool
            let contents: String
        }
        let name: String
        let kind: TemplateEntry.Kind
        let origin: TemplateOrigin
        let location: String
        let description: String?
        let overrides: Bool
        let variables: [String]
        let defaults: EncodableTOML
        let output: String?
        let verbatim: [String]
        let files: [File]
    }

    static var show: CommandSpec {
        CommandSpec("show", summary: "Show a template: where it comes from, its variables, defaults and files",
                    arguments: [ArgSpec("NAME", help: "template name (KIND/NAME) or path", completion: .dynamic(.templates))],
                    examples: ["tetra template show service/web", "tetra template show org/default --json"], json: true,
                    handler: { inv, env in
                        let t = try resolve(inv.required("NAME"), env)
                        let overrides = t.entry.origin == .library && catalog(env).builtinEntries().contains { $0.name == t.entry.name }
                        let result = ShowResult(
                            name: t.entry.name, kind: t.entry.kind, origin: t.entry.origin,
                            location: t.entry.location, description: t.manifest.description, overrides: overrides,
                            variables: t.variables, defaults: EncodableTOML(.table(t.manifest.defaults)), output: t.manifest.output,
                            verbatim: t.manifest.verbatim,
                            files: t.files.map { .init(path: $0.path, verbatim: $0.verbatim, contents: $0.contents) })
                        var text = "template:    \(t.entry.name) (\(t.entry.kind.rawValue), \(t.entry.origin.rawValue)\(overrides ? ", overrides the built-in" : ""))\n"
                        text += "location:    \(t.entry.location)\n"
                        if let d = t.manifest.description { text += "description: \(d)\n" }
                        text += "variables:   \(t.variables.isEmpty ? "-" : t.variables.joined(separator: ", "))\n"
                        if !t.manifest.defaults.isEmpty {
                            text += "defaults:    " + t.manifest.defaults.map { "\($0.key) = \(TOMLSerializer.formatValue($0.value))" }
                                .joined(separator: "\n             ") + "\n"
                        }
                        if let o = t.manifest.output { text += "output:      \(o)\n" }
                        if t.entry.kind == .directory {
                            text += "files:\n"
                            for f in t.files { text += "  \(f.path)\(f.verbatim ? "  (copied as is)" : "")\n" }
                        }
                        for f in t.files {
                            text += "\n==> \(f.path) <==\n" + f.contents
                            if !f.contents.isEmpty, !f.contents.hasSuffix("\n") { text += "\n" }
                        }
                        return CommandOutput(json: result, text: text)
                    })
    }

    // MARK: - render

    static var render: CommandSpec {
        CommandSpec("render", summary: "Render a template to stdout, or into a directory with -o",
                    discussion: """
                    Values: the template's defaults, then --vars FILE.toml, then each --set KEY=VALUE
                    (a dotted TOML key; VALUE is read as a TOML value when it is one: 8080, true,
                    [1, 2], "quoted"; otherwise it is the text itself: --set name=api). An undefined
                    variable is an error with file:line:column (exit 3).
                    Without -o, a file template is printed as is and a directory template as every
                    file after a '==> PATH <==' line. With -o DIR, files are written atomically
                    (mode 0600 when they use secrets); existing files are refused (exit 5) unless
                    --force; a DIR that does not exist yet appears complete or not at all.
                    NAME is a template name (library before built-in) or a path: ./x, ../x, /x and
                    ~/x always are; another NAME is a path only when no template has that name.
                    """,
                    arguments: [ArgSpec("NAME", help: "template name (KIND/NAME) or path of a file or directory",
                                        completion: .dynamic(.templates))],
                    flags: [
                        FlagSpec("set", value: .keyValue, placeholder: "KEY=VALUE", repeatable: true,
                                 help: "set a value (dotted keys; TOML values, else text)"),
                        FlagSpec("vars", value: .path, placeholder: "FILE", help: "read values from a TOML file (- for stdin)"),
                        FlagSpec("output", short: "o", value: .path, placeholder: "DIR", help: "write the files into DIR instead of stdout",
                                 completion: .directory),
                        FlagSpec("partials", value: .path, placeholder: "DIR", repeatable: true,
                                 help: "look up {{> NAME}} in DIR/NAME.tmpl first", completion: .directory),
                        FlagSpec("force", help: "overwrite existing files in DIR"),
                    ],
                    examples: [
                        "tetra template render service/web --set name=api",
                        "tetra template render service/web --set name=api --set 'command=[\"node\", \"server.js\"]' -o orgs/acme/services",
                        "tetra template render org/default --set name=acme --set domain=acme.example -o ./acme",
                        "tetra template render ./nginx.conf.tmpl --vars vars.toml",
                    ],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let template = try resolve(inv.required("NAME"), env)
                        var values = TOMLTable()
                        if let varsPath = inv.flag("vars") {
                            let (name, data) = try env.readInput(varsPath)
                            values = try TOMLParser.parse(bytes: Array(data), file: name)
                        }
                        for assignment in inv.flagValues("set") {
                            let (path, value) = try TemplateInput.assignment(assignment)
                            TemplateInput.set(value, at: path, in: &values)
                        }
                        let partials = CatalogPartials(catalog: catalog(env),
                                                       directories: inv.flagValues("partials").map { env.core.absolutePath($0) })
                        let (outputs, used) = try template.renderReport(values, partials: partials, interrupt: env.core.interrupt)
                        let unused = values.keys.filter { !used.contains($0) }
                        let notes = unused.isEmpty || template.files.allSatisfy(\.verbatim) ? [] : [
                            "warning: \(unused.count == 1 ? "value" : "values") \(unused.map { "'\($0)'" }.joined(separator: ", ")) not used by \(template.entry.name)"
                                + (template.variables.isEmpty ? "" : " (it uses: \(template.variables.joined(separator: ", ")))"),
                        ]
                        if let dir = inv.flag("output") {
                            var out = try write(outputs, template: template, to: dir, force: inv.has("force"), env: env)
                            out.notes += notes
                            return out
                        }
                        struct Result: Encodable {
                            let template: String
                            let origin: TemplateOrigin
                            let files: [LoadedTemplate.Output]
                        }
                        var text = ""
                        if template.entry.kind == .file, outputs.count == 1 {
                            text = outputs[0].contents
                        } else {
                            for (i, o) in outputs.enumerated() {
                                if i > 0 { text += "\n" }
                                text += "==> \(o.path) <==\n" + o.contents
                                if !o.contents.isEmpty, !o.contents.hasSuffix("\n") { text += "\n" }
                            }
                        }
                        return CommandOutput(json: Result(template: template.entry.name, origin: template.entry.origin, files: outputs),
                                             text: text, notes: notes)
                    })
    }

    struct WriteResult: Encodable {
        struct File: Encodable {
            let path: String
            let mode: String
            let rendered: Bool
            let replaced: Bool
        }
        let template: String
        let directory: String
        let files: [File]
        let dry_run: Bool
    }

    /// Writes rendered files under `dir`: refused when any exists (unless `force`); a new
    /// directory is built beside it and renamed into place, so it appears complete or not at all.
    static func write(_ outputs: [LoadedTemplate.Output], template: LoadedTemplate, to dir: String, force: Bool,
                      env: CommandEnvironment) throws -> CommandOutput {
        let target = env.core.absolutePath(dir)
        let fm = FileManager.default
        var isDir = false
        let exists = fm.fileExists(atPath: target, isDirectory: &isDir)
        if exists && !isDir {
            throw CoreError.invalidArgument("-o \(dir): not a directory", hint: "-o names the directory to write the files into")
        }
        var replaced = Set<String>()
        if exists {
            for o in outputs {
                _ = try AtomicFile.writeTarget(target + "/" + o.path) // a fifo, device or /proc file: exit 2
                var sub = false
                if fm.fileExists(atPath: target + "/" + o.path, isDirectory: &sub) {
                    if sub {
                        throw CoreError.conflict("\(dir)/\(o.path) is a directory; cannot write a file there")
                    }
                    replaced.insert(o.path)
                }
            }
        }
        if !replaced.isEmpty && !force {
            let names = replaced.sorted()
            let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
            throw CoreError.conflict("\(names.count) file\(names.count == 1 ? "" : "s") already exist\(names.count == 1 ? "s" : "") in \(dir): \(shown)",
                                     hint: "re-run with --force to overwrite \(names.count == 1 ? "it" : "them"), or choose another -o directory")
        }
        let files = outputs.map {
            WriteResult.File(path: $0.path, mode: String($0.mode, radix: 8), rendered: $0.rendered, replaced: replaced.contains($0.path))
        }
        let result = WriteResult(template: template.entry.name, directory: target, files: files, dry_run: env.options.dryRun)
        func lines(_ verb: String) -> String {
            var text = "\(verb) \(files.count) file\(files.count == 1 ? "" : "s") in \(dir):\n"
            for f in files {
                text += "  \(f.path)\(f.replaced ? " (replaced)" : "")\(f.mode == "600" ? " (mode 600: uses secrets)" : "")\n"
            }
            return text
        }
        if env.options.dryRun {
            return CommandOutput(json: result, text: lines("would write"))
        }
        // Renders into the same directory are serialised (the existence check above and the
        // writes below are one step); the lock lives in the state root, like every lock.
        try env.ensureStateRoot()
        try env.core.withLock("template-output") {
            try env.core.interrupt.check()
            try writeFiles(outputs, target: target, exists: exists, force: force)
        }
        return CommandOutput(json: result, text: lines("wrote"))
    }

    static func writeFiles(_ outputs: [LoadedTemplate.Output], target: String, exists: Bool, force: Bool) throws {
        let fm = FileManager.default
        if !force {
            // Re-checked under the lock: another render may have written meanwhile.
            for o in outputs where fm.fileExists(atPath: target + "/" + o.path) {
                throw CoreError.conflict("\(target)/\(o.path) appeared while rendering", hint: "re-run with --force to overwrite it")
            }
        }
        if exists || fm.fileExists(atPath: target) {
            for o in outputs {
                let path = target + "/" + o.path
                try AtomicFile.ensureDirectory(PathText.parent(path), mode: 0o755)
                try AtomicFile.write(Data(o.contents.utf8), to: path, mode: mode_t(o.mode))
            }
        } else {
            let parent = PathText.parent(target)
            try AtomicFile.ensureDirectory(parent, mode: 0o755)
            let prefix = "." + PathText.lastComponent(target) + ".tetra-tmp-"
            let staging = parent + "/" + prefix + "\(getpid())"
            // Staging directories of renders that were killed (their pid is gone) go first.
            for name in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
                if let pid = Int32(name.dropFirst(prefix.count)), pid == getpid() || !ProcessIdentity.isAlive(pid: pid) {
                    try? fm.removeItem(atPath: parent + "/" + name)
                }
            }
            defer { try? fm.removeItem(atPath: staging) }
            try AtomicFile.ensureDirectory(staging, mode: 0o755)
            for o in outputs {
                let path = staging + "/" + o.path
                try AtomicFile.ensureDirectory(PathText.parent(path), mode: 0o755)
                try AtomicFile.write(Data(o.contents.utf8), to: path, mode: mode_t(o.mode))
            }
            guard rename(staging, target) == 0 else {
                throw IOError("create", path: target, errno: errno)
            }
        }
    }
}
