import FoundationEssentials
import Glibc

/// `org create --from-git`, `org update`, `org log`, `org branches` (docs/git.md).
extension OrgAdmin {
    public struct Cloned: Encodable, Sendable {
        public var org: String
        public var url: String
        public var commit: String
        public var ref: String?
        public var directory: String
        public var environments: [String]
        public var dry_run: Bool
    }

    /// Clones `url` beside `orgs/NAME`, checks that it is an org (an org.toml whose name is
    /// NAME), then renames it into place. Nothing is left behind on failure.
    public func createFromGit(_ name: String, url: String, ref: String?, dryRun: Bool) throws -> Cloned {
        try Names.validate(name, what: "org")
        try OrgGit.validateURL(url)
        if let ref { try OrgGit.validateRef(ref) }
        let dest = paths.org(name)
        if LocalFiles.exists(dest) {
            throw CoreError.conflict("org '\(name)' already exists (\(dest))", hint: "choose another name, or 'tetra org delete \(name) --yes' first")
        }
        try AtomicFile.ensureDirectory(paths.orgs, mode: 0o700)
        let temp = paths.orgs + "/.create-\(name)-" + TargetLockRecord.newToken()
        var done = false
        defer { if !done { try? LocalFiles.removeTree(temp) } }
        context.progress.step("cloning \(url)")
        let repo = OrgGit(runner: context.runner, directory: temp)
        try repo.clone(url, ref: ref, into: temp)
        let org = try LoadedOrg.load(name: name, directory: temp, displayName: "orgs/\(name)/org.toml (from \(url))")
        guard org.config.org.name == name else {
            throw ConfigError(ConfigProblem(file: "orgs/\(name)/org.toml (from \(url))", position: org.document.position(of: ["org", "name"]),
                                            keyPath: "org.name", message: "is '\(org.config.org.name)', not '\(name)': name the org after its org.toml"))
        }
        let head = try repo.head()
        let result = Cloned(org: name, url: url, commit: head.commit, ref: ref ?? head.branch, directory: dest,
                            environments: org.environmentNames, dry_run: dryRun)
        if dryRun { return result }
        try install(temp, as: name)
        done = true
        return result
    }
}

extension OrgService {
    func gitRepository(_ name: String) throws -> OrgGit {
        try Names.validate(name, what: "org")
        _ = try store.load(name)
        let dir = paths.org(name)
        guard OrgGit.isWorkTree(dir) else {
            throw CoreError.invalidArgument("org '\(name)' is not a git work tree (\(dir))",
                                            hint: "orgs made with 'tetra org create ORG --from-git URL' are; or run git init there")
        }
        return OrgGit(runner: context.runner, directory: dir)
    }

    public struct Updated: Encodable, Sendable {
        public var org: String
        public var action: OrgGit.UpdateAction
        public var from: String
        public var to: String
    }

    /// `org update ORG`: fast-forwards the org's branch to its upstream, under the org's lock.
    public func update(org name: String) throws -> Updated {
        let repo = try gitRepository(name)
        return try withOrgLock(name) {
            let r = try repo.fastForward()
            return Updated(org: name, action: r.action, from: r.from, to: r.to)
        }
    }

    public struct Deployment: Encodable, Sendable {
        public var env: String
        public var host: String?
        public var release: String
        public var dirty: Bool?
    }

    public struct LogEntry: Encodable, Sendable {
        public var commit: String
        public var author: String
        public var time: String
        public var subject: String
        public var deployments: [Deployment]
    }

    public struct Log: Encodable, Sendable {
        public var org: String
        public var commits: [LogEntry]
        /// Targets that could not be read (their deployments are not known).
        public var unreachable: [String]
    }

    /// `org log ORG -n N`: the newest commits, each with the environments (and hosts) whose
    /// current release was rendered from it (read from every target, as `org status`).
    public func log(org name: String, limit: Int) throws -> Log {
        let repo = try gitRepository(name)
        let commits = try repo.log(limit: limit)
        let rows = try status(org: name, env: nil)
        var byCommit: [String: [Deployment]] = [:]
        for r in rows {
            guard let commit = r.commit, let release = r.release else { continue }
            byCommit[commit, default: []].append(Deployment(env: r.env, host: r.host, release: release, dirty: r.dirty == true ? true : nil))
        }
        let unreachable = rows.filter { $0.error != nil }.map { row in row.host.map { row.env + "/" + $0 } ?? row.env }
        let entries = commits.map { c in
            LogEntry(commit: c.commit, author: c.author, time: c.time, subject: c.subject, deployments: byCommit[c.commit] ?? [])
        }
        return Log(org: name, commits: entries, unreachable: unreachable)
    }

    public struct Branches: Encodable, Sendable {
        public var org: String
        public var branches: [OrgGit.Branch]
    }

    public func branches(org name: String) throws -> Branches {
        Branches(org: name, branches: try gitRepository(name).branches())
    }
}
