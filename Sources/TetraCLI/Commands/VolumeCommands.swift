import FoundationEssentials
import TetraCore

/// The `volume` group: Docker volumes through the docker CLI (SPEC §3 "volume").
enum VolumeCommands {
    static var spec: CommandSpec {
        CommandSpec("volume", summary: "Docker volumes (through the docker CLI; DOCKER_HOST is honoured)",
                    discussion: """
                    Volumes tetra creates carry the labels tetra.org (from --org, TETRA_ORG or default_org;
                    omitted when no org resolves; the org need not exist under orgs/) and tetra.env
                    (--env). Backups are tar.gz archives streamed through a short-lived helper container
                    (--image, else volume_image in config/tetra.toml, else busybox:1.36) started with
                    --network none and removed afterwards, so they work against a remote engine
                    (DOCKER_HOST=ssh://user@host) too.
                    """,
                    subcommands: [list, get, create, delete, prune, backup, restore])
    }

    static func manager(_ env: CommandEnvironment) -> VolumeManager { VolumeManager(core: env.core) }

    /// Mutations: the state root (for locks and the audit log) exists unless a dry run.
    static func prepare(_ env: CommandEnvironment) throws {
        if !env.options.dryRun { try env.ensureStateRoot() }
    }

    static let nameArg = ArgSpec("NAME", help: "volume name", completion: .dynamic(.volumes))
    static let imageFlag = FlagSpec("image", value: .string, placeholder: "IMAGE",
                                    help: "helper image with sh, tar and gzip (default: volume_image in config/tetra.toml, else \(VolumeManager.builtinImage))")
    static let envFlag = FlagSpec("env", value: .string, placeholder: "ENV", help: "environment, recorded in the tetra.env label",
                                  completion: .dynamic(.envs))

    static func validatedEnv(_ inv: Invocation) throws -> String? {
        guard let e = inv.flag("env") else { return nil }
        return try Names.validated(e, what: "env")
    }

    static func labelsText(_ labels: [String: String]) -> String {
        labels.isEmpty ? "-" : labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    static func bytesText(_ n: Int64) -> String { "\(SizeValue.format(n)) (\(n) bytes)" }

    // MARK: - list

    static var list: CommandSpec {
        CommandSpec("list", summary: "List volumes (of the current org; --all for every volume of the engine)",
                    discussion: """
                    Filters on the tetra.org label of the org given by --org, TETRA_ORG or default_org;
                    with no org resolving (or --all), lists every volume of the engine. IN USE: referenced
                    by a container, running or stopped.
                    """,
                    flags: [FlagSpec("dangling", help: "only volumes no container references"),
                            FlagSpec("env", value: .string, placeholder: "ENV", help: "only volumes labelled tetra.env=ENV", completion: .dynamic(.envs)),
                            FlagSpec("all", short: "a", help: "every volume of the engine, whatever its org")],
                    examples: ["tetra volume list", "tetra volume list --org acme --dangling", "tetra volume list --all --json"],
                    json: true,
                    handler: { inv, env in
                        let org = inv.has("all") ? nil : try env.resolvedOrg()
                        let result = try manager(env).list(org: org, env: try validatedEnv(inv), danglingOnly: inv.has("dangling"))
                        let rows = result.volumes.map { v in
                            [v.name, v.driver, v.org ?? "-", v.env ?? "-", v.inUse ? "yes" : "no", v.createdAt ?? "-"]
                        }
                        var text: String
                        if rows.isEmpty {
                            text = "no \(result.dangling ? "unused " : "")volumes"
                            if let org { text += " of org \(org) (--all lists every volume)" }
                            text += "\n"
                        } else {
                            text = env.table(["name", "driver", "org", "env", "in use", "created"], rows)
                        }
                        var notes: [String] = []
                        if let org, env.options.org == nil, !env.options.json {
                            notes.append("showing the volumes of org \(org) (from TETRA_ORG or default_org); --all lists every volume")
                        }
                        return CommandOutput(json: result, text: text, notes: notes)
                    })
    }

    // MARK: - get

    static var get: CommandSpec {
        CommandSpec("get", summary: "Show a volume: driver, mountpoint, labels, size, containers using it",
                    discussion: "The size is the engine's (docker system df -v); drivers other than local may not report one.",
                    arguments: [nameArg],
                    examples: ["tetra volume get acme-db", "tetra volume get acme-db --json"], json: true,
                    handler: { inv, env in
                        let d = try manager(env).get(inv.required("NAME"))
                        var text = """
                        name:        \(d.name)
                        driver:      \(d.driver)
                        scope:       \(d.scope?.rawValue ?? "-")
                        mountpoint:  \(d.mountpoint)
                        created:     \(d.createdAt ?? "-")
                        org:         \(d.org ?? "-")
                        env:         \(d.env ?? "-")
                        labels:      \(labelsText(d.labels))
                        options:     \(labelsText(d.options))
                        size:        \(d.sizeBytes.map { bytesText($0) } ?? d.size)

                        """
                        if d.containers.isEmpty {
                            text += "containers:  none\n"
                        } else {
                            text += "containers:  \(d.containers.count)\n"
                            for c in d.containers { text += "  \(c.name)  \(c.id)  \(c.image)  \(c.status)\n" }
                        }
                        return CommandOutput(json: d, text: text)
                    })
    }

    // MARK: - create

    static var create: CommandSpec {
        CommandSpec("create", summary: "Create a volume labelled with the org (tetra.org) and --env (tetra.env)",
                    discussion: """
                    An existing name is refused (exit 5). The labels tetra.org and tetra.env are set by
                    tetra: from --org (or TETRA_ORG, default_org; omitted when none resolves) and --env.
                    """,
                    arguments: [ArgSpec("NAME", help: "volume name")],
                    flags: [FlagSpec("driver", value: .string, placeholder: "DRIVER", help: "volume driver (default: local)"),
                            FlagSpec("opt", value: .keyValue, placeholder: "KEY=VALUE", repeatable: true, help: "driver option (repeatable)"),
                            FlagSpec("label", value: .keyValue, placeholder: "KEY=VALUE", repeatable: true, help: "extra label (repeatable)"),
                            FlagSpec("tag", value: .string, placeholder: "TAG", repeatable: true,
                                     help: "a tag, kept as the label tetra.tag.TAG (repeatable; tetra search tag:TAG)"),
                            envFlag],
                    examples: ["tetra volume create acme-db --org acme --env prod --tag critical",
                               "tetra volume create cache --label team=web --opt type=tmpfs --opt device=tmpfs"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        try prepare(env)
                        let r = try manager(env).create(inv.required("NAME"), driver: inv.flag("driver"), options: inv.flagValues("opt"),
                                                        labels: inv.flagValues("label"), org: try env.resolvedOrg(),
                                                        env: try validatedEnv(inv), tags: inv.flagValues("tag"), dryRun: env.options.dryRun)
                        let text = "\(r.dryRun ? "would create" : "created") volume \(r.name) (driver \(r.driver), labels \(labelsText(r.labels)))\n"
                        return CommandOutput(json: r, text: text)
                    })
    }

    // MARK: - delete

    static var delete: CommandSpec {
        CommandSpec("delete", summary: "Delete a volume (refused while a container uses it; --backup FILE first)",
                    discussion: """
                    Refused with exit 5 while any container (running or stopped) references the volume,
                    naming them. With --backup FILE, the volume is first written to FILE (tar.gz,
                    atomically); a failed backup deletes nothing. Needs --yes.
                    """,
                    arguments: [nameArg],
                    flags: [FlagSpec("backup", value: .path, placeholder: "FILE", help: "write a tar.gz backup to FILE before deleting"),
                            imageFlag],
                    examples: ["tetra volume delete acme-cache --yes", "tetra volume delete acme-db --backup acme-db.tar.gz --yes",
                               "tetra volume delete acme-db --dry-run"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        try prepare(env)
                        let name = inv.required("NAME")
                        let r = try manager(env).delete(name, backupFile: inv.flag("backup"), image: inv.flag("image"),
                                                        dryRun: env.options.dryRun,
                                                        confirm: { try env.confirm("delete volume \(name)") })
                        var text = ""
                        if let b = r.backup {
                            text += r.dryRun ? "would back up volume \(name) to \(b.file)\n" : "backed up volume \(name) to \(b.file): \(bytesText(b.bytes))\n"
                        }
                        text += "\(r.dryRun ? "would delete" : "deleted") volume \(name)\n"
                        return CommandOutput(json: r, text: text)
                    })
    }

    // MARK: - prune

    static var prune: CommandSpec {
        CommandSpec("prune", summary: "Delete the org's volumes no container uses (--all: every unused volume)",
                    discussion: """
                    Removes the unused volumes labelled tetra.org=ORG (the org from --org, TETRA_ORG or
                    default_org). With no org, --all is required: it removes every volume of the engine no
                    container references, tetra's or not. A volume that is locked or gets used meanwhile
                    is skipped and reported. Needs --yes; --dry-run lists what would go.
                    """,
                    flags: [FlagSpec("all", short: "a", help: "every unused volume of the engine, whatever its org")],
                    examples: ["tetra volume prune --org acme --dry-run", "tetra volume prune --org acme --yes"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        try prepare(env)
                        let all = inv.has("all")
                        let org = all ? nil : try env.resolvedOrg()
                        let r = try manager(env).prune(org: org, all: all, dryRun: env.options.dryRun, confirm: { n in
                            try env.confirm("delete \(n) unused volume\(n == 1 ? "" : "s")\(all ? " of the engine" : " of org \(org ?? "")")")
                        })
                        var text = ""
                        let scope = r.all ? "" : " of org \(r.org ?? "")"
                        if r.removed.isEmpty && r.skipped.isEmpty {
                            text = "no unused volumes\(scope)\n"
                        } else {
                            for name in r.removed { text += "\(r.dryRun ? "would delete" : "deleted") \(name)\n" }
                            for s in r.skipped { text += "skipped \(s.name): \(s.reason)\n" }
                            text += "\(r.dryRun ? "would delete" : "deleted") \(r.removed.count) volume\(r.removed.count == 1 ? "" : "s")\(scope)\n"
                        }
                        return CommandOutput(json: r, text: text)
                    })
    }

    // MARK: - backup / restore

    static var backup: CommandSpec {
        CommandSpec("backup", summary: "Write a volume's content to FILE.tar.gz (through a helper container)",
                    discussion: """
                    Streams tar czf of the volume (mounted read-only) from a short-lived helper container
                    into a temporary file next to FILE, fsynced and renamed: a failed or interrupted
                    backup leaves no file. An existing FILE is refused (exit 5) unless --force. A volume
                    used by running containers is backed up with a warning (writes during the copy may be
                    inconsistent).
                    """,
                    arguments: [nameArg, ArgSpec("FILE", help: "archive to write (.tar.gz or .tgz), or - for standard output", completion: .file)],
                    flags: [imageFlag, FlagSpec("force", help: "replace an existing FILE")],
                    examples: ["tetra volume backup acme-db acme-db-2026-11-21.tar.gz", "tetra volume backup acme-db - | ssh backup 'cat > db.tar.gz'",
                               "tetra volume backup acme-db /backups/db.tar.gz --image registry.example.com/busybox:1.36"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        try prepare(env)
                        let toStdout = inv.required("FILE") == "-"
                        if toStdout && env.options.json && !env.options.dryRun {
                            throw UsageError("--json cannot share standard output with the archive (FILE is -)", commandPath: inv.path)
                        }
                        let r = try manager(env).backup(inv.required("NAME"), to: inv.required("FILE"), image: inv.flag("image"),
                                                        force: inv.has("force"), dryRun: env.options.dryRun)
                        if toStdout && !r.dryRun { return CommandOutput(text: "") }
                        let text = r.dryRun ? "would back up volume \(r.volume) to \(r.file) (helper image \(r.image))\n"
                            : "backed up volume \(r.volume) to \(r.file): \(bytesText(r.bytes))\n"
                        return CommandOutput(json: r, text: text)
                    })
    }

    static var restore: CommandSpec {
        CommandSpec("restore", summary: "Fill a volume from FILE.tar.gz (creating it if missing)",
                    discussion: """
                    A missing volume is created (labels tetra.org, tetra.env as for create) and removed
                    again if the restore fails. A volume with content is refused (exit 5) unless --force,
                    which replaces the content: the archive is extracted into a staging directory inside
                    the volume first, and the old content is removed only once that succeeded.
                    """,
                    arguments: [nameArg, ArgSpec("FILE", help: "archive to read (tar.gz), or - for standard input", completion: .file)],
                    flags: [imageFlag, FlagSpec("force", help: "replace the content of a volume that is not empty"), envFlag],
                    examples: ["tetra volume restore acme-db acme-db-2026-11-21.tar.gz",
                               "tetra volume restore acme-db acme-db.tar.gz --force"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        try prepare(env)
                        let r = try manager(env).restore(inv.required("NAME"), from: inv.required("FILE"), image: inv.flag("image"),
                                                         force: inv.has("force"), org: try env.resolvedOrg(),
                                                         env: try validatedEnv(inv), dryRun: env.options.dryRun)
                        var text = ""
                        if r.created { text += "\(r.dryRun ? "would create" : "created") volume \(r.volume)\n" }
                        if r.replaced { text += "\(r.dryRun ? "would replace" : "replaced") the previous content of \(r.volume)\n" }
                        text += "\(r.dryRun ? "would restore" : "restored") volume \(r.volume) from \(r.file)\n"
                        return CommandOutput(json: r, text: text)
                    })
    }
}
