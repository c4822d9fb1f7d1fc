import FoundationEssentials
import Glibc

/// A target reached over ssh. Every remote step is one `ssh ... -- DEST "sh -c '<script>'"`
/// call (see `RemoteScripts`); a deploy takes three connections: lock (with clean-up and
/// state), transfer, commit (finalize, switch, history, prune, unlock).
///
/// Transfer: `rsync -rlp --checksum --link-dest=../<previous>` over ssh when both ends have
/// rsync (unchanged files are hard-linked from the previous release at the target and not
/// sent; `--checksum` compares content, so freshly rendered files with new mtimes still
/// match), otherwise tar over ssh in bounded batches: `tar -c` of a batch of files into
/// memory, then `ssh ... tar -x` with that as stdin (the runner writes stdin and drains both
/// output pipes on their own threads, so nothing can deadlock; memory stays about
/// `tarBatchBytes`, plus the largest single file).
public struct SSHTransport: ReleaseTransport {
    public let target: DeployTarget
    public let ssh: SSHCommand
    public var remoteShell: SSHCommand? { ssh }
    let runner: any ProcessRunning
    let options: TransportOptions
    /// Counts of uploads and fetches (see docs/progress.md).
    let progress: any ProgressReporter

    public init(target: DeployTarget, ssh: SSHCommand, runner: any ProcessRunning, options: TransportOptions = TransportOptions(),
                progress: any ProgressReporter = SilentProgress()) {
        self.target = target
        self.ssh = ssh
        self.runner = runner
        self.options = options
        self.progress = progress
    }

    var paths: RemotePaths { RemotePaths(root: target.path) }

    // MARK: - running remote scripts

    /// Runs a script; a failure (ssh's own, exit 255, or the script's) becomes
    /// `ToolError.failed` whose argv shows `<label>` instead of the script.
    @discardableResult
    func run(_ script: RemoteScript, label: String, input: Data? = nil, timeout: TimeInterval?? = nil,
             uninterruptible: Bool = false, outputLimit: Int = 64 << 20,
             onOutput: (@Sendable (OutputChunk) -> Void)? = nil) throws -> ProcessResult {
        let r = uninterruptible ? Uninterruptible.runner(runner) : runner
        let request = ProcessRequest(ssh.program, ssh.arguments(remoteCommand: script.sshArgument), input: input,
                                     timeout: timeout ?? options.commandTimeout, outputLimit: outputLimit)
        let result = try onOutput.map { try r.run(request, onOutput: $0) } ?? r.run(request)
        let display = [ssh.program] + ssh.options + ["--", ssh.endpoint.destination, "<\(label)>"]
        if result.timedOut {
            throw ToolError.timedOut(argv: display, seconds: request.timeout ?? 0)
        }
        if result.status != 0 {
            throw ToolError.failed(argv: display, status: result.status, stderrTail: ToolError.tail(of: result.stderrString))
        }
        return result
    }

    // MARK: - ReleaseTransport

    public func inspect() throws -> TargetState {
        let result = try run(RemoteScripts.inspect(paths), label: "inspect \(target.path)")
        guard let state = RemoteOutput.state(RemoteOutput.lines(result.stdout)) else {
            throw unexpectedOutput("inspect", result)
        }
        return state
    }

    public func tryLock(_ record: TargetLockRecord) throws -> LockAttempt {
        try tryLock(record, reading: []).0
    }

    /// One session: the lock script, then (whether or not it took the lock: reading is
    /// harmless) the files, whose output comes after every lock marker.
    public func tryLock(_ record: TargetLockRecord, reading: [String]) throws -> (LockAttempt, [String: Data]) {
        var script = RemoteScripts.tryLock(paths, record: record)
        let mark = TargetLockRecord.newToken()
        if !reading.isEmpty {
            script.raw("echo \(RemoteScript.q("@@tetra:read " + mark))")
            script.raw(RemoteScripts.readFiles(paths, reading, mark: mark).text)
        }
        let result = try run(script, label: "lock \(paths.lock)")
        var lockOutput = result.stdout
        var files: [String: Data] = [:]
        if !reading.isEmpty {
            let split = Array("@@tetra:read \(mark)\n".utf8)
            let bytes = [UInt8](result.stdout)
            guard let at = RemoteOutput.find(split, in: bytes, from: 0) else { throw unexpectedOutput("lock", result) }
            lockOutput = Data(bytes[..<at])
            files = RemoteOutput.files(Data(bytes[(at + split.count)...]), mark: mark)
        }
        return (try lockAttempt(lockOutput, result), files)
    }

    func lockAttempt(_ stdout: Data, _ result: ProcessResult) throws -> LockAttempt {
        let lines = RemoteOutput.lines(stdout)
        if lines.contains("@@tetra:acquired") {
            guard let state = RemoteOutput.state(lines) else { throw unexpectedOutput("lock", result) }
            return .acquired(state)
        }
        if let start = lines.firstIndex(of: "@@tetra:held") {
            let end = lines[start...].firstIndex(of: "@@tetra:end-held") ?? lines.endIndex
            let raw = lines[(start + 1)..<end].joined(separator: "\n")
            return lines.contains("@@tetra:holder-gone") ? .abandoned(raw) : .held(raw)
        }
        throw unexpectedOutput("lock", result)
    }

    /// Starts the keeper session of the lock `token` (see `LockKeeper`).
    public func startKeeper(token: String) -> LockKeeper? {
        guard options.lockKeeper else { return nil }
        let script = RemoteScripts.keeper(paths, token: token)
        return LockKeeper(runner: Uninterruptible.runner(runner)) { stdin in
            var request = ProcessRequest(ssh.program, ssh.arguments(remoteCommand: script.sshArgument), outputLimit: 4096)
            request.inputFile = stdin
            return request
        }
    }

    public func breakLock(token: String) throws -> Bool {
        let result = try run(RemoteScripts.breakLock(paths, token: token, asideSuffix: TargetLockRecord.newToken()),
                             label: "break lock \(paths.lock)", uninterruptible: true)
        return RemoteOutput.lines(result.stdout).contains("@@tetra:broken")
    }

    public func unlock(token: String) throws {
        try run(RemoteScripts.unlock(paths, token: token), label: "unlock \(paths.lock)", uninterruptible: true)
    }

    public func removePartial(_ id: ReleaseID) throws {
        try run(RemoteScripts.removePartial(paths, id), label: "remove \(paths.partial(id))", uninterruptible: true)
    }

    @discardableResult
    public func commit(_ plan: CommitPlan) throws -> CommitOutcome {
        // The manifest (it grows with the tree) goes on stdin, tetra's other files as arguments.
        let stdinFile = plan.releaseFiles[ReleaseManifest.fileName] != nil ? ReleaseManifest.fileName
            : plan.releaseFiles.max(by: { $0.value.count < $1.value.count })?.key
        for (name, data) in plan.releaseFiles where name != stdinFile && data.count > 64 << 10 {
            throw CoreError.failed("\(name) is too large to send (\(data.count) bytes)")
        }
        let result = try runCommit(RemoteScripts.commit(paths, plan, stdinFile: stdinFile), plan: plan,
                                   input: stdinFile.flatMap { plan.releaseFiles[$0] })
        let lines = RemoteOutput.lines(result.stdout)
        guard lines.contains("@@tetra:committed") else { throw unexpectedOutput("commit", result) }
        return Self.outcome(lines)
    }

    static func outcome(_ lines: [Substring]) -> CommitOutcome {
        CommitOutcome(pruneFailures: lines.filter { $0.hasPrefix("@@tetra:prune-failed ") }.map { String($0.dropFirst(21)) })
    }

    /// Runs a script that ends with the commit script, mapping its exit codes.
    func runCommit(_ script: RemoteScript, plan: CommitPlan, input: Data?) throws -> ProcessResult {
        do {
            return try run(script, label: "switch current to \(plan.activate)", input: input, uninterruptible: true)
        } catch ToolError.failed(_, let status, let tail) where (3...6).contains(status) {
            switch status {
            case 6:
                throw CoreError.lockHeld(resource: "target \(target)", holder: "another command (this command's lock was broken)",
                                         hint: "this command's keeper session on the target ended, so its lock was "
                                             + "taken over; nothing was switched; run it again")
            case 3: throw CoreError.conflict("release \(plan.finalize?.rawValue ?? "") already exists at \(target)")
            case 4: throw CoreError.notFound(what: "release", name: plan.activate.rawValue)
            default:
                throw CoreError.failed("the upload of release \(plan.activate) to \(target) does not match its manifest, "
                                           + "so current was not switched: \(tail)",
                                       hint: "the rendered tree changed during the deploy, or the target's disk is failing; deploy again")
            }
        }
    }

    public func readFiles(_ relativePaths: [String]) throws -> [String: Data] {
        guard !relativePaths.isEmpty else { return [:] }
        let mark = TargetLockRecord.newToken()
        let result = try run(RemoteScripts.readFiles(paths, relativePaths, mark: mark), label: "read files")
        return RemoteOutput.files(result.stdout, mark: mark)
    }

    public func hashTree(_ id: ReleaseID) throws -> [String: String] {
        let result = try run(RemoteScripts.hashTree(paths, id), label: "sha256sum \(paths.release(id))", timeout: .some(nil))
        let lines = RemoteOutput.lines(result.stdout)
        if lines.contains("@@tetra:no-release") { throw CoreError.notFound(what: "release", name: id.rawValue) }
        if lines.contains("@@tetra:no-sha256sum") {
            // No sha256sum at the target: fetch the release and hash it here.
            let temp = try TempDirectory.make("tetra-drift")
            defer { try? LocalFiles.removeTree(temp) }
            try fetch(id, into: temp, keepMetadata: true)
            var out: [String: String] = [:]
            try LocalTransport.hashFiles(temp) { rel, hash in out[rel] = hash }
            return out
        }
        guard lines.contains("@@tetra:hashes"), lines.contains("@@tetra:end") else { throw unexpectedOutput("sha256sum", result) }
        return RemoteOutput.hashes(lines)
    }

    public func fetch(_ id: ReleaseID, into destination: String) throws {
        try fetch(id, into: destination, keepMetadata: false)
    }

    func fetch(_ id: ReleaseID, into destination: String, keepMetadata: Bool) throws {
        guard let existing = try LocalFiles.list(destination), existing.isEmpty else {
            throw IOError("fetch into", path: destination, reason: "must be an existing empty directory")
        }
        let state = try inspect()
        guard state.releases.contains(id) else { throw CoreError.notFound(what: "release", name: id.rawValue) }
        if try useRsync(state) {
            let info = progress.showsCounts ? RsyncProgress.argument(runner: runner, program: options.rsyncProgram) : nil
            var args = ["-rlp"] + (info.map { [$0] } ?? []) + ["-e", ssh.rsyncRemoteShell]
            if !keepMetadata {
                args += ReleaseManifest.reservedNames.sorted().map { "--exclude=/" + $0 }
            }
            args += ["--", ssh.endpoint.rsyncRemote(paths.release(id) + "/"), destination + "/"]
            try runCounted(ProcessRequest(options.rsyncProgram, args), info == nil ? nil : RsyncProgress(progress: progress, files: .transferred))
        } else {
            // The bytes of the archive received so far (the number of files is not known).
            let progress = self.progress
            let tarOut = try run(RemoteScripts.tarRelease(paths, id), label: "tar -c \(paths.release(id))",
                                 timeout: .some(nil), outputLimit: Int.max / 2, onOutput: { chunk in
                                     if chunk.stream == .stdout { progress.advance(files: 0, bytes: Int64(chunk.data.count)) }
                                 })
            try runChecked(ProcessRequest(options.tarProgram, ["-x", "-p", "-f", "-", "-C", destination], input: tarOut.stdout))
            if !keepMetadata {
                for name in ReleaseManifest.reservedNames { unlink(destination + "/" + name) }
            }
        }
    }

    // MARK: - upload

    /// rsync is used when allowed by the options and present on both ends.
    func useRsync(_ state: TargetState) throws -> Bool {
        let local = runner.which(options.rsyncProgram) != nil
        switch options.transfer {
        case .tar: return false
        case .auto: return local && state.remoteHasRsync
        case .rsync:
            if !local { throw ToolError.notInstalled(tool: "rsync", hint: nil) }
            if !state.remoteHasRsync {
                throw ToolError.notInstalled(tool: "rsync", hint: "rsync is not on the PATH of \(ssh.endpoint.authority); install it there or use the tar transfer")
            }
            return true
        }
    }

    public func upload(_ request: UploadRequest) throws -> TransferStats {
        if try useRsync(request.state) {
            return try uploadRsync(request)
        }
        return try uploadTar(request)
    }

    /// The rsync argv for an upload (exposed for tests); `info` asks for progress output.
    func rsyncUploadArguments(_ request: UploadRequest, info: String? = nil) -> [String] {
        var args = ["-rlp", "--checksum", "--stats"] + (info.map { [$0] } ?? []) + ["-e", ssh.rsyncRemoteShell]
        if let prev = request.previous, request.state.releases.contains(prev) {
            args.append("--link-dest=../" + prev.rawValue)
        }
        args += options.rsyncExtraArguments
        args += ["--", request.tree + "/", ssh.endpoint.rsyncRemote(paths.partial(request.release) + "/")]
        return args
    }

    func uploadRsync(_ request: UploadRequest) throws -> TransferStats {
        // The tree must hold what the manifest lists (content is checked against the
        // manifest at the target before the switch).
        let (dirs, files) = try Self.treeEntries(tree: request.tree, manifest: request.manifest)
        // Every byte is sent unless unchanged files are linked from the previous release
        // (then how much is sent is known only at the end).
        if request.setsTotals, request.previous.map({ request.state.releases.contains($0) }) != true {
            progress.expect(files: nil, bytes: files.reduce(0) { $0 + $1.1 })
        }
        let info = progress.showsCounts ? RsyncProgress.argument(runner: runner, program: options.rsyncProgram) : nil
        let counter = info == nil ? nil : RsyncProgress(progress: progress, files: .checked(uncounted: dirs.count + 1))
        let result = try runCounted(ProcessRequest(options.rsyncProgram, rsyncUploadArguments(request, info: info)), counter)
        let out = counter?.report ?? result.stdoutString
        return TransferStats(method: "rsync", files: request.manifest.count,
                             filesSent: RemoteOutput.rsyncFilesTransferred(out),
                             filesLinked: nil, bytesSent: RemoteOutput.rsyncBytesSent(out) ?? 0)
    }

    /// Names for one `tar -c`, with the number and size of the files among them.
    struct TarBatch {
        var names: [String]
        var files = 0
        var bytes: Int64 = 0
    }

    /// Splits the tree into batches: batch 0 holds "." and every directory, then files are
    /// added until a batch reaches `limit` bytes.
    static func tarBatches(tree: String, manifest: ReleaseManifest, limit: Int) throws -> [TarBatch] {
        let (dirs, files) = try treeEntries(tree: tree, manifest: manifest)
        var batches = [TarBatch(names: ["."] + dirs)]
        var size: Int64 = 0
        for (rel, bytes) in files {
            let cost = bytes + 1024 // header and padding
            if size > 0, size + cost > Int64(limit) {
                batches.append(TarBatch(names: []))
                size = 0
            }
            batches[batches.count - 1].names.append(rel)
            batches[batches.count - 1].files += 1
            batches[batches.count - 1].bytes += bytes
            size += cost
        }
        return batches
    }

    /// The directories and files (with sizes) of a rendered tree, checked against its
    /// manifest: the same set of files, no symlinks or special files.
    static func treeEntries(tree: String, manifest: ReleaseManifest) throws -> (dirs: [String], files: [(String, Int64)]) {
        var dirs: [String] = []
        var files: [(String, Int64)] = []
        try TreeWalker.walk(tree) { rel, kind, st in
            switch kind {
            case .directory: dirs.append(rel)
            case .file:
                guard manifest.files[rel] != nil else {
                    throw CoreError.failed("'\(rel)' is in the rendered tree but not in its manifest",
                                           hint: "the tree changed after the manifest was built; deploy again")
                }
                files.append((rel, Int64(st.st_size)))
            }
        }
        guard files.count == manifest.count else {
            throw CoreError.failed("the rendered tree has \(files.count) files but its manifest lists \(manifest.count)",
                                   hint: "the tree changed after the manifest was built; deploy again")
        }
        return (dirs, files)
    }

    func uploadTar(_ request: UploadRequest) throws -> TransferStats {
        let batches = try Self.tarBatches(tree: request.tree, manifest: request.manifest, limit: options.tarBatchBytes)
        let dest = paths.partial(request.release)
        if request.setsTotals { progress.expect(files: nil, bytes: batches.reduce(0) { $0 + $1.bytes }) }
        var sent: Int64 = 0
        for batch in batches {
            // The names go to tar on stdin (NUL-separated), the archive comes back on stdout.
            var list = Data()
            for name in batch.names {
                list.append(contentsOf: Array(name.utf8))
                list.append(0)
            }
            let tar = try runChecked(ProcessRequest(options.tarProgram, ["-c", "-f", "-", "--no-recursion", "--null", "-C", request.tree, "-T", "-"],
                                                    input: list, outputLimit: Int.max / 2))
            try run(RemoteScripts.untar(into: dest), label: "tar -x into \(dest)", input: tar.stdout, timeout: .some(nil))
            sent += Int64(tar.stdout.count)
            progress.advance(files: batch.files, bytes: batch.bytes)
        }
        return TransferStats(method: "tar", files: request.manifest.count, filesSent: request.manifest.count,
                             filesLinked: 0, bytesSent: sent)
    }

    // MARK: - helpers

    @discardableResult
    func runChecked(_ request: ProcessRequest) throws -> ProcessResult {
        try runner.runChecked(request)
    }

    /// Runs rsync, its progress output (when asked for) feeding `counter`.
    @discardableResult
    func runCounted(_ request: ProcessRequest, _ counter: RsyncProgress?) throws -> ProcessResult {
        guard let counter else { return try runner.runChecked(request) }
        return try runner.runChecked(request, onOutput: counter.feed)
    }

    func unexpectedOutput(_ what: String, _ result: ProcessResult) -> ToolError {
        ToolError.failed(argv: [ssh.program, ssh.endpoint.destination, "<\(what)>"], status: result.status,
                         stderrTail: "unexpected output from the target (is its shell POSIX sh?): "
                             + ToolError.tail(of: result.stdoutString + "\n" + result.stderrString, lines: 3, maxChars: 300))
    }
}

// MARK: - delta deploys

extension SSHTransport: DeltaDeploying {
    /// Upper bounds of a delta deploy: the manifest lines that change (they travel in the
    /// script, whose size the remote kernel limits to 128 KiB), and the files sent (one tar
    /// stream, held in memory).
    static let deltaLinesLimit = 48 << 10
    static let deltaBytesLimit: Int64 = 16 << 20

    /// Uploads and commits a release in ONE ssh session when the previous release is at the
    /// target: the new release is made of hard links to the previous one (`cp -al`) plus the
    /// changed and added files (a tar stream on stdin); the manifest is rebuilt there from the
    /// previous one and the changed lines, so neither the file list nor the manifest crosses
    /// the network. Before the commit the target checks the rebuilt manifest's hash, the
    /// tree's shape and modes against the rendered tree's, and every file against the
    /// manifest; if anything differs (e.g. the previous release drifted), it removes the
    /// partial and tetra falls back to the full upload (nil).
    public func deltaDeploy(_ request: UploadRequest, previous: KnownRelease, plan: CommitPlan) throws -> (TransferStats, CommitOutcome)? {
        guard let id = plan.finalize, request.previous == previous.id, request.state.releases.contains(previous.id),
              request.state.remoteHasSha256sum, plan.releaseFiles[ReleaseManifest.fileName] != nil else { return nil }
        let new = request.manifest.files, old = previous.files
        var removed: [String] = [], sent: [String] = []
        var drop = "", add = ""
        for (path, hash) in old where new[path] != hash {
            removed.append(path)
            drop += hash + "  " + path + "\n"
            guard drop.utf8.count <= Self.deltaLinesLimit else { return nil }
        }
        for (path, hash) in new where old[path] != hash {
            sent.append(path)
            add += hash + "  " + path + "\n"
            guard add.utf8.count <= Self.deltaLinesLimit else { return nil }
        }
        // One walk of the rendered tree: it must hold exactly the manifest's files; its shape
        // and modes, as the target's `find -printf '%y %m %P'` prints them, sorted.
        var shape: [String] = []
        var files = 0
        var bytes: Int64 = 0
        let sentSet = Set(sent)
        try TreeWalker.walk(request.tree) { rel, kind, st in
            let mode = String(UInt32(st.st_mode) & 0o7777, radix: 8)
            switch kind {
            case .directory: shape.append("d " + mode + " " + rel)
            case .file:
                guard new[rel] != nil else {
                    throw CoreError.failed("'\(rel)' is in the rendered tree but not in its manifest",
                                           hint: "the tree changed after the manifest was built; deploy again")
                }
                files += 1
                if sentSet.contains(rel) { bytes += Int64(st.st_size) }
                shape.append("f " + mode + " " + rel)
            }
        }
        guard files == new.count else {
            throw CoreError.failed("the rendered tree has \(files) files but its manifest lists \(new.count)",
                                   hint: "the tree changed after the manifest was built; deploy again")
        }
        guard bytes <= Self.deltaBytesLimit else { return nil }
        if request.setsTotals { progress.expect(files: sent.count, bytes: bytes) }
        let shapeHash = SHA256.hex(of: ReleaseManifest.sortedPaths(shape).map { $0 + "\n" }.joined())

        // The tar stream: the sent files and their directories (parents first).
        var tarData: Data? = nil
        if !sent.isEmpty {
            guard runner.which(options.tarProgram) != nil else { return nil }
            var names = Set(sent)
            for path in sent {
                var parts = path.split(separator: "/").dropLast()
                while !parts.isEmpty {
                    names.insert(parts.joined(separator: "/"))
                    parts = parts.dropLast()
                }
            }
            var list = Data()
            for name in ReleaseManifest.sortedPaths(names) {
                list.append(contentsOf: Array(name.utf8))
                list.append(0)
            }
            let tar = try runChecked(ProcessRequest(options.tarProgram, ["-c", "-f", "-", "-b", "1", "--no-recursion", "--null",
                                                                         "-C", request.tree, "-T", "-"],
                                                    input: list, outputLimit: Int.max / 2))
            tarData = tar.stdout
        }
        var commitPlan = plan
        commitPlan.releaseFiles[ReleaseManifest.fileName] = nil
        commitPlan.verify = false
        for (name, data) in commitPlan.releaseFiles where data.count > 64 << 10 {
            throw CoreError.failed("\(name) is too large to send (\(data.count) bytes)")
        }
        var script = RemoteScripts.deltaPrepare(paths, release: id, previous: previous.id, removed: ReleaseManifest.sortedPaths(removed),
                                                dropLines: drop, addLines: add, manifestHash: request.manifest.contentHash,
                                                shapeHash: shapeHash, hasTar: tarData != nil,
                                                keepsFiles: old.count > removed.count)
        script.raw(RemoteScripts.commit(paths, commitPlan, stdinFile: nil).text)
        let argument = script.sshArgument
        guard argument.utf8.count <= 100 << 10 else { return nil }
        let result = try runCommit(script, plan: plan, input: tarData)
        let lines = RemoteOutput.lines(result.stdout)
        if lines.contains(where: { $0.hasPrefix("@@tetra:delta-fallback") }) { return nil }
        guard lines.contains("@@tetra:delta-ready"), lines.contains("@@tetra:committed") else { throw unexpectedOutput("commit", result) }
        progress.advance(files: sent.count, bytes: bytes)
        let stats = TransferStats(method: "delta", files: new.count, filesSent: sent.count, filesLinked: new.count - sent.count,
                                  bytesSent: Int64(argument.utf8.count + (tarData?.count ?? 0)))
        return (stats, Self.outcome(lines))
    }
}

/// Private temporary directories (mode 0700), removed by the caller.
enum TempDirectory {
    static func make(_ prefix: String) throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array(((base.hasSuffix("/") ? base : base + "/") + prefix + ".XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw IOError("create directory", path: base, errno: errno) }
        return String(cString: p)
    }
}
