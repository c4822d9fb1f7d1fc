import FoundationEssentials
import Glibc

/// What a target looks like right now.
public struct TargetState: Sendable, Equatable {
    /// The target directory exists (with a `releases/` directory).
    public var exists: Bool
    /// `current`'s raw link text (`releases/<id>`), nil when there is no `current`.
    public var currentLink: String?
    /// The release `current` points to, when it is `releases/<valid id>`.
    public var current: ReleaseID?
    /// Complete releases, oldest first.
    public var releases: [ReleaseID]
    /// Leftovers of interrupted uploads (`<id>.partial`).
    public var partials: [String]
    /// Remote only: `rsync` / `sha256sum` are on the target's PATH.
    public var remoteHasRsync: Bool
    public var remoteHasSha256sum: Bool
    /// Problems met while cleaning leftovers (reported as warnings, retried next time).
    public var cleanupProblems: [String]

    public init(exists: Bool = false, currentLink: String? = nil, current: ReleaseID? = nil, releases: [ReleaseID] = [],
                partials: [String] = [], remoteHasRsync: Bool = false, remoteHasSha256sum: Bool = false,
                cleanupProblems: [String] = []) {
        self.exists = exists
        self.currentLink = currentLink
        self.current = current
        self.releases = releases
        self.partials = partials
        self.remoteHasRsync = remoteHasRsync
        self.remoteHasSha256sum = remoteHasSha256sum
        self.cleanupProblems = cleanupProblems
    }

    /// Sorts directory entries of `releases/` into complete releases and partials; anything
    /// else is ignored. Sets `current` from `currentLink`.
    mutating func classify(entries: [String]) {
        var complete: [ReleaseID] = []
        var partial: [String] = []
        for name in entries {
            if let id = try? ReleaseID(name) {
                complete.append(id)
            } else if name.hasSuffix(".partial"), ReleaseID.isValid(String(name.dropLast(8))) {
                partial.append(name)
            }
        }
        releases = complete.sorted()
        partials = partial.sorted()
        if let link = currentLink {
            var l = Substring(link)
            while l.hasSuffix("/") { l = l.dropLast() }
            if l.hasPrefix("releases/"), let id = try? ReleaseID(String(l.dropFirst(9))) { current = id }
        }
    }
}

/// The outcome of one attempt to take a target's lock.
public enum LockAttempt: Sendable, Equatable {
    /// Taken. The state is as found when the lock was taken; the leftovers it lists in
    /// `partials` (and a stale `current.tmp`) have since been removed, except those named
    /// in `cleanupProblems`.
    case acquired(TargetState)
    /// Someone holds it: the raw content of the lock file.
    case held(String)
    /// A lock whose holder is known to be gone (its keeper session at the target ended):
    /// the raw content of the lock file. It may be broken at once.
    case abandoned(String)
}

/// A release to upload into `releases/<id>.partial` (the rendered files only; tetra's own
/// files go with the commit).
public struct UploadRequest: Sendable {
    public var tree: String
    public var manifest: ReleaseManifest
    public var release: ReleaseID
    /// The release `current` points to, to link unchanged files from.
    public var previous: ReleaseID?
    /// The target's state when the lock was taken (remote capabilities).
    public var state: TargetState
    /// Files that are not in `tree` but elsewhere on this machine (relative path → the file
    /// as it was scanned; an org's plain files, read where they are). Local targets only.
    public var sources: [String: SourceFile]
    /// A release this deploy prunes, whose directory a local upload may turn into the new
    /// release (entries already right are kept; see `LocalTransport.uploadByManifest`).
    public var recycle: ReleaseID?
    /// `previous`'s manifest as this deploy read it under its lock (nil: read it again).
    public var previousFiles: [String: String]?
    /// Whether the transport sets the progress phase's totals (`expect`): only when this
    /// upload is the phase's one upload, not when many hosts upload at once into one phase
    /// (their increments add up; one host's total would be wrong for the sum).
    public var setsTotals = false

    public init(tree: String, manifest: ReleaseManifest, release: ReleaseID, previous: ReleaseID?, state: TargetState,
                sources: [String: SourceFile] = [:], recycle: ReleaseID? = nil, previousFiles: [String: String]? = nil) {
        self.previousFiles = previousFiles
        self.tree = tree
        self.manifest = manifest
        self.release = release
        self.previous = previous
        self.state = state
        self.sources = sources
        self.recycle = recycle
    }
}

/// A local file to deploy from where it is, with what the scan that found it saw (the upload
/// compares size and mode with the previous release's file instead of `stat`ing it again;
/// a copy is always verified against the manifest's hash).
public struct SourceFile: Sendable, Equatable {
    public var path: String
    public var size: Int64
    /// Permission bits.
    public var mode: mode_t

    public init(path: String, size: Int64, mode: mode_t) {
        self.path = path
        self.size = size
        self.mode = mode
    }
}

/// How a release went over.
public struct TransferStats: Sendable, Equatable {
    /// "copy" (local), "rsync" or "tar".
    public var method: String
    public var files: Int
    /// Files whose content was sent/copied (nil when the method does not say).
    public var filesSent: Int?
    /// Files hard-linked from the previous release (local copy), nil when unknown.
    public var filesLinked: Int?
    /// Bytes sent: rsync's "Total bytes sent", the size of the tar stream, or the bytes
    /// copied locally.
    public var bytesSent: Int64
    /// The pruned release whose directory became the new release (`UploadRequest.recycle`).
    public var recycled: ReleaseID?

    public init(method: String, files: Int, filesSent: Int? = nil, filesLinked: Int? = nil, bytesSent: Int64,
                recycled: ReleaseID? = nil) {
        self.method = method
        self.files = files
        self.filesSent = filesSent
        self.filesLinked = filesLinked
        self.bytesSent = bytesSent
        self.recycled = recycled
    }
}

/// The last step of a deploy or an activation, done as one unit at the target, in this
/// order: write `releaseFiles` into `releases/<id>.partial` (the manifest last), verify the
/// upload against the manifest (`verify`), rename it to `releases/<id>` (`finalize`), point
/// `current` at `activate` (a new symlink `current.tmp` renamed over `current`), append
/// `historyLine` to `.tetra/history.jsonl`, remove `prune`, release the lock `unlockToken`.
public struct CommitPlan: Sendable, Equatable {
    public var finalize: ReleaseID?
    /// tetra's files of the release (`.tetra-release.toml`, `.tetra-manifest.sha256`),
    /// written into the partial directory first (with `finalize` only).
    public var releaseFiles: [String: Data]
    public var activate: ReleaseID
    public var historyLine: String
    public var prune: [ReleaseID]
    public var unlockToken: String?
    /// Before finalizing, check every file of the upload against its manifest at the target
    /// (`sha256sum -c`; ssh targets that have sha256sum). A mismatch fails the commit and
    /// `current` is not touched. (Local uploads verify while copying.)
    public var verify: Bool

    public init(finalize: ReleaseID?, releaseFiles: [String: Data] = [:], activate: ReleaseID, historyLine: String,
                prune: [ReleaseID], unlockToken: String?, verify: Bool = false) {
        self.finalize = finalize
        self.releaseFiles = releaseFiles
        self.activate = activate
        self.historyLine = historyLine
        self.prune = prune
        self.unlockToken = unlockToken
        self.verify = verify
    }
}

/// What happened in a commit besides the switch.
public struct CommitOutcome: Sendable, Equatable {
    /// Releases that could not be removed (they are retried by the next deploy).
    public var pruneFailures: [String]
    public init(pruneFailures: [String] = []) { self.pruneFailures = pruneFailures }
}

/// The primitive operations on one target, local or over ssh. `ReleaseManager` composes
/// them into deploy/activate/drift/...; every path is built from the validated target path,
/// validated release ids and constant names.
///
/// Layout at the target (SPEC §2):
/// ```
/// <target>/releases/<id>/...                 files of one release (+ .tetra-release.toml, .tetra-manifest.sha256)
/// <target>/releases/<id>.partial/            an upload in progress (or left by a crash)
/// <target>/current -> releases/<id>          switched by renaming a symlink
/// <target>/.tetra/lock                       the target lock (JSON: holder, time, TTL, token)
/// <target>/.tetra/history.jsonl              one line per deploy/activation
/// ```
public protocol ReleaseTransport: Sendable {
    var target: DeployTarget { get }
    /// The ssh command that reaches the target; nil for a local target (commands for the
    /// target run here: see `TargetShell`).
    var remoteShell: SSHCommand? { get }

    /// Reads the state without changing anything (the target may not exist yet).
    func inspect() throws -> TargetState
    /// Creates the target's directories and tries to take its lock atomically with `record`.
    /// When taken, leftovers of crashed runs are removed.
    func tryLock(_ record: TargetLockRecord) throws -> LockAttempt
    /// `tryLock`, and when the lock is taken, `readFiles(reading)` under it (ssh: in the same
    /// session). The files are empty when the lock is held by someone else.
    func tryLock(_ record: TargetLockRecord, reading: [String]) throws -> (LockAttempt, [String: Data])
    /// Removes the lock if (and only if) it is still the one with `token`. True when it was
    /// removed by this call.
    func breakLock(token: String) throws -> Bool
    /// Releases our lock (no-op when it is no longer ours). Never interrupted.
    func unlock(token: String) throws
    /// Starts what proves, at the target, that the holder of lock `token` is alive (ssh: a
    /// `LockKeeper` session); nil where the holder's pid proves it (a local target).
    func startKeeper(token: String) -> LockKeeper?
    /// Uploads a release into `releases/<id>.partial`.
    func upload(_ request: UploadRequest) throws -> TransferStats
    /// Removes `releases/<id>.partial` (after a failed or interrupted upload). Never interrupted.
    func removePartial(_ id: ReleaseID) throws
    /// The last step; see `CommitPlan`. Never interrupted (a short, all-or-nothing step).
    @discardableResult
    func commit(_ plan: CommitPlan) throws -> CommitOutcome
    /// Reads files given relative to the target directory; missing files are absent.
    func readFiles(_ relativePaths: [String]) throws -> [String: Data]
    /// sha256 of every regular file of a release (relative path → hex), metadata included.
    func hashTree(_ id: ReleaseID) throws -> [String: String]
    /// Copies a release's files (without tetra's metadata files) into the local directory
    /// `destination` (which must exist and be empty).
    func fetch(_ id: ReleaseID, into destination: String) throws
}

/// The previous release's manifest as tetra knows it (read from the target before the push),
/// for transports that can send a release as a delta against it.
public struct KnownRelease: Sendable, Equatable {
    public var id: ReleaseID
    public var files: [String: String]
    public init(id: ReleaseID, files: [String: String]) {
        self.id = id
        self.files = files
    }
}

/// A transport that can upload and commit a release in one step by sending only what changed
/// since a previous release that is at the target (ssh: one session). `nil`: not possible
/// here (nothing was changed at the target); the caller then uploads and commits as usual.
public protocol DeltaDeploying: ReleaseTransport {
    func deltaDeploy(_ request: UploadRequest, previous: KnownRelease, plan: CommitPlan) throws -> (TransferStats, CommitOutcome)?
}

extension ReleaseTransport {
    public func startKeeper(token: String) -> LockKeeper? { nil }

    public func tryLock(_ record: TargetLockRecord, reading: [String]) throws -> (LockAttempt, [String: Data]) {
        let attempt = try tryLock(record)
        guard case .acquired = attempt, !reading.isEmpty else { return (attempt, [:]) }
        do {
            return (attempt, try readFiles(reading))
        } catch {
            try? unlock(token: record.token)
            throw error
        }
    }
}

/// Options for building transports.
public struct TransportOptions: Sendable, Equatable {
    public enum Transfer: String, Sendable, Equatable {
        /// rsync when both ends have it, else tar over ssh.
        case auto
        /// rsync; fails (exit 6) when either end lacks it.
        case rsync
        /// tar over ssh, even when rsync is available.
        case tar
    }

    /// Extra ssh options after tetra's own (`-o UserKnownHostsFile=... -o StrictHostKeyChecking=yes`).
    public var sshExtraOptions: [String]
    public var transfer: Transfer
    /// The tar fallback sends the tree in archives of about this many bytes (one ssh call
    /// each), so memory stays bounded for large trees.
    public var tarBatchBytes: Int
    /// Timeout of short remote commands (lock, commit, reads).
    public var commandTimeout: TimeInterval
    public var sshProgram: String
    public var rsyncProgram: String
    public var tarProgram: String
    /// Extra rsync options for uploads, before the paths (e.g. `--bwlimit=5000`).
    public var rsyncExtraArguments: [String]
    /// Share one ssh connection between the calls of an operation (ControlMaster with a
    /// private socket directory, kept 10 s after the last use): a deploy then pays for one
    /// ssh handshake instead of three.
    public var connectionSharing: Bool
    /// ssh: hold a keeper session for the time a target lock is held (see `LockKeeper`), so
    /// a lock whose holder died is broken at once from any machine.
    public var lockKeeper: Bool = true

    public init(sshExtraOptions: [String] = [], transfer: Transfer = .auto, tarBatchBytes: Int = 32 << 20,
                commandTimeout: TimeInterval = 120, sshProgram: String = "ssh", rsyncProgram: String = "rsync",
                tarProgram: String = "tar", rsyncExtraArguments: [String] = [], connectionSharing: Bool = true) {
        self.sshExtraOptions = sshExtraOptions
        self.transfer = transfer
        self.tarBatchBytes = tarBatchBytes
        self.commandTimeout = commandTimeout
        self.sshProgram = sshProgram
        self.rsyncProgram = rsyncProgram
        self.tarProgram = tarProgram
        self.rsyncExtraArguments = rsyncExtraArguments
        self.connectionSharing = connectionSharing
    }
}

extension DeployTarget {
    /// The transport for this target.
    public func transport(context: CoreContext, options: TransportOptions = TransportOptions()) -> any ReleaseTransport {
        switch location {
        case .local:
            return LocalTransport(target: self, interrupt: context.interrupt, progress: context.progress)
        case .ssh(let endpoint):
            let control = options.connectionSharing
                ? SSHCommand.controlDirectory(temporaryDirectory: context.environment["TMPDIR"]).map { $0 + "/%C" } : nil
            let ssh = SSHCommand(endpoint: endpoint, extraOptions: options.sshExtraOptions,
                                 home: context.environment["HOME"], program: options.sshProgram, controlPath: control)
            return SSHTransport(target: self, ssh: ssh, runner: context.runner, options: options, progress: context.progress)
        }
    }
}

/// Runners used for the steps that must not be cut short by Ctrl-C (commit, cleanup,
/// unlock): the same runner without the interrupt watch.
enum Uninterruptible {
    static func runner(_ runner: any ProcessRunning) -> any ProcessRunning {
        if var system = runner as? SystemProcessRunner {
            system.interrupt = nil
            return system
        }
        return runner
    }
}
