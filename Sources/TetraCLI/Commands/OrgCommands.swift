import FoundationEssentials
import TetraCore

/// The `org` group: organizations (orgs/<org>/) and their environments' releases.
enum OrgCommands {
    static var spec: CommandSpec {
        CommandSpec("org", summary: "Organizations: config files pushed to environments as atomic releases", subcommands: [
            list, show, use, create, template, validate, delete, set, push, pull, status, rollback, history, diff, OrgSnapshotCommands.spec,
            OrgGitCommands.update, OrgGitCommands.log, OrgGitCommands.branches,
        ])
    }

    static let orgArg = ArgSpec("ORG", help: "org name", completion: .dynamic(.orgs))
    static let optionalOrgArg = ArgSpec("ORG", help: "org name (default: --org, $TETRA_ORG, default_org)", optional: true,
                                        completion: .dynamic(.orgs))
    static let envArg = ArgSpec("ENV", help: "environment name", completion: .dynamic(.envs))
    static let approveFlag = FlagSpec("approve", help: "approve a change to a protected environment")
    static let messageFlag = FlagSpec("message", short: "m", value: .string, placeholder: "TEXT", help: "a note recorded with the release and in the history")

    static func service(_ env: CommandEnvironment) -> OrgService { OrgService(context: env.core) }

    /// ORG from the argument, else the current org; usage error when there is none.
    static func orgName(_ inv: Invocation, _ env: CommandEnvironment) throws -> String {
        if let name = inv.argument("ORG") {
            try Names.validate(name, what: "org")
            return name
        }
        guard let name = try env.resolvedOrg() else {
            throw UsageError("no org given and no current org", commandPath: inv.path)
        }
        return name
    }

    static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    // MARK: - list / show / use

    static var list: CommandSpec {
        CommandSpec("list", summary: "List organizations", examples: ["tetra org list"], json: true, handler: { _, env in
            struct Row: Encodable { let name: String; let description: String?; let environments: [String]; let current: Bool; let error: String? }
            let store = OrgStore(paths: env.paths)
            let current = try? env.resolvedOrg()
            var rows: [Row] = []
            for name in store.names() {
                do {
                    let org = try store.load(name)
                    rows.append(Row(name: name, description: org.config.org.description, environments: org.environmentNames,
                                    current: current == name, error: nil))
                } catch let e as any TetraError {
                    rows.append(Row(name: name, description: nil, environments: [], current: current == name, error: e.message))
                }
            }
            struct Result: Encodable { let orgs: [Row] }
            let text = rows.isEmpty ? "no orgs; create one with 'tetra org create NAME'\n"
                : env.table(["name", "envs", "description"], rows.map {
                    [($0.current ? "* " : "") + $0.name, $0.error == nil ? $0.environments.joined(separator: ",") : "invalid",
                     $0.error ?? $0.description ?? ""]
                })
            return CommandOutput(json: Result(orgs: rows), text: text)
        })
    }

    struct EnvRecord: Encodable {
        struct Host: Encodable { let name: String; let target: String; let tags: [String]?; let services: [String]? }
        let name: String
        let target: String?
        let hosts: [Host]?
        let services: [String]?
        let protected: Bool
        let promote_from: String?
        let port_range: String?
        let keep_releases: Int
        let checks: [[String]]
    }

    /// Where an environment deploys, for tables: its target, or its hosts' names.
    static func whereText(_ r: EnvRecord) -> String {
        r.target ?? (r.hosts ?? []).map(\.name).joined(separator: ",")
    }

    static func envRecord(_ name: String, _ e: EnvironmentConfig) -> EnvRecord {
        EnvRecord(name: name, target: e.target,
                  hosts: e.isFleet ? e.fleetHosts.map { EnvRecord.Host(name: $0.name, target: $0.target, tags: $0.tags.isEmpty ? nil : $0.tags, services: $0.services) } : nil,
                  services: e.services, protected: e.isProtected, promote_from: e.promoteFrom, port_range: e.portRange,
                  keep_releases: e.keep, checks: e.checks ?? [])
    }

    static var show: CommandSpec {
        CommandSpec("show", summary: "Show an org: description, environments, files, services, secret names",
                    arguments: [optionalOrgArg], examples: ["tetra org show acme"], json: true, handler: { inv, env in
            let name = try orgName(inv, env)
            let store = OrgStore(paths: env.paths)
            let org = try store.load(name)
            let secrets = (try? store.secrets(name))?.names ?? []
            let files = org.sourceFiles
            let services = org.serviceNames
            let snaps = (try? SnapshotStore(paths: env.paths).log(name)) ?? []
            struct Result: Encodable {
                let name: String; let description: String?; let directory: String; let environments: [EnvRecord]
                let files: [String]; let template_count: Int; let services: [String]; let secrets: [String]; let snapshot_count: Int
                let last_snapshot: String?
            }
            let result = Result(name: name, description: org.config.org.description, directory: org.directory,
                                environments: org.config.environments.map { envRecord($0.key, $0.value) }, files: files,
                                template_count: files.filter { $0.hasSuffix(".tmpl") }.count,
                                services: services, secrets: secrets, snapshot_count: snaps.count,
                                last_snapshot: snaps.last?.id)
            var text = "org:         \(name)\n"
            if let d = result.description { text += "description: \(d)\n" }
            text += "directory:   \(org.directory)\n"
            text += "files:       \(plural(files.count, "file")) (\(result.template_count) templates)\n"
            text += "services:    \(result.services.isEmpty ? "none" : result.services.joined(separator: ", "))\n"
            text += "secrets:     \(secrets.isEmpty ? "none" : secrets.joined(separator: ", ")) (names only)\n"
            text += "snapshots:   \(snaps.count)\(snaps.last.map { " (last \($0.id), \($0.time))" } ?? "")\n\n"
            text += env.table(["env", "target", "protected", "promote_from", "port_range", "keep"], result.environments.map {
                [$0.name, whereText($0), $0.protected ? "yes" : "", $0.promote_from ?? "", $0.port_range ?? "", String($0.keep_releases)]
            })
            return CommandOutput(json: result, text: text, notes: org.warnings.map { "warning: \($0.description): unknown key" })
        })
    }

    static var use: CommandSpec {
        CommandSpec("use", summary: "Make ORG the default org (default_org in config/tetra.toml)",
                    arguments: [orgArg], examples: ["tetra org use acme"], mutates: true, json: true, handler: { inv, env in
            let name = inv.required("ORG")
            try Names.validate(name, what: "org")
            struct Result: Encodable { let default_org: String; let dry_run: Bool }
            if env.options.dryRun {
                _ = try OrgStore(paths: env.paths).load(name)
            } else {
                try env.ensureStateRoot()
                try env.core.withLock("config") { try OrgAdmin(context: env.core).use(name) }
            }
            return CommandOutput(json: Result(default_org: name, dry_run: env.options.dryRun),
                                 text: "\(env.options.dryRun ? "would make" : "made") \(name) the default org\n")
        })
    }

    // MARK: - create / template / delete / set / validate

    static func createOutput(_ r: OrgAdmin.Created) -> CommandOutput {
        var text = "\(r.dry_run ? "would create" : "created") org \(r.org) from \(r.template) in \(r.directory)\n"
        for f in r.files { text += "  \(f)\n" }
        text += "environments: \(r.environments.joined(separator: ", "))\n"
        if !r.dry_run { text += "next: tetra org validate \(r.org); tetra org push \(r.org) \(r.environments.first ?? "dev")\n" }
        return CommandOutput(json: r, text: text)
    }

    static func values(_ inv: Invocation) throws -> TOMLTable {
        var values = TOMLTable()
        for assignment in inv.flagValues("set") {
            let (path, value) = try TemplateInput.assignment(assignment)
            TemplateInput.set(value, at: path, in: &values)
        }
        return values
    }

    static let setFlag = FlagSpec("set", value: .keyValue, placeholder: "KEY=VALUE", repeatable: true,
                                  help: "a template value (repeatable), e.g. --set domain=acme.example")

    static var create: CommandSpec {
        CommandSpec("create", summary: "Create an org from a template (default: the built-in org/default)",
                    arguments: [ArgSpec("ORG", help: "the new org's name")],
                    flags: [FlagSpec("template", value: .string, placeholder: "NAME", default: "org/default",
                                     help: "a directory template from the library or built in", completion: .dynamic(.templates)),
                            setFlag] + OrgGitCommands.createFlags,
                    examples: ["tetra org create acme", "tetra org create shop --set domain=shop.example --set deploy_user=ops",
                               "tetra org create shop --from-git ssh://git@git.example/ops/shop.git --ref main"],
                    mutates: true, json: true, handler: { inv, env in
            let name = inv.required("ORG")
            try Names.validate(name, what: "org")
            if let url = inv.flag("from-git") { return try OrgGitCommands.create(name, url: url, inv, env) }
            if inv.flag("ref") != nil { throw UsageError("--ref goes with --from-git", commandPath: inv.path) }
            let values = try values(inv)
            if !env.options.dryRun { try env.ensureStateRoot() }
            let admin = OrgAdmin(context: env.core)
            let r = try env.options.dryRun
                ? admin.create(name, template: inv.flag("template") ?? "org/default", values: values, dryRun: true)
                : env.core.withLock("org." + name) { try admin.create(name, template: inv.flag("template") ?? "org/default", values: values, dryRun: false) }
            return createOutput(r)
        })
    }

    static var template: CommandSpec {
        CommandSpec("template", summary: "Create an org from a library or built-in template NAME",
                    arguments: [ArgSpec("NAME", help: "a directory template", completion: .dynamic(.templates)),
                                ArgSpec("ORG", help: "the new org's name (default: the template's default name)", optional: true)],
                    flags: [setFlag],
                    examples: ["tetra org template org/default acme"], mutates: true, json: true, handler: { inv, env in
            let templateName = inv.required("NAME")
            var name = inv.argument("ORG")
            if name == nil {
                let catalog = TemplateCatalog(paths: env.paths)
                let loaded = try catalog.load(try catalog.require(templateName))
                name = loaded.manifest.defaults["name"]?.stringValue ?? String(templateName.split(separator: "/").last ?? "")
            }
            let org = name!
            try Names.validate(org, what: "org")
            let values = try values(inv)
            if !env.options.dryRun { try env.ensureStateRoot() }
            let admin = OrgAdmin(context: env.core)
            let r = try env.options.dryRun
                ? admin.create(org, template: templateName, values: values, dryRun: true)
                : env.core.withLock("org." + org) { try admin.create(org, template: templateName, values: values, dryRun: false) }
            return createOutput(r)
        })
    }

    static var delete: CommandSpec {
        CommandSpec("delete", summary: "Delete an org (its source is snapshotted first); needs --yes",
                    arguments: [orgArg], examples: ["tetra org delete acme --yes"], mutates: true, json: true, handler: { inv, env in
            let name = inv.required("ORG")
            try Names.validate(name, what: "org")
            _ = try OrgStore(paths: env.paths).load(name)
            if !env.options.dryRun { try env.confirm("delete org \(name) and its files (targets are not touched)") }
            let r = try OrgAdmin(context: env.core).delete(name, dryRun: env.options.dryRun)
            let text = r.dry_run ? "would delete org \(name) (\(r.directory))\n"
                : "deleted org \(name); its source is kept as snapshot \(r.snapshot) (secrets.env is not kept)\n"
            return CommandOutput(json: r, text: text)
        })
    }

    static var set: CommandSpec {
        CommandSpec("set", summary: "Set KEY.PATH in the current org's org.toml (format-preserving; snapshot first)",
                    discussion: "VALUE is parsed as TOML (10, true, \"text\", [..]). The org is --org, $TETRA_ORG or default_org.",
                    arguments: [ArgSpec("KEY.PATH", help: "dotted key, e.g. environments.prod.keep_releases"), ArgSpec("VALUE", help: "a TOML value")],
                    examples: ["tetra org set environments.prod.keep_releases 10 --org acme",
                               "tetra org set vars.domain '\"acme.example\"'"],
                    mutates: true, json: true, handler: { inv, env in
            guard let name = try env.resolvedOrg() else {
                throw UsageError("no current org: give --org NAME (or run 'tetra org use NAME')", commandPath: inv.path)
            }
            let path = try ConfigFiles.keyPath(inv.required("KEY.PATH"))
            let value = try ConfigFiles.value(inv.required("VALUE"))
            let r = try OrgAdmin(context: env.core).set(name, keyPath: path, value: value, dryRun: env.options.dryRun)
            let text = r.changed ? r.diff.joined(separator: "\n") + "\n" + (r.dry_run ? "(dry run: nothing written)\n" : "")
                : "\(r.key) is already \(inv.required("VALUE"))\n"
            return CommandOutput(json: r, text: text)
        })
    }

    static var validate: CommandSpec {
        CommandSpec("validate", summary: "Validate an org: org.toml, environments, services, ports, every template for every env; exit 3 listing every problem",
                    discussion: """
                    Every problem of every file in one run, sorted by file and position, each as
                    path:line:column: key: message: org.toml (syntax, types, every environment), the
                    port registry and secrets.env it uses, every services/*.toml (types, values,
                    depends_on naming services of the org, no cycles, named ports registered) and
                    every template of files/ rendered for every environment. Unknown keys are
                    warnings (stderr). Exit 3 when there is any problem.
                    """,
                    arguments: [optionalOrgArg], examples: ["tetra org validate acme", "tetra org validate acme --json"], json: true,
                    handler: { inv, env in
            let name = try orgName(inv, env)
            let result = try OrgValidator(paths: env.paths, age: AgeTool(context: env.core)).validate(org: name)
            var text = ""
            for p in result.problems { text += p.description + "\n" }
            text += result.valid ? "ok: \(name) is valid (\(plural(result.environments.count, "environment")), \(plural(result.services.count, "service")))\n"
                : "\(plural(result.problems.count, "problem")) in \(name)\n"
            return CommandOutput(exitCode: result.valid ? .success : .invalidConfig, json: result, text: text,
                                 notes: result.warnings.map { "warning: " + $0.description })
        })
    }

    // MARK: - push / pull / status / rollback / history / diff

    static func deployText(_ r: OrgService.DeployOutcome, verb: String) -> String {
        var text = ""
        if r.dry_run {
            text += "dry run: \(r.action.rawValue) \(r.org) to \(r.env) (\(r.target)) would change \(plural(r.changes.count, "file"))"
                + " against \(r.previous ?? "an empty target")\n"
            for line in r.changes.lines { text += "  \(line)\n" }
            for c in r.checks { text += "  check passed: \(c)\n" }
            return text
        }
        text += "\(verb) \(r.org) to \(r.env): release \(r.release ?? "?") (\(plural(r.file_count, "file")), \(r.changes.count) changed"
        if let sent = r.bytes_sent { text += ", \(sent) bytes sent by \(r.transport ?? "?")" }
        text += ")\n"
        for line in r.changes.lines.prefix(50) { text += "  \(line)\n" }
        if r.changes.count > 50 { text += "  ... and \(r.changes.count - 50) more\n" }
        for c in r.checks { text += "check passed: \(c)\n" }
        if let prev = r.previous { text += "previous: \(prev) (tetra org rollback \(r.org) \(r.env))\n" }
        if let s = r.snapshot { text += "snapshot: \(s)\n" }
        if !r.pruned.isEmpty { text += "pruned: \(r.pruned.joined(separator: ", "))\n" }
        return text
    }

    static var push: CommandSpec {
        CommandSpec("push", summary: "Validate, snapshot, render files/ for ENV and deploy it as a new release",
                    discussion: """
                    The release is complete at the target before `current` is switched (a renamed
                    symlink). An environment with hosts is pushed to every host: uploads in parallel,
                    then activation in batches, each host verified and sent back on failure (see
                    docs/fleets.md); exit 1 when a host failed, 6 when none could be reached. Local targets hard-link unchanged files of the previous release; ssh
                    targets use rsync when both ends have it, else tar over ssh. --dry-run prints the
                    file-level diff against the current release and changes nothing.
                    An org that is a git work tree: --ref REV pushes the org exactly as committed at
                    REV (a tag, branch or commit; the work tree is not touched; exit 4 when REV does
                    not exist); without it, uncommitted changes to tracked files are refused (exit 1)
                    unless --allow-dirty. The release records commit, ref and dirty (docs/git.md).
                    """,
                    arguments: [orgArg, envArg], flags: [messageFlag, approveFlag] + OrgGitCommands.pushFlags + FleetCommandSupport.pushFlags,
                    examples: ["tetra org push acme dev", "tetra org push acme prod --approve -m 'raise workers'",
                               "tetra org push acme prod --ref v1.4.0 --approve",
                               "tetra org push acme staging --dry-run", "tetra org push acme prod --approve --hosts tag:eu --batch 25%"],
                    mutates: true, json: true, handler: { inv, env in
            let r = try service(env).push(org: inv.required("ORG"), env: inv.required("ENV"), message: inv.flag("message"),
                                          dryRun: env.options.dryRun, approve: inv.has("approve"),
                                          fleet: try FleetCommandSupport.options(inv), ref: inv.flag("ref"), allowDirty: inv.has("allow-dirty"))
            switch r {
            case .target(let r): return CommandOutput(json: r, text: deployText(r, verb: "pushed"))
            case .fleet(let f): return CommandOutput(exitCode: f.exitCode, json: f, text: FleetCommandSupport.text(f, env: env))
            }
        })
    }

    static var pull: CommandSpec {
        CommandSpec("pull", summary: "Fetch ENV's current release: drift at the target and differences from the local render",
                    discussion: """
                    Drift: files changed, missing or added at the target since the release was
                    deployed (by the release manifest's hashes). --write copies changed and added
                    non-template files back into files/ (after snapshotting the org). A local file
                    that changed since the release was made is a conflict: every conflict is listed
                    and nothing is written (exit 5) unless --force.
                    """,
                    arguments: [orgArg, envArg],
                    flags: [FlagSpec("write", help: "copy remote changes of non-template files into files/"),
                            FlagSpec("force", help: "with --write: overwrite local files that changed since the release was made"),
                            FleetCommandSupport.hostsFlag],
                    examples: ["tetra org pull acme prod", "tetra org pull acme dev --write", "tetra org pull acme dev --write --force",
                               "tetra org pull acme prod --hosts web1"],
                    mutates: true, json: true, handler: { inv, env in
            if inv.has("force") && !inv.has("write") {
                throw UsageError("--force only applies with --write", commandPath: inv.path)
            }
            let r = try service(env).pull(org: inv.required("ORG"), env: inv.required("ENV"), write: inv.has("write") && !env.options.dryRun,
                                          force: inv.has("force"), hosts: try inv.flag("hosts").map { try HostSelector.parse($0) })
            var text = "\(r.env)@\(r.release ?? "-") at \(r.target)\n"
            if let d = r.drift {
                if d.clean { text += "drift: none\n" } else {
                    text += "drift at the target:\n"
                    for p in d.changed { text += "  ~ \(p)\n" }
                    for p in d.missing { text += "  - \(p)\n" }
                    for p in d.added { text += "  + \(p)\n" }
                }
            }
            text += r.local_differences.isEmpty ? "local render: same as the release\n"
                : "local render differs from the release (\(plural(r.local_differences.count, "file"))):\n"
                    + r.local_differences.lines.map { "  \($0)\n" }.joined()
            for p in r.written { text += "wrote files/\(p)\(r.overwritten.contains(p) ? " (overwrote a local change)" : "")\n" }
            for p in r.skipped { text += "skipped \(p)\n" }
            if let s = r.snapshot { text += "snapshot before writing: \(s)\n" }
            return CommandOutput(json: r, text: text)
        })
    }

    static func statusOutput(_ rows: [OrgService.EnvStatus], org: String, env: CommandEnvironment) -> CommandOutput {
        struct Result: Encodable { let org: String; let environments: [OrgService.EnvStatus]; let clean: Bool }
        let clean = rows.allSatisfy { $0.error == nil && ($0.drift?.clean ?? true) }
        let table = env.table(["env", "release", "when", "by", "drift"], rows.map { s in
            let drift: String
            if let e = s.error { drift = "error: \(e)" } else if let d = s.drift {
                drift = d.clean ? "clean" : "DRIFT: " + ([d.changed.isEmpty ? nil : "\(d.changed.count) changed",
                                                          d.missing.isEmpty ? nil : "\(d.missing.count) missing",
                                                          d.added.isEmpty ? nil : "\(d.added.count) added"].compactMap { $0 }.joined(separator: ", "))
            } else { drift = "-" }
            return [s.host.map { s.env + "/" + $0 } ?? s.env, s.release ?? "(none)", s.created_at ?? "", s.by ?? "", drift]
        })
        var text = table
        for s in rows {
            guard let d = s.drift, !d.clean else { continue }
            text += "\(s.host.map { s.env + "/" + $0 } ?? s.env):\n" + d.changed.map { "  ~ \($0)\n" }.joined() + d.missing.map { "  - \($0)\n" }.joined() + d.added.map { "  + \($0)\n" }.joined()
            if let r = s.rollback_target {
                text += "  the release a rollback goes back to, \(r.release), has drifted too (a rollback rebuilds it from its snapshot):\n"
                    + r.drift.changed.map { "    ~ \($0)\n" }.joined() + r.drift.missing.map { "    - \($0)\n" }.joined()
                    + r.drift.added.map { "    + \($0)\n" }.joined()
            }
        }
        return CommandOutput(exitCode: clean ? .success : .failure, json: Result(org: org, environments: rows, clean: clean), text: text)
    }

    static var status: CommandSpec {
        CommandSpec("status", summary: "Per environment: current release, when, by whom, drift (exit 1 on drift)",
                    arguments: [orgArg, ArgSpec("ENV", help: "one environment (default: all)", optional: true, completion: .dynamic(.envs))],
                    examples: ["tetra org status acme", "tetra org status acme prod --json"], json: true, handler: { inv, env in
            let rows = try service(env).status(org: inv.required("ORG"), env: inv.argument("ENV"))
            return statusOutput(rows, org: inv.required("ORG"), env: env)
        })
    }

    static func rollbackText(_ r: OrgService.RollbackOutcome) -> String {
        switch r.how {
        case "unchanged": return "\(r.env) is already at \(r.release)\n"
        case "re-rendered":
            return (r.dry_run ? "dry run: would re-render" : "re-rendered") + " \(r.env) from snapshot \(r.snapshot ?? "?")"
                + (r.drift == nil ? " (the release it replaces was pruned): " : " (the release it replaces had drifted from its manifest): ")
                + (r.deployed.map { deployText($0, verb: "rolled back") } ?? "")
        default:
            return (r.dry_run ? "dry run: would switch" : "switched") + " \(r.env) (\(r.target)) to \(r.release)"
                + (r.previous.map { " (was \($0))" } ?? "") + "\n"
        }
    }

    static func rollbackOutput(_ r: RollbackResult, env: CommandEnvironment) -> CommandOutput {
        switch r {
        case .target(let r): return CommandOutput(json: r, text: rollbackText(r))
        case .fleet(let f): return CommandOutput(exitCode: f.exitCode, json: f, text: FleetCommandSupport.text(f, env: env))
        }
    }

    static var rollback: CommandSpec {
        CommandSpec("rollback", summary: "Switch ENV's current to the previous (or given) release; re-render from its snapshot if it was pruned",
                    arguments: [orgArg, envArg],
                    flags: [FlagSpec("to", value: .string, placeholder: "RELEASE", help: "the release to go back to, or a git commit (abbreviated too) of a git org",
                                     completion: .dynamic(.releases)),
                            approveFlag] + FleetCommandSupport.pushFlags,
                    examples: ["tetra org rollback acme prod --approve", "tetra org rollback acme dev --to 20261121T160301Z-3f2a9c1",
                               "tetra org rollback acme prod --to 3f2a9c1 --approve"],
                    mutates: true, json: true, handler: { inv, env in
            let r = try service(env).rollback(org: inv.required("ORG"), env: inv.required("ENV"), to: inv.flag("to"),
                                              approve: inv.has("approve"), dryRun: env.options.dryRun,
                                              fleet: try FleetCommandSupport.options(inv))
            return rollbackOutput(r, env: env)
        })
    }

    static func historyOutput(_ h: (records: [OrgService.HistoryRecord], problems: [String]), org: String, env: CommandEnvironment) -> CommandOutput {
        struct Result: Encodable { let org: String; let entries: [OrgService.HistoryRecord]; let unreachable: [String] }
        let text = h.records.isEmpty ? "no history\n" : env.table(["time", "env", "origin", "action", "release", "by", "source / message"], h.records.map {
            [$0.time, $0.host.map { [env = $0.env] in env + "/" + $0 } ?? $0.env, $0.origin, $0.action, $0.release, $0.by, [$0.source, $0.message].compactMap { $0 }.joined(separator: ": ")]
        })
        return CommandOutput(json: Result(org: org, entries: h.records, unreachable: h.problems), text: text,
                             notes: h.problems.map { "warning: could not read the target's history of \($0)" })
    }

    static var history: CommandSpec {
        CommandSpec("history", summary: "Pushes, promotions and rollbacks: this machine's history and each target's",
                    arguments: [orgArg, ArgSpec("ENV", help: "one environment (default: all)", optional: true, completion: .dynamic(.envs))],
                    examples: ["tetra org history acme", "tetra org history acme prod --json"], json: true, handler: { inv, env in
            historyOutput(try service(env).historyRecords(org: inv.required("ORG"), env: inv.argument("ENV")), org: inv.required("ORG"), env: env)
        })
    }

    static func diffOutput(_ c: OrgService.TreeComparison, stat: Bool) -> CommandOutput {
        var text = ""
        if c.identical {
            text = "no differences between \(c.from) and \(c.to)\n"
        } else if stat {
            for f in c.files { text += "\(f.status == "added" ? "+" : f.status == "removed" ? "-" : "~") \(f.path)\(f.note.map { " (\($0))" } ?? "")\n" }
            text += "\(plural(c.changes.count, "file")) differ: \(c.changes.added.count) added, \(c.changes.removed.count) removed, \(c.changes.changed.count) changed\n"
        } else {
            for f in c.files {
                if let d = f.diff { text += d } else { text += "\(f.status) \(f.path): \(f.note ?? "")\n" }
            }
        }
        return CommandOutput(exitCode: c.identical ? .success : .failure, json: c, text: text)
    }

    /// Each host's diff under a `== host ==` header; exit 1 when any host differs or failed.
    static func fleetDiffOutput(_ d: OrgService.FleetComparison, stat: Bool) -> CommandOutput {
        var text = ""
        for h in d.hosts {
            text += "== \(h.host) (\(h.target)) ==\n"
            if let c = h.comparison { text += diffOutput(c, stat: stat).text } else { text += "error: \(h.error ?? "?")\n" }
        }
        return CommandOutput(exitCode: d.identical ? .success : .failure, json: d, text: text)
    }

    static var diff: CommandSpec {
        CommandSpec("diff", summary: "Diff ENV's current release against the local render (exit 0 clean, 1 differences)",
                    arguments: [orgArg, envArg], flags: [FlagSpec("stat", help: "file names only"), FleetCommandSupport.hostsFlag],
                    examples: ["tetra org diff acme prod", "tetra org diff acme prod --hosts web1 --stat"], json: true, handler: { inv, env in
            let svc = service(env)
            let org = try inv.required("ORG"), envName = try inv.required("ENV")
            if try OrgStore(paths: env.paths).load(org).environment(envName).isFleet {
                let selector = try inv.flag("hosts").map { try HostSelector.parse($0) }
                return fleetDiffOutput(try svc.diffFleet(org: org, env: envName, hosts: selector), stat: inv.has("stat"))
            }
            if inv.has("hosts") { throw CoreError.invalidArgument("--hosts is for an environment with hosts; \(envName) has one target") }
            return diffOutput(try svc.diff(org: org, env: envName), stat: inv.has("stat"))
        })
    }
}
