import FoundationEssentials
import Glibc

/// The git-backed template library (`$TETRA_DIR/library`, SPEC §3 "library"), through the
/// `Git` wrapper. Every change of the checked-out commit is recorded in
/// `state/library-history.jsonl`. Callers hold the "library" lock around mutations.
///
/// Policy:
/// - `update` fetches, then only fast-forwards. Local changes (modified, staged or untracked
///   files, not ignored ones) are refused, or with `force` first committed onto a backup
///   branch `tetra-backup/<UTC time>` (HEAD, index and files otherwise untouched), then
///   discarded. Diverged history (local commits and new upstream commits) is always
///   refused, with the commands that resolve it.
/// - `rollback` moves the branch back to an earlier commit of its own or its upstream's
///   history (`git reset --hard`); the next `update` fast-forwards again.
/// - A URL's credentials (`https://user:token@host/...`) are used for the clone only, handed
///   to git through its environment (`LibrarySafety.swift`): the stored remote URL never has
///   them, no argv has them, and every message redacts them.
public struct TemplateLibrary: Sendable {
    public let paths: StatePaths
    public let core: CoreContext
    public var git: Git { Git(runner: core.runner) }
    /// Network operations (clone, fetch, ls-remote) are killed after this long.
    public var networkTimeout: TimeInterval = 900

    public init(core: CoreContext) {
        self.core = core
        self.paths = core.paths
    }

    public var directory: String { paths.library }
    public var historyFile: String { paths.state + "/library-history.jsonl" }
    public var isInitialised: Bool { FileManager.default.fileExists(atPath: directory + "/.git") }

    // MARK: - Configuration

    /// `library_url` and `library_ref` from `config/tetra.toml` (absent file: both nil).
    public func configured() throws -> (url: String?, ref: String?) {
        guard let data = try AtomicFile.readIfExists(paths.globalConfig) else { return (nil, nil) }
        let table = try TOMLParser.parse(String(decoding: data, as: UTF8.self), file: paths.globalConfig)
        func string(_ key: String) throws -> String? {
            guard let value = table[key] else { return nil }
            guard let s = value.stringValue else {
                throw ConfigError(ConfigProblem(file: paths.globalConfig, keyPath: key, message: "must be a string, not \(value.typeName)"))
            }
            return s.isEmpty ? nil : s
        }
        return (try string("library_url"), try string("library_ref"))
    }

    // MARK: - init

    public func initialize(url givenURL: String?, ref givenRef: String?, dryRun: Bool) throws -> LibraryInitResult {
        let config = try configured()
        guard let url = givenURL ?? config.url else {
            throw CoreError.invalidArgument("no library URL given and no library_url in \(paths.globalConfig)",
                                            hint: "run 'tetra library init URL', or set library_url = \"...\" in config/tetra.toml")
        }
        let ref = givenRef ?? config.ref
        try Self.checkURL(url)
        if let ref { try Self.checkRef(ref) }
        let shown = Redactor.redactURLCredentials(url)
        let secrets = LibraryURL.stripCredentials(url).map { [$0.secret] } ?? []
        // Credentials go to git through its environment: never in argv or .git/config.
        let (bareURL, credentials) = Self.credentialed(url)
        if !dryRun { try reconcile() } // a dry run may hold no lock: it changes nothing

        var isDir = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            if isInitialised {
                let current = (try? remoteURL()) ?? "?"
                throw CoreError.conflict("the library is already initialised at \(directory) (from \(current))",
                                         hint: "use 'tetra library update'; to start over from another URL, remove \(directory) first")
            }
            let empty = isDir && ((try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty ?? false)
            guard empty else {
                throw CoreError.conflict("\(directory) exists and is not a git clone",
                                         hint: "move it away, then run 'tetra library init' again")
            }
        }

        if dryRun {
            // Check that the URL answers and the branch exists, without cloning.
            core.progress.step("checking \(shown)")
            let heads = try remote("check", url: url, secrets: secrets) {
                try git.run(["ls-remote", "--heads", "--", bareURL] + (ref.map { ["refs/heads/\($0)"] } ?? []),
                            timeout: networkTimeout, environment: credentials, secrets: secrets)
            }
            if let ref, heads.trimming(.whitespacesAndNewlines).isEmpty {
                throw CoreError.notFound(what: "branch", name: ref, hint: "the library at \(shown) has no branch '\(ref)'")
            }
            return LibraryInitResult(path: directory, url: shown, ref: ref, commit: nil, templates: 0, dryRun: true,
                                     credentialsRemoved: !secrets.isEmpty)
        }

        try AtomicFile.ensureDirectory(paths.state, mode: 0o700)
        let staging = paths.root + "/.library.tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        core.progress.step("cloning \(shown)" + (ref.map { " (branch \($0))" } ?? ""))
        try core.interrupt.check()
        _ = try remote("clone", url: url, secrets: secrets) {
            try git.run(["clone", "--quiet", "--origin", "origin"] + (ref.map { ["--branch", $0] } ?? []) + ["--", bareURL, staging],
                        timeout: networkTimeout, environment: credentials, secrets: secrets)
        }
        guard let head = try? git.run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], in: staging)
            .trimming(.whitespacesAndNewlines), !head.isEmpty else {
            throw CoreError.failed("the library repository at \(shown) is empty (no commit on \(ref ?? "its default branch"))",
                                   hint: "push at least one commit with a templates/ folder, then run 'tetra library init' again")
        }
        let branch = try? git.run(["symbolic-ref", "--short", "-q", "HEAD"], in: staging).trimming(.whitespacesAndNewlines)
        try core.interrupt.check()
        if FileManager.default.fileExists(atPath: directory) { try FileManager.default.removeItem(atPath: directory) }
        guard rename(staging, directory) == 0 else {
            throw IOError("move the clone to", path: directory, errno: errno)
        }
        try record(action: .initialize, from: nil, to: head, ref: branch, url: url)
        let count = (try? TemplateCatalog(libraryTemplates: directory + "/templates", builtinFiles: []).libraryEntries().count) ?? 0
        return LibraryInitResult(path: directory, url: shown, ref: branch, commit: head, templates: count, dryRun: false,
                                 credentialsRemoved: !secrets.isEmpty)
    }

    // MARK: - status

    public func status() throws -> LibraryStatus {
        try requireInitialised()
        let porcelain = try git.run(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"], in: directory)
        let parsed = Self.parseStatus(porcelain)
        let head = try git.run(["log", "-1", "--format=%H%x00%h%x00%s%x00%cI"], in: directory)
            .trimming(.newlines).components(separatedBy: "\u{0}")
        var lastFetch: String? = nil
        if let attrs = try? FileManager.default.attributesOfItem(atPath: directory + "/.git/FETCH_HEAD"),
           let date = attrs[.modificationDate] as? Date {
            lastFetch = Timestamps.iso8601(date)
        }
        let templates = (try? TemplateCatalog(libraryTemplates: directory + "/templates", builtinFiles: []).libraryEntries().count) ?? 0
        return LibraryStatus(path: directory, url: (try? remoteURL()) ?? "", ref: parsed.branch,
                             commit: head.count > 0 ? head[0] : parsed.oid, short: head.count > 1 ? head[1] : String(parsed.oid.prefix(7)),
                             subject: head.count > 2 ? head[2] : "", date: head.count > 3 ? Timestamps.utc(head[3]) : "",
                             upstream: parsed.upstream, ahead: parsed.ahead, behind: parsed.behind,
                             dirty: !parsed.changes.isEmpty, changes: parsed.changes, lastFetch: lastFetch, templates: templates)
    }

    /// The `origin` URL, credentials redacted.
    public func remoteURL() throws -> String {
        Redactor.redactURLCredentials(try git.run(["remote", "get-url", "origin"], in: directory)
            .trimming(.whitespacesAndNewlines))
    }

    struct ParsedStatus: Equatable {
        var oid = ""
        var branch: String?
        var upstream: String?
        var ahead = 0
        var behind = 0
        var changes: [LibraryFileChange] = []
    }

    /// Parses `git status --porcelain=v2 --branch -z`.
    static func parseStatus(_ text: String) -> ParsedStatus {
        var s = ParsedStatus()
        let records = text.split(separator: "\u{0}", omittingEmptySubsequences: true).map(String.init)
        var i = 0
        func field(_ record: String, after spaces: Int) -> String {
            var count = 0
            var idx = record.startIndex
            while idx < record.endIndex, count < spaces {
                if record[idx] == " " { count += 1 }
                idx = record.index(after: idx)
            }
            return String(record[idx...])
        }
        while i < records.count {
            let r = records[i]
            i += 1
            if r.hasPrefix("# branch.oid ") { s.oid = String(r.dropFirst(13)) }
            else if r.hasPrefix("# branch.head ") {
                let b = String(r.dropFirst(14))
                s.branch = b == "(detached)" ? nil : b
            } else if r.hasPrefix("# branch.upstream ") { s.upstream = String(r.dropFirst(18)) }
            else if r.hasPrefix("# branch.ab ") {
                let parts = r.dropFirst(12).split(separator: " ")
                if parts.count == 2 {
                    s.ahead = Int(parts[0].dropFirst()) ?? 0
                    s.behind = Int(parts[1].dropFirst()) ?? 0
                }
            } else if r.hasPrefix("1 ") {
                s.changes.append(LibraryFileChange(status: code(r), path: field(r, after: 8)))
            } else if r.hasPrefix("2 ") {
                let original = i < records.count ? records[i] : ""
                i += 1
                s.changes.append(LibraryFileChange(status: code(r), path: "\(original) → \(field(r, after: 9))"))
            } else if r.hasPrefix("u ") {
                s.changes.append(LibraryFileChange(status: .unmerged, path: field(r, after: 10)))
            } else if r.hasPrefix("? ") {
                s.changes.append(LibraryFileChange(status: .untracked, path: String(r.dropFirst(2))))
            }
        }
        return s
    }

    /// How a porcelain v2 record's file changed: its index change (X), else its work
    /// tree's (Y).
    static func code(_ record: String) -> LibraryFileChange.Status {
        let xy = record.dropFirst(2).prefix(2)
        return LibraryFileChange.Status(gitLetter: xy.first(where: { $0 != "." }) ?? "M")
    }

    // MARK: - update

    public func update(dryRun: Bool, force: Bool) throws -> LibraryUpdateResult {
        try requireInitialised()
        if !dryRun { try reconcile() } // a dry run may hold no lock: it changes nothing
        let before = Self.parseStatus(try git.run(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"], in: directory))
        let branch = try requireBranch(before)
        guard let upstream = before.upstream else {
            throw CoreError.failed("the library's branch \(branch) has no upstream branch",
                                   hint: "set one with: git -C \(directory) branch --set-upstream-to=origin/\(branch)")
        }
        let url = (try? git.run(["remote", "get-url", "origin"], in: directory).trimming(.whitespacesAndNewlines)) ?? "origin"
        let shown = Redactor.redactURLCredentials(url)

        core.progress.step("fetching \(shown)")
        try core.interrupt.check()
        try remote("fetch from", url: url, secrets: []) { try fetchOrigin() }
        try core.interrupt.check()

        let counts = try git.run(["rev-list", "--left-right", "--count", "HEAD...@{u}"], in: directory)
            .split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        let ahead = counts.count == 2 ? counts[0] : 0
        let behind = counts.count == 2 ? counts[1] : 0
        let from = before.oid  // HEAD, from the status above
        let target = try revParse("@{u}")

        if behind == 0 {
            core.progress.step("already up to date at \(from.prefix(7))")
            return LibraryUpdateResult(url: shown, ref: branch, from: from, to: from, upToDate: true, commits: [], files: [],
                                       localChanges: [], backup: nil, ahead: ahead, dryRun: dryRun)
        }
        let commits = try incomingCommits()
        if ahead > 0 {
            throw CoreError.conflict(
                "the library has diverged from \(upstream): \(ahead) local commit\(ahead == 1 ? "" : "s") not upstream, \(behind) upstream commit\(behind == 1 ? "" : "s") not here; an update only fast-forwards",
                hint: "inspect with 'git -C \(directory) log --oneline --graph HEAD \(upstream)'; keep your commits on a branch and take upstream with 'git -C \(directory) branch tetra-keep HEAD && git -C \(directory) reset --hard \(upstream)', or push them upstream first")
        }
        let files = try changedFiles(from: "HEAD", to: "@{u}")
        core.progress.step("\(behind) incoming commit\(behind == 1 ? "" : "s"), \(files.count) changed file\(files.count == 1 ? "" : "s")")

        let local = before.changes
        if !local.isEmpty && !force {
            throw localChangesError(local, action: "update")
        }
        if dryRun {
            return LibraryUpdateResult(url: shown, ref: branch, from: from, to: target, upToDate: false, commits: commits, files: files,
                                       localChanges: local, backup: local.isEmpty ? nil : backupBranchName(), ahead: 0, dryRun: true)
        }
        var backup: String? = nil
        if !local.isEmpty {
            backup = try saveLocalChanges(reason: "before library update")
        }
        try core.interrupt.check()
        core.progress.step("fast-forwarding \(branch): \(from.prefix(7)) → \(target.prefix(7))")
        let now = target // a fast-forward ends exactly at the target
        try journaled(Journal(action: .update, from: from, to: now, ref: branch, url: url, commits: behind, backup: backup)) {
            try git.run(["merge", "--ff-only", "--quiet", target], in: directory)
        }
        return LibraryUpdateResult(url: shown, ref: branch, from: from, to: now, upToDate: false, commits: commits, files: files,
                                   localChanges: local, backup: backup, ahead: 0, dryRun: false)
    }

    /// `git fetch --prune origin`; when the live line shows counts, with git's progress
    /// output read for the bytes received (see `GitFetchProgress`).
    func fetchOrigin() throws {
        guard core.progress.showsCounts else {
            try git.run(["fetch", "--quiet", "--prune", "origin"], in: directory, timeout: networkTimeout)
            return
        }
        let counter = GitFetchProgress(progress: core.progress)
        let request = ProcessRequest("git", ["fetch", "--progress", "--prune", "origin"], environment: Git.environment,
                                     workingDirectory: directory, timeout: networkTimeout)
        var result = try git.runner.run(request, onOutput: counter.feed)
        result.stderr = counter.stderr
        try result.checked(request)
        if let summary = counter.summary { core.progress.step(summary) }
    }

    /// The commits `HEAD..@{u}`, newest first.
    func incomingCommits() throws -> [LibraryCommit] {
        let out = try git.run(["log", "--no-decorate", "--format=%H%x00%h%x00%s%x00%an%x00%cI%x00", "HEAD..@{u}"], in: directory)
        return Self.parseCommits(out)
    }

    static func parseCommits(_ text: String) -> [LibraryCommit] {
        let fields = text.components(separatedBy: "\u{0}").map { $0.trimming(.newlines) }
        var commits: [LibraryCommit] = []
        var i = 0
        while i + 4 < fields.count {
            commits.append(LibraryCommit(commit: fields[i], short: fields[i + 1], subject: fields[i + 2],
                                         author: fields[i + 3], date: Timestamps.utc(fields[i + 4])))
            i += 5
        }
        return commits
    }

    func changedFiles(from: String, to: String) throws -> [LibraryFileChange] {
        let out = try git.run(["diff", "--no-color", "--no-ext-diff", "--name-status", "-z", "-M", from, to], in: directory)
        return Self.parseNameStatus(out)
    }

    static func parseNameStatus(_ text: String) -> [LibraryFileChange] {
        let parts = text.split(separator: "\u{0}", omittingEmptySubsequences: true).map(String.init)
        var out: [LibraryFileChange] = []
        var i = 0
        while i < parts.count {
            let status = parts[i]
            i += 1
            if status.hasPrefix("R") || status.hasPrefix("C") {
                guard i + 1 < parts.count else { break }
                out.append(LibraryFileChange(status: .init(gitLetter: status.first ?? "R"), path: "\(parts[i]) → \(parts[i + 1])"))
                i += 2
            } else {
                guard i < parts.count else { break }
                out.append(LibraryFileChange(status: .init(gitLetter: status.first ?? "M"), path: parts[i]))
                i += 1
            }
        }
        return out
    }

    // MARK: - rollback

    public func rollback(to revision: String?, dryRun: Bool, force: Bool) throws -> LibraryRollbackResult {
        try requireInitialised()
        if !dryRun { try reconcile() } // a dry run may hold no lock: it changes nothing
        let before = Self.parseStatus(try git.run(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"], in: directory))
        let branch = try requireBranch(before)
        let from = try revParse("HEAD")
        let target: String
        if let revision {
            guard !revision.hasPrefix("-"), let t = try? revParse(revision + "^{commit}") else {
                throw CoreError.notFound(what: "revision", name: revision,
                                         hint: "give a commit of the library's history (see 'git -C \(directory) log --oneline')")
            }
            target = t
        } else {
            guard let last = try history().last(where: { $0.action == .update && $0.from != nil }), let previous = last.from else {
                throw CoreError.notFound(what: "recorded update", name: "library",
                                         hint: "nothing to roll back to: no update is recorded ('tetra library log'); give a revision: tetra library rollback REV")
            }
            guard let t = try? revParse(previous + "^{commit}") else {
                throw CoreError.notFound(what: "revision", name: previous, hint: "the commit recorded before the last update is no longer in the clone")
            }
            target = t
        }
        let subject = (try? git.run(["log", "-1", "--format=%s", target], in: directory).trimming(.newlines)) ?? ""
        if target == from {
            return LibraryRollbackResult(ref: branch, from: from, to: target, subject: subject, unchanged: true,
                                         localChanges: before.changes, backup: nil, dryRun: dryRun)
        }
        var related = isAncestor(target, of: "HEAD")
        if !related, before.upstream != nil { related = isAncestor(target, of: "@{u}") }
        guard related else {
            throw CoreError.conflict("\(revision ?? target) is not in the history of \(branch) or its upstream",
                                     hint: "a rollback moves the branch back along its own history; see 'git -C \(directory) log --oneline @{u}'")
        }
        if !before.changes.isEmpty && !force {
            throw localChangesError(before.changes, action: "rollback")
        }
        if dryRun {
            return LibraryRollbackResult(ref: branch, from: from, to: target, subject: subject, unchanged: false,
                                         localChanges: before.changes, backup: before.changes.isEmpty ? nil : backupBranchName(), dryRun: true)
        }
        var backup: String? = nil
        if !before.changes.isEmpty { backup = try saveLocalChanges(reason: "before library rollback") }
        try core.interrupt.check()
        core.progress.step("rolling back \(branch): \(from.prefix(7)) → \(target.prefix(7))")
        let url = (try? git.run(["remote", "get-url", "origin"], in: directory).trimming(.whitespacesAndNewlines)) ?? ""
        try journaled(Journal(action: .rollback, from: from, to: target, ref: branch, url: url, backup: backup)) {
            try git.run(["reset", "--hard", "--quiet", target], in: directory)
        }
        return LibraryRollbackResult(ref: branch, from: from, to: target, subject: subject, unchanged: false,
                                     localChanges: before.changes, backup: backup, dryRun: false)
    }

    func isAncestor(_ commit: String, of other: String) -> Bool {
        let r = try? core.runner.run(ProcessRequest("git", ["merge-base", "--is-ancestor", commit, other],
                                                    environment: Git.environment, workingDirectory: directory))
        return r?.status == 0
    }

    // MARK: - local changes

    func localChangesError(_ changes: [LibraryFileChange], action: String) -> CoreError {
        let shown = changes.prefix(5).map { "\($0.status.letter) \($0.path)" }.joined(separator: ", ")
        let more = changes.count > 5 ? " and \(changes.count - 5) more" : ""
        return CoreError.conflict(
            "the library has local changes (\(changes.count) file\(changes.count == 1 ? "" : "s"): \(shown)\(more)); \(action) refused",
            hint: "commit or discard them in \(directory), or re-run with --force to save them on a backup branch (tetra-backup/<time>) first")
    }

    /// A free backup branch name: `tetra-backup/20261121T160301Z` (`-2`, `-3`... if taken).
    func backupBranchName() -> String {
        let base = "tetra-backup/" + Timestamps.compact(core.now())
        var name = base
        var n = 2
        while (try? git.run(["rev-parse", "--verify", "--quiet", "refs/heads/" + name], in: directory)) != nil {
            name = "\(base)-\(n)"
            n += 1
        }
        return name
    }

    /// Commits every local change (staged, unstaged, untracked; not ignored files) onto a new
    /// branch `tetra-backup/<time>` whose parent is HEAD, using a temporary index (HEAD, the
    /// real index and the files are not touched), then discards the changes. Returns the branch.
    func saveLocalChanges(reason: String) throws -> String {
        let branch = backupBranchName()
        core.progress.step("saving local changes on branch \(branch)")
        let gitDir = try git.run(["rev-parse", "--absolute-git-dir"], in: directory).trimming(.whitespacesAndNewlines)
        let index = gitDir + "/tetra-backup-index-\(getpid())"
        defer { unlink(index) }
        let identity = [
            "GIT_INDEX_FILE": index,
            "GIT_AUTHOR_NAME": core.userName + " (tetra)", "GIT_AUTHOR_EMAIL": "\(core.userName)@\(core.hostName)",
            "GIT_COMMITTER_NAME": core.userName + " (tetra)", "GIT_COMMITTER_EMAIL": "\(core.userName)@\(core.hostName)",
        ]
        try git.run(["read-tree", "HEAD"], in: directory, environment: identity)
        try git.run(["add", "--all", "--", "."], in: directory, environment: identity)
        let tree = try git.run(["write-tree"], in: directory, environment: identity).trimming(.whitespacesAndNewlines)
        let message = "tetra: local changes saved \(reason) (\(Timestamps.iso8601(core.now())), \(core.userName)@\(core.hostName))\n"
        let commit = try git.run(["commit-tree", tree, "-p", "HEAD"], in: directory, input: Data(message.utf8), environment: identity)
            .trimming(.whitespacesAndNewlines)
        try git.run(["branch", branch, commit], in: directory)
        try core.interrupt.check()
        // Only now that the branch holds them: discard the changes.
        try git.run(["reset", "--hard", "--quiet", "HEAD"], in: directory)
        try git.run(["clean", "-f", "-d", "--quiet"], in: directory)
        return branch
    }

    // MARK: - history

    /// The recorded history, oldest first. Unreadable lines are skipped.
    public func history() throws -> [LibraryHistoryEntry] {
        guard let data = try AtomicFile.readIfExists(historyFile) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(LibraryHistoryEntry.self, from: Data($0)) }
    }

    func record(action: LibraryHistoryEntry.Action, from: String?, to: String, ref: String?, url: String, commits: Int? = nil, backup: String? = nil) throws {
        let entry = LibraryHistoryEntry(time: core.now(), action: action, from: from, to: to, ref: ref, url: url,
                                        user: core.userName, host: core.hostName, commits: commits, backup: backup)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = String(decoding: try encoder.encode(entry), as: UTF8.self)
        try AtomicFile.ensureDirectory(paths.state, mode: 0o700)
        try AtomicFile.appendLine(line, to: historyFile, mode: 0o600)
    }

    // MARK: - doctor

    /// Integrity (`git fsck`) and state of the clone, for `tetra doctor`.
    public func checks() -> [LibraryCheck] {
        var isDir = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            return [LibraryCheck(name: "library", status: .ok, detail: "not initialised (optional: tetra library init URL)")]
        }
        guard isDir, isInitialised else {
            return [LibraryCheck(name: "library", status: .problem, detail: "\(directory) exists but is not a git clone (move it away, then tetra library init)")]
        }
        var checks: [LibraryCheck] = []
        do {
            let r = try core.runner.run(ProcessRequest("git", ["fsck", "--no-progress", "--no-dangling"], environment: Git.environment,
                                                       workingDirectory: directory, timeout: 300))
            if r.succeeded {
                checks.append(LibraryCheck(name: "library integrity", status: .ok, detail: "git fsck: no problems"))
            } else {
                let tail = ToolError.tail(of: r.stderrString + r.stdoutString).replacingAll("\n", with: "; ")
                checks.append(LibraryCheck(name: "library integrity", status: .problem,
                                           detail: "git fsck found problems: \(tail) (re-clone: remove \(directory), then tetra library init)"))
            }
        } catch {
            checks.append(LibraryCheck(name: "library integrity", status: .problem, detail: "could not run git fsck: \(error)"))
            return checks
        }
        guard let s = try? status() else {
            checks.append(LibraryCheck(name: "library status", status: .problem, detail: "git status failed in \(directory)"))
            return checks
        }
        let skipped = TemplateCatalog(libraryTemplates: directory + "/templates", builtinFiles: []).librarySkipped()
        if !skipped.isEmpty {
            checks.append(LibraryCheck(name: "library symlinks", status: .warning,
                                       detail: "ignored (not regular files): " + skipped.prefix(5).map { "templates/" + Names.printable($0) }.joined(separator: ", ")
                                        + (skipped.count > 5 ? ", ..." : "")))
        }
        let at = "\(s.short) on \(s.ref ?? "a detached HEAD")"
        if s.ref == nil {
            checks.append(LibraryCheck(name: "library status", status: .warning,
                                       detail: "detached HEAD at \(s.short): update and rollback need a branch (git -C \(directory) checkout BRANCH)"))
        } else if s.dirty {
            let files = s.changes.prefix(3).map(\.path).joined(separator: ", ") + (s.changes.count > 3 ? ", ..." : "")
            checks.append(LibraryCheck(name: "library status", status: .warning,
                                       detail: "\(s.changes.count) local change\(s.changes.count == 1 ? "" : "s") at \(at) (\(files)): library update refuses them; --force saves them on a backup branch"))
        } else if s.ahead > 0 && s.behind > 0 {
            checks.append(LibraryCheck(name: "library status", status: .warning,
                                       detail: "diverged at \(at): \(s.ahead) local commit\(s.ahead == 1 ? "" : "s") not upstream, \(s.behind) upstream commit\(s.behind == 1 ? "" : "s") not here: library update refuses until resolved (see its hint)"))
        } else if s.ahead > 0 {
            checks.append(LibraryCheck(name: "library status", status: .warning,
                                       detail: "\(s.ahead) local commit\(s.ahead == 1 ? "" : "s") not upstream at \(at): an update that brings new upstream commits will refuse (diverged)"))
        } else if s.upstream == nil {
            checks.append(LibraryCheck(name: "library status", status: .warning, detail: "clean at \(at), but the branch has no upstream: library update cannot work"))
        } else if s.behind > 0 {
            checks.append(LibraryCheck(name: "library status", status: .ok,
                                       detail: "clean at \(at), \(s.behind) commit\(s.behind == 1 ? "" : "s") behind \(s.upstream!) (rolled back, or fetched earlier): tetra library update brings them"))
        } else {
            checks.append(LibraryCheck(name: "library status", status: .ok, detail: "clean at \(at), \(s.url)"))
        }
        return checks
    }

    // MARK: - helpers

    func requireInitialised() throws {
        guard isInitialised else {
            throw CoreError.notFound(what: "library", name: directory, hint: "clone one with 'tetra library init URL' (or set library_url in config/tetra.toml)")
        }
    }

    func requireBranch(_ s: ParsedStatus) throws -> String {
        guard let branch = s.branch else {
            throw CoreError.conflict("the library is not on a branch (detached HEAD at \(s.oid.prefix(7)))",
                                     hint: "check out its branch: git -C \(directory) checkout BRANCH")
        }
        return branch
    }

    func revParse(_ rev: String) throws -> String {
        try git.run(["rev-parse", "--verify", "--quiet", rev], in: directory).trimming(.whitespacesAndNewlines)
    }

    /// Runs a network operation, turning git's failure into a `LibraryRemoteError` (exit 6).
    func remote<T>(_ operation: String, url: String, secrets: [String], _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ToolError {
            let redactor = Redactor(secrets: secrets)
            switch error {
            case .failed(_, _, let tail):
                throw LibraryRemoteError(operation: operation, url: redactor.redact(url), detail: redactor.redact(tail))
            case .timedOut(_, let seconds):
                throw LibraryRemoteError(operation: operation, url: redactor.redact(url), detail: "no answer within \(Int(seconds))s")
            default:
                throw error
            }
        }
    }

    /// A URL must not look like an option, and must be one line.
    static func checkURL(_ url: String) throws {
        guard !url.isEmpty, !url.hasPrefix("-"), !url.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw CoreError.invalidArgument("invalid library URL '\(Names.printable(Redactor.redactURLCredentials(url)))'",
                                            hint: "give a git URL: https://host/repo.git, ssh://user@host/path, user@host:path, file:///path or a local path")
        }
    }

    /// A branch name git accepts (`git check-ref-format --branch` rules, simplified).
    static func checkRef(_ ref: String) throws {
        let bad = ref.isEmpty || ref.hasPrefix("-") || ref.hasPrefix("/") || ref.hasSuffix("/") || ref.hasSuffix(".lock")
            || ref.contains("..") || ref.contains("@{") || ref.contains("//")
            || ref.contains(where: { $0.isWhitespace || "~^:?*[\\".contains($0) || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        if bad {
            throw CoreError.invalidArgument("invalid branch name '\(Names.printable(ref))'", hint: "give a branch of the library repository, e.g. --ref main")
        }
    }
}
