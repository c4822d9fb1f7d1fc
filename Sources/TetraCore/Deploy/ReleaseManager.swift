import FoundationEssentials
import Glibc

/// What `deploy` did.
public struct DeployResult: Sendable, Equatable {
    public var release: ReleaseID
    /// What `current` pointed to before.
    public var previous: ReleaseID?
    public var transfer: TransferStats
    public var pruned: [ReleaseID]
    /// Releases that should have been pruned but could not be removed (retried next time).
    public var pruneFailures: [String]
    /// Leftovers of earlier crashed runs that were removed (`<id>.partial`).
    public var cleanedPartials: [String]
    /// A stale lock that was broken to do this deploy.
    public var brokeLock: TargetLockRecord?
    public var duration: TimeInterval
}

/// What `activate` did.
public struct ActivateResult: Sendable, Equatable {
    public var release: ReleaseID
    public var previous: ReleaseID?
    /// False when the release was already current (nothing was changed or recorded).
    public var changed: Bool
    public var brokeLock: TargetLockRecord?
}

/// One release at a target, for listings.
public struct ReleaseSummary: Sendable, Equatable {
    public var id: ReleaseID
    public var isCurrent: Bool
    /// nil when the release has no readable `.tetra-release.toml`.
    public var metadata: ReleaseMetadata?
}

/// Releases at one target (SPEC §2): deploy a rendered tree as a new release, switch
/// `current`, roll back, list, read history, detect drift, fetch. Core only: returns values,
/// throws typed errors, reports progress to `context.progress`, never prints.
///
/// Guarantees:
/// - `current` always points to a complete release: a release is uploaded into
///   `releases/<id>.partial`, renamed to `releases/<id>` when complete, and only then is
///   `current` switched, by renaming a new symlink over it.
/// - Every change holds the target lock `.tetra/lock` (created atomically; holder pid, host,
///   user, command, time and TTL recorded). A held lock that has not expired fails with
///   `CoreError.lockHeld` (exit 5) naming the holder, after waiting up to
///   `context.lockWait`. A lock whose TTL has passed, or whose holder ran on this host and
///   is gone, is broken; that is reported (`progress.warn`, the result, the history line).
/// - A `.partial` left by a crash is removed by the next change under the lock.
/// - `context.interrupt` is checked between steps; on interrupt the partial upload is
///   removed, the lock released and `CoreError.interrupted` thrown. The final step (commit)
///   is never cut short.
public struct ReleaseManager: Sendable {
    public let transport: any ReleaseTransport
    public let context: CoreContext
    /// How long a lock stays valid without its holder (a crashed deployer on another host).
    public var lockTTL: TimeInterval

    public static let defaultKeep = 5
    public static let defaultLockTTL: TimeInterval = 3600

    public init(transport: any ReleaseTransport, context: CoreContext, lockTTL: TimeInterval = ReleaseManager.defaultLockTTL) {
        self.transport = transport
        self.context = context
        self.lockTTL = lockTTL
    }

    public init(target: DeployTarget, context: CoreContext, options: TransportOptions = TransportOptions(),
                lockTTL: TimeInterval = ReleaseManager.defaultLockTTL) {
        self.init(transport: target.transport(context: context, options: options), context: context, lockTTL: lockTTL)
    }

    public var target: DeployTarget { transport.target }
    var by: String { context.userName + "@" + context.hostName }
    var commandText: String { context.commandLine.isEmpty ? "tetra" : context.commandLine.joined(separator: " ") }

    // MARK: - deploy

    /// Deploys `renderedTree` (a local directory whose files `manifest` lists) as release
    /// `releaseId`, switches `current` to it, records history and prunes to `keep` releases
    /// (never the new current one or the one it replaced).
    ///
    /// `sources`: files of the manifest that are not in `renderedTree` (relative path →
    /// absolute local path), for local targets only (see `UploadRequest.sources`).
    public func deploy(renderedTree: String, manifest: ReleaseManifest, releaseId: ReleaseID, metadata: ReleaseMetadata,
                       keep: Int = ReleaseManager.defaultKeep, sources: [String: SourceFile] = [:],
                       known: KnownRelease? = nil) throws -> DeployResult {
        try deploy(renderedTree: renderedTree, manifest: manifest, releaseId: releaseId, metadata: metadata, keep: keep,
                   sources: sources, known: known, held: nil)
    }

    /// `deploy` under a lock already taken with `acquireLock` (which it releases, or the
    /// commit does).
    func deploy(renderedTree: String, manifest: ReleaseManifest, releaseId: ReleaseID, metadata: ReleaseMetadata,
                keep: Int, sources: [String: SourceFile], known: KnownRelease?, held: AcquiredLock?) throws -> DeployResult {
        var held = held
        defer { if let lock = held { try? transport.unlock(token: lock.token) } }
        if !sources.isEmpty && !target.isLocal {
            throw CoreError.invalidArgument("files outside the rendered tree can only be deployed to a local target")
        }
        let started = Monotonic.now()
        try context.interrupt.check()
        for name in ReleaseManifest.reservedNames where manifest.files[name] != nil {
            throw CoreError.invalidArgument("the rendered tree contains '\(name)', a name tetra reserves")
        }
        let meta = Self.completed(metadata, id: releaseId, manifest: manifest)

        let lock: AcquiredLock
        if let taken = held {
            lock = taken
            held = nil
        } else {
            context.progress.step("locking \(target)")
            lock = try acquireLock()
        }
        var locked = true
        defer { if locked { try? transport.unlock(token: lock.token) } }
        reportCleanup(lock.state)
        let state = lock.state
        if state.releases.contains(releaseId) {
            throw CoreError.conflict("release \(releaseId) already exists at \(target)",
                                     hint: "release ids include the time to the second; deploy again")
        }
        let previous = state.current.flatMap { state.releases.contains($0) ? $0 : nil }

        var uploading = false
        do {
            try context.interrupt.check()
            let prune = Self.pruneList(releases: state.releases + [releaseId], current: releaseId, previous: previous, keep: keep)
            // A local upload may turn the oldest release this deploy prunes into the new one
            // (it then changes only what differs instead of linking every file and removing
            // the old release file by file).
            var request = UploadRequest(tree: renderedTree, manifest: manifest, release: releaseId,
                                        previous: previous, state: state, sources: sources,
                                        recycle: target.isLocal && previous != nil ? prune.first : nil,
                                        previousFiles: known.flatMap { $0.id == previous ? $0.files : nil })
            request.setsTotals = true
            func plan(_ stats: TransferStats?) -> CommitPlan {
                commitPlan(releaseId, manifest: manifest, metadata: meta, previous: previous, stats: stats, lock: lock,
                           prune: prune.filter { $0 != stats?.recycled }, unlock: true,
                           verify: !target.isLocal && state.remoteHasSha256sum)
            }
            func finished(stats: TransferStats, outcome: CommitOutcome) -> DeployResult {
                for failure in outcome.pruneFailures { context.progress.warn("could not prune release \(failure)") }
                let failed = Set(outcome.pruneFailures.compactMap { $0.split(separator: ":").first.map(String.init) })
                return DeployResult(release: releaseId, previous: previous, transfer: stats,
                                    pruned: prune.filter { !failed.contains($0.rawValue) }, pruneFailures: outcome.pruneFailures,
                                    cleanedPartials: state.partials.filter { p in !state.cleanupProblems.contains { $0.hasSuffix(p) } },
                                    brokeLock: lock.broken, duration: Monotonic.now() - started)
            }
            // A release that differs little from the previous one goes as a delta, uploaded
            // and committed in one step (ssh: one session) when the transport can.
            if let known, known.id == previous, let delta = transport as? any DeltaDeploying {
                context.progress.step("sending the changes since \(known.id) to \(target)")
                uploading = true
                if let (stats, outcome) = try delta.deltaDeploy(request, previous: known, plan: plan(nil)) {
                    uploading = false
                    locked = false
                    return finished(stats: stats, outcome: outcome)
                }
                try context.interrupt.check()
            }
            context.progress.phase("sending to \(target)", files: manifest.count, bytes: nil)
            uploading = true
            let stats = try transport.upload(request)
            try context.interrupt.check()

            context.progress.step("switching current to \(releaseId)")
            let outcome = try transport.commit(plan(stats))
            uploading = false
            locked = false
            return finished(stats: stats, outcome: outcome)
        } catch {
            if uploading { try? transport.removePartial(releaseId) }
            throw error
        }
    }

    /// `metadata` with the release's id, content hash and file count.
    static func completed(_ metadata: ReleaseMetadata, id: ReleaseID, manifest: ReleaseManifest) -> ReleaseMetadata {
        var meta = metadata
        meta.id = id.rawValue
        meta.contentHash = manifest.contentHash
        meta.fileCount = manifest.count
        return meta
    }

    /// The commit of a deploy of `id` (uploaded as `<id>.partial`): tetra's files written into
    /// it, finalized, `current` switched, the target's history line, the prune; the lock
    /// released with it when `unlock` (a fleet push keeps it until every host is settled).
    func commitPlan(_ id: ReleaseID, manifest: ReleaseManifest, metadata meta: ReleaseMetadata, previous: ReleaseID?,
                    stats: TransferStats?, lock: AcquiredLock, prune: [ReleaseID], unlock: Bool, verify: Bool) -> CommitPlan {
        let entry = HistoryEntry(time: Timestamps.iso8601(context.now()), action: "deploy", release: id.rawValue,
                                 previous: previous?.rawValue, org: meta.org, env: meta.env, by: by, command: commandText,
                                 source: meta.source, message: meta.message, files: manifest.count,
                                 bytesSent: stats?.bytesSent, transport: stats?.method ?? "delta",
                                 brokeLock: lock.broken?.holderDescription)
        let files: [String: Data] = [
            ReleaseManifest.fileName: Data(manifest.bytes),
            ReleaseManifest.metadataFileName: Data(meta.toml.utf8),
        ]
        return CommitPlan(finalize: id, releaseFiles: files, activate: id, historyLine: entry.jsonLine, prune: prune,
                          unlockToken: unlock ? lock.token : nil, verify: verify)
    }

    /// Releases to remove so that at most `keep` remain, newest first, always keeping
    /// `current` and `previous`.
    public static func pruneList(releases: [ReleaseID], current: ReleaseID?, previous: ReleaseID?, keep: Int) -> [ReleaseID] {
        let sorted = Array(Set(releases)).sorted(by: >)
        var kept = Set(sorted.prefix(max(keep, 1)))
        if let current { kept.insert(current) }
        if let previous { kept.insert(previous) }
        return sorted.filter { !kept.contains($0) }.sorted()
    }

    // MARK: - activate (rollback)

    /// Points `current` at an existing release (rollback, or roll forward again).
    public func activate(_ id: ReleaseID, source: String = "rollback", message: String? = nil,
                         org: String? = nil, env: String? = nil) throws -> ActivateResult {
        try context.interrupt.check()
        let lock = try acquireLock()
        var locked = true
        defer { if locked { try? transport.unlock(token: lock.token) } }
        reportCleanup(lock.state)
        let state = lock.state
        guard state.releases.contains(id) else {
            throw CoreError.notFound(what: "release", name: id.rawValue,
                                     hint: "releases at \(target): " + (state.releases.isEmpty ? "none" : state.releases.map(\.rawValue).joined(separator: ", ")))
        }
        if state.current == id {
            return ActivateResult(release: id, previous: id, changed: false, brokeLock: lock.broken)
        }
        try context.interrupt.check()
        var orgName = org
        var envName = env
        if orgName == nil || envName == nil, let meta = try? metadata(id) {
            orgName = orgName ?? meta.org
            envName = envName ?? meta.env
        }
        context.progress.step("switching current to \(id)")
        try transport.commit(activatePlan(id, previous: state.current, source: source, message: message, org: orgName, env: envName,
                                          lock: lock, unlock: true))
        locked = false
        return ActivateResult(release: id, previous: state.current, changed: true, brokeLock: lock.broken)
    }

    /// The start of the history `source` of a push's own going back after a failed check
    /// (`rollback: verify failed`), which a plain rollback does not undo.
    static let goingBackSource = "rollback: "

    /// The commit that points `current` at the existing release `id`, with its history line;
    /// the lock released with it when `unlock`.
    func activatePlan(_ id: ReleaseID, previous: ReleaseID?, source: String, message: String?, org: String?, env: String?,
                      lock: AcquiredLock, unlock: Bool) -> CommitPlan {
        let entry = HistoryEntry(time: Timestamps.iso8601(context.now()), action: "activate", release: id.rawValue,
                                 previous: previous?.rawValue, org: org, env: env, by: by, command: commandText,
                                 source: source, message: message, brokeLock: lock.broken?.holderDescription)
        return CommitPlan(finalize: nil, activate: id, historyLine: entry.jsonLine, prune: [], unlockToken: unlock ? lock.token : nil)
    }

    /// The release a plain rollback goes back to: the one `current` replaced (from the
    /// history; a push's own going back after a failed check does not count), else the newest
    /// release older than `current`. nil when there is none.
    public func rollbackCandidate() throws -> ReleaseID? {
        let state = try transport.inspect()
        guard let current = state.current else { return nil }
        for entry in try history().reversed() where entry.release == current.rawValue {
            // A push that went back by itself replaced the release that failed: the one
            // before is the entry that first made `current` current.
            if entry.action == "activate", entry.source?.hasPrefix(Self.goingBackSource) == true { continue }
            if let prev = entry.previous, let id = try? ReleaseID(prev), state.releases.contains(id), id != current { return id }
            break
        }
        return state.releases.filter { $0 < current }.last
    }

    // MARK: - reading

    /// The release `current` points to (nil before the first deploy).
    public func current() throws -> ReleaseID? {
        try transport.inspect().current
    }

    public func state() throws -> TargetState {
        try transport.inspect()
    }

    /// Every complete release, oldest first, with its metadata (one round trip over ssh).
    public func list() throws -> [ReleaseSummary] {
        let state = try transport.inspect()
        let paths = state.releases.map { "releases/\($0.rawValue)/\(ReleaseManifest.metadataFileName)" }
        let files = try transport.readFiles(paths)
        return state.releases.map { id in
            let meta = files["releases/\(id.rawValue)/\(ReleaseManifest.metadataFileName)"].flatMap {
                try? ReleaseMetadata.parse(String(decoding: $0, as: UTF8.self))
            }
            return ReleaseSummary(id: id, isCurrent: id == state.current, metadata: meta)
        }
    }

    /// `.tetra/history.jsonl`, oldest first.
    public func history() throws -> [HistoryEntry] {
        let files = try transport.readFiles([".tetra/history.jsonl"])
        guard let data = files[".tetra/history.jsonl"] else { return [] }
        return HistoryEntry.parseLines(String(decoding: data, as: UTF8.self))
    }

    /// The lock record, when the target is locked.
    public func lockHolder() throws -> TargetLockRecord? {
        let files = try transport.readFiles([".tetra/lock"])
        return files[".tetra/lock"].flatMap { TargetLockRecord.parse(String(decoding: $0, as: UTF8.self)) }
    }

    public func readManifest(_ id: ReleaseID) throws -> ReleaseManifest {
        let rel = "releases/\(id.rawValue)/\(ReleaseManifest.fileName)"
        guard let data = try transport.readFiles([rel])[rel] else {
            throw CoreError.notFound(what: "release", name: id.rawValue, hint: "no manifest at \(target)/\(rel)")
        }
        return try ReleaseManifest.parse(String(decoding: data, as: UTF8.self), file: "\(target)/\(rel)")
    }

    public func metadata(_ id: ReleaseID) throws -> ReleaseMetadata {
        let rel = "releases/\(id.rawValue)/\(ReleaseManifest.metadataFileName)"
        guard let data = try transport.readFiles([rel])[rel] else {
            throw CoreError.notFound(what: "release", name: id.rawValue, hint: "no metadata at \(target)/\(rel)")
        }
        return try ReleaseMetadata.parse(String(decoding: data, as: UTF8.self), file: "\(target)/\(rel)")
    }

    /// Files at the target that differ from the release's manifest: changed, missing, added.
    public func drift(_ id: ReleaseID) throws -> DriftReport {
        let manifest = try readManifest(id)
        var actual = try transport.hashTree(id)
        for name in ReleaseManifest.reservedNames { actual[name] = nil }
        return DriftReport.compare(release: id.rawValue, manifest: manifest, actual: actual)
    }

    /// Copies a release's files (not tetra's metadata) into an existing empty local directory.
    public func fetch(_ id: ReleaseID, into destination: String) throws {
        try transport.fetch(id, into: destination)
    }

    // MARK: - locking

    struct AcquiredLock {
        var token: String
        var state: TargetState
        var broken: TargetLockRecord?
        /// The files read under the lock as it was taken (`acquireLock(reading:)`).
        var files: [String: Data] = [:]
        /// The keeper session proving us alive at the target (ssh), ended when the last copy
        /// of this lock goes: after the unlock.
        var keeper: LockKeeper? = nil
    }

    func acquireLock(reading: [String] = []) throws -> AcquiredLock {
        let deadline = Monotonic.now() + max(0, context.lockWait)
        var broken: TargetLockRecord? = nil
        var breakAttempts = 0
        // One token for every attempt: the keeper (started first, see LockKeeper) holds the
        // flock the lock script waits for before it links a record naming it.
        let token = TargetLockRecord.newToken()
        let keeper = transport.startKeeper(token: token)
        while true {
            try context.interrupt.check()
            let now = context.now()
            var record = TargetLockRecord(token: token, pid: getpid(), host: context.hostName,
                                          user: context.userName, command: commandText, time: now, ttl: Int(lockTTL.rounded(.up)),
                                          startTime: ProcessIdentity.startTime(pid: getpid()))
            record.keeper = keeper == nil ? nil : true
            let (attempt, files) = try transport.tryLock(record, reading: reading)
            let raw: String, gone: Bool
            switch attempt {
            case .acquired(let state):
                return AcquiredLock(token: record.token, state: state, broken: broken, files: files, keeper: keeper)
            case .held(let text): (raw, gone) = (text, false)
            case .abandoned(let text): (raw, gone) = (text, true)
            }
            let holder = TargetLockRecord.parse(raw)
            if let holder, breakAttempts < 3, gone || holder.isExpired(now: now) || holder.isDeadLocalProcess {
                breakAttempts += 1
                let why = gone ? "its session on the target ended" : holder.isDeadLocalProcess ? "its process is gone" : "it expired"
                if try transport.breakLock(token: holder.token) {
                    broken = holder
                    context.progress.warn("broke a stale lock on \(target) (\(why)): held by \(holder.holderDescription)")
                }
                continue
            }
            if Monotonic.now() < deadline {
                Threads.sleep(min(0.5, max(0.05, deadline - Monotonic.now())))
                continue
            }
            let lockPath = target.description + "/.tetra/lock"
            if let holder {
                throw CoreError.lockHeld(resource: "target \(target)", holder: holder.holderDescription,
                                         hint: "wait for it to finish (or use --lock-wait); a lock whose holder is gone is broken "
                                             + "automatically (at once if it has a keeper session, else once it expires), "
                                             + "or remove \(lockPath)")
            }
            throw CoreError.lockHeld(resource: "target \(target)", holder: "an unreadable lock record",
                                     hint: "if no deploy is running, remove \(lockPath)")
        }
    }

    private func reportCleanup(_ state: TargetState) {
        for problem in state.cleanupProblems { context.progress.warn(problem) }
    }
}
