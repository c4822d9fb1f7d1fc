import FoundationEssentials
import Glibc

/// The org and env operations of SPEC §3 on top of releases (Deploy/), snapshots and the
/// renderer: push, pull, status, rollback, history, diff, promote. Core only: returns
/// Encodable results, reports progress to `context.progress`, never prints.
public struct OrgService: Sendable {
    public let context: CoreContext
    public var paths: StatePaths { context.paths }
    public var store: OrgStore { OrgStore(paths: paths) }
    public var snapshots: SnapshotStore { SnapshotStore(paths: paths, interrupt: context.interrupt) }
    public var history: LocalHistory { LocalHistory(paths: paths) }
    public var validator: OrgValidator { OrgValidator(paths: paths, age: AgeTool(context: context)) }

    public init(context: CoreContext) { self.context = context }

    var by: String { context.userName + "@" + context.hostName }

    // MARK: - helpers

    public func manager(_ env: EnvironmentConfig) throws -> ReleaseManager {
        try manager(env, target: env.deployTarget())
    }

    /// The release manager of one host of an environment with hosts (`target` as written in
    /// its `hosts`), with the environment's ssh settings.
    func manager(_ env: EnvironmentConfig, host target: String) throws -> ReleaseManager {
        try manager(env, target: env.deployTarget(target))
    }

    private func manager(_ env: EnvironmentConfig, target: DeployTarget) -> ReleaseManager {
        ReleaseManager(target: target, context: context, options: env.transportOptions())
    }

    /// Runs `body` holding the local lock of the org's source (`state/locks/org.<name>.lock`).
    public func withOrgLock<T>(_ org: String, _ body: () throws -> T) throws -> T {
        try context.withLock("org." + org, body)
    }

    /// A private scratch directory under state/tmp (removed by `removeScratch`).
    func scratch(_ label: String) throws -> String {
        let base = paths.state + "/tmp"
        try AtomicFile.ensureDirectory(base, mode: 0o700)
        Self.removeStaleScratch(base)
        let dir = base + "/\(label)-\(getpid())-" + TargetLockRecord.newToken()
        guard mkdir(dir, 0o700) == 0 else { throw IOError("create directory", path: dir, errno: errno) }
        return dir
    }

    func removeScratch(_ dir: String) { try? LocalFiles.removeTree(dir) }

    /// Scratch directories of tetra processes that are gone (killed mid-push: they may hold
    /// rendered secrets) are removed by the next command that needs scratch. Entries are
    /// named `[label-]PID-TOKEN` (the snapshot store's temp objects too).
    static func removeStaleScratch(_ base: String) {
        guard let names = try? LocalFiles.list(base) else { return }
        for name in names {
            let parts = name.split(separator: "-")
            guard parts.count >= 2, let pid = Int32(parts[parts.count - 2]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? LocalFiles.removeTree(base + "/" + name) }
        }
    }

    /// The command to type to approve: the refused command line (secrets already redacted)
    /// with `--approve` added, shell-quoted; a generic form when the line is unknown.
    static func approvedCommand(_ commandLine: [String], verb: String) -> String {
        guard commandLine.count > 1 else { return "the same \(verb) command with --approve" }
        var words = commandLine
        if let dashes = words.firstIndex(of: "--") { words.insert("--approve", at: dashes) } else { words.append("--approve") }
        return ShellQuote.join(words)
    }

    /// Refuses a change to a protected environment without --approve (exit 7).
    func requireApproval(_ env: EnvironmentConfig, name: String, verb: String, approve: Bool) throws {
        if env.isProtected && !approve {
            throw CoreError.refused("environment '\(name)' is protected: \(verb) needs --approve",
                                    hint: "once the change is reviewed, run: " + Self.approvedCommand(context.commandLine, verb: verb))
        }
    }

    /// Loads and fully validates the working copy of an org (exit 3 listing every problem).
    /// `renderEnvironments`: the environments whose templates are rendered as part of the
    /// check (nil: all; a push passes none, because its own render reports every problem of
    /// its environment the same way).
    public func loadValid(_ name: String, renderEnvironments: [String]? = nil) throws -> (LoadedOrg, OrgValidator.Inputs) {
        let org = try store.load(name)
        try OrgRenderer.checkFilesDirectory(org)
        for w in org.warnings { context.progress.warn("\(w.description): unknown key") }
        let inputs = validator.inputs(orgDirectory: org.directory)
        try inputs.checkSecrets()
        if (try? SecretsFile.load(org.secretsFile))?.looseMode == true {
            context.progress.warn("\(org.secretsFile) can be read by others; make it private: chmod 600 \(org.secretsFile)")
        }
        let problems = validator.problems(org, inputs: inputs, renderEnvironments: renderEnvironments)
        if !problems.isEmpty {
            throw ConfigError(problems, hint: "fix them and run 'tetra org validate \(name)'")
        }
        return (org, inputs)
    }

    /// A release id newer than `newest` (the newest release at the target, or pushed to the
    /// environment): ids order by the second, so a push in the same second waits for the next.
    func newReleaseID(contentHash: String, after newest: ReleaseID?) -> ReleaseID {
        var id = ReleaseID(time: context.now(), contentHash: contentHash)
        if let newest = newest?.rawValue {
            var tries = 0
            while newest.prefix(16) >= id.rawValue.prefix(16), tries < 30 {
                Threads.sleep(0.1)
                id = ReleaseID(time: context.now(), contentHash: contentHash)
                tries += 1
            }
        }
        return id
    }

    /// What a promote or a rollback deploys: snapshot `snap` of org `name` restored into
    /// `dir` (a scratch directory the caller removes), with the working copy's inputs (ports,
    /// secrets: exit 3 when they are broken).
    func restoredSource(_ snap: String, org name: String, workingDirectory: String, into dir: String) throws -> PushUnit.Source {
        let source = dir + "/org"
        try AtomicFile.ensureDirectory(source, mode: 0o700)
        try snapshots.restore(snap, into: source)
        let snapOrg = try LoadedOrg.load(name: name, directory: source, displayName: "snapshot \(snap):org.toml")
        let inputs = validator.inputs(orgDirectory: workingDirectory)
        try inputs.checkSecrets()
        if !inputs.problems.isEmpty { throw ConfigError(inputs.problems) }
        return PushUnit.Source(org: snapOrg, inputs: inputs, snapshot: snap)
    }

    /// Snapshots the working copy of an org (the record kept before every push, promote and
    /// rollback; content-addressed, so an unchanged org adds only a log line).
    @discardableResult
    func snapshotWorkingCopy(_ name: String, reason: String) throws -> SnapshotStore.Taken {
        try withOrgLock(name) {
            context.progress.step("snapshotting \(name)")
            return try snapshots.take(org: name, directory: paths.org(name), reason: reason, by: by, now: context.now())
        }
    }

    /// What `current` holds at a target, read in one round trip (its metadata and manifest
    /// through the `current` link): reaches the target and gives the file-level diff.
    public struct KnownTarget: Sendable {
        public var current: ReleaseID?
        public var manifest: [String: String]

        static let paths = ["current/" + ReleaseManifest.metadataFileName, "current/" + ReleaseManifest.fileName]

        static func from(_ files: [String: Data]) -> KnownTarget {
            let meta = paths[0], list = paths[1]
            let current = files[meta].flatMap { try? ReleaseMetadata.parse(String(decoding: $0, as: UTF8.self)) }
                .flatMap { try? ReleaseID($0.id) }
            let manifest = files[list].flatMap { try? ReleaseManifest.parse(String(decoding: $0, as: UTF8.self)) }
            return KnownTarget(current: current, manifest: current == nil ? [:] : manifest?.files ?? [:])
        }
    }

    // MARK: - push / deploy

    public struct DeployOutcome: Encodable, Sendable {
        public var org: String
        public var env: String
        public var target: String
        public var action: DeployAction
        public var dry_run: Bool
        public var release: String?
        public var previous: String?
        public var snapshot: String?
        public var source: String
        public var file_count: Int
        public var changes: FileChanges
        public var secret_files: [String]
        public var transport: String?
        public var files_sent: Int?
        public var files_linked: Int?
        public var bytes_sent: Int64?
        public var pruned: [String]
        public var checks: [String]
        public var broke_lock: String?
    }

    func recordHistory(_ entry: LocalHistoryEntry) {
        do { try history.append(entry) } catch { context.progress.warn("could not write the local history: \(error)") }
    }

    /// `org push ORG ENV`: validate, snapshot the org source, render, deploy, record.
    /// An environment of many hosts is pushed by `FleetPush` (`fleet` chooses its hosts
    /// and overrides its rollout).
    /// `ref`: push the org as committed at that git ref (a git org only), not the working
    /// copy. `allowDirty`: push a git org's working copy although tracked files changed.
    public func push(org name: String, env envName: String, message: String?, dryRun: Bool, approve: Bool,
                     fleet: FleetOptions = FleetOptions(), ref: String? = nil, allowDirty: Bool = false) throws -> PushResult {
        try Names.validate(name, what: "org")
        if !dryRun { reconcilePending(name) }
        try Names.validate(envName, what: "env")
        let exported = try ref.map { _ in try scratch("ref") }
        defer { exported.map(removeScratch) }
        let (org, inputs, revision) = try pushSource(name, ref: ref, allowDirty: allowDirty, exportInto: exported)
        let env = try org.environment(envName)
        if !dryRun { try requireApproval(env, name: envName, verb: "push", approve: approve) }
        if let spec = try fleetSpec(org, envName: envName, env: env, options: fleet) {
            return .fleet(try pushFleet(org, inputs: inputs, envName: envName, env: env, spec: spec, message: message, dryRun: dryRun,
                                        revision: revision))
        }
        return .target(try pushTarget(org, inputs: inputs, envName: envName, env: env, message: message, dryRun: dryRun, revision: revision))
    }

    private func pushTarget(_ org: LoadedOrg, inputs: OrgValidator.Inputs, envName: String, env: EnvironmentConfig,
                            message: String?, dryRun: Bool, revision: GitRevision?) throws -> DeployOutcome {
        let name = org.name
        // Every template must render for this environment before anything is touched.
        _ = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets(for: envName), into: nil, templatesOnly: true)
        var unit = try PushUnit(service: self, org: name, envName: envName, env: env)
        let intent = PushUnit.Intent(action: .push, source: "push", message: message)
        if dryRun {
            return try unit.deploy(PushUnit.Source(org: org, inputs: inputs, revision: revision), intent, dryRun: true)
        }
        // Reach the target first: a dead host fails before anything changes locally. Its lock
        // is taken and what `current` holds is read in the same round trip; the lock is held
        // from here to the commit (released on any failure).
        try unit.acquire()
        defer { unit.release() }
        // Snapshot and render under the org's lock, so no other tetra command changes the
        // source in between; the transfer is guarded by the target's own lock.
        return try withOrgLock(name) {
            context.progress.step("snapshotting \(name)")
            // The snapshot's walk of files/ is the render's (one walk, its hashes included).
            let snap = try snapshots.take(org: name, directory: org.directory, reason: "push \(envName)" + (revision.map { " at \($0.commit.prefix(12))" } ?? ""),
                                          by: by, now: context.now(), scanning: "files")
            return try unit.deploy(PushUnit.Source(org: org, inputs: inputs, snapshot: snap.id, scanned: snap.scanned, revision: revision), intent,
                                   dryRun: false)
        }
    }

    // MARK: - promote

    /// `env promote FROM TO`: the snapshot deployed at FROM, rendered for TO, pushed to TO.
    /// The snapshot supplies the content (files, vars); the working copy decides where and
    /// how (TO's target, protection, promote_from, checks, keep_releases, ssh settings).
    public func promote(org name: String, from: String, to: String, validate: Bool, approve: Bool, dryRun: Bool,
                        message: String?, fleet: FleetOptions = FleetOptions()) throws -> PushResult {
        try Names.validate(name, what: "org")
        try Names.validate(from, what: "env")
        try Names.validate(to, what: "env")
        if !dryRun { reconcilePending(name) }
        let working = try store.load(name)
        let fromEnv = try working.environment(from)
        let toEnv = try working.environment(to)
        guard toEnv.promoteFrom == from else {
            throw ConfigError(ConfigProblem(file: working.orgFile, position: working.document.position(of: ["environments", to, "promote_from"])
                                                ?? working.document.position(of: ["environments", to]),
                                            keyPath: "environments.\(to).promote_from",
                                            message: toEnv.promoteFrom.map { "\(to) promotes from '\($0)', not from '\(from)'" }
                                                ?? "\(to) has no promote_from; it cannot be promoted from '\(from)'"),
                              hint: "set environments.\(to).promote_from = \"\(from)\" to allow it")
        }
        if !dryRun { try requireApproval(toEnv, name: to, verb: "promote", approve: approve) }
        let (release, snapshot) = try deployedSnapshot(of: from, env: fromEnv, org: working)
        guard snapshots.exists(snapshot) else {
            throw CoreError.notFound(what: "snapshot", name: snapshot,
                                     hint: "\(from)@\(release) was pushed from another machine; its snapshot is kept there")
        }
        let spec = try fleetSpec(working, envName: to, env: toEnv, options: fleet)
        if !dryRun { try snapshotWorkingCopy(name, reason: "promote \(from) to \(to)") }
        let dir = try scratch("promote")
        defer { removeScratch(dir) }
        let source = try restoredSource(snapshot, org: name, workingDirectory: working.directory, into: dir)
        _ = try source.org.environment(to)
        let intent = PushUnit.Intent(action: .promote, source: "promoted from \(from)@\(release)", message: message, runChecks: validate)
        if let spec {
            let push = try FleetPush(service: self, org: name, envName: to, env: toEnv, spec: spec)
            return .fleet(try push.run(source, intent, dryRun: dryRun))
        }
        var unit = try PushUnit(service: self, org: name, envName: to, env: toEnv)
        return .target(try unit.deploy(source, intent, dryRun: dryRun))
    }

    /// The release `env` runs and the snapshot it was rendered from. An environment with
    /// hosts must run one snapshot on every host (else exit 1 naming them).
    func deployedSnapshot(of envName: String, env: EnvironmentConfig, org: LoadedOrg) throws -> (ReleaseID, String) {
        let targets = env.isFleet ? env.fleetHosts.map { ($0.name, $0.target) } : [(envName, env.target ?? "")]
        var found: [(host: String, release: ReleaseID, snapshot: String)] = []
        for (host, target) in targets {
            let manager = try manager(env, host: target)
            context.progress.step("reading \(manager.target)")
            guard let release = try manager.current() else {
                throw CoreError.notFound(what: "release", name: "current of \(envName)" + (env.isFleet ? " on \(host)" : ""),
                                         hint: "push \(envName) first: tetra org push \(org.name) \(envName)")
            }
            let meta = try manager.metadata(release)
            guard !meta.snapshot.isEmpty else {
                throw CoreError.notFound(what: "snapshot", name: "of \(envName)@\(release)", hint: "that release records no snapshot; push \(envName) again")
            }
            found.append((host, release, meta.snapshot))
        }
        let distinct = Set(found.map(\.snapshot))
        if distinct.count > 1 {
            throw CoreError.failed("the hosts of \(envName) run different snapshots: "
                                   + found.map { "\($0.host) \($0.snapshot) (\($0.release))" }.joined(separator: ", "),
                                   hint: "push \(envName) to every host first: tetra org push \(org.name) \(envName)")
        }
        return (found[0].release, found[0].snapshot)
    }

    // MARK: - rollback

    public struct RollbackOutcome: Encodable, Sendable {
        public var org: String
        public var env: String
        public var target: String
        public var release: String
        public var previous: String?
        /// "switched" (the release was still there), "re-rendered" (from its snapshot), "unchanged".
        public var how: String
        public var snapshot: String?
        public var dry_run: Bool
        public var deployed: DeployOutcome?
        /// The release's files that no longer matched its manifest (it was rebuilt from its snapshot).
        public var drift: DriftSummary? = nil
    }

    /// An environment with hosts is rolled back on every host (see `rollbackFleet`).
    public func rollback(org name: String, env envName: String, to: String?, approve: Bool, dryRun: Bool,
                         fleet: FleetOptions = FleetOptions()) throws -> RollbackResult {
        try Names.validate(name, what: "org")
        if !dryRun { reconcilePending(name) }
        try Names.validate(envName, what: "env")
        let org = try store.load(name)
        let env = try org.environment(envName)
        let wanted = try to.map { try rollbackTarget($0, org: name, envName: envName, env: env) }
        if !dryRun { try requireApproval(env, name: envName, verb: "rollback", approve: approve) }
        if env.isFleet, let spec = try fleetSpec(org, envName: envName, env: env, options: fleet) {
            return .fleet(try rollbackFleet(org, envName: envName, env: env, spec: spec, to: wanted, dryRun: dryRun))
        }
        let spec = try fleetSpec(org, envName: envName, env: env, options: fleet)
        let outcome = try rollbackTarget(org, envName: envName, env: env, to: wanted, dryRun: dryRun)
        // A target that runs services: they restart in the release switched to.
        if let spec, let host = spec.hosts.first, !dryRun, outcome.how != "unchanged" {
            try restartServices(org: org.name, env: env, host: host, services: spec.services, timeout: spec.healthTimeout)
        }
        return .target(outcome)
    }

    /// Puts the services of the release a target now runs in place and waits for them
    /// (`tetra __host activate` there, as a push does): exit 1 naming them when they do not
    /// become healthy.
    func restartServices(org: String, env: EnvironmentConfig, host: FleetHost, services: [String], timeout: TimeInterval) throws {
        let names = host.services ?? services
        guard !names.isEmpty else { return }
        let run = try FleetHostRun(host: host, env: env, service: self)
        run.services = names
        try run.installAgent(context: context)
        context.progress.step("restarting the services of \(run.target)")
        do {
            try run.activateServices(org: org, context: context, timeout: timeout)
        } catch let e as any TetraError {
            throw CoreError.failed("\(run.target) switched, but its services are not healthy: \(e.message)",
                                   hint: "see `tetra svc status --dir \(run.target.path)/.tetra/state --org \(org)` there")
        }
    }

    private func rollbackTarget(_ org: LoadedOrg, envName: String, env: EnvironmentConfig, to wanted: ReleaseID?,
                                dryRun: Bool) throws -> RollbackOutcome {
        let name = org.name
        var unit = try PushUnit(service: self, org: name, envName: envName, env: env)
        let manager = unit.manager
        context.progress.step("reading \(manager.target)")
        let state = try manager.state()
        let targetID: ReleaseID
        if let wanted {
            targetID = wanted
        } else {
            guard let candidate = try manager.rollbackCandidate() else {
                throw CoreError.notFound(what: "release", name: "before \(state.current?.rawValue ?? "current")",
                                         hint: "there is no earlier release at \(manager.target); name one with --to")
            }
            targetID = candidate
        }
        var outcome = RollbackOutcome(org: name, env: envName, target: manager.target.description, release: targetID.rawValue,
                                      previous: state.current?.rawValue, how: "switched", snapshot: nil, dry_run: dryRun, deployed: nil)
        if state.releases.contains(targetID) && state.current == targetID { outcome.how = "unchanged"; return outcome }
        if !dryRun { try snapshotWorkingCopy(name, reason: "rollback \(envName) to \(targetID)") }
        let drift = try driftBeforeActivating(targetID, state: state, manager: manager)
        outcome.drift = drift.map(DriftSummary.init)
        if state.releases.contains(targetID) && drift == nil {
            if dryRun { return outcome }
            let snap = try? history.snapshot(of: targetID.rawValue, org: name, env: envName)
            var entry = LocalHistoryEntry(time: Timestamps.iso8601(context.now()), org: name, env: envName, action: "rollback",
                                          release: targetID.rawValue, previous: state.current?.rawValue, snapshot: snap ?? nil,
                                          target: manager.target.description, by: by, source: "rollback", message: nil)
            let journal = try beginChange(entry)
            let result = try manager.activate(targetID, source: "rollback", org: name, env: envName)
            outcome.previous = result.previous?.rawValue
            outcome.how = result.changed ? "switched" : "unchanged"
            outcome.snapshot = snap ?? nil
            if result.changed {
                entry.time = Timestamps.iso8601(context.now())
                entry.previous = result.previous?.rawValue
                recordChange(entry, journal: journal)
            } else {
                ChangeJournal(paths: paths).remove(journal)
            }
            return outcome
        }
        // Pruned, drifted (or never here): re-render from the snapshot it was made from.
        guard let snap = try rebuildSnapshot(of: targetID, org: name, env: envName, drift: drift, manager: manager) else {
            throw CoreError.notFound(what: "release", name: targetID.rawValue,
                                     hint: "it is not at \(manager.target) and this machine's history has no snapshot for it; "
                                        + "releases there: " + (state.releases.isEmpty ? "none" : state.releases.map(\.rawValue).joined(separator: ", ")))
        }
        guard snapshots.exists(snap) else {
            throw CoreError.notFound(what: "snapshot", name: snap, hint: "the snapshot of \(targetID) is no longer in \(paths.snapshots)")
        }
        let dir = try scratch("rollback")
        defer { removeScratch(dir) }
        let how = drift == nil ? "re-rendered" : "rebuilt, it had drifted,"
        let deployed = try unit.deploy(try restoredSource(snap, org: name, workingDirectory: org.directory, into: dir),
                                       PushUnit.Intent(action: .rollback, source: "rollback to \(targetID) (\(how) from snapshot \(snap))"),
                                       dryRun: dryRun)
        outcome.how = "re-rendered"
        outcome.snapshot = snap
        outcome.deployed = deployed
        if let r = deployed.release { outcome.release = r }
        return outcome
    }
}
