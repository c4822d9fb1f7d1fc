import FoundationEssentials
import Glibc

/// What a deployment does: the `action` of push, promote and rollback documents (a closed
/// set, docs/json.md).
public enum DeployAction: String, Sendable, Encodable {
    case push, promote, rollback
}

/// One deployment of an org to one environment's target, owned in one value: the target
/// (parsed once), its release manager and, once taken, the target's lock with what `current`
/// held when it was taken. Push, promote and a rollback that re-renders each make one; a
/// fleet push makes one per host. The lock moves to the release manager's deploy (which
/// releases it, or the commit does); `release()` frees it on any earlier exit.
struct PushUnit {
    let service: OrgService
    let org: String
    let envName: String
    let env: EnvironmentConfig
    let target: DeployTarget
    let manager: ReleaseManager
    /// The target's lock, while this unit holds it.
    private(set) var lock: ReleaseManager.AcquiredLock?
    /// What `current` held as the lock was taken (read in the same round trip).
    private(set) var known: OrgService.KnownTarget?

    /// What is deployed: the org as loaded (working copy or a snapshot's copy), its inputs,
    /// the snapshot it came from and, for a push, the snapshot's walk of `files/`.
    struct Source {
        var org: LoadedOrg
        var inputs: OrgValidator.Inputs
        var snapshot: String?
        var scanned: [TreeWalker.Entry]?
        /// A git org: what the tree was taken from.
        var revision: GitRevision? = nil
    }

    /// Why: the history's action and source, the operator's message, and whether the
    /// environment's checks run on the rendered tree first (promote --validate).
    struct Intent {
        var action: DeployAction
        var source: String
        var message: String?
        var runChecks = false
    }

    init(service: OrgService, org: String, envName: String, env: EnvironmentConfig) throws {
        self.service = service
        self.org = org
        self.envName = envName
        self.env = env
        target = try env.deployTarget()
        manager = ReleaseManager(target: target, context: service.context, options: env.transportOptions())
    }

    var context: CoreContext { service.context }

    /// Takes the target's lock and reads what `current` holds, in one round trip: a dead host
    /// fails here, before anything changes locally.
    mutating func acquire() throws {
        context.progress.step("locking \(target)")
        let taken = try manager.acquireLock(reading: OrgService.KnownTarget.paths)
        lock = taken
        known = OrgService.KnownTarget.from(taken.files)
    }

    /// Releases the lock if this unit still holds it (never interrupted).
    mutating func release() {
        if let lock { try? manager.transport.unlock(token: lock.token) }
        lock = nil
    }

    /// Renders `source` for this environment into scratch, then (unless `dryRun`) deploys it
    /// as a new release under the unit's lock (or one taken now) and records the history.
    mutating func deploy(_ source: Source, _ intent: Intent, dryRun: Bool) throws -> OrgService.DeployOutcome {
        defer { release() }
        let dir = try service.scratch("render")
        defer { service.removeScratch(dir) }
        let tree = dir + "/tree"
        guard mkdir(tree, 0o755) == 0 else { throw IOError("create directory", path: tree, errno: errno) }
        context.progress.step("rendering \(org) for \(envName)")
        let renderer = OrgRenderer(catalog: TemplateCatalog(paths: service.paths), interrupt: context.interrupt)
        // Local targets read plain files where they are (no scratch copy); ssh targets get
        // the whole tree (rsync/tar send one directory).
        let local = target.isLocal && !dryRun && !intent.runChecks
        let rendered = try renderer.render(source.org, environment: envName, ports: source.inputs.ports, secrets: source.inputs.secrets(for: envName),
                                           into: tree, linkPlainFiles: !local, scanned: source.scanned)
        try context.interrupt.check()
        let manifest = ReleaseManifest(files: rendered.hashes)
        let (state, old) = try targetState()
        let checksRun = intent.runChecks
            ? try EnvironmentChecks.run(env, envName: envName, tree: tree, secrets: source.inputs.secrets(for: envName), context: context) : []

        var outcome = OrgService.DeployOutcome(
            org: org, env: envName, target: target.description, action: intent.action, dry_run: dryRun, release: nil,
            previous: state.current?.rawValue, snapshot: source.snapshot, source: intent.source, file_count: manifest.count,
            changes: FileChanges.between(old: old, new: manifest.files), secret_files: rendered.secretFiles, transport: nil,
            files_sent: nil, files_linked: nil, bytes_sent: nil, pruned: [], checks: checksRun, broke_lock: nil)
        if dryRun { return outcome }
        try context.interrupt.check()
        let id = service.newReleaseID(contentHash: manifest.contentHash, after: state.releases.last)
        var meta = ReleaseMetadata(org: org, env: envName, snapshot: source.snapshot ?? "", created: context.now(), by: service.by,
                                   source: intent.source, message: intent.message)
        meta.git = source.revision
        var entry = LocalHistoryEntry(time: Timestamps.iso8601(context.now()), org: org, env: envName, action: intent.action.rawValue,
                                      release: id.rawValue, previous: state.current?.rawValue, snapshot: source.snapshot,
                                      target: target.description, by: service.by, source: intent.source, message: intent.message)
        entry.record(source.revision)
        let journal = try service.beginChange(entry)
        let handed = lock
        lock = nil // the deploy releases it from here on
        let result = try manager.deploy(renderedTree: tree, manifest: manifest, releaseId: id, metadata: meta, keep: env.keep,
                                        sources: rendered.sources,
                                        known: state.current.flatMap { old.isEmpty ? nil : KnownRelease(id: $0, files: old) },
                                        held: handed)
        outcome.release = result.release.rawValue
        outcome.previous = result.previous?.rawValue
        outcome.transport = result.transfer.method
        outcome.files_sent = result.transfer.filesSent
        outcome.files_linked = result.transfer.filesLinked
        outcome.bytes_sent = result.transfer.bytesSent
        outcome.pruned = result.pruned.map(\.rawValue)
        outcome.broke_lock = result.brokeLock?.holderDescription
        entry.time = Timestamps.iso8601(context.now())
        entry.release = result.release.rawValue
        entry.previous = result.previous?.rawValue
        service.recordChange(entry, journal: journal)
        return outcome
    }

    /// The target's state and `current`'s manifest: as read with the lock (no round trip),
    /// else read now.
    private func targetState() throws -> (TargetState, [String: String]) {
        if let lock, let known {
            return (lock.state, known.current == lock.state.current ? known.manifest : [:])
        }
        context.progress.step("reading \(target)")
        let state = try manager.state()
        let old = state.current.flatMap { try? manager.readManifest($0).files } ?? [:]
        return (state, old)
    }
}

/// An environment's `checks`, run on a rendered tree before it is sent (`env promote
/// --validate`); `{release}` is the tree's path.
enum EnvironmentChecks {
    /// The first failure stops everything before the push (exit 1).
    static func run(_ env: EnvironmentConfig, envName: String, tree: String, secrets: [String: String], context: CoreContext) throws -> [String] {
        var run: [String] = []
        for check in env.checks ?? [] where !check.isEmpty {
            try context.interrupt.check()
            let argv = check.map { $0.replacingAll("{release}", with: tree) }
            context.progress.step("check: " + argv.joined(separator: " "))
            let request = ProcessRequest(argv[0], Array(argv.dropFirst()), workingDirectory: tree, timeout: 300,
                                         secrets: Array(secrets.values))
            let result = try context.runner.run(request)
            if !result.succeeded {
                let tail = Redactor(secrets: Array(secrets.values)).redact(ToolError.tail(of: result.stderrString + result.stdoutString))
                throw CoreError.failed("check failed for \(envName): \(request.displayArgv.joined(separator: " ")) exited with status \(result.status)"
                                       + (tail.isEmpty ? "" : ": " + tail),
                                       hint: "nothing was pushed; fix the org or the check in environments.\(envName).checks")
            }
            run.append(request.displayArgv.joined(separator: " "))
        }
        return run
    }
}
