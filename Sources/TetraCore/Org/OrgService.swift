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
    public var validator: OrgValidator { OrgValidator(paths: paths) }

    public init(context: CoreContext) { self.context = context }

    var by: String { context.userName + "@" + context.hostName }

    // MARK: - helpers

    public func manager(_ env: EnvironmentConfig) throws -> ReleaseManager {
        let target = try env.deployTarget()
        return ReleaseManager(target: target, context: context, options: env.transportOptions())
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
        if (try? SecretsFile.load(org.secretsFile))?.looseMode == true {
            context.progress.warn("\(org.secretsFile) can be read by others; make it private: chmod 600 \(org.secretsFile)")
        }
        let problems = validator.problems(org, inputs: inputs, renderEnvironments: renderEnvironments)
        if !problems.isEmpty {
            throw ConfigError(problems, hint: "fix them and run 'tetra org validate \(name)'")
        }
        return (org, inputs)
    }

    /// A release id newer than every release at the target (ids order by the second).
    func newReleaseID(contentHash: String, state: TargetState) -> ReleaseID {
        var id = ReleaseID(time: context.now(), contentHash: contentHash)
        if let newest = state.releases.last?.rawValue {
            var tries = 0
            while newest.prefix(16) >= id.rawValue.prefix(16), tries < 30 {
                Threads.sleep(0.1)
                id = ReleaseID(time: context.now(), contentHash: contentHash)
                tries += 1
            }
        }
        return id
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

        static func read(_ manager: ReleaseManager) throws -> KnownTarget {
            from(try manager.transport.readFiles(paths))
        }

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
        public var action: String
        public var dry_run: Bool
        public var release: String?
        public var previous: String?
        public var snapshot: String?
        public var source: String
        public var files: Int
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

    /// Renders `org` for `envName` into scratch, then (unless `dryRun`) deploys it to `env`'s
    /// target as a new release and records history. The org's files are read as they are;
    /// `snapshot` is the id recorded in the release.
    func renderAndDeploy(org: LoadedOrg, inputs: OrgValidator.Inputs, orgName: String, envName: String,
                         env: EnvironmentConfig, snapshot: String?, action: String, source: String, message: String?,
                         dryRun: Bool, runChecks: Bool = false, scanned: [TreeWalker.Entry]? = nil,
                         known: KnownTarget? = nil, held: ReleaseManager.AcquiredLock? = nil) throws -> DeployOutcome {
        let manager = try manager(env)
        var held = held
        defer { if let lock = held { try? manager.transport.unlock(token: lock.token) } }
        let dir = try scratch("render")
        defer { removeScratch(dir) }
        let tree = dir + "/tree"
        guard mkdir(tree, 0o755) == 0 else { throw IOError("create directory", path: tree, errno: errno) }
        context.progress.step("rendering \(orgName) for \(envName)")
        let renderer = OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
        // Local targets read plain files where they are (no scratch copy); ssh targets get
        // the whole tree (rsync/tar send one directory).
        let local = try env.deployTarget().isLocal && !dryRun && !runChecks
        let rendered = try renderer.render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets, into: tree,
                                           linkPlainFiles: !local, scanned: scanned)
        try context.interrupt.check()
        let manifest = ReleaseManifest(files: rendered.hashes)

        // The target as read just before (one ssh round trip less), else read now.
        var state: TargetState
        var old: [String: String] = [:]
        if let lock = held, let known {
            state = lock.state
            old = known.current == state.current ? known.manifest : [:]
        } else if let known {
            state = TargetState(exists: known.current != nil, current: known.current, releases: known.current.map { [$0] } ?? [])
            old = known.manifest
        } else {
            context.progress.step("reading \(manager.target)")
            state = try manager.state()
            if let current = state.current {
                old = (try? manager.readManifest(current).files) ?? [:]
            }
        }
        let changes = FileChanges.between(old: old, new: manifest.files)

        var checksRun: [String] = []
        if runChecks {
            for check in env.checks ?? [] where !check.isEmpty {
                try context.interrupt.check()
                let argv = check.map { $0.replacingAll("{release}", with: tree) }
                context.progress.step("check: " + argv.joined(separator: " "))
                let request = ProcessRequest(argv[0], Array(argv.dropFirst()), workingDirectory: tree, timeout: 300,
                                             secrets: Array(inputs.secrets.values))
                let result = try context.runner.run(request)
                if !result.succeeded {
                    let tail = Redactor(secrets: Array(inputs.secrets.values)).redact(ToolError.tail(of: result.stderrString + result.stdoutString))
                    throw CoreError.failed("check failed for \(envName): \(request.displayArgv.joined(separator: " ")) exited with status \(result.status)"
                                           + (tail.isEmpty ? "" : ": " + tail),
                                           hint: "nothing was pushed; fix the org or the check in environments.\(envName).checks")
                }
                checksRun.append(request.displayArgv.joined(separator: " "))
            }
        }

        var outcome = DeployOutcome(org: orgName, env: envName, target: manager.target.description, action: action, dry_run: dryRun,
                                    release: nil, previous: state.current?.rawValue, snapshot: snapshot, source: source,
                                    files: manifest.count, changes: changes, secret_files: rendered.secretFiles,
                                    transport: nil, files_sent: nil, files_linked: nil, bytes_sent: nil, pruned: [],
                                    checks: checksRun, broke_lock: nil)
        if dryRun { return outcome }
        try context.interrupt.check()
        let id = newReleaseID(contentHash: manifest.contentHash, state: state)
        let meta = ReleaseMetadata(org: orgName, env: envName, snapshot: snapshot ?? "", created: context.now(), by: by,
                                   source: source, message: message)
        let handed = held
        held = nil // deploy releases it from here on
        var entry = LocalHistoryEntry(time: Timestamps.iso8601(context.now()), org: orgName, env: envName, action: action,
                                      release: id.rawValue, previous: state.current?.rawValue, snapshot: snapshot,
                                      target: manager.target.description, by: by, source: source, message: message)
        let journal = try beginChange(entry)
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
        recordChange(entry, journal: journal)
        return outcome
    }

    func recordHistory(_ entry: LocalHistoryEntry) {
        do { try history.append(entry) } catch { context.progress.warn("could not write the local history: \(error)") }
    }

    /// `org push ORG ENV`: validate, snapshot the org source, render, deploy, record.
    public func push(org name: String, env envName: String, message: String?, dryRun: Bool, approve: Bool) throws -> DeployOutcome {
        try Names.validate(name, what: "org")
        if !dryRun { reconcilePending(name) }
        try Names.validate(envName, what: "env")
        let (org, inputs) = try loadValid(name, renderEnvironments: [])
        let env = try org.environment(envName)
        if !dryRun { try requireApproval(env, name: envName, verb: "push", approve: approve) }
        // Every template must render for this environment before anything is touched.
        _ = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets, into: nil, templatesOnly: true)
        _ = try env.deployTarget()
        if dryRun {
            return try renderAndDeploy(org: org, inputs: inputs, orgName: name, envName: envName, env: env, snapshot: nil,
                                       action: "push", source: "push", message: message, dryRun: true)
        }
        // Reach the target first: a dead host fails before anything changes locally. Its lock
        // is taken and what `current` holds is read in the same round trip; the lock is held
        // from here to the commit (released on any failure).
        let target = try manager(env)
        context.progress.step("locking \(target.target)")
        var lock: ReleaseManager.AcquiredLock? = try target.acquireLock(reading: KnownTarget.paths)
        defer { if let lock { try? target.transport.unlock(token: lock.token) } }
        let state = KnownTarget.from(lock?.files ?? [:])
        // Snapshot and render under the org's lock, so no other tetra command changes the
        // source in between; the transfer is guarded by the target's own lock.
        return try withOrgLock(name) {
            context.progress.step("snapshotting \(name)")
            // The snapshot's walk of files/ is the render's (one walk, its hashes included).
            let snap = try snapshots.take(org: name, directory: org.directory, reason: "push \(envName)", by: by, now: context.now(),
                                          scanning: "files")
            let held = lock
            lock = nil // renderAndDeploy releases it from here on
            return try renderAndDeploy(org: org, inputs: inputs, orgName: name, envName: envName, env: env, snapshot: snap.id,
                                       action: "push", source: "push", message: message, dryRun: false, scanned: snap.scanned,
                                       known: state, held: held)
        }
    }

    // MARK: - promote

    /// `env promote FROM TO`: the snapshot deployed at FROM, rendered for TO, pushed to TO.
    /// The snapshot supplies the content (files, vars); the working copy decides where and
    /// how (TO's target, protection, promote_from, checks, keep_releases, ssh settings).
    public func promote(org name: String, from: String, to: String, validate: Bool, approve: Bool, dryRun: Bool,
                        message: String?) throws -> DeployOutcome {
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
        let fromManager = try manager(fromEnv)
        context.progress.step("reading \(fromManager.target)")
        guard let release = try fromManager.current() else {
            throw CoreError.notFound(what: "release", name: "current of \(from)", hint: "push \(from) first: tetra org push \(name) \(from)")
        }
        let meta = try fromManager.metadata(release)
        guard !meta.snapshot.isEmpty else {
            throw CoreError.notFound(what: "snapshot", name: "of \(from)@\(release)", hint: "that release records no snapshot; push \(from) again")
        }
        guard snapshots.exists(meta.snapshot) else {
            throw CoreError.notFound(what: "snapshot", name: meta.snapshot,
                                     hint: "\(from)@\(release) was pushed from another machine; its snapshot is kept there")
        }
        if !dryRun { try snapshotWorkingCopy(name, reason: "promote \(from) to \(to)") }
        let dir = try scratch("promote")
        defer { removeScratch(dir) }
        let source = dir + "/org"
        try AtomicFile.ensureDirectory(source, mode: 0o700)
        try snapshots.restore(meta.snapshot, into: source)
        let snapOrg = try LoadedOrg.load(name: name, directory: source, displayName: "snapshot \(meta.snapshot):org.toml")
        let inputs = validator.inputs(orgDirectory: working.directory)
        let problems = inputs.problems.isEmpty ? [] : inputs.problems
        if !problems.isEmpty { throw ConfigError(problems) }
        _ = try snapOrg.environment(to)
        return try renderAndDeploy(org: snapOrg, inputs: inputs, orgName: name, envName: to, env: toEnv, snapshot: meta.snapshot,
                                   action: "promote", source: "promoted from \(from)@\(release)", message: message,
                                   dryRun: dryRun, runChecks: validate)
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

    public func rollback(org name: String, env envName: String, to: String?, approve: Bool, dryRun: Bool) throws -> RollbackOutcome {
        try Names.validate(name, what: "org")
        if !dryRun { reconcilePending(name) }
        try Names.validate(envName, what: "env")
        let org = try store.load(name)
        let env = try org.environment(envName)
        let wanted = try to.map { try ReleaseID($0) }
        if !dryRun { try requireApproval(env, name: envName, verb: "rollback", approve: approve) }
        let manager = try manager(env)
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
        let source = dir + "/org"
        try AtomicFile.ensureDirectory(source, mode: 0o700)
        try snapshots.restore(snap, into: source)
        let snapOrg = try LoadedOrg.load(name: name, directory: source, displayName: "snapshot \(snap):org.toml")
        let inputs = validator.inputs(orgDirectory: org.directory)
        if !inputs.problems.isEmpty { throw ConfigError(inputs.problems) }
        let deployed = try renderAndDeploy(org: snapOrg, inputs: inputs, orgName: name, envName: envName, env: env, snapshot: snap,
                                           action: "rollback",
                                           source: "rollback to \(targetID) (\(drift == nil ? "re-rendered" : "rebuilt, it had drifted,") from snapshot \(snap))",
                                           message: nil, dryRun: dryRun)
        outcome.how = "re-rendered"
        outcome.snapshot = snap
        outcome.deployed = deployed
        if let r = deployed.release { outcome.release = r }
        return outcome
    }

    // MARK: - status / drift

    public struct EnvStatus: Encodable, Sendable {
        public var env: String
        public var target: String
        public var protected: Bool
        public var release: String?
        public var created: String?
        public var by: String?
        public var source: String?
        public var snapshot: String?
        public var drift: DriftSummary?
        public var error: String?
        /// The release a rollback would go back to, when it has drifted too (see `rollbackDrift`).
        public var rollback_target: RollbackTargetDrift? = nil
    }

    public struct DriftSummary: Encodable, Sendable {
        public var changed: [String]
        public var missing: [String]
        public var added: [String]
        public var clean: Bool
        init(_ r: DriftReport) {
            changed = r.changed
            missing = r.missing
            added = r.added
            clean = r.isClean
        }
    }

    public func status(org name: String, env only: String?) throws -> [EnvStatus] {
        let org = try store.load(name)
        let names = try only.map { [try Names.validated($0, what: "env")] } ?? org.environmentNames
        var out: [EnvStatus] = []
        for envName in names {
            let env = try org.environment(envName)
            var s = EnvStatus(env: envName, target: env.target, protected: env.isProtected)
            do {
                let manager = try manager(env)
                s.target = manager.target.description
                context.progress.step("reading \(manager.target)")
                if let current = try manager.current() {
                    s.release = current.rawValue
                    let meta = try checkedMetadata(current, manager: manager)
                    if let meta = meta.metadata {
                        s.created = Timestamps.iso8601(meta.created)
                        s.by = meta.by
                        s.source = meta.source
                        s.snapshot = meta.snapshot.isEmpty ? nil : meta.snapshot
                    }
                    s.error = meta.problem
                    s.drift = DriftSummary(try manager.drift(current))
                    if s.drift?.clean == false { s.rollback_target = try rollbackDrift(manager: manager) }
                }
            } catch let e as any TetraError {
                if only != nil { throw e }
                s.error = e.message
            }
            out.append(s)
        }
        return out
    }

    // MARK: - diff

    public struct FileDiff: Encodable, Sendable {
        public var path: String
        /// "added", "removed", "changed"
        public var status: String
        /// The unified diff (nil for secret-bearing or binary files).
        public var diff: String?
        public var note: String?
    }

    public struct TreeComparison: Encodable, Sendable {
        public var from: String
        public var to: String
        public var changes: FileChanges
        public var files: [FileDiff]
        public var identical: Bool
    }

    /// Compares two local trees (rendered or fetched); contents of files with mode 0600 (or
    /// named in `secretPaths`) and non-UTF-8 files are never shown.
    public static func compareTrees(old: String, new: String, oldLabel: String, newLabel: String,
                                    secretPaths: Set<String> = []) throws -> TreeComparison {
        let a = try ReleaseManifest.build(from: old)
        let b = try ReleaseManifest.build(from: new)
        let changes = FileChanges.between(old: a.files, new: b.files)
        var files: [FileDiff] = []
        func secret(_ path: String) -> Bool {
            if secretPaths.contains(path) { return true }
            for p in [old + "/" + path, new + "/" + path] {
                var st = stat()
                if lstat(p, &st) == 0, st.st_mode & 0o077 == 0 { return true }
            }
            return false
        }
        func text(_ p: String) -> String? {
            guard let d = try? AtomicFile.readIfExists(p) else { return "" }
            return String(data: d, encoding: .utf8)
        }
        for (path, status) in changes.added.map({ ($0, "added") }) + changes.removed.map({ ($0, "removed") }) + changes.changed.map({ ($0, "changed") }) {
            if secret(path) {
                files.append(FileDiff(path: path, status: status, diff: nil, note: "holds secrets (mode 0600): content not shown"))
                continue
            }
            let o = status == "added" ? "" : text(old + "/" + path)
            let n = status == "removed" ? "" : text(new + "/" + path)
            guard let o, let n else {
                files.append(FileDiff(path: path, status: status, diff: nil, note: "binary file"))
                continue
            }
            files.append(FileDiff(path: path, status: status,
                                  diff: TextDiff.unified(old: o, new: n, oldName: status == "added" ? "/dev/null" : oldLabel + "/" + path,
                                                         newName: status == "removed" ? "/dev/null" : newLabel + "/" + path),
                                  note: nil))
        }
        files.sort { ReleaseManifest.pathOrder($0.path, $1.path) }
        return TreeComparison(from: oldLabel, to: newLabel, changes: changes, files: files, identical: changes.isEmpty)
    }

    /// `org diff ORG ENV`: the env's current release (old) against the local render (new).
    public func diff(org name: String, env envName: String) throws -> TreeComparison {
        let (org, inputs) = try loadValid(name)
        let env = try org.environment(envName)
        let manager = try manager(env)
        let dir = try scratch("diff")
        defer { removeScratch(dir) }
        let local = dir + "/local", remote = dir + "/remote"
        for d in [local, remote] { try AtomicFile.ensureDirectory(d, mode: 0o700) }
        let rendered = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets, into: local)
        context.progress.step("fetching the current release of \(envName)")
        let current = try manager.current()
        if let current { try manager.fetch(current, into: remote) }
        return try Self.compareTrees(old: remote, new: local, oldLabel: "\(envName)@\(current?.rawValue ?? "none")",
                                     newLabel: "local", secretPaths: Set(rendered.secretFiles))
    }

    /// `env diff FROM TO`: what is deployed at FROM (old) against TO (new).
    public func envDiff(org name: String, from: String, to: String) throws -> TreeComparison {
        let org = try store.load(name)
        let fromEnv = try org.environment(from)
        let toEnv = try org.environment(to)
        let dir = try scratch("envdiff")
        defer { removeScratch(dir) }
        var labels: [String] = []
        for (envName, env, sub) in [(from, fromEnv, "a"), (to, toEnv, "b")] {
            let m = try manager(env)
            try AtomicFile.ensureDirectory(dir + "/" + sub, mode: 0o700)
            context.progress.step("fetching the current release of \(envName)")
            guard let current = try m.current() else {
                throw CoreError.notFound(what: "release", name: "current of \(envName)", hint: "nothing is deployed to \(envName) yet")
            }
            try m.fetch(current, into: dir + "/" + sub)
            labels.append("\(envName)@\(current)")
        }
        return try Self.compareTrees(old: dir + "/a", new: dir + "/b", oldLabel: labels[0], newLabel: labels[1])
    }

    // MARK: - pull

    public struct PullOutcome: Encodable, Sendable {
        public var org: String
        public var env: String
        public var target: String
        public var release: String?
        public var drift: DriftSummary?
        /// The current release against the local render.
        public var local_differences: FileChanges
        public var written: [String]
        public var skipped: [String]
        public var snapshot: String?
        /// Local files changed since the release was made that --write --force overwrote.
        public var overwritten: [String] = []
    }

    public func pull(org name: String, env envName: String, write: Bool, force: Bool = false) throws -> PullOutcome {
        try Names.validate(name, what: "org")
        let (org, inputs) = try loadValid(name)
        let env = try org.environment(envName)
        let manager = try manager(env)
        context.progress.step("reading \(manager.target)")
        guard let current = try manager.current() else {
            throw CoreError.notFound(what: "release", name: "current of \(envName)", hint: "nothing is deployed to \(envName) yet")
        }
        let drift = try manager.drift(current)
        let dir = try scratch("pull")
        defer { removeScratch(dir) }
        let local = dir + "/local", remote = dir + "/remote"
        for d in [local, remote] { try AtomicFile.ensureDirectory(d, mode: 0o700) }
        _ = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets, into: local)
        context.progress.step("fetching \(envName)@\(current)")
        try manager.fetch(current, into: remote)
        let remoteManifest = try ReleaseManifest.build(from: remote)
        let localManifest = try ReleaseManifest.build(from: local)
        var outcome = PullOutcome(org: name, env: envName, target: manager.target.description, release: current.rawValue,
                                  drift: DriftSummary(drift), local_differences: FileChanges.between(old: remoteManifest.files, new: localManifest.files),
                                  written: [], skipped: [], snapshot: nil)
        guard write, !(drift.changed.isEmpty && drift.added.isEmpty) else { return outcome }
        let candidates = (drift.changed + drift.added).sorted(by: ReleaseManifest.pathOrder)
        var toWrite: [String] = []
        for path in candidates {
            if LocalFiles.exists(org.filesDirectory + "/" + path + ".tmpl") {
                outcome.skipped.append(path + " (rendered from files/\(path).tmpl; edit the template)")
            } else if !SnapshotStore.isRelativeInside(path) {
                outcome.skipped.append(path + " (unsafe path)")
            } else {
                toWrite.append(path)
            }
        }
        if toWrite.isEmpty { return outcome }
        // A local file changed since the release was made is never overwritten silently.
        let conflicts = try pullConflicts(toWrite, org: org, release: current, manager: manager, fetched: remote)
        toWrite.removeAll { conflicts.unchanged.contains($0) }
        outcome.skipped += conflicts.unchanged.map { $0 + " (already the same locally)" }
        if !conflicts.changed.isEmpty {
            if !force { throw Self.pullConflictError(conflicts.changed, org: name, env: envName) }
            outcome.overwritten = conflicts.changed
        }
        if toWrite.isEmpty { return outcome }
        try withOrgLock(name) {
            let snap = try snapshots.take(org: name, directory: org.directory, reason: "before pull --write \(envName)", by: by, now: context.now())
            outcome.snapshot = snap.id
            for path in toWrite {
                let from = remote + "/" + path
                var st = stat()
                guard lstat(from, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let data = try AtomicFile.readIfExists(from) else { continue }
                let dest = org.filesDirectory + "/" + path
                try AtomicFile.ensureDirectory(PathText.parent(dest), mode: 0o755)
                try AtomicFile.write(data, to: dest, mode: st.st_mode & 0o777)
                outcome.written.append(path)
            }
        }
        return outcome
    }

    // MARK: - history

    public struct HistoryRecord: Encodable, Sendable {
        public var time: String
        public var env: String
        /// "local" (this machine's state/history) or "target" (the target's .tetra/history.jsonl).
        public var origin: String
        public var action: String
        public var release: String
        public var previous: String?
        public var by: String
        public var source: String?
        public var message: String?
        public var snapshot: String?
    }

    public func historyRecords(org name: String, env only: String?) throws -> (records: [HistoryRecord], problems: [String]) {
        let org = try store.load(name)
        let names = try only.map { [try Names.validated($0, what: "env")] } ?? org.environmentNames
        var out: [HistoryRecord] = []
        var problems: [String] = []
        let local = try history.entriesChecked(name)
        for line in local.corrupt { context.progress.warn(line) }
        for e in local.entries where names.contains(e.env) {
            out.append(HistoryRecord(time: e.time, env: e.env, origin: "local", action: e.action, release: e.release, previous: e.previous,
                                     by: e.by, source: e.source, message: e.message, snapshot: e.snapshot))
        }
        for envName in names {
            let env = try org.environment(envName)
            do {
                let m = try manager(env)
                context.progress.step("reading the history of \(m.target)")
                let remote = try m.historyChecked()
                for line in remote.corrupt { context.progress.warn(line) }
                for h in remote.entries where h.org == nil || h.org == name {
                    out.append(HistoryRecord(time: h.time, env: envName, origin: "target", action: h.action, release: h.release,
                                             previous: h.previous, by: h.by, source: h.source, message: h.message, snapshot: nil))
                }
            } catch let e as any TetraError {
                if only != nil { throw e }
                problems.append("\(envName): \(e.message)")
            }
        }
        out.sort { ($0.time, $0.origin) < ($1.time, $1.origin) }
        return (out, problems)
    }
}
