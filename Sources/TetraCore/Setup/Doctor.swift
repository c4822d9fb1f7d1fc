import FoundationEssentials
import Glibc

/// The checks of `tetra doctor`: tools, the state root, config, ports, the library, every
/// org (the same validation as `org validate`, and its targets with `checkTargets`), the
/// snapshot store, certificates and services. Never changes anything.
public struct Doctor {
    let core: CoreContext
    /// `--check-targets`: reach every environment's target.
    public var checkTargets = false
    /// `--env ENV`: every (selected) host of that environment, checked at the host.
    public var fleet: FleetDoctor? = nil

    public init(core: CoreContext) { self.core = core }

    public enum Status: String, Encodable, Sendable { case ok, warning, problem }

    public struct Check: Encodable, Sendable {
        public let name: String
        public let status: Status
        public let detail: String
    }

    public struct Report: Encodable, Sendable {
        public let state_root: String
        public let checks: [Check]
        public let problems: Int
        public let warnings: Int
        /// Counts are `*_count`: `problems` and `warnings` are lists everywhere else.
        enum CodingKeys: String, CodingKey { case state_root, checks, problems = "problem_count", warnings = "warning_count" }
    }

    public func run() -> Report {
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
        checks += fleet?.checks() ?? []
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
        alertChecks() + tetraConfigChecks()
    }

    /// config/alerts.toml (rules across orgs): every problem (docs/alerts.md).
    func alertChecks() -> [Check] {
        guard LocalFiles.exists(AlertRuleSet.globalFile(core.paths)) else { return [] }
        let read = AlertConfigReader.readGlobal(paths: core.paths)
        if read.problems.isEmpty && read.warnings.isEmpty { return [Check(name: "config alerts.toml", status: .ok, detail: "valid")] }
        return read.problems.map { Check(name: "config alerts.toml", status: .problem, detail: $0.description) }
            + read.warnings.map { Check(name: "config alerts.toml", status: .warning, detail: $0.description) }
    }

    func tetraConfigChecks() -> [Check] {
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
            var checks = report.problems.map { Check(name: "ports \($0.kind.rawValue)", status: .problem, detail: $0.message) }
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

    /// Every org validates (the same pass as `tetra org validate`: org.toml, services,
    /// templates); with `checkTargets`, every target of an org that loads answers.
    func orgChecks() -> [Check] {
        let store = OrgStore(paths: core.paths)
        var checks: [Check] = []
        for name in store.names() {
            do {
                let result = try OrgValidator(paths: core.paths, age: AgeTool(context: core)).validate(org: name)
                checks += result.valid
                    ? [Check(name: "org \(name)", status: .ok,
                             detail: "valid (\(result.environments.count) environments, \(result.services.count) services)")]
                    : result.problems.map { Check(name: "org \(name)", status: .problem, detail: $0.description) }
                checks += result.warnings.map { Check(name: "org \(name)", status: .warning, detail: $0.description) }
                guard checkTargets, let org = try? store.load(name) else { continue }
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

extension Doctor {
    /// The snapshot store: every object's content must match its hash (a corrupt object
    /// would be deployed by a rollback or promote re-rendered from its snapshot).
    func snapshotChecks() -> [Check] {
        let store = SnapshotStore(paths: core.paths, interrupt: core.interrupt)
        do {
            let (checked, problems) = try store.verifyObjects()
            if problems.isEmpty {
                return [Check(name: "snapshots", status: .ok, detail: "\(checked) objects match their hashes")]
            }
            return problems.map { Check(name: "snapshots", status: .problem, detail: "\($0.path): \($0.message)") }
        } catch let error as any TetraError {
            return [Check(name: "snapshots", status: .problem, detail: error.message)]
        } catch {
            return [Check(name: "snapshots", status: .problem, detail: "\(error)")]
        }
    }
}
