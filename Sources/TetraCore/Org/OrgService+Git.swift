import FoundationEssentials
import Glibc

/// Orgs whose directory is a git work tree (docs/git.md): what a push renders, and the
/// commands that read or move the work tree.
extension OrgService {
    /// The org a push renders and where it came from. With `ref`: the tree of that commit,
    /// exported into `exportInto` (the work tree is not touched) and validated there, with
    /// the working copy's inputs (secrets, ports). Without: the working copy; for a git org,
    /// uncommitted changes to tracked files are refused (exit 1) unless `allowDirty`.
    func pushSource(_ name: String, ref: String?, allowDirty: Bool, exportInto: String?) throws
        -> (LoadedOrg, OrgValidator.Inputs, GitRevision?) {
        let directory = paths.org(name)
        guard store.exists(name) else { _ = try store.load(name); throw CoreError.notFound(what: "org", name: name) }
        let isGit = OrgGit.isWorkTree(directory)
        let repo = OrgGit(runner: context.runner, directory: directory)
        guard let ref else {
            let (org, inputs) = try loadValid(name, renderEnvironments: [])
            guard isGit else { return (org, inputs, nil) }
            let changed = try repo.changedTrackedFiles()
            if !changed.isEmpty && !allowDirty {
                throw CoreError.failed("\(name) has uncommitted changes to tracked files: " + changed.prefix(5).joined(separator: ", ")
                                       + (changed.count > 5 ? " and \(changed.count - 5) more" : ""),
                                       hint: "commit them, push a commit with --ref REV, or push the working copy anyway with --allow-dirty")
            }
            let head = try repo.head()
            return (org, inputs, GitRevision(commit: head.commit, ref: head.branch, dirty: !changed.isEmpty))
        }
        guard isGit else {
            throw CoreError.invalidArgument("--ref needs an org that is a git work tree; \(directory) is not one",
                                            hint: "make one with 'tetra org create ORG --from-git URL'")
        }
        guard let exportInto else { throw CoreError.failed("no directory to export \(ref) into") }
        let commit = try repo.resolve(ref)
        context.progress.step("exporting \(name) at \(commit.prefix(12)) (\(ref))")
        let tree = exportInto + "/" + name
        guard mkdir(tree, 0o700) == 0 else { throw IOError("create directory", path: tree, errno: errno) }
        try repo.export(commit, into: tree)
        let org = try LoadedOrg.load(name: name, directory: tree, displayName: "orgs/\(name)/org.toml at \(commit.prefix(12))")
        try OrgRenderer.checkFilesDirectory(org)
        let inputs = validator.inputs(orgDirectory: directory)
        let problems = validator.problems(org, inputs: inputs, renderEnvironments: [])
        if !problems.isEmpty {
            throw ConfigError(problems, hint: "the org as committed at \(ref) does not validate")
        }
        return (org, inputs, GitRevision(commit: commit, ref: ref, dirty: false))
    }

    /// `org rollback --to`: a release id, or a git commit (4 to 40 hex digits) naming the
    /// newest release rendered from it: from this machine's history, else (one target) from
    /// the releases' metadata at the target. Two commits matching an abbreviation is exit 2.
    func rollbackTarget(_ text: String, org: String, envName: String, env: EnvironmentConfig) throws -> ReleaseID {
        if ReleaseID.isValid(text) { return try ReleaseID(text) }
        let hex = text.lowercased()
        guard (4...40).contains(hex.count), hex.allSatisfy({ $0.isHexDigit }) else { return try ReleaseID(text) }
        var found: [(commit: String, release: String)] = (try history.entries(org, env: envName)).compactMap { e in
            guard let c = e.commit, c.hasPrefix(hex), e.action != "rollback" else { return nil }
            return (c, e.release)
        }
        if found.isEmpty, !env.isFleet {
            found = try manager(env).list().compactMap { r in
                guard let c = r.metadata?.git?.commit, c.hasPrefix(hex) else { return nil }
                return (c, r.id.rawValue)
            }
        }
        let commits = Set(found.map(\.commit))
        guard let last = found.last else {
            throw CoreError.notFound(what: "release of commit", name: text, hint: "see 'tetra org log \(org)' for the commits deployed to \(envName)")
        }
        guard commits.count == 1 else {
            throw CoreError.invalidArgument("'\(text)' names \(commits.count) commits (\(commits.sorted().map { String($0.prefix(12)) }.joined(separator: ", "))): give more digits")
        }
        return try ReleaseID(last.release)
    }
}
