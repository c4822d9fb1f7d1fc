import FoundationEssentials
import Glibc

/// A target on this machine, driven with system calls (no external program). Uploads copy
/// the tree and hard-link every file whose content is unchanged from the previous release
/// (same path and sha256 in both manifests, same mode, and the previous file still hashes to
/// its manifest value, so an edit made at the target is never propagated).
public struct LocalTransport: ReleaseTransport {
    public var remoteShell: SSHCommand? { nil }
    public let target: DeployTarget
    let interrupt: InterruptFlag?
    let progress: any ProgressReporter

    public init(target: DeployTarget, interrupt: InterruptFlag? = nil, progress: any ProgressReporter = SilentProgress()) {
        self.target = target
        self.interrupt = interrupt
        self.progress = progress
    }

    var root: String { target.path }
    var releasesDir: String { root + "/releases" }
    var metaDir: String { root + "/.tetra" }
    var lockPath: String { metaDir + "/lock" }
    var historyPath: String { metaDir + "/history.jsonl" }
    var journalPath: String { metaDir + "/" + TargetJournal.fileName }
    func releaseDir(_ id: ReleaseID) -> String { releasesDir + "/" + id.rawValue }
    func partialDir(_ id: ReleaseID) -> String { releaseDir(id) + ".partial" }

    public func inspect() throws -> TargetState {
        var state = TargetState()
        guard let entries = try LocalFiles.list(releasesDir) else { return state }
        state.exists = true
        state.currentLink = LocalFiles.readLink(root + "/current")
        state.classify(entries: entries)
        return state
    }

    public func tryLock(_ record: TargetLockRecord) throws -> LockAttempt {
        try AtomicFile.ensureDirectory(metaDir, mode: 0o755)
        try AtomicFile.ensureDirectory(releasesDir, mode: 0o755)
        let temp = metaDir + "/lock." + record.token
        // Fully written first, then linked into place: the lock exists complete or not at all.
        try AtomicFile.write(string: record.jsonLine + "\n", to: temp, mode: 0o644)
        defer { unlink(temp) }
        for _ in 0..<5 {
            if link(temp, lockPath) == 0 {
                AtomicFile.syncDirectory(metaDir)
                try reconcileJournal()
                sweepLockLeftovers(except: temp)
                var state = try inspect()
                state.cleanupProblems = cleanLeftovers(state)
                return .acquired(state)
            }
            guard errno == EEXIST else { throw IOError("create lock", path: lockPath, errno: errno) }
            if let held = try AtomicFile.readIfExists(lockPath) {
                return .held(String(decoding: held, as: UTF8.self))
            }
            // Released between our link and our read: try again.
        }
        throw IOError("create lock", path: lockPath, reason: "the lock keeps changing")
    }

    /// Under the lock: finishes what a killed commit left (see `TargetJournal`).
    func reconcileJournal() throws {
        guard let data = try AtomicFile.readIfExists(journalPath) else { return }
        if let journal = TargetJournal.parse(String(decoding: data, as: UTF8.self)) {
            if LocalFiles.readLink(root + "/current") == journal.link {
                let history = (try AtomicFile.readIfExists(historyPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if !history.split(separator: "\n").contains(Substring(journal.historyLine)) {
                    try AtomicFile.appendLine(journal.historyLine, to: historyPath, mode: 0o644)
                }
            } else if let id = journal.finalize, LocalFiles.isDirectory(releaseDir(id)) {
                try LocalFiles.removeTree(releaseDir(id))
            }
        }
        if unlink(journalPath) != 0 && errno != ENOENT { throw IOError("remove", path: journalPath, errno: errno) }
    }

    /// Lock temporaries (`lock.<token>`, `lock.broken.<token>`) of killed attempts, older
    /// than a minute (a live attempt removes its own within milliseconds).
    func sweepLockLeftovers(except temp: String) {
        guard let names = try? LocalFiles.list(metaDir) else { return }
        let cutoff = time(nil) - 60
        for name in names where name.hasPrefix("lock.") {
            let path = metaDir + "/" + name
            var st = stat()
            if path != temp, lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mtim.tv_sec < cutoff { unlink(path) }
        }
    }

    private func cleanLeftovers(_ state: TargetState) -> [String] {
        var problems: [String] = []
        for partial in state.partials {
            do { try LocalFiles.removeTree(releasesDir + "/" + partial) } catch { problems.append("\(error)") }
        }
        let tmp = root + "/current.tmp"
        if LocalFiles.exists(tmp), unlink(tmp) != 0 {
            problems.append("\(IOError("remove", path: tmp, errno: errno))")
        }
        return problems
    }

    public func breakLock(token: String) throws -> Bool {
        let aside = metaDir + "/lock.broken." + TargetLockRecord.newToken()
        guard rename(lockPath, aside) == 0 else {
            if errno == ENOENT { return false }
            throw IOError("break lock", path: lockPath, errno: errno)
        }
        let content = (try AtomicFile.readIfExists(aside)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if TargetLockRecord.parse(content)?.token == token {
            unlink(aside)
            return true
        }
        // Not the lock we meant (it changed hands since we read it): put it back.
        _ = link(aside, lockPath)
        unlink(aside)
        return false
    }

    public func unlock(token: String) throws {
        guard let data = try AtomicFile.readIfExists(lockPath) else { return }
        if TargetLockRecord.parse(String(decoding: data, as: UTF8.self))?.token == token {
            if unlink(lockPath) != 0 && errno != ENOENT { throw IOError("remove lock", path: lockPath, errno: errno) }
        }
    }

    public func upload(_ request: UploadRequest) throws -> TransferStats {
        let dest = partialDir(request.release)
        var st = stat()
        guard lstat(request.tree, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw IOError("read", path: request.tree, reason: "not a directory")
        }
        let rootMode = st.st_mode & 0o7777

        var previousDir: String? = nil
        var previousManifest: ReleaseManifest? = nil
        var sealed = timespec(tv_sec: 0, tv_nsec: 0)
        if let prev = request.previous {
            let dir = releaseDir(prev)
            let manifestPath = dir + "/" + ReleaseManifest.fileName
            var mst = stat()
            // As this deploy read it under its lock, else from the release.
            func readManifest() -> ReleaseManifest? {
                guard let data = try? AtomicFile.readIfExists(manifestPath) else { return nil }
                return try? ReleaseManifest.parse(String(decoding: data, as: UTF8.self))
            }
            if lstat(manifestPath, &mst) == 0, let m = request.previousFiles.map({ ReleaseManifest(files: $0) }) ?? readManifest() {
                previousDir = dir
                previousManifest = m
                sealed = mst.st_ctim
            }
        }

        if !request.sources.isEmpty {
            // The release being pruned becomes the new one (same file system: one rename) when
            // there is a previous release to compare it with.
            var recycled: ReleaseID? = nil
            if let old = request.recycle, previousDir != nil, old != request.previous, rename(releaseDir(old), dest) == 0 {
                recycled = old
            } else {
                guard mkdir(dest, 0o700) == 0 else { throw IOError("create directory", path: dest, errno: errno) }
            }
            return try uploadByManifest(request, dest: dest, rootMode: rootMode, previousDir: previousDir,
                                        previousManifest: previousManifest, sealed: sealed, recycled: recycled)
        }
        guard mkdir(dest, 0o700) == 0 else { throw IOError("create directory", path: dest, errno: errno) }
        var directories: [(String, mode_t)] = []
        var seen = 0
        var linked = 0
        var copied = 0
        var bytes: Int64 = 0
        var reported: Int64 = 0 // bytes already reported (every 64 files)
        try TreeWalker.walk(request.tree) { rel, kind, st in
            let to = dest + "/" + rel
            switch kind {
            case .directory:
                guard mkdir(to, 0o700) == 0 else { throw IOError("create directory", path: to, errno: errno) }
                directories.append((to, st.st_mode & 0o7777))
            case .file:
                guard let want = request.manifest.files[rel] else {
                    throw CoreError.failed("'\(rel)' is in the rendered tree but not in its manifest",
                                           hint: "the tree changed after the manifest was built; deploy again")
                }
                seen += 1
                if seen % 64 == 0 { try interrupt?.check(); progress.advance(files: 64, bytes: bytes - reported); reported = bytes }
                if let sent = try Self.place(rel, from: request.tree + "/" + rel, to: to, want: want, size: st.st_size,
                                             mode: st.st_mode & 0o7777, previousDir: previousDir,
                                             previousManifest: previousManifest, sealed: sealed) {
                    copied += 1
                    bytes += sent
                } else {
                    linked += 1
                }
            }
        }
        progress.advance(files: seen % 64, bytes: bytes - reported)
        guard seen == request.manifest.count else {
            throw CoreError.failed("the rendered tree has \(seen) files but its manifest lists \(request.manifest.count)",
                                   hint: "the tree changed after the manifest was built; deploy again")
        }
        // Directory modes last (a 0555 directory could not have been filled), deepest first.
        for (dir, mode) in directories.reversed() { _ = chmod(dir, mode) }
        _ = chmod(dest, rootMode) // the release root keeps the rendered tree's mode, as rsync -p and tar -p do
        return TransferStats(method: "copy", files: seen, filesSent: copied, filesLinked: linked, bytesSent: bytes)
    }

    /// Builds the release from the manifest, one directory at a time (descriptor-relative
    /// calls): each file is a hard link to the previous release's copy when the manifest says
    /// it is unchanged and `canLink` trusts that copy, else a copy of its source (from
    /// `request.sources`, or the rendered tree) verified against the manifest. Directories get
    /// mode 0755.
    ///
    /// `recycled`: `dest` is a pruned release renamed into place. Its entries that already
    /// are the previous release's trusted file (same inode) stay; every other entry is
    /// replaced or removed. What results is the same release a fresh build gives, at the cost
    /// of a `stat` per unchanged file instead of a `link` here and an `unlink` in the prune.
    func uploadByManifest(_ request: UploadRequest, dest: String, rootMode: mode_t, previousDir: String?,
                          previousManifest: ReleaseManifest?, sealed: timespec, recycled: ReleaseID?) throws -> TransferStats {
        // Files by directory ("" is the release root); every ancestor directory is listed too.
        // Sorted paths come in runs of one directory: one dictionary operation per run.
        var byDirectory: [String: [(name: String, rel: String)]] = [:]
        var runDirectory: String? = nil
        var run: [(name: String, rel: String)] = []
        func flush() {
            guard let dir = runDirectory else { return }
            if byDirectory[dir] == nil {
                var parent = dir
                while !parent.isEmpty {
                    parent = parent.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(parent[..<$0]) } ?? ""
                    if byDirectory[parent] != nil { break }
                    byDirectory[parent] = []
                }
                byDirectory[dir] = run
            } else {
                byDirectory[dir]!.append(contentsOf: run)
            }
            run.removeAll(keepingCapacity: true)
        }
        for rel in request.manifest.paths {
            guard SnapshotStore.isRelativeInside(rel) else {
                throw CoreError.invalidArgument("unsafe path '\(Names.printable(rel))' in the manifest")
            }
            let dir: String
            let name: String
            if let slash = rel.utf8.lastIndex(of: UInt8(ascii: "/")) {
                dir = String(rel[..<slash])
                name = String(rel[rel.index(after: slash)...])
            } else {
                dir = ""
                name = rel
            }
            if dir != runDirectory {
                flush()
                runDirectory = dir
            }
            run.append((name, rel))
        }
        flush()
        if byDirectory[""] == nil { byDirectory[""] = [] }
        let directories = ReleaseManifest.sortedPaths(byDirectory.keys) // parents first
        let wantedDirectories = Set(directories)
        // readdir's inode numbers identify files on ordinary file systems; overlayfs may report
        // other numbers there than `stat` does, so there a recycled entry is `stat`ed.
        let directoryInodes = recycled != nil && !Self.isOverlay(dest)

        var linked = 0, copied = 0, seen = 0
        var bytes: Int64 = 0
        var reported: Int64 = 0 // bytes already reported (every 64 files)
        for dir in directories {
            let dirPath = dir.isEmpty ? dest : dest + "/" + dir
            if !dir.isEmpty, mkdir(dirPath, 0o755) != 0 {
                guard errno == EEXIST, recycled != nil else { throw IOError("create directory", path: dirPath, errno: errno) }
                var st = stat()
                if lstat(dirPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                    if st.st_mode & 0o7777 != 0o755 { _ = chmod(dirPath, 0o755) }
                } else {
                    if unlink(dirPath) != 0 { throw IOError("remove", path: dirPath, errno: errno) }
                    guard mkdir(dirPath, 0o755) == 0 else { throw IOError("create directory", path: dirPath, errno: errno) }
                }
            } else if dir.isEmpty, recycled != nil {
                _ = chmod(dirPath, 0o700) // as a fresh partial; the root's mode is set last
            }
            let dirFD = open(dirPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard dirFD >= 0 else { throw IOError("open", path: dirPath, errno: errno) }
            defer { close(dirFD) }
            var previousFD: Int32 = -1
            if let previousDir {
                previousFD = open(dir.isEmpty ? previousDir : previousDir + "/" + dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            defer { if previousFD >= 0 { close(previousFD) } }
            let files = byDirectory[dir]!

            // A recycled directory: what is here (inode numbers from readdir; no stat). Entries
            // the new release has are taken out as they are visited; the rest is removed after.
            var present: [String: LocalFiles.DirectoryEntry] = [:]
            if recycled != nil {
                for entry in try LocalFiles.entries(of: dirPath) ?? [] { present[entry.name] = entry }
            }

            for (name, rel) in files {
                seen += 1
                if seen % 64 == 0 { try interrupt?.check(); progress.advance(files: 64, bytes: bytes - reported); reported = bytes }
                let want = request.manifest.files[rel]!
                let source: SourceFile
                if let known = request.sources[rel] {
                    source = known
                } else {
                    let from = request.tree + "/" + rel
                    var st = stat()
                    guard lstat(from, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                        throw CoreError.failed("'\(rel)' is missing or not a regular file (\(from))", hint: "deploy again")
                    }
                    source = SourceFile(path: from, size: Int64(st.st_size), mode: st.st_mode & 0o7777)
                }
                let here = present.isEmpty ? nil : present.removeValue(forKey: name)
                let isPresent = here != nil
                // The previous release's copy, when the manifest says it is unchanged and it is trusted.
                var previous: stat? = nil
                if previousFD >= 0, previousManifest?.files[rel] == want {
                    var st = stat()
                    if fstatat(previousFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0,
                       Self.canLink(st, path: previousDir! + "/" + rel, size: off_t(source.size), mode: source.mode,
                                    hash: want, sealed: sealed) {
                        previous = st
                    }
                }
                if let previous {
                    if let here {
                        // Already that very file (same file system: a rename brought it here).
                        if here.isDirectory == false {
                            var st = stat()
                            if directoryInodes ? here.inode == UInt64(previous.st_ino)
                                : fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == previous.st_ino && st.st_dev == previous.st_dev {
                                linked += 1
                                continue
                            }
                        }
                        try Self.removeEntry(dirFD, name, path: dirPath + "/" + name)
                    }
                    if linkat(previousFD, name, dirFD, name, 0) == 0 {
                        linked += 1
                        continue
                    }
                } else if isPresent {
                    try Self.removeEntry(dirFD, name, path: dirPath + "/" + name)
                }
                bytes += try Self.copyVerified(rel, from: source.path, to: dirPath + "/" + name, mode: source.mode, want: want)
                copied += 1
            }
            // What is left of a recycled directory is not in the new release (its own
            // subdirectories are visited in turn); the old manifest and metadata go too (the
            // commit writes new ones).
            for (name, entry) in present {
                if entry.isDirectory == true, wantedDirectories.contains(dir.isEmpty ? name : dir + "/" + name) { continue }
                if entry.isDirectory == false, unlinkat(dirFD, name, 0) == 0 || errno == ENOENT { continue }
                try Self.removeEntry(dirFD, name, path: dirPath + "/" + name)
            }
        }
        progress.advance(files: seen % 64, bytes: bytes - reported)
        _ = chmod(dest, rootMode)
        return TransferStats(method: "copy", files: seen, filesSent: copied, filesLinked: linked, bytesSent: bytes,
                             recycled: recycled)
    }

    /// Whether `path` is on overlayfs (whose `readdir` inode numbers may differ from `stat`'s).
    static func isOverlay(_ path: String) -> Bool {
        // struct statfs begins with `long f_type` on Linux (all 64-bit ABIs); 512 bytes hold it all.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 8)
        defer { buffer.deallocate() }
        guard _tetra_statfs(path, buffer) == 0 else { return true } // unknown: the careful way
        return buffer.load(as: Int.self) == 0x794C_7630
    }

    /// Removes a directory entry of a recycled release (a file, or a whole directory).
    static func removeEntry(_ dirFD: Int32, _ name: String, path: String) throws {
        if unlinkat(dirFD, name, 0) == 0 || errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else { throw IOError("remove", path: path, errno: errno) }
        try LocalFiles.removeTree(path)
    }

    /// Puts one file of the new release at `to`: a hard link to the previous release's copy
    /// when the manifest says it is unchanged and `canLink` trusts it, else a copy of `from`
    /// verified against the manifest's hash. Returns the bytes copied, nil when linked.
    static func place(_ rel: String, from: String, to: String, want: String, size: off_t, mode: mode_t,
                      previousDir: String?, previousManifest: ReleaseManifest?, sealed: timespec) throws -> Int64? {
        if let previousDir, previousManifest?.files[rel] == want,
           canLink(previousDir + "/" + rel, size: size, mode: mode, hash: want, sealed: sealed),
           link(previousDir + "/" + rel, to) == 0 {
            return nil
        }
        return try copyVerified(rel, from: from, to: to, mode: mode, want: want)
    }

    /// Copies `from` to `to`, hashing as it copies; the copy must have the manifest's hash
    /// `want` (else the source changed during the deploy). Returns the bytes copied.
    static func copyVerified(_ rel: String, from: String, to: String, mode: mode_t, want: String) throws -> Int64 {
        let got = try copyVerifying(from: from, to: to, mode: mode)
        guard got.hash == want else {
            throw CoreError.failed("'\(rel)' changed while it was being deployed (its sha256 differs from the manifest)",
                                   hint: "deploy again")
        }
        return got.bytes
    }

    /// The previous release's file may be shared (hard-linked) when it is a regular file with
    /// the same size and mode and still has the content its manifest records. A file whose
    /// inode has not changed since the previous release was sealed (its ctime is strictly
    /// older than that of the release's manifest, written last) is trusted without reading
    /// it; any write or chmod since then moves its ctime, and the file is hashed again.
    static func canLink(_ path: String, size: off_t, mode: mode_t, hash: String, sealed: timespec) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return false }
        return canLink(st, path: path, size: size, mode: mode, hash: hash, sealed: sealed)
    }

    /// `canLink` with the file's `lstat` already taken.
    static func canLink(_ st: stat, path: String, size: off_t, mode: mode_t, hash: String, sealed: timespec) -> Bool {
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_size == size, (st.st_mode & 0o7777) == mode else { return false }
        let c = st.st_ctim
        if c.tv_sec < sealed.tv_sec || (c.tv_sec == sealed.tv_sec && c.tv_nsec < sealed.tv_nsec) { return true }
        return (try? SHA256.hex(ofFile: path)) == hash
    }

    /// Copies a file, hashing what was read. Returns the bytes and sha256.
    static func copyVerifying(from: String, to: String, mode: mode_t) throws -> (bytes: Int64, hash: String) {
        var hasher = SHA256()
        let total = try LocalFiles.copyFile(from: from, to: to, mode: mode) { hasher.update($0) }
        return (total, hasher.finalizeHex())
    }

    public func removePartial(_ id: ReleaseID) throws {
        try LocalFiles.removeTree(partialDir(id))
    }

    @discardableResult
    public func commit(_ plan: CommitPlan) throws -> CommitOutcome {
        if let id = plan.finalize {
            let final = releaseDir(id)
            if LocalFiles.exists(final) {
                throw CoreError.conflict("release \(id) already exists at \(target)")
            }
            // Intent first: a kill from here on is reconciled by the next lock (see TargetJournal).
            try AtomicFile.write(string: TargetJournal(plan).text, to: journalPath, mode: 0o644)
            // tetra's files, the manifest last: its ctime seals the release (see `canLink`).
            let partial = partialDir(id)
            var st = stat()
            let rootMode = lstat(partial, &st) == 0 ? st.st_mode & 0o7777 : 0o755
            _ = chmod(partial, rootMode | 0o200)
            for name in plan.releaseFiles.keys.sorted(by: { ($0 == ReleaseManifest.fileName ? 1 : 0, $0) < ($1 == ReleaseManifest.fileName ? 1 : 0, $1) }) {
                let path = partial + "/" + name
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
                guard fd >= 0 else { throw IOError("write", path: path, errno: errno) }
                defer { close(fd) }
                try AtomicFile.writeAll(fd: fd, data: plan.releaseFiles[name]!, path: path)
                _ = fchmod(fd, 0o644)
            }
            _ = chmod(partial, rootMode)
            // Durable before anything points to it.
            LocalFiles.syncFileSystem(of: partial)
            guard rename(partialDir(id), final) == 0 else { throw IOError("rename", path: partialDir(id), errno: errno) }
            LocalFiles.fsyncDirectory(releasesDir)
        }
        guard LocalFiles.isDirectory(releaseDir(plan.activate)) else {
            throw CoreError.notFound(what: "release", name: plan.activate.rawValue)
        }
        if plan.finalize == nil { try AtomicFile.write(string: TargetJournal(plan).text, to: journalPath, mode: 0o644) }
        let tmp = root + "/current.tmp"
        let current = root + "/current"
        if unlink(tmp) != 0 && errno != ENOENT { throw IOError("remove", path: tmp, errno: errno) }
        guard symlink("releases/" + plan.activate.rawValue, tmp) == 0 else { throw IOError("create symlink", path: tmp, errno: errno) }
        guard rename(tmp, current) == 0 else {
            let e = errno
            unlink(tmp)
            throw IOError("switch", path: current, errno: e,
                          hint: e == EISDIR || e == ENOTEMPTY ? "\(current) is a directory, not tetra's symlink: move it away" : nil)
        }
        LocalFiles.fsyncDirectory(root)
        try AtomicFile.appendLine(plan.historyLine, to: historyPath, mode: 0o644)
        unlink(journalPath)
        var outcome = CommitOutcome()
        for id in plan.prune {
            do { try LocalFiles.removeTree(releaseDir(id)) } catch { outcome.pruneFailures.append("\(id): \(error)") }
        }
        if !plan.prune.isEmpty {
            // Removing a release unlinks inodes it shared with the current one, which moves their
            // ctime past the current manifest's: re-seal it (chmod sets its ctime to now), so the
            // next upload still trusts files nobody touched (see `canLink`).
            _ = chmod(releaseDir(plan.activate) + "/" + ReleaseManifest.fileName, 0o644)
        }
        if let token = plan.unlockToken { try unlock(token: token) }
        return outcome
    }

    public func readFiles(_ relativePaths: [String]) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for rel in relativePaths {
            if let data = try AtomicFile.readIfExists(root + "/" + rel) { out[rel] = data }
        }
        return out
    }

    public func hashTree(_ id: ReleaseID) throws -> [String: String] {
        let dir = releaseDir(id)
        guard LocalFiles.isDirectory(dir) else { throw CoreError.notFound(what: "release", name: id.rawValue) }
        var out: [String: String] = [:]
        try Self.hashFiles(dir) { rel, hash in out[rel] = hash }
        return out
    }

    /// Hashes every regular file under `dir` (symlinks and other entries are reported with
    /// a marker hash so they count as changed, not skipped).
    static func hashFiles(_ dir: String, _ found: (String, String) throws -> Void) throws {
        func walk(_ abs: String, _ rel: String) throws {
            guard let names = try LocalFiles.list(abs) else { return }
            for name in names {
                let r = rel.isEmpty ? name : rel + "/" + name
                let p = abs + "/" + name
                var st = stat()
                guard lstat(p, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: try walk(p, r)
                case S_IFREG: try found(r, try SHA256.hex(ofFile: p))
                default: try found(r, "not-a-regular-file")
                }
            }
        }
        try walk(dir, "")
    }

    public func fetch(_ id: ReleaseID, into destination: String) throws {
        let dir = releaseDir(id)
        guard LocalFiles.isDirectory(dir) else { throw CoreError.notFound(what: "release", name: id.rawValue) }
        guard let existing = try LocalFiles.list(destination), existing.isEmpty else {
            throw IOError("fetch into", path: destination, reason: "must be an existing empty directory")
        }
        var dirs: [(String, mode_t)] = []
        var (files, bytes) = (0, Int64(0)) // not reported yet (every 64 files)
        try TreeWalker.walk(dir) { rel, kind, st in
            if !rel.utf8.contains(UInt8(ascii: "/")), ReleaseManifest.reservedNames.contains(rel) { return }
            let to = destination + "/" + rel
            switch kind {
            case .directory:
                guard mkdir(to, 0o700) == 0 else { throw IOError("create directory", path: to, errno: errno) }
                dirs.append((to, st.st_mode & 0o7777))
            case .file:
                try LocalFiles.copyFile(from: dir + "/" + rel, to: to, mode: st.st_mode & 0o7777)
                files += 1
                bytes += Int64(st.st_size)
                if files == 64 { progress.advance(files: files, bytes: bytes); (files, bytes) = (0, 0) }
            }
        }
        progress.advance(files: files, bytes: bytes)
        for (d, mode) in dirs.reversed() { _ = chmod(d, mode) }
    }
}

/// statfs(2) (sys/vfs.h is not part of the Glibc module).
@_silgen_name("statfs")
private func _tetra_statfs(_ path: UnsafePointer<CChar>, _ buffer: UnsafeMutableRawPointer) -> Int32
