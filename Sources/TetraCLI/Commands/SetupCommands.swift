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
                    parses; the port registry's problems (as 'tetra ports check'); and certificates
                    expiring within 21 days (warnings) or expired (problems).
                    """,
                    flags: [FlagSpec("check-targets", help: "also connect to every environment's target (ssh) and report unreachable ones")],
                    examples: ["tetra doctor", "tetra doctor --json", "tetra doctor --check-targets"],
                    json: true,
                    handler: { inv, env in
                        var doctor = Doctor(core: env.core)
                        doctor.checkTargets = inv.has("check-targets")
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

/// The checks of `tetra doctor`. Later groups add their own checks here.
struct Doctor {
    let core: CoreContext
    /// `--check-targets`: reach every environment's target.
    var checkTargets = false

    init(core: CoreContext) { self.core = core }

    enum Status: String, Encodable { case ok, warning, problem }

    struct Check: Encodable {
        let name: String
        let status: Status
        let detail: String
    }

    struct Report: Encodable {
        let state_root: String
        let checks: [Check]
        let problems: Int
        let warnings: Int
    }

    func run() -> Report {
        var checks: [Check] = []
        checks += toolChecks()
        checks += stateRootChecks()
        checks += configChecks()
        checks += portChecks()
        checks += libraryChecks()
        checks += orgChecks()
        checks += snapshotChecks()
        checks += certificateChecks()
        checks += serviceChecks()
        return Report(state_root: core.stateRoot, checks: checks,
                      problems: checks.filter { $0.status == .problem }.count,
                      warnings: checks.filter { $0.status == .warning }.count)
    }

    /// Tools whose absence is a problem, and tools whose absence only limits features.
    static let requiredTools = ["git", "ssh", "openssl"]
    static let optionalTools = ["docker", "rsync", "curl"]

    func toolChecks() -> [Check] {
        let inventory = ToolInventory(runner: core.runner).check()
        return inventory.map { tool in
            let required = Self.requiredTools.contains(tool.name)
            if let version = tool.version {
                return Check(name: "tool \(tool.name)", status: .ok, detail: "\(version) (\(tool.path ?? ""))")
            }
            let reason = tool.error ?? "not found on PATH"
            return Check(name: "tool \(tool.name)", status: required ? .problem : .warning, detail: reason)
        }
    }

    /// config/tetra.toml parses and has the right types; unknown keys are warnings.
    func configChecks() -> [Check] {
        guard FileManager.default.fileExists(atPath: core.paths.globalConfig) else { return [] }
        do {
            let (_, warnings) = try GlobalSettings.loadWithWarnings(core.paths)
            if warnings.isEmpty { return [Check(name: "config tetra.toml", status: .ok, detail: "valid")] }
            return warnings.map { Check(name: "config tetra.toml", status: .warning, detail: $0.description) }
        } catch let error as any TetraError {
            return [Check(name: "config tetra.toml", status: .problem, detail: error.message)]
        } catch {
            return [Check(name: "config tetra.toml", status: .problem, detail: "\(error)")]
        }
    }

    /// The port registry: what `tetra ports check` reports.
    func portChecks() -> [Check] {
        guard FileManager.default.fileExists(atPath: core.paths.portsFile) else { return [] }
        do {
            let report = try PortService(store: PortStore(paths: core.paths)).check(owners: ServiceManager.portOwners(paths: core.paths))
            var checks = report.problems.map { Check(name: "ports \($0.kind)", status: .problem, detail: $0.message) }
            checks += report.warnings.map { Check(name: "ports", status: .warning, detail: $0.message) }
            return checks.isEmpty ? [Check(name: "ports", status: .ok, detail: "no port problems")] : checks
        } catch let error as any TetraError {
            return [Check(name: "ports", status: .problem, detail: error.message)]
        } catch {
            return [Check(name: "ports", status: .problem, detail: "\(error)")]
        }
    }

    /// Certificates expiring within 21 days (warnings) or expired (problems), from meta.toml.
    func certificateChecks() -> [Check] {
        guard let metas = try? SSLService(core: core).metas(), !metas.isEmpty else { return [] }
        let now = core.now()
        var checks: [Check] = []
        for m in metas {
            let days = SSLService.daysLeft(m.not_after, now: now)
            if m.not_after <= now {
                checks.append(Check(name: "certificate \(m.domain)", status: .problem,
                                    detail: "expired on \(Timestamps.iso8601(m.not_after)) (renew: tetra ssl renew \(m.domain) --force)"))
            } else if m.not_after.timeIntervalSince(now) <= 21 * 86400 {
                checks.append(Check(name: "certificate \(m.domain)", status: .warning,
                                    detail: "expires in \(days) days, on \(Timestamps.iso8601(m.not_after)) (renew: tetra ssl renew \(m.domain))"))
            }
        }
        return checks.isEmpty ? [Check(name: "certificates", status: .ok, detail: "\(metas.count) stored, none expiring within 21 days")] : checks
    }

    /// Services failed, in a crash loop or unhealthy (from their recorded state).
    func serviceChecks() -> [Check] {
        ServiceManager.troubled(paths: core.paths).map {
            Check(name: "service \($0.org)/\($0.name)", status: .problem, detail: "\($0.state)" + ($0.message.map { ": \($0)" } ?? ""))
        }
    }

    /// Every org validates (as `tetra org validate`); with `checkTargets`, every target answers.
    func orgChecks() -> [Check] {
        let store = OrgStore(paths: core.paths)
        var checks: [Check] = []
        for name in store.names() {
            do {
                let org = try store.load(name)
                let validator = OrgValidator(paths: core.paths)
                let problems = validator.problems(org, inputs: validator.inputs(orgDirectory: org.directory))
                checks += problems.isEmpty ? [Check(name: "org \(name)", status: .ok, detail: "valid (\(org.environmentNames.count) environments)")]
                    : problems.map { Check(name: "org \(name)", status: .problem, detail: $0.description) }
                checks += org.warnings.map { Check(name: "org \(name)", status: .warning, detail: $0.description + ": unknown key") }
                guard checkTargets else { continue }
                for envName in org.environmentNames {
                    guard let env = org.config.environments[envName] else { continue }
                    do {
                        let manager = try OrgService(context: core).manager(env)
                        let state = try manager.state()
                        checks.append(Check(name: "target \(name)/\(envName)", status: .ok,
                                            detail: "\(manager.target) reachable" + (state.current.map { ", current \($0)" } ?? ", nothing deployed yet")))
                    } catch let error as any TetraError {
                        checks.append(Check(name: "target \(name)/\(envName)", status: .problem, detail: "unreachable: \(error.message)"))
                    }
                }
            } catch let error as any TetraError {
                checks.append(Check(name: "org \(name)", status: .problem, detail: error.message))
            } catch {
                checks.append(Check(name: "org \(name)", status: .problem, detail: "\(error)"))
            }
        }
        return checks
    }

    /// The template library: `git fsck`, and a clean (or explained) status.
    func libraryChecks() -> [Check] {
        TemplateLibrary(core: core).checks().map {
            Check(name: $0.name, status: Status(rawValue: $0.status.rawValue) ?? .problem, detail: $0.detail)
        }
    }

    func stateRootChecks() -> [Check] {
        let root = core.stateRoot
        var st = stat()
        guard lstat(root, &st) == 0 else {
            return [Check(name: "state root", status: .warning, detail: "\(root) does not exist yet (run 'tetra init')")]
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            return [Check(name: "state root", status: .problem, detail: "\(root) is not a directory")]
        }
        var checks: [Check] = []
        let mode = st.st_mode & 0o777
        if st.st_uid != getuid() {
            checks.append(Check(name: "state root owner", status: .problem, detail: "\(root) is owned by uid \(st.st_uid), not you (uid \(getuid()))"))
        }
        if mode & 0o077 != 0 {
            checks.append(Check(name: "state root mode", status: .problem,
                                detail: "\(root) has mode \(String(mode, radix: 8)); expected 700 (fix: chmod 700 \(root))"))
        } else {
            checks.append(Check(name: "state root mode", status: .ok, detail: "\(root) mode \(String(mode, radix: 8))"))
        }
        if access(root, W_OK) != 0 {
            checks.append(Check(name: "state root writable", status: .problem, detail: "\(root) is not writable"))
        }
        return checks
    }
}
