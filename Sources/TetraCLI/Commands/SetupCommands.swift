import FoundationEssentials
import Glibc
import TetraCore

/// `tetra init` and `tetra doctor`.
enum SetupCommands {
    static var initCommand: CommandSpec {
        CommandSpec("init", summary: "Create the state root (idempotent)",
                    discussion: """
                    Creates the state root (mode 0700) with config/, orgs/, ssl/ and state/, and a
                    commented config/tetra.toml when none exists. Running it again changes nothing.
                    """,
                    examples: ["tetra init", "tetra init --dir /srv/tetra"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let paths = env.paths
                        let existed = FileManager.default.fileExists(atPath: paths.root)
                        let configExisted = FileManager.default.fileExists(atPath: paths.globalConfig)
                        struct Result: Encodable {
                            let state_root: String
                            let created: Bool
                            let created_paths: [String]
                            let dry_run: Bool
                        }
                        var created: [String] = StateRoot.layout(paths).filter { !FileManager.default.fileExists(atPath: $0) }
                        if !configExisted { created.append(paths.globalConfig) }
                        if !FileManager.default.fileExists(atPath: paths.portsFile) { created.append(paths.portsFile) }

                        if env.options.dryRun {
                            let r = Result(state_root: paths.root, created: !created.isEmpty, created_paths: created, dry_run: true)
                            let text = created.isEmpty ? "state root \(paths.root) is already initialised; nothing to do\n"
                                : "would create:\n" + created.map { "  \($0)\n" }.joined()
                            return CommandOutput(json: r, text: text)
                        }
                        try env.ensureStateRoot()
                        try env.core.withLock("init") {
                            if !FileManager.default.fileExists(atPath: paths.globalConfig) {
                                try AtomicFile.write(Data(defaultGlobalConfig.utf8), to: paths.globalConfig, mode: 0o600)
                            }
                            if !FileManager.default.fileExists(atPath: paths.portsFile) {
                                try AtomicFile.write(Data(PortStore.defaultFile.utf8), to: paths.portsFile, mode: 0o644)
                            }

                        }
                        let r = Result(state_root: paths.root, created: !created.isEmpty, created_paths: created, dry_run: false)
                        let text: String
                        if created.isEmpty {
                            text = "state root \(paths.root) is already initialised\n"
                        } else {
                            text = (existed ? "completed" : "created") + " state root \(paths.root)\n"
                        }
                        return CommandOutput(json: r, text: text)
                    })
    }

    static let defaultGlobalConfig = """
    # tetra global settings. Precedence: command-line flag > environment variable >
    # this file > built-in default.

    # The org used when --org and TETRA_ORG are not given.
    # default_org = "acme"

    # The e-mail address given to the ACME server for new accounts.
    # acme_email = "ops@example.com"

    # The template library cloned by `tetra library init` when no URL is given.
    # library_url = "https://git.example.com/ops/tetra-templates.git"

    """

    static var doctor: CommandSpec {
        CommandSpec("doctor", summary: "Check tools, the state root and configuration; exit 1 on any problem",
                    discussion: """
                    Checks that git, ssh and openssl are installed (problems when missing) and reports
                    docker, rsync and curl (warnings when missing: docker is needed only for volumes and
                    docker services, rsync only speeds up pushes, curl only talks to ACME servers), with
                    their versions; services that are failed, in a crash loop or unhealthy; that the
                    state root is a directory owned by you with mode 0700; that config/tetra.toml
                    parses; every org validates (as 'tetra org validate': org.toml, environments,
                    service definitions, templates); the port registry's problems (as 'tetra ports
                    check'); and certificates
                    expiring within 21 days (warnings) or expired (problems).

                    With --env ENV, also every host of that environment of the current org (--hosts
                    to choose), each in one round trip: reachable, this tetra installed there (when
                    the environment runs services), free disk at the target (a problem below 100 MB
                    or 2 %, a warning below 1 GB or 10 %), clock skew against this machine (a
                    warning past 2 s, a problem past 30 s) and the services supervised there.
                    """,
                    flags: [FlagSpec("check-targets", help: "also connect to every environment's target (ssh) and report unreachable ones"),
                            FlagSpec("env", value: .string, placeholder: "ENV", help: "also check every host of this environment of the current org",
                                     completion: .dynamic(.envs)),
                            FleetCommandSupport.hostsFlag],
                    examples: ["tetra doctor", "tetra doctor --json", "tetra doctor --check-targets", "tetra doctor --env prod --org shop"],
                    json: true,
                    handler: { inv, env in
                        var doctor = Doctor(core: env.core)
                        doctor.checkTargets = inv.has("check-targets")
                        if let name = inv.flag("env") {
                            doctor.fleet = try FleetDoctor(context: env.core, org: try EnvCommands.currentOrg(inv, env), env: name,
                                                           hosts: try FleetCommandSupport.options(inv).hosts)
                        } else if inv.flag("hosts") != nil {
                            throw UsageError("--hosts needs --env ENV", commandPath: inv.path)
                        }
                        let report = doctor.run()
                        let rows = report.checks.map { [$0.name, $0.status.rawValue, $0.detail] }
                        var text = env.table(["check", "status", "detail"], rows, statusColumn: 1)
                        let problems = report.checks.filter { $0.status == .problem }.count
                        let warnings = report.checks.filter { $0.status == .warning }.count
                        text += "\n\(problems) problem\(problems == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n"
                        return CommandOutput(exitCode: problems > 0 ? .failure : .success, json: report, text: text)
                    })
    }
}
