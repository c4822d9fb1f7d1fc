import TetraCore

/// The git side of orgs (docs/git.md): `org create --from-git`, `org push --ref`, `org update`,
/// `org log`, `org branches`.
enum OrgGitCommands {
    static let pushFlags = [
        FlagSpec("ref", value: .string, placeholder: "REV", help: "push the org as committed at REV (tag, branch or commit) of its git work tree"),
        FlagSpec("allow-dirty", help: "push a git org's working copy although tracked files have uncommitted changes"),
    ]

    static let createFlags = [
        FlagSpec("from-git", value: .string, placeholder: "URL", help: "clone the org from a git repository (no credentials in the URL)"),
        FlagSpec("ref", value: .string, placeholder: "REF", help: "with --from-git: the branch, tag or commit to check out"),
    ]

    static func create(_ name: String, url: String, _ inv: Invocation, _ env: CommandEnvironment) throws -> CommandOutput {
        if !inv.flagValues("set").isEmpty || inv.flag("template") != nil {
            throw UsageError("--from-git takes no --template or --set: the repository holds the org", commandPath: inv.path)
        }
        if !env.options.dryRun { try env.ensureStateRoot() }
        let admin = OrgAdmin(context: env.core)
        let r = try env.core.withLock("org." + name) {
            try admin.createFromGit(name, url: url, ref: inv.flag("ref"), dryRun: env.options.dryRun)
        }
        var text = "\(r.dry_run ? "would clone" : "cloned") org \(r.org) from \(r.url) at \(r.commit.prefix(12))"
            + (r.ref.map { " (\($0))" } ?? "") + " into \(r.directory)\n"
        text += "environments: \(r.environments.joined(separator: ", "))\n"
        return CommandOutput(json: r, text: text)
    }

    static var update: CommandSpec {
        CommandSpec("update", summary: "Fast-forward a git org's branch to its upstream (refuses a dirty or diverged work tree)",
                    discussion: """
                    Fetches, then fast-forwards the checked-out branch to its upstream. Refused with
                    exit 5, changing nothing, when tracked files have uncommitted changes, the branch
                    has commits its upstream does not have, HEAD is detached or there is no upstream.
                    """,
                    arguments: [OrgCommands.orgArg],
                    examples: ["tetra org update shop"], mutates: true, json: true, handler: { inv, env in
            let r = try OrgService(context: env.core).update(org: inv.required("ORG"))
            let text = r.action == .unchanged ? "\(r.org) is up to date at \(r.from.prefix(12))\n"
                : "updated \(r.org): \(r.from.prefix(12)) → \(r.to.prefix(12))\n"
            return CommandOutput(json: r, text: text)
        })
    }

    static var log: CommandSpec {
        CommandSpec("log", summary: "A git org's newest commits, each with the envs and hosts it is deployed to",
                    discussion: """
                    Reads every environment's current release (as 'org status': over ssh for remote
                    targets) and names, beside each commit, where a release rendered from it is current.
                    """,
                    arguments: [OrgCommands.orgArg],
                    flags: [FlagSpec("count", short: "n", value: .integer(min: 1, max: 10_000), placeholder: "N", default: "20", help: "how many commits")],
                    examples: ["tetra org log shop", "tetra org log shop -n 5 --json"], json: true, handler: { inv, env in
            let r = try OrgService(context: env.core).log(org: inv.required("ORG"), limit: inv.int("count") ?? 20)
            var text = ""
            for c in r.commits {
                let at = c.deployments.map { d in (d.host.map { "\(d.env)/\($0)" } ?? d.env) + (d.dirty == true ? " (dirty)" : "") }
                text += "\(c.commit.prefix(12))  \(c.time)  \(c.author)  \(c.subject)" + (at.isEmpty ? "" : "  [\(at.joined(separator: ", "))]") + "\n"
            }
            for u in r.unreachable { env.core.progress.warn("\(u): could not be read; its deployment is not shown") }
            return CommandOutput(json: r, text: text.isEmpty ? "no commits\n" : text)
        })
    }

    static var branches: CommandSpec {
        CommandSpec("branches", summary: "A git org's local and remote branches",
                    arguments: [OrgCommands.orgArg],
                    examples: ["tetra org branches shop"], json: true, handler: { inv, env in
            let r = try OrgService(context: env.core).branches(org: inv.required("ORG"))
            let rows = r.branches.map { [($0.current ? "* " : "  ") + $0.name, String($0.commit.prefix(12)), $0.remote ? "remote" : "local"] }
            return CommandOutput(json: r, text: rows.isEmpty ? "no branches\n" : env.table(["branch", "commit", "kind"], rows))
        })
    }
}
