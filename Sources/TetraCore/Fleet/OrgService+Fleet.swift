import FoundationEssentials

/// What a push, promote or rollback did: at one target (`T`: that command's document), or at
/// every host of an environment with hosts (the fleet document).
public enum TargetOrFleet<T: Encodable & Sendable>: Encodable, Sendable {
    case target(T)
    case fleet(FleetPushOutcome)

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .target(let r): try r.encode(to: encoder)
        case .fleet(let r): try r.encode(to: encoder)
        }
    }
}

public typealias PushResult = TargetOrFleet<OrgService.DeployOutcome>
public typealias RollbackResult = TargetOrFleet<OrgService.RollbackOutcome>

/// Command-line overrides of a fleet push: `--hosts`, `--batch`, `--parallel`,
/// `--max-failures` (nil: the environment's `[rollout]`).
public struct FleetOptions: Sendable, Equatable {
    public var hosts: HostSelector?
    public var batch: FleetSpec.BatchSize?
    public var parallel: Int?
    public var maxFailures: Int?

    public init(hosts: HostSelector? = nil, batch: FleetSpec.BatchSize? = nil, parallel: Int? = nil, maxFailures: Int? = nil) {
        self.hosts = hosts
        self.batch = batch
        self.parallel = parallel
        self.maxFailures = maxFailures
    }

    public var isEmpty: Bool { self == FleetOptions() }
}

extension OrgService {
    /// The fleet settings of an environment of many hosts with `options` applied: its
    /// selected hosts and the rollout overridden. Exit 2 for fleet options on a one-target
    /// environment.
    func fleetSpec(_ org: LoadedOrg, envName: String, env: EnvironmentConfig, options: FleetOptions) throws -> FleetSpec? {
        let (spec, problems) = FleetSpec.read(env, envName: envName, org: org)
        if !problems.isEmpty { throw ConfigError(problems) }
        guard var spec else {
            if !options.isEmpty {
                throw CoreError.invalidArgument("--hosts, --batch, --parallel and --max-failures are for an environment with hosts; \(envName) has one target")
            }
            return nil
        }
        if let selector = options.hosts { spec.hosts = try selector.select(spec.hosts, env: envName) }
        if let batch = options.batch { spec.batch = batch }
        if let parallel = options.parallel { spec.parallel = parallel }
        if let max = options.maxFailures { spec.maxFailures = max }
        return spec
    }

    /// `org push` to an environment of many hosts (see `FleetPush`), under the org's lock
    /// from the snapshot to the last host settled.
    func pushFleet(_ org: LoadedOrg, inputs: OrgValidator.Inputs, envName: String, env: EnvironmentConfig, spec: FleetSpec,
                   message: String?, dryRun: Bool, revision: GitRevision? = nil) throws -> FleetPushOutcome {
        let push = try FleetPush(service: self, org: org.name, envName: envName, env: env, spec: spec)
        let intent = PushUnit.Intent(action: .push, source: "push", message: message)
        if dryRun { return try push.run(PushUnit.Source(org: org, inputs: inputs, revision: revision), intent, dryRun: true) }
        return try withOrgLock(org.name) {
            context.progress.step("snapshotting \(org.name)")
            let snap = try snapshots.take(org: org.name, directory: org.directory, reason: "push \(envName)" + (revision.map { " at \($0.commit.prefix(12))" } ?? ""),
                                          by: by, now: context.now(), scanning: "files")
            return try push.run(PushUnit.Source(org: org, inputs: inputs, snapshot: snap.id, scanned: snap.scanned, revision: revision), intent,
                                dryRun: false)
        }
    }
}

extension OrgService {
    /// `org rollback` of an environment with hosts: every host switched to `to`, else to the
    /// newest release before its current one that every host has, in batches like a push
    /// (services restarted, verify hooks, back on failure). A release some host no longer has
    /// is re-rendered from its snapshot and pushed as a new release.
    func rollbackFleet(_ org: LoadedOrg, envName: String, env: EnvironmentConfig, spec: FleetSpec, to wanted: ReleaseID?,
                       dryRun: Bool) throws -> FleetPushOutcome {
        let push = try FleetPush(service: self, org: org.name, envName: envName, env: env, spec: spec)
        context.progress.step("reading \(spec.hosts.count) hosts of \(envName)")
        let states = try push.states()
        let id: ReleaseID
        if let wanted {
            id = wanted
        } else {
            var common: Set<ReleaseID>? = nil
            for state in states {
                let older = Set(state.releases.filter { r in state.current.map { r < $0 } ?? false })
                common = common.map { $0.intersection(older) } ?? older
            }
            guard let newest = common?.max() else {
                throw CoreError.notFound(what: "release", name: "before the current one on every host of \(envName)",
                                         hint: "name one with --to (see tetra org status \(org.name) \(envName))")
            }
            id = newest
        }
        let intent = PushUnit.Intent(action: .rollback, source: "rollback to \(id)", message: nil)
        if states.allSatisfy({ $0.releases.contains(id) }) {
            if !dryRun { try snapshotWorkingCopy(org.name, reason: "rollback \(envName) to \(id)") }
            return try push.run(PushUnit.Source(org: org, inputs: validator.inputs(orgDirectory: org.directory)), intent,
                                dryRun: dryRun, existing: id)
        }
        // Not on every host: re-rendered from the snapshot it was made from.
        guard let snap = try history.snapshot(of: id.rawValue, org: org.name, env: envName), snapshots.exists(snap) else {
            throw CoreError.notFound(what: "release", name: id.rawValue,
                                     hint: "it is not on every host of \(envName) and this machine has no snapshot of it")
        }
        if !dryRun { try snapshotWorkingCopy(org.name, reason: "rollback \(envName) to \(id)") }
        let dir = try scratch("rollback")
        defer { removeScratch(dir) }
        return try push.run(try restoredSource(snap, org: org.name, workingDirectory: org.directory, into: dir),
                            PushUnit.Intent(action: .rollback, source: "rollback to \(id) (re-rendered from snapshot \(snap))", message: nil),
                            dryRun: dryRun)
    }
}
