import FoundationEssentials
import TetraCore

/// The `ports` group: the named port registry in config/ports.toml.
enum PortsCommands {
    static func service(_ env: CommandEnvironment) -> PortService {
        var service = PortService(store: PortStore(paths: env.paths), cache: PortLookupCache(paths: env.paths))
        service.servicesRoot = env.paths
        return service
    }

    /// Runs a registry mutation: state root created, "ports" lock held, unless a dry run.
    static func mutate<T>(_ env: CommandEnvironment, _ body: () throws -> T) throws -> T {
        if env.options.dryRun { return try body() }
        try env.ensureStateRoot()
        return try env.core.withLock("ports", body)
    }

    static func changeText(_ c: PortService.Change) -> String {
        let prefix = c.dry_run ? "would " : ""
        switch c.action {
        case .added: return "\(prefix.isEmpty ? "added" : prefix + "add") \(c.name) = \(c.port!)\n"
        case .updated: return "\(prefix.isEmpty ? "updated" : prefix + "update") \(c.name): \(c.previous!) → \(c.port!)\n"
        case .removed: return "\(prefix.isEmpty ? "removed" : prefix + "remove") \(c.name) (was \(c.previous!))\n"
        case .unchanged: return "\(c.name) is already \(c.port!)\n"
        default: return "\(c.name) = \(c.port.map(String.init) ?? "-")\n"
        }
    }

    static var spec: CommandSpec {
        CommandSpec("ports", summary: "The named port registry (config/ports.toml)", subcommands: [
            list, get, set, remove, allocate, ranges, check, scan, reconcile, importCommand, export,
        ])
    }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List registered ports", examples: ["tetra ports list", "tetra ports list --json"], json: true,
                    handler: { _, env in
                        let entries = try service(env).list()
                        struct Result: Encodable { let ports: [PortService.Entry] }
                        let rows = entries.map { [$0.name, String($0.port), $0.ranges.joined(separator: ","), $0.reserved ? "reserved" : ""] }
                        let text = entries.isEmpty ? "no ports registered\n" : env.table(["name", "port", "range", "note"], rows)
                        return CommandOutput(json: Result(ports: entries), text: text)
                    })
    }

    static var get: CommandSpec {
        CommandSpec("get", summary: "Print the port registered under NAME (the number alone)",
                    arguments: [ArgSpec("NAME", help: "port name", completion: .dynamic(.ports))],
                    examples: ["tetra ports get api", "curl http://127.0.0.1:$(tetra ports get api)/health"], json: true,
                    handler: { inv, env in
                        let name = inv.required("NAME")
                        let port = try service(env).get(name)
                        struct Result: Encodable { let name: String; let port: Int }
                        return CommandOutput(json: Result(name: name, port: port), text: "\(port)\n")
                    })
    }

    static var set: CommandSpec {
        CommandSpec("set", summary: "Register NAME at PORT (or change it)",
                    arguments: [ArgSpec("NAME", help: "port name", completion: .dynamic(.ports)), ArgSpec("PORT", help: "1-65535")],
                    flags: [FlagSpec("force", help: "register even if the port is reserved or already registered"),
                            FlagSpec("tag", value: .string, placeholder: "TAG", repeatable: true,
                                     help: "add a tag, kept in [tags] of ports.toml (repeatable; tetra search tag:TAG)")],
                    examples: ["tetra ports set api 4000", "tetra ports set api 4000 --tag team:pay"], mutates: true, json: true,
                    handler: { inv, env in
                        let port = try PortNumber.parse(inv.required("PORT"))
                        let tags = inv.flagValues("tag")
                        for t in tags { try Tags.validate(t) }
                        let change = try mutate(env) {
                            try service(env).set(inv.required("NAME"), port: port, force: inv.has("force"), dryRun: env.options.dryRun)
                        }
                        if !env.options.dryRun {
                            for t in tags {
                                _ = try TagService(core: env.core).change(kind: .port, name: inv.required("NAME"), org: nil, env: nil, tag: t, add: true)
                            }
                        }
                        return CommandOutput(json: change, text: changeText(change))
                    })
    }

    static var remove: CommandSpec {
        CommandSpec("remove", summary: "Remove NAME from the registry",
                    arguments: [ArgSpec("NAME", help: "port name", completion: .dynamic(.ports))],
                    flags: [FlagSpec("force", help: "remove it even if a service uses it")],
                    examples: ["tetra ports remove api"], mutates: true, json: true,
                    handler: { inv, env in
                        let change = try mutate(env) {
                            try service(env).remove(inv.required("NAME"), dryRun: env.options.dryRun, force: inv.has("force"))
                        }
                        return CommandOutput(json: change, text: changeText(change))
                    })
    }

    static var allocate: CommandSpec {
        CommandSpec("allocate", summary: "Register NAME at the lowest free port of a range and print it",
                    discussion: """
                    Free means: not registered, not reserved, and not bound on this machine right now
                    (checked by binding it). Idempotent: a registered NAME prints its port. Any number
                    of allocations running at once never hand out the same port.
                    """,
                    arguments: [ArgSpec("NAME", help: "port name")],
                    flags: [FlagSpec("range", value: .string, placeholder: "RANGE", help: "a range of [port_ranges]",
                                     completion: .dynamic(.portRanges)),
                            FlagSpec("env", value: .string, placeholder: "ENV",
                                     help: "use the port_range of environment ENV of the current org (--org, $TETRA_ORG, default_org)",
                                     completion: .dynamic(.envs))],
                    examples: ["tetra ports allocate api --range development", "tetra ports allocate api --env dev --org acme"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let range: String
                        switch (inv.flag("range"), inv.flag("env")) {
                        case (let r?, nil): range = r
                        case (nil, let e?):
                            guard let orgName = try env.resolvedOrg() else {
                                throw UsageError("--env needs a current org: give --org NAME", commandPath: inv.path)
                            }
                            let org = try OrgStore(paths: env.paths).load(orgName)
                            guard let r = try org.environment(e).portRange else {
                                throw ConfigError(ConfigProblem(file: org.orgFile, position: org.document.position(of: ["environments", e]),
                                                                keyPath: "environments.\(e).port_range", message: "environment \(e) has no port_range"),
                                                  hint: "use --range RANGE, or set it: tetra org set environments.\(e).port_range '\"development\"'")
                            }
                            range = r
                        case (_?, _?):
                            throw UsageError("--range and --env exclude each other", commandPath: inv.path)
                        case (nil, nil):
                            throw UsageError("ports allocate needs --range RANGE or --env ENV", usage: "tetra ports allocate NAME --range RANGE | --env ENV",
                                             commandPath: inv.path)
                        }
                        let change = try mutate(env) {
                            try service(env).allocate(inv.required("NAME"), rangeName: range, dryRun: env.options.dryRun)
                        }
                        var notes: [String] = []
                        if change.action == .existing { notes.append("\(change.name) is already registered") }
                        if change.dry_run { notes.append("dry run: would allocate \(change.port!) for \(change.name)") }
                        return CommandOutput(json: change, text: "\(change.port!)\n", notes: notes)
                    })
    }

    static var ranges: CommandSpec {
        CommandSpec("ranges", summary: "List port ranges", examples: ["tetra ports ranges"], json: true,
                    subcommands: [
                        CommandSpec("set", summary: "Define or change the range NAME as LOW-HIGH",
                                    arguments: [ArgSpec("NAME", help: "range name", completion: .dynamic(.portRanges)),
                                                ArgSpec("RANGE", help: "LOW-HIGH, e.g. 3000-3999")],
                                    examples: ["tetra ports ranges set development 3000-3999"], mutates: true, json: true,
                                    handler: { inv, env in
                                        let entry = try mutate(env) {
                                            try service(env).setRange(inv.required("NAME"), inv.required("RANGE"), dryRun: env.options.dryRun)
                                        }
                                        let verb = env.options.dryRun ? "would set" : "set"
                                        return CommandOutput(json: entry, text: "\(verb) range \(entry.name) = \(entry.low)-\(entry.high)\n")
                                    }),
                    ],
                    handler: { _, env in
                        let ranges = try service(env).ranges()
                        struct Result: Encodable { let ranges: [PortService.RangeEntry] }
                        let rows = ranges.map { [$0.name, "\($0.low)-\($0.high)", "\($0.used)/\($0.size)"] }
                        return CommandOutput(json: Result(ranges: ranges),
                                             text: ranges.isEmpty ? "no port ranges\n" : env.table(["name", "range", "used"], rows))
                    })
    }

    static var check: CommandSpec {
        CommandSpec("check", summary: "Check the registry: duplicates, invalid, reserved, privileged, bound by a stranger; exit 1 on problems",
                    examples: ["tetra ports check"], json: true,
                    handler: { _, env in
                        let report = try service(env).check(owners: ServiceManager.portOwners(paths: env.paths))
                        var text = ""
                        for w in report.warnings { text += "warning: \(w.message)\n" }
                        if report.problems.isEmpty {
                            text += "ok: no port problems\n"
                        } else {
                            text += env.table(["kind", "port", "problem"], report.problems.map { [$0.kind.rawValue, $0.port.map(String.init) ?? "-", $0.message] })
                            text += "\(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")\n"
                        }
                        return CommandOutput(exitCode: report.ok ? .success : .failure, json: report, text: text)
                    })
    }

    static var scan: CommandSpec {
        CommandSpec("scan", summary: "List listening TCP/UDP sockets with pid and process, marking registered names",
                    examples: ["tetra ports scan"], json: true,
                    handler: { _, env in
                        let entries = try service(env).scanListening()
                        struct Result: Encodable { let sockets: [PortService.ScanEntry] }
                        let rows = entries.map { [String($0.port), $0.proto.rawValue, $0.address, $0.pid.map(String.init) ?? "-", $0.process ?? "-", $0.name ?? ""] }
                        return CommandOutput(json: Result(sockets: entries),
                                             text: env.table(["port", "proto", "address", "pid", "process", "name"], rows))
                    })
    }

    static var reconcile: CommandSpec {
        CommandSpec("reconcile", summary: "Compare declared ports with what is listening; exit 1 on any mismatch",
                    discussion: """
                    Statuses: correct, declared-but-not-listening, listening-on-another-port (needs the
                    owning service), listening-but-undeclared (a listener inside a declared range
                    with no name).
                    """,
                    examples: ["tetra ports reconcile"], json: true,
                    handler: { _, env in
                        let report = try service(env).reconcile(owners: ServiceManager.portOwners(paths: env.paths))
                        let rows = report.rows.map { r in
                            [r.name ?? "-", r.declared.map(String.init) ?? "-", r.actual.map(String.init).joined(separator: ","),
                             r.status.rawValue, r.pid.map { "\($0) (\(r.process ?? "?"))" } ?? "-"]
                        }
                        var text = report.rows.isEmpty ? "nothing declared, nothing listening in declared ranges\n"
                            : env.table(["name", "declared", "actual", "status", "pid"], rows, statusColumn: 3)
                        text += report.mismatches == 0 ? "all ports reconcile\n" : "\(report.mismatches) mismatch\(report.mismatches == 1 ? "" : "es")\n"
                        return CommandOutput(exitCode: report.mismatches == 0 ? .success : .failure, json: report, text: text)
                    })
    }

    static var importCommand: CommandSpec {
        CommandSpec("import", summary: "Import ports from a toml, json or env (NAME_PORT=4000) file",
                    arguments: [ArgSpec("FILE", help: "the file, or - for standard input", completion: .file)],
                    flags: [FlagSpec("merge", help: "add and update names, keep the others (default)"),
                            FlagSpec("replace", help: "make the registry's names exactly those of FILE"),
                            FlagSpec("format", value: .choice(["toml", "json", "env"]), placeholder: "FORMAT",
                                     help: "the file's format (default: from its name or content)")],
                    examples: ["tetra ports import ports.env", "tetra ports import old.toml --replace --dry-run"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        if inv.has("merge") && inv.has("replace") {
                            throw UsageError("--merge and --replace exclude each other", commandPath: inv.path)
                        }
                        let input = try env.readInput(inv.required("FILE"))
                        let format = inv.flag("format").flatMap(PortInterchange.Format.init(rawValue:))
                        let result = try mutate(env) {
                            try service(env).importEntries(String(decoding: input.data, as: UTF8.self), name: input.name,
                                                           format: format, replace: inv.has("replace"), dryRun: env.options.dryRun)
                        }
                        let changed = result.changes.filter { $0.action != .unchanged }
                        var text = changed.map(changeText).joined()
                        text += "\(result.dry_run ? "would import" : "imported") \(result.changes.count) port\(result.changes.count == 1 ? "" : "s") (\(changed.count) changed, \(result.mode))\n"
                        return CommandOutput(json: result, text: text)
                    })
    }

    static var export: CommandSpec {
        CommandSpec("export", summary: "Print the registry as toml, json or env lines",
                    flags: [FlagSpec("format", value: .choice(["toml", "json", "env"]), placeholder: "FORMAT", default: "toml",
                                     help: "output format")],
                    examples: ["tetra ports export --format env > ports.env"], json: true,
                    handler: { inv, env in
                        let format = PortInterchange.Format(rawValue: inv.flag("format") ?? "toml") ?? .toml
                        let svc = service(env)
                        if env.options.json { return CommandOutput(json: try svc.exportDocument()) }
                        return CommandOutput(text: try svc.export(format: format))
                    })
    }
}

