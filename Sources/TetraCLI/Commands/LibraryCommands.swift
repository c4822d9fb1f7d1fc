import FoundationEssentials
import TetraCore

/// The `library` group: the git-backed template library in $TETRA_DIR/library (SPEC §3).
enum LibraryCommands {
    static var spec: CommandSpec {
        CommandSpec("library", summary: "The git-backed template library ($TETRA_DIR/library)",
                    discussion: """
                    A git clone whose templates/ folder holds templates (KIND/NAME, like the built-in
                    ones) that override built-ins of the same name. Authentication is git's own (ssh
                    keys and agent, GIT_SSH_COMMAND, credential helpers); tetra stores no credentials
                    and redacts user:token@ in every URL it prints. Changes of the checked-out commit
                    are recorded in state/library-history.jsonl (tetra library log).
                    """,
                    subcommands: [initCommand, update, status, log, rollback, list])
    }

    static func library(_ env: CommandEnvironment) -> TemplateLibrary {
        TemplateLibrary(core: env.core)
    }

    /// Runs a library mutation with the state root present and the "library" lock held.
    static func mutate<T>(_ env: CommandEnvironment, lockDryRun: Bool = false, _ body: () throws -> T) throws -> T {
        if env.options.dryRun && !lockDryRun { return try body() }
        try env.ensureStateRoot()
        return try env.core.withLock("library", body)
    }

    static func short(_ commit: String?) -> String { commit.map { String($0.prefix(7)) } ?? "-" }

    // MARK: - init

    static var initCommand: CommandSpec {
        CommandSpec("init", summary: "Clone the template library (URL default: library_url in config/tetra.toml)",
                    discussion: """
                    Clones URL into $TETRA_DIR/library (branch --ref, else library_ref in
                    config/tetra.toml, else the remote's default). A URL with credentials
                    (https://user:token@host/...) is used for the clone only: the stored remote URL has
                    them removed; use a git credential helper or ssh for later updates. With
                    --dry-run, checks that the URL answers and the branch exists.
                    """,
                    arguments: [ArgSpec("URL", help: "git URL (https://, ssh://, user@host:path, file://, a path)", optional: true)],
                    flags: [FlagSpec("ref", value: .string, placeholder: "BRANCH", help: "branch to check out")],
                    examples: ["tetra library init https://git.example.com/ops/tetra-templates.git",
                               "tetra library init ssh://git@git.example.com/ops/templates.git --ref stable",
                               "tetra library init    # library_url from config/tetra.toml"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let result = try mutate(env) {
                            try library(env).initialize(url: inv.argument("URL"), ref: inv.flag("ref"), dryRun: env.options.dryRun)
                        }
                        var notes: [String] = []
                        if result.credentialsRemoved {
                            notes.append("the credentials in the URL were used for this clone only and not stored; set up a git credential helper (or use ssh) for 'tetra library update'")
                        }
                        let text: String
                        if result.dryRun {
                            text = "would clone \(result.url)\(result.ref.map { " (branch \($0))" } ?? "") into \(result.path)\n"
                        } else {
                            text = "cloned \(result.url) into \(result.path): \(result.ref ?? "detached") at \(short(result.commit)), \(result.templates) template\(result.templates == 1 ? "" : "s")\n"
                        }
                        return CommandOutput(json: result, text: text, notes: notes)
                    })
    }

    // MARK: - update

    static var update: CommandSpec {
        CommandSpec("update", summary: "Fetch and fast-forward the library, showing incoming commits and changed files",
                    discussion: """
                    Fetches origin, shows the incoming commits (HEAD..@{u}) and the files they change,
                    then fast-forwards. Local changes (modified or untracked files) are refused (exit
                    5) unless --force, which first commits them onto a new branch
                    tetra-backup/<UTC time> and then discards them. Diverged history (local commits
                    and new upstream commits) is always refused (exit 5) with the commands to resolve
                    it. --dry-run fetches (updating origin/* only) and shows what would change.
                    Each update is recorded (tetra library log).
                    """,
                    flags: [FlagSpec("force", help: "save local changes on a backup branch, then update")],
                    examples: ["tetra library update --dry-run", "tetra library update", "tetra library update --force"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let r = try mutate(env, lockDryRun: true) {
                            try library(env).update(dryRun: env.options.dryRun, force: inv.has("force"))
                        }
                        return CommandOutput(json: r, text: updateText(r))
                    })
    }

    static func updateText(_ r: LibraryUpdateResult) -> String {
        if r.upToDate {
            var text = "the library is up to date: \(r.ref) at \(short(r.from)) (\(r.url))\n"
            if r.ahead > 0 { text += "note: \(r.ahead) local commit\(r.ahead == 1 ? "" : "s") not upstream\n" }
            return text
        }
        var text = "incoming commits (\(r.commits.count)):\n"
        for c in r.commits.prefix(50) { text += "  \(c.short) \(c.subject) (\(c.author), \(c.date))\n" }
        if r.commits.count > 50 { text += "  ... and \(r.commits.count - 50) more\n" }
        text += "changed files (\(r.files.count)):\n"
        for f in r.files.prefix(200) { text += "  \(f.status.letter.padded(to: 2)) \(f.path)\n" }
        if r.files.count > 200 { text += "  ... and \(r.files.count - 200) more\n" }
        if let backup = r.backup {
            text += "\(r.dryRun ? "would save" : "saved") \(r.localChanges.count) local change\(r.localChanges.count == 1 ? "" : "s") on branch \(backup)\n"
        }
        let n = r.commits.count
        text += "\(r.dryRun ? "would update" : "updated") \(r.ref): \(short(r.from)) → \(short(r.to)) (\(n) commit\(n == 1 ? "" : "s"))\n"
        return text
    }

    // MARK: - status

    static var status: CommandSpec {
        CommandSpec("status", summary: "Show the library's URL, branch, commit, ahead/behind and local changes",
                    discussion: "Ahead/behind are as of the last fetch (tetra library update fetches). No network access.",
                    examples: ["tetra library status", "tetra library status --json"], json: true,
                    handler: { _, env in
                        let s = try library(env).status()
                        var text = """
                        path:      \(s.path)
                        url:       \(s.url)
                        ref:       \(s.ref ?? "(detached HEAD)")
                        commit:    \(s.short) \(s.subject) (\(s.date))

                        """
                        if let upstream = s.upstream {
                            text += "upstream:  \(upstream): \(s.ahead) ahead, \(s.behind) behind (last fetch: \(s.lastFetch ?? "at clone"))\n"
                        } else {
                            text += "upstream:  none\n"
                        }
                        text += "dirty:     \(s.dirty ? "yes, \(s.changes.count) local change\(s.changes.count == 1 ? "" : "s")" : "no")\n"
                        for c in s.changes.prefix(20) { text += "  \(c.status.letter.padded(to: 2)) \(c.path)\n" }
                        if s.changes.count > 20 { text += "  ... and \(s.changes.count - 20) more\n" }
                        text += "templates: \(s.templates)\n"
                        return CommandOutput(json: s, text: text)
                    })
    }

    // MARK: - log

    static var log: CommandSpec {
        CommandSpec("log", summary: "Show the recorded history of library changes (from → to, when, by whom)",
                    flags: [FlagSpec("limit", short: "n", value: .integer(min: 1, max: 1_000_000), placeholder: "N", help: "show the last N entries only")],
                    examples: ["tetra library log", "tetra library log -n 5 --json"], json: true,
                    handler: { inv, env in
                        var entries = try library(env).history()
                        if let n = inv.int("limit") { entries = Array(entries.suffix(n)) }
                        struct Result: Encodable { let entries: [LibraryHistoryEntry] }
                        let rows = entries.map { e -> [String] in
                            var note: [String] = []
                            if let c = e.commits { note.append("\(c) commit\(c == 1 ? "" : "s")") }
                            if let b = e.backup { note.append("backup \(b)") }
                            if e.action == .initialize { note.append(e.url) }
                            return [Timestamps.iso8601(e.time), e.action.rawValue, "\(short(e.from)) → \(short(e.to))", e.ref ?? "-",
                                    "\(e.user)@\(e.host)", note.joined(separator: ", ")]
                        }
                        let text = entries.isEmpty ? "no library history yet (tetra library init URL)\n"
                            : env.table(["time", "action", "change", "ref", "by", "note"], rows)
                        return CommandOutput(json: Result(entries: entries), text: text)
                    })
    }

    // MARK: - rollback

    static var rollback: CommandSpec {
        CommandSpec("rollback", summary: "Move the library back to REV (default: the version before the last update)",
                    discussion: """
                    Resets the library's branch to REV, a commit of its own or its upstream's history;
                    without REV, to the commit the last recorded update started from. Recorded in the
                    history; the next 'tetra library update' fast-forwards again. Local changes are
                    refused (exit 5) unless --force saves them on a backup branch first.
                    """,
                    arguments: [ArgSpec("REV", help: "commit, tag or branch to go back to", optional: true)],
                    flags: [FlagSpec("force", help: "save local changes on a backup branch, then roll back")],
                    examples: ["tetra library rollback", "tetra library rollback 3f2a9c1"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let r = try mutate(env) {
                            try library(env).rollback(to: inv.argument("REV"), dryRun: env.options.dryRun, force: inv.has("force"))
                        }
                        var text = ""
                        if r.unchanged {
                            text = "the library is already at \(short(r.to)) (\(r.subject))\n"
                        } else {
                            if let backup = r.backup {
                                text += "\(r.dryRun ? "would save" : "saved") \(r.localChanges.count) local change\(r.localChanges.count == 1 ? "" : "s") on branch \(backup)\n"
                            }
                            text += "\(r.dryRun ? "would roll back" : "rolled back") \(r.ref): \(short(r.from)) → \(short(r.to)) (\(r.subject))\n"
                        }
                        return CommandOutput(json: r, text: text,
                                             notes: r.unchanged || r.dryRun ? [] : ["'tetra library update' brings the newer commits back"])
                    })
    }

    // MARK: - list

    static var list: CommandSpec {
        CommandSpec("list", summary: "List the templates the library provides (and which built-ins they override)",
                    examples: ["tetra library list", "tetra library list --json"], json: true,
                    handler: { _, env in
                        let lib = library(env)
                        guard lib.isInitialised else {
                            throw CoreError.notFound(what: "library", name: lib.directory, hint: "clone one with 'tetra library init URL'")
                        }
                        let catalog = TemplateCatalog(paths: env.paths)
                        let builtins = Set(catalog.builtinEntries().map(\.name))
                        let entries = try catalog.libraryEntries()
                        let records = TemplateCommands.records(entries, catalog: catalog).map { r in
                            TemplateCommands.ListRecord(name: r.name, kind: r.kind, origin: r.origin, active: true,
                                                        note: builtins.contains(r.name) ? "overrides built-in" : nil,
                                                        description: r.description, location: r.location, files: r.files)
                        }
                        struct Result: Encodable { let templates: [TemplateCommands.ListRecord] }
                        let text = records.isEmpty ? "the library has no templates (add files under templates/KIND/ in the library repository)\n"
                            : env.table(["name", "kind", "note", "description"], records.map { [$0.name, $0.kind.rawValue, $0.note ?? "", $0.description ?? ""] })
                        return CommandOutput(json: Result(templates: records), text: text)
                    })
    }
}
