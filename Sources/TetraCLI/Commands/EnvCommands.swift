import FoundationEssentials
import TetraCore

/// The `env` group: environments of the current org (--org, $TETRA_ORG, default_org).
enum EnvCommands {
    static var spec: CommandSpec {
        CommandSpec("env", summary: "Environments of the current org: list, show, diff, promote, rollback, history",
                    subcommands: [list, show, diff, promote, rollback, history])
    }

    static func currentOrg(_ inv: Invocation, _ env: CommandEnvironment) throws -> String {
        guard let name = try env.resolvedOrg() else {
            throw UsageError("no current org: give --org NAME, set TETRA_ORG, or run 'tetra org use NAME'", commandPath: inv.path)
        }
        return name
    }

    static let envArg = ArgSpec("ENV", help: "environment name", completion: .dynamic(.envs))

    static var list: CommandSpec {
        CommandSpec("list", summary: "List the current org's environments", examples: ["tetra env list --org acme"], json: true,
                    handler: { inv, env in
            let name = try currentOrg(inv, env)
            let org = try OrgStore(paths: env.paths).load(name)
            // Names that are not valid environment names are problems (exit 3), never listed.
            let records = org.config.environments.filter { Names.isValid($0.key) }.map { OrgCommands.envRecord($0.key, $0.value) }
            let problems = org.config.environments.keys.compactMap { key in
                Names.problem(with: key).map { reason in
                    ConfigProblem(file: org.orgFile, position: org.document.position(of: ["environments", key]),
                                  keyPath: "environments." + Names.printable(key), message: "invalid environment name: \(reason)").description
                }
            }
            struct Result: Encodable { let org: String; let environments: [OrgCommands.EnvRecord]; let problems: [String]? }
            return CommandOutput(exitCode: problems.isEmpty ? .success : .invalidConfig,
                                 json: Result(org: name, environments: records, problems: problems.isEmpty ? nil : problems),
                                 text: env.table(["env", "target", "protected", "promote_from", "port_range"], records.map {
                                     [$0.name, OrgCommands.whereText($0), $0.protected ? "yes" : "", $0.promote_from ?? "", $0.port_range ?? ""]
                                 }), notes: problems.map { "problem: " + $0 })
        })
    }

    static var show: CommandSpec {
        CommandSpec("show", summary: "Show an environment: target, vars after merge, secret names, current release",
                    arguments: [envArg], examples: ["tetra env show prod --org acme"], json: true, handler: { inv, env in
            let name = try currentOrg(inv, env)
            let store = OrgStore(paths: env.paths)
            let org = try store.load(name)
            let envName = inv.required("ENV")
            let e = try org.environment(envName)
            let ports = (try? PortStore(paths: env.paths).load().registry.ports) ?? []
            let secrets = try store.secrets(name)
            let context = try OrgRenderContext.build(org: org.document.table, environment: envName,
                                                     ports: Dictionary(ports, uniquingKeysWith: { a, _ in a }), secrets: [:], file: org.orgFile)
            var vars = TOMLTable()
            for (k, v) in context where !OrgRenderContext.reserved.contains(k) { vars[k] = v }
            var current: String? = nil
            var created: String? = nil
            var problem: String? = nil
            do {
                let m = try OrgService(context: env.core).manager(e)
                if let id = try m.current() {
                    current = id.rawValue
                    created = (try? m.metadata(id)).map { Timestamps.iso8601($0.created) }
                }
            } catch let err as any TetraError {
                problem = err.message
            }
            struct Result: Encodable {
                let org: String; let environment: OrgCommands.EnvRecord; let vars: EncodableTOML; let secrets: [String]
                let current_release: String?; let released_at: String?; let target_error: String?
            }
            let result = Result(org: name, environment: OrgCommands.envRecord(envName, e), vars: EncodableTOML(.table(vars)), secrets: secrets.names,
                                current_release: current, released_at: created, target_error: problem)
            var text = "env:          \(envName) (org \(name))\n"
            if let target = e.target { text += "target:       \(target)\n" }
            for h in e.fleetHosts { text += "host:         \(h.name) \(h.target)" + (h.tags.isEmpty ? "" : " (tags: \(h.tags.joined(separator: ", ")))") + "\n" }
            if let services = e.services { text += "services:     \(services.joined(separator: ", "))\n" }
            text += "protected:    \(e.isProtected ? "yes (push, promote and rollback need --approve)" : "no")\n"
            if let p = e.promoteFrom { text += "promote_from: \(p)\n" }
            if let r = e.portRange { text += "port_range:   \(r)\n" }
            text += "keep:         \(e.keep) releases\n"
            for c in e.checks ?? [] { text += "check:        \(c.joined(separator: " "))\n" }
            text += "current:      \(current.map { $0 + (created.map { " (\($0))" } ?? "") } ?? (problem.map { "unknown: \($0)" } ?? "(none)"))\n"
            text += "secrets:      \(secrets.names.isEmpty ? "none" : secrets.names.joined(separator: ", ")) (names only)\n"
            text += "vars:\n"
            for (k, v) in vars { text += "  \(k) = \(TOMLSerializer.formatValue(v))\n" }
            return CommandOutput(json: result, text: text)
        })
    }

    static var diff: CommandSpec {
        CommandSpec("diff", summary: "Diff what is deployed at FROM and TO (unified, per file); exit 0 none, 1 differences",
                    discussion: """
                    An environment with hosts is compared through one of its hosts: its first, or the
                    one named with --from-host / --to-host (the labels name it: prod/web1@RELEASE).
                    'tetra org diff ORG ENV' compares every host of one environment with the working copy.
                    """,
                    arguments: [ArgSpec("FROM", help: "environment", completion: .dynamic(.envs)),
                                ArgSpec("TO", help: "environment", completion: .dynamic(.envs))],
                    flags: [FlagSpec("stat", help: "file names only"),
                            FlagSpec("from-host", value: .string, placeholder: "HOST", help: "the host of FROM to compare (FROM has hosts; default its first)"),
                            FlagSpec("to-host", value: .string, placeholder: "HOST", help: "the host of TO to compare (TO has hosts; default its first)")],
                    examples: ["tetra env diff staging prod", "tetra env diff dev staging --stat",
                               "tetra env diff staging prod --to-host web2"], json: true, handler: { inv, env in
            let c = try OrgService(context: env.core).envDiff(org: try currentOrg(inv, env), from: inv.required("FROM"), to: inv.required("TO"),
                                                              fromHost: inv.flag("from-host"), toHost: inv.flag("to-host"))
            return OrgCommands.diffOutput(c, stat: inv.has("stat"))
        })
    }

    static var promote: CommandSpec {
        CommandSpec("promote", summary: "Push the org snapshot deployed at FROM to TO (TO must name FROM in promote_from)",
                    discussion: """
                    Takes the snapshot FROM's current release was rendered from (not the working copy),
                    renders it for TO, runs TO's checks with --validate ({release} is the rendered
                    tree), shows the diff and pushes it, recording 'promoted from FROM@RELEASE'.
                    """,
                    arguments: [ArgSpec("FROM", help: "environment", completion: .dynamic(.envs)),
                                ArgSpec("TO", help: "environment", completion: .dynamic(.envs))],
                    flags: [FlagSpec("validate", help: "run TO's checks on the rendered release before pushing"),
                            OrgCommands.approveFlag, OrgCommands.messageFlag] + FleetCommandSupport.pushFlags,
                    examples: ["tetra env promote dev staging", "tetra env promote staging prod --validate --approve"],
                    mutates: true, json: true, handler: { inv, env in
            let r = try OrgService(context: env.core).promote(org: try currentOrg(inv, env), from: inv.required("FROM"), to: inv.required("TO"),
                                                              validate: inv.has("validate"), approve: inv.has("approve"),
                                                              dryRun: env.options.dryRun, message: inv.flag("message"),
                                                              fleet: try FleetCommandSupport.options(inv))
            switch r {
            case .target(let r): return CommandOutput(json: r, text: OrgCommands.deployText(r, verb: "promoted"))
            case .fleet(let f): return CommandOutput(exitCode: f.exitCode, json: f, text: FleetCommandSupport.text(f, env: env))
            }
        })
    }

    static var rollback: CommandSpec {
        CommandSpec("rollback", summary: "Switch ENV back to the previous (or given) release",
                    arguments: [envArg],
                    flags: [FlagSpec("to", value: .string, placeholder: "RELEASE", help: "the release to go back to", completion: .dynamic(.releases)),
                            OrgCommands.approveFlag] + FleetCommandSupport.pushFlags,
                    examples: ["tetra env rollback prod --approve"], mutates: true, json: true, handler: { inv, env in
            let r = try OrgService(context: env.core).rollback(org: try currentOrg(inv, env), env: inv.required("ENV"), to: inv.flag("to"),
                                                               approve: inv.has("approve"), dryRun: env.options.dryRun,
                                                               fleet: try FleetCommandSupport.options(inv))
            return OrgCommands.rollbackOutput(r, env: env)
        })
    }

    static var history: CommandSpec {
        CommandSpec("history", summary: "History of ENV: this machine's and the target's",
                    arguments: [envArg], examples: ["tetra env history prod"], json: true, handler: { inv, env in
            let org = try currentOrg(inv, env)
            return OrgCommands.historyOutput(try OrgService(context: env.core).historyRecords(org: org, env: inv.required("ENV")), org: org, env: env)
        })
    }
}
