import FoundationEssentials
import Glibc

/// Renders an org's `files/` for one environment (SPEC §2 "Rendering context"): every
/// `*.tmpl` is rendered and written without the suffix, every other file is copied as it is
/// (hard-linked when possible: the rendered tree is read-only scratch). A rendered file that
/// reads `secrets` gets mode 0600.
public struct OrgRenderer: Sendable {
    public let catalog: TemplateCatalog
    public var interrupt: InterruptFlag?

    public init(catalog: TemplateCatalog, interrupt: InterruptFlag? = nil) {
        self.catalog = catalog
        self.interrupt = interrupt
    }

    public struct Outcome: Sendable, Equatable {
        /// Output path → mode.
        public var files: [String: UInt16]
        /// Output paths rendered from templates.
        public var rendered: [String]
        /// Output paths whose render read `secrets` (mode 0600).
        public var secretFiles: [String]
        /// sha256 of every output (only when written), the release manifest's content.
        public var hashes: [String: String] = [:]
        /// Plain files left in place (`linkPlainFiles` false): output path → source file.
        public var sources: [String: SourceFile] = [:]
    }

    /// How files are named in messages: `orgs/acme/files/app.env.tmpl`.
    public static func displayPrefix(_ org: LoadedOrg) -> String {
        PathText.parent(org.orgFile)
    }

    /// The name in messages of `rel` (relative to `files/`), with `displayPrefix`. Built only
    /// when a message needs it.
    static func display(_ rel: String, prefix: String) -> String {
        prefix.isEmpty ? "files/" + rel : prefix + "/files/" + rel
    }

    /// Renders for `environment`. With `output` nil nothing is written (validation); else
    /// `output` must be an existing empty directory. Every problem of every file is reported
    /// at once (`ConfigError`, exit 3).
    public func render(_ org: LoadedOrg, environment: String, ports: [String: Int], secrets: [String: String],
                       into output: String?, linkPlainFiles: Bool = true, templatesOnly: Bool = false) throws -> Outcome {
        try render(org, environment: environment, ports: ports, secrets: secrets, into: output,
                   linkPlainFiles: linkPlainFiles, templatesOnly: templatesOnly, scanned: nil)
    }

    /// One answer for push, --dry-run, diff and pull: a `files/` that is a link (or a file) is
    /// refused (exit 2), never read as an empty tree ("remove everything").
    static func checkFilesDirectory(_ org: LoadedOrg) throws {
        var st = stat()
        if lstat(org.filesDirectory, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR {
            throw CoreError.invalidArgument("'files' is " + ((st.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link" : "not a directory")
                                            + "; releases hold regular files only (\(org.filesDirectory))",
                                            hint: "replace it by a directory holding the files")
        }
    }

    /// `scanned`: the entries of `files/` as a walk just saw them (the snapshot's, with the
    /// sha256 of each file), used instead of walking `files/` again and reading plain files
    /// to build the manifest.
    func render(_ org: LoadedOrg, environment: String, ports: [String: Int], secrets: [String: String],
                into output: String?, linkPlainFiles: Bool = true, templatesOnly: Bool = false,
                scanned: [TreeWalker.Entry]?, host: FleetHost? = nil) throws -> Outcome {
        let context = try OrgRenderContext.build(org: org.document.table, environment: environment, ports: ports,
                                                 secrets: secrets, file: org.orgFile, host: host?.templateTable)
        let partials = CatalogPartials(catalog: catalog, directories: [org.partialsDirectory])
        let prefix = Self.displayPrefix(org)
        var problems: [ConfigProblem] = []
        var outcome = Outcome(files: [:], rendered: [], secretFiles: [])
        var templateOutputs: Set<String> = []
        try Self.checkFilesDirectory(org)
        guard LocalFiles.isDirectory(org.filesDirectory) else { return outcome }
        if templatesOnly && output == nil {
            // Only the templates: found by name, without visiting every plain file.
            return try renderTemplatesOnly(org, environment: environment, context: context, partials: partials)
        }
        var count = 0
        var renderedBytes = 0
        func visit(_ rel: String, _ kind: TreeWalker.Kind, _ st_mode: mode_t, _ size: Int64, _ knownHash: String?) throws {
            count += 1
            if count % 256 == 0 { try interrupt?.check() }
            func display() -> String { Self.display(rel, prefix: prefix) } // only for messages
            switch kind {
            case .directory:
                // Plain files left in place: the scratch tree holds only rendered templates,
                // whose directories are made as they are written.
                if let output, linkPlainFiles, mkdir(output + "/" + rel, 0o755) != 0 && errno != EEXIST {
                    throw IOError("create directory", path: output + "/" + rel, errno: errno)
                }
            case .file:
                let isTemplate = rel.hasSuffix(".tmpl")
                let out = isTemplate ? String(rel.dropLast(5)) : rel
                if out.isEmpty || out.hasSuffix("/") {
                    problems.append(ConfigProblem(file: display(), message: "a template needs a name before .tmpl"))
                    return
                }
                // The one possible clash: a plain file and a template of the same name plus .tmpl
                // (in either order of visit; the walk gives the plain file first).
                let clash = isTemplate ? outcome.files[out] != nil : (!templateOutputs.isEmpty && templateOutputs.contains(out))
                if clash {
                    let other = isTemplate ? out : out + ".tmpl"
                    problems.append(ConfigProblem(file: display(), message: "writes \(out), as \(Self.display(other, prefix: prefix)) does; remove one of them"))
                    return
                }
                if !out.utf8.contains(UInt8(ascii: "/")), ReleaseManifest.reservedNames.contains(out) {
                    problems.append(ConfigProblem(file: display(), message: "'\(out)' is a name tetra reserves in releases"))
                    return
                }
                if isTemplate { templateOutputs.insert(out) }
                let sourcePath = org.filesDirectory + "/" + rel
                let executable = st_mode & 0o111 != 0
                if isTemplate {
                    let text: String
                    do {
                        guard let data = try AtomicFile.readIfExists(sourcePath), let s = String(data: data, encoding: .utf8) else {
                            problems.append(ConfigProblem(file: display(), message: "not UTF-8 text"))
                            return
                        }
                        text = s
                    }
                    let result: TemplateRenderResult
                    do {
                        let template = try Template(source: text, name: display())
                        do {
                            result = try template.renderResult(context, partials: partials, interrupt: interrupt)
                        } catch is ConfigError {
                            let found = try template.validate(context, partials: partials, interrupt: interrupt)
                            problems += found.isEmpty ? [ConfigProblem(file: display(), message: "does not render for \(environment)")] : found
                            return
                        }
                    } catch let error as ConfigError {
                        problems += error.problems
                        return
                    }
                    renderedBytes += result.text.utf8.count
                    try Self.checkReleaseBound(renderedBytes, display())
                    let mode: UInt16 = result.usesSecrets ? 0o600 : (executable ? 0o755 : 0o644)
                    outcome.files[out] = mode
                    outcome.rendered.append(out)
                    if result.usesSecrets { outcome.secretFiles.append(out) }
                    if let output {
                        if !linkPlainFiles, out.utf8.contains(UInt8(ascii: "/")) {
                            try AtomicFile.ensureDirectory(output + "/" + PathText.parent(out), mode: 0o755)
                        }
                        let bytes = Array(result.text.utf8)
                        try Self.writeScratch(bytes, to: output + "/" + out, mode: mode_t(mode))
                        outcome.hashes[out] = SHA256.hex(of: Data(bytes))
                    }
                } else {
                    let mode = UInt16(st_mode & 0o777)
                    outcome.files[out] = mode
                    if output != nil, !linkPlainFiles {
                        outcome.sources[out] = SourceFile(path: sourcePath, size: size, mode: st_mode & 0o7777)
                        outcome.hashes[out] = try knownHash ?? SHA256.hex(ofFile: sourcePath)
                    } else if let output {
                        let dest = output + "/" + out
                        if link(sourcePath, dest) != 0 {
                            try LocalFiles.copyFile(from: sourcePath, to: dest, mode: mode_t(mode))
                        }
                        outcome.hashes[out] = try knownHash ?? SHA256.hex(ofFile: dest)
                    }
                }
            }
        }
        if let scanned {
            for e in scanned { try visit(e.path, e.kind, e.mode, e.size, e.hash) }
        } else {
            try TreeWalker.walk(org.filesDirectory) { rel, kind, st in try visit(rel, kind, st.st_mode, Int64(st.st_size), nil) }
        }
        if !problems.isEmpty {
            throw ConfigError(problems.map { Self.annotate($0, environment: environment) })
        }
        outcome.rendered.sort()
        outcome.secretFiles.sort()
        return outcome
    }

    /// The bound on what all templates of one release render together (exit 3 beyond it).
    static func checkReleaseBound(_ total: Int, _ file: String) throws {
        guard total > Template.maxReleaseOutputBytes else { return }
        throw TemplateLimitError(ConfigProblem(file: file, message: "rendered output of the release exceeds the limit of \(Template.maxReleaseOutputBytes >> 20) MiB (reached at this file)"))
    }

    /// Writes a file of the scratch tree (created exclusively, no fsync: the deploy makes the
    /// release durable, and a crash leaves only scratch behind).
    static func writeScratch(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw IOError("write", path: path, errno: errno) }
        defer { close(fd) }
        try AtomicFile.writeAll(fd: fd, data: Data(bytes), path: path)
        if fchmod(fd, mode) != 0 { throw IOError("write", path: path, errno: errno) }
    }

    /// Validation of the templates alone (nothing written): `find -name '*.tmpl'` via the
    /// walker, rendering each. Problems are reported like `render`'s.
    func renderTemplatesOnly(_ org: LoadedOrg, environment: String, context: TOMLTable, partials: CatalogPartials) throws -> Outcome {
        var problems: [ConfigProblem] = []
        var outcome = Outcome(files: [:], rendered: [], secretFiles: [])
        let prefix = Self.displayPrefix(org)
        var renderedBytes = 0
        try TreeWalker.files(under: org.filesDirectory, endingWith: ".tmpl") { rel in
            let display = Self.display(rel, prefix: prefix)
            guard let data = try AtomicFile.readIfExists(org.filesDirectory + "/" + rel), let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: display, message: "not UTF-8 text"))
                return
            }
            do {
                let template = try Template(source: text, name: display)
                do {
                    let result = try template.renderResult(context, partials: partials, interrupt: interrupt)
                    renderedBytes += result.text.utf8.count
                    try Self.checkReleaseBound(renderedBytes, display)
                    let out = String(rel.dropLast(5))
                    outcome.rendered.append(out)
                    if result.usesSecrets { outcome.secretFiles.append(out) }
                } catch is ConfigError {
                    let found = try template.validate(context, partials: partials, interrupt: interrupt)
                    problems += found.isEmpty ? [ConfigProblem(file: display, message: "does not render for \(environment)")] : found
                }
            } catch let error as ConfigError {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw ConfigError(problems.map { Self.annotate($0, environment: environment) }) }
        return outcome
    }

    static func annotate(_ problem: ConfigProblem, environment: String) -> ConfigProblem {
        var p = problem
        if let r = p.message.firstRange(ofLiteral: "undefined variable 'ports.") {
            let port = p.message[r.upperBound...].prefix { $0 != "'" && $0 != "." }
            p.message += ": no port '\(port)' in config/ports.toml (tetra ports allocate \(port) --env \(environment))"
        }
        p.message += " (env \(environment))"
        return p
    }
}
