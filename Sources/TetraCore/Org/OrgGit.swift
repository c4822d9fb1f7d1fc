import FoundationEssentials
import Glibc

/// What a release was rendered from when its org is a git work tree (docs/git.md): the
/// commit, the ref it was asked by (a branch, tag or commit; the checked-out branch without
/// `--ref`) and whether tracked files had uncommitted changes (`--allow-dirty`).
public struct GitRevision: Sendable, Equatable, Codable {
    public var commit: String
    public var ref: String?
    public var dirty: Bool

    public init(commit: String, ref: String?, dirty: Bool) {
        self.commit = commit
        self.ref = ref
        self.dirty = dirty
    }
}

/// The git side of an org directory that is a git work tree: `org create --from-git`,
/// `org update`, `org push --ref`, `org log`, `org branches`. Every call is `git` with an
/// argument array, never a prompt (`GIT_TERMINAL_PROMPT=0`).
public struct OrgGit: Sendable {
    let git: Git
    public let directory: String

    public init(runner: any ProcessRunning, directory: String) {
        git = Git(runner: runner)
        self.directory = directory
    }

    /// Whether `directory` is the top of a git work tree (`.git` there, a directory or a file).
    public static func isWorkTree(_ directory: String) -> Bool {
        LocalFiles.exists(directory + "/.git")
    }

    /// Refs and URLs given by the operator never reach git as an option.
    public static func validateRef(_ ref: String) throws {
        if ref.isEmpty || ref.hasPrefix("-") || ref.contains(where: { $0.isWhitespace || $0 == "\0" }) || ref.contains("..") {
            throw CoreError.invalidArgument("invalid git ref '\(Names.printable(ref))'", hint: "a branch, tag or commit (e.g. main, v1.2.0, 3f2a9c1)")
        }
    }

    /// A URL with a password (or a token) in it would be kept in `.git/config` and shown in
    /// process lists: refused (the library's own test of a URL for credentials decides).
    /// Credentials come from git's credential helpers or ssh keys.
    public static func validateURL(_ url: String) throws {
        guard !url.isEmpty, !url.hasPrefix("-"), !url.contains(where: { $0.isWhitespace || $0 == "\0" }) else {
            throw CoreError.invalidArgument("invalid git URL '\(Names.printable(Redactor.redactURLCredentials(url)))'")
        }
        if LibraryURL.stripCredentials(url) != nil {
            throw CoreError.invalidArgument("the URL holds a password or token; tetra never stores credentials in URLs",
                                            hint: "use ssh keys, or a git credential helper (git config --global credential.helper ...)")
        }
    }

    /// The commit `ref` names (a branch, tag, remote branch or commit, abbreviated too);
    /// exit 4 when there is none.
    public func resolve(_ ref: String) throws -> String {
        try Self.validateRef(ref)
        let r = try git.runner.run(ProcessRequest("git", ["rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"],
                                                  environment: Git.environment, workingDirectory: directory, timeout: 30))
        let commit = r.stdoutString.trimming(.whitespacesAndNewlines)
        guard r.status == 0, commit.count == 40 else {
            throw CoreError.notFound(what: "git ref", name: ref, hint: "see 'tetra org branches' and 'tetra org log'; fetch with 'tetra org update'")
        }
        return commit
    }

    /// The checked-out commit and branch (nil when detached).
    public func head() throws -> (commit: String, branch: String?) {
        let commit = try git.run(["rev-parse", "--verify", "HEAD"], in: directory, timeout: 30).trimming(.whitespacesAndNewlines)
        let branch = try? git.run(["symbolic-ref", "--quiet", "--short", "HEAD"], in: directory, timeout: 30).trimming(.whitespacesAndNewlines)
        return (commit, branch.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Tracked files with uncommitted changes (staged or not); untracked files do not count.
    public func changedTrackedFiles() throws -> [String] {
        let out = try git.run(["status", "--porcelain=v1", "-z", "--untracked-files=no"], in: directory, timeout: 60)
        return out.split(separator: "\0").compactMap { entry in entry.count > 3 ? String(entry.dropFirst(3)) : nil }
    }

    /// The tree of `commit` written into the empty directory `destination` (the work tree is
    /// not touched): `git archive` to a private tar file, unpacked by `tar`.
    public func export(_ commit: String, into destination: String) throws {
        let tar = destination + ".tar"
        defer { unlink(tar) }
        try git.run(["archive", "--format=tar", "-o", tar, commit], in: directory, timeout: 300)
        // -m: the files get the time of extraction, not the commit's. The snapshot's cache
        // trusts size, mtime and inode; two commits of the same second, exported into
        // directories that reuse inodes, would otherwise look unchanged.
        let r = try git.runner.run(ProcessRequest("tar", ["-x", "-m", "-f", tar, "-C", destination, "--no-same-owner"], timeout: 300))
        guard r.status == 0 else { throw ToolError.failed(argv: ["tar", "-x", "-f", tar], status: r.status, stderrTail: ToolError.tail(of: r.stderrString)) }
    }

    /// `org create --from-git`: clones `url` into `destination` (which must not exist) and
    /// checks out `ref` when given.
    public func clone(_ url: String, ref: String?, into destination: String) throws {
        try Self.validateURL(url)
        if let ref { try Self.validateRef(ref) }
        try git.run(["clone", "--quiet", "--", url, destination], timeout: 600)
        if let ref {
            let commit = try OrgGit(runner: git.runner, directory: destination).resolve(ref)
            try git.run(["checkout", "--quiet", "--detach", commit], in: destination, timeout: 120)
            // A branch name checks out the branch itself, so `org update` can follow it.
            if (try? git.run(["show-ref", "--verify", "--quiet", "refs/remotes/origin/" + ref], in: destination, timeout: 30)) != nil {
                try git.run(["checkout", "--quiet", "-B", ref, "--track", "origin/" + ref], in: destination, timeout: 120)
            }
        }
    }

    public enum UpdateAction: String, Encodable, Sendable { case updated, unchanged }

    /// `org update`: fetches and fast-forwards the checked-out branch to its upstream.
    /// Refused (exit 5, nothing changed) when tracked files have changes, the branch has
    /// diverged from its upstream, HEAD is detached or there is no upstream.
    public func fastForward() throws -> (action: UpdateAction, from: String, to: String) {
        let (from, branch) = try head()
        guard let branch else {
            throw CoreError.conflict("the org's work tree is on a detached commit (\(from.prefix(12))): nothing to fast-forward",
                                     hint: "check out a branch: git -C \(directory) checkout main")
        }
        let changed = try changedTrackedFiles()
        if !changed.isEmpty {
            throw CoreError.conflict("uncommitted changes to tracked files: \(changed.prefix(5).joined(separator: ", "))"
                                     + (changed.count > 5 ? " and \(changed.count - 5) more" : ""),
                                     hint: "commit or stash them first (git -C \(directory) stash)")
        }
        try git.run(["fetch", "--quiet", "--prune"], in: directory, timeout: 600)
        guard let upstream = try? git.run(["rev-parse", "--verify", "--quiet", "@{upstream}"], in: directory, timeout: 30)
                .trimming(.whitespacesAndNewlines), upstream.count == 40 else {
            throw CoreError.conflict("branch '\(branch)' has no upstream to update from",
                                     hint: "git -C \(directory) branch --set-upstream-to origin/\(branch)")
        }
        if upstream == from { return (.unchanged, from, from) }
        let ancestor = try git.runner.run(ProcessRequest("git", ["merge-base", "--is-ancestor", from, upstream],
                                                         environment: Git.environment, workingDirectory: directory, timeout: 60))
        guard ancestor.status == 0 else {
            throw CoreError.conflict("branch '\(branch)' has diverged from its upstream (local commits not upstream)",
                                     hint: "reconcile it with git (git -C \(directory) rebase @{upstream}, or reset) and run tetra org update again")
        }
        try git.run(["merge", "--quiet", "--ff-only", upstream], in: directory, timeout: 120)
        return (.updated, from, upstream)
    }

    public struct Commit: Encodable, Sendable {
        public var commit: String
        public var author: String
        public var time: String
        public var subject: String
    }

    /// The newest `limit` commits of HEAD.
    public func log(limit: Int) throws -> [Commit] {
        let out = try git.run(["log", "-n", String(limit), "--format=%H%x1f%an%x1f%aI%x1f%s"], in: directory, timeout: 60)
        return out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4, let t = Timestamps.parseISO8601(f[2]) else { return nil }
            return Commit(commit: f[0], author: f[1], time: Timestamps.iso8601(t), subject: f[3])
        }
    }

    public struct Branch: Encodable, Sendable {
        public var name: String
        public var commit: String
        public var current: Bool
        public var remote: Bool
    }

    /// Local and remote-tracking branches.
    public func branches() throws -> [Branch] {
        let out = try git.run(["for-each-ref", "--format=%(refname)%1f%(objectname)%1f%(HEAD)", "refs/heads", "refs/remotes"],
                              in: directory, timeout: 60)
        return out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, !f[0].hasSuffix("/HEAD") else { return nil }
            let remote = f[0].hasPrefix("refs/remotes/")
            let name = String(f[0].dropFirst(remote ? 13 : 11))
            return Branch(name: name, commit: f[1], current: f[2] == "*", remote: remote)
        }
    }
}
