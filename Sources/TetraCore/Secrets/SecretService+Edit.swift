import FoundationEssentials
import Glibc

/// `secret edit`: the decrypted file in a private place for the operator's editor, then
/// encrypted again. The plaintext lives in a 0600 file of a 0700 directory on /dev/shm
/// (memory) when it exists, else under state/tmp; the directory is removed whatever happens:
/// a saved edit, an editor that fails, Ctrl-C.
extension SecretService {
    /// Where the private directory is made (`/dev/shm` when present).
    public static func privateBase(paths: StatePaths) throws -> String {
        var st = stat()
        if stat("/dev/shm", &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, access("/dev/shm", W_OK | X_OK) == 0 { return "/dev/shm" }
        let base = paths.state + "/tmp"
        try AtomicFile.ensureDirectory(base, mode: 0o700)
        return base
    }

    /// Creates `BASE/tetra-secret-<pid>-XXXXXX` (0700, by mkdtemp), after removing those of
    /// this user whose tetra is gone (a run killed with SIGKILL could not remove its own).
    static func makePrivateDirectory(paths: StatePaths) throws -> String {
        let base = try privateBase(paths: paths)
        sweepPrivateDirectories(base)
        var template = Array((base + "/tetra-secret-\(getpid())-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw IOError("create directory", path: base + "/tetra-secret-*", errno: errno) }
        return String(cString: made)
    }

    static func sweepPrivateDirectories(_ base: String) {
        guard let names = try? LocalFiles.list(base) else { return }
        for name in names where name.hasPrefix("tetra-secret-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = Int32(parts[2]), pid > 0, pid != getpid() else { continue }
            var st = stat()
            guard lstat(base + "/" + name, &st) == 0, st.st_uid == getuid(), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? LocalFiles.removeTree(base + "/" + name) }
        }
    }

    /// The editor's argv: $VISUAL, else $EDITOR, else vi; split on spaces (`code --wait`),
    /// never given to a shell.
    public static func editorArgv(_ environment: [String: String]) -> [String] {
        for key in ["VISUAL", "EDITOR"] {
            if let value = environment[key] {
                let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                if !words.isEmpty { return words }
            }
        }
        return ["vi"]
    }

    /// Decrypts the file of `env`, opens it in the editor, and writes it encrypted again when
    /// it changed. The encrypted file changing meanwhile is a conflict (exit 5, nothing written).
    public func edit(env: String?, dryRun: Bool) throws -> Change {
        let loaded = try loadOrg()
        let scope = try scope(env: env, in: loaded)
        _ = try recipients(loaded, scope: scope)
        let before = try AtomicFile.readIfExists(files.path(scope))
        let current = try files.read(scope)
        let old = (current?.names ?? []).map { ($0, current!.values[$0]!) }
        let dir = try Self.makePrivateDirectory(paths: paths)
        defer { try? LocalFiles.removeTree(dir) }
        let file = dir + "/" + (env.map { "secrets.\($0).env" } ?? "secrets.env")
        let header = "# \(scope.fileName) of org \(org), decrypted for editing; saved encrypted when the editor exits.\n"
        try AtomicFile.write(Data((header + SecretsFile.render(old)).utf8), to: file, mode: 0o600)
        var request = ProcessRequest(Self.editorArgv(context.environment)[0], Array(Self.editorArgv(context.environment).dropFirst()) + [file])
        request.inputFile = "-"
        request.outputFile = "-"
        request.outputLimit = 1 << 16
        let result = try context.runner.run(request)
        guard result.succeeded else {
            throw ToolError.failed(argv: request.displayArgv, status: result.status, stderrTail: ToolError.tail(of: result.stderrString))
        }
        guard let data = try AtomicFile.readIfExists(file, limit: InputFile.configLimit), let text = String(data: data, encoding: .utf8) else {
            throw CoreError.failed("the edited file is gone or not UTF-8 text; nothing changed")
        }
        let edited = try SecretsFile.parse(text, file: scope.fileName + " (edited)")
        return try change(env: env, dryRun: dryRun) { entries in
            guard try AtomicFile.readIfExists(files.path(scope)) == before else {
                throw CoreError.conflict("\(scope.fileName) changed while it was being edited; nothing written",
                                         hint: "run 'tetra secret edit' again")
            }
            let oldValues = Dictionary(old, uniquingKeysWith: { $1 })
            var items: [Change.Item] = []
            for name in edited.names {
                let action: Change.Action = oldValues[name] == nil ? .added : (oldValues[name] == edited.values[name] ? .unchanged : .updated)
                items.append(Change.Item(name: name, action: action))
            }
            for (name, _) in old where edited.values[name] == nil { items.append(Change.Item(name: name, action: .removed)) }
            entries = edited.names.map { ($0, edited.values[$0]!) }
            return items
        }
    }
}
