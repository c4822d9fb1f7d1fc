import Dispatch
import FoundationEssentials
import Glibc

/// Docker volumes (SPEC §3 "volume") through the `docker` CLI. Volumes tetra creates carry
/// the labels `tetra.org` and `tetra.env`; backups and restores run through a short-lived
/// helper container (`--network none`, removed afterwards) that streams a tar.gz on its
/// stdout/stdin, so they work the same against a local or a remote (`DOCKER_HOST=ssh://...`)
/// engine.
public struct VolumeManager: Sendable {
    public static let orgLabel = "tetra.org"
    public static let envLabel = "tetra.env"
    /// A volume's tags are labels `tetra.tag.TAG` (value empty): `tetra tag add volume NAME TAG`.
    public static let tagLabelPrefix = "tetra.tag."

    /// The tags among a volume's labels, sorted.
    public static func tags(_ labels: [String: String]) -> [String] {
        labels.keys.filter { $0.hasPrefix(tagLabelPrefix) }.map { String($0.dropFirst(tagLabelPrefix.count)) }.sorted()
    }
    /// Label of the helper containers (so an operator can find a leftover one).
    public static let helperLabel = "tetra.helper"
    /// The helper image when neither --image nor `volume_image` in config/tetra.toml names
    /// one: busybox has sh, tar and gzip, is tiny, and is pinned to a release line.
    public static let builtinImage = "busybox:1.36"
    /// Where the helper mounts the volume.
    static let mountPath = "/data"

    public let core: CoreContext
    public let docker: Docker

    public init(core: CoreContext) {
        self.core = core
        self.docker = Docker(runner: core.runner, host: core.environment["DOCKER_HOST"])
    }

    // MARK: - validation

    public static func validateName(_ name: String) throws {
        try Names.validate(name, what: "volume")
    }

    /// Docker image references: registry/repo:tag or @digest; nothing that could be a flag.
    public static func validateImage(_ image: String) throws {
        let ok = !image.isEmpty && image.utf8.count <= 255
            && image.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } == true
            && image.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._/:@+-".contains($0)) }
        guard ok else {
            throw CoreError.invalidArgument("invalid image '\(Names.printable(image))'",
                                            hint: "an image reference such as busybox:1.36 or registry.example.com/tools/busybox:1.36")
        }
    }

    /// Volume driver names: `local`, `rexray/ebs`, `vieux/sshfs:latest`.
    public static func validateDriver(_ driver: String) throws {
        let ok = !driver.isEmpty && driver.utf8.count <= 255
            && driver.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } == true
            && driver.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._/:-".contains($0)) }
        guard ok else {
            throw CoreError.invalidArgument("invalid driver name '\(Names.printable(driver))'", hint: "a volume driver such as local")
        }
    }

    /// Splits `k=v` (the first '='): a non-empty key without control characters, a value
    /// without control characters.
    public static func keyValue(_ text: String, what: String) throws -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw CoreError.invalidArgument("invalid \(what) '\(Names.printable(text))': expected KEY=VALUE")
        }
        let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
        let bad: (Character) -> Bool = { $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }
        if key.contains(where: bad) || value.contains(where: bad) || key.contains(" ") {
            throw CoreError.invalidArgument("invalid \(what) '\(Names.printable(text))': no spaces in the key, no control characters")
        }
        return (key, value)
    }

    /// The helper image: --image > `volume_image` in config/tetra.toml > the built-in default.
    public func resolveImage(_ flag: String?) throws -> String {
        let image: String
        if let flag, !flag.isEmpty {
            image = flag
        } else if let configured = try GlobalSettings.load(core.paths).volumeImage, !configured.isEmpty {
            image = configured
        } else {
            image = Self.builtinImage
        }
        try Self.validateImage(image)
        return image
    }

    /// Runs `body` holding the lock of one volume (state/locks/volume.NAME.lock).
    func withVolumeLock<T>(_ name: String, wait: TimeInterval? = nil, _ body: () throws -> T) throws -> T {
        try core.withLock("volume.\(name)", wait: wait, body)
    }

    func requireVolume(_ name: String) throws -> DockerVolume {
        guard let volume = try docker.volumeInspect(name) else {
            throw CoreError.notFound(what: "volume", name: name, hint: "list volumes with 'tetra volume list --all'")
        }
        return volume
    }

    static func inUseError(_ name: String, _ containers: [DockerContainerRef]) -> CoreError {
        let list = containers.map { "\($0.name) (\($0.state.rawValue))" }.joined(separator: ", ")
        let names = containers.map(\.name).joined(separator: " ")
        return CoreError.conflict("volume '\(name)' is in use by \(containers.count == 1 ? "container" : "containers") \(list)",
                                  hint: "stop and remove \(containers.count == 1 ? "it" : "them") first (docker rm -f \(names))")
    }

    // MARK: - list / get

    /// Volumes of the engine, filtered by the `tetra.org`/`tetra.env` labels when given, and
    /// to those no container references with `danglingOnly`.
    public func list(org: String?, env: String?, danglingOnly: Bool) throws -> VolumeList {
        var filters: [String] = []
        if let org { filters.append("label=\(Self.orgLabel)=\(org)") }
        if let env { filters.append("label=\(Self.envLabel)=\(env)") }
        if danglingOnly { filters.append("dangling=true") }
        let names = try docker.volumeList(filters: filters).map(\.name)
        guard !names.isEmpty else { return VolumeList(org: org, env: env, dangling: danglingOnly, volumes: []) }
        let unused: Set<String> = danglingOnly ? Set(names) : Set(try docker.volumeList(filters: ["dangling=true"]).map(\.name))
        let records = try docker.volumeInspect(names).map { v in
            VolumeRecord(name: v.name, driver: v.driver, scope: VolumeScope(rawValue: v.scope), org: v.labels[Self.orgLabel],
                         env: v.labels[Self.envLabel], labels: v.labels, createdAt: v.createdAt.map(Timestamps.utc), inUse: !unused.contains(v.name))
        }
        return VolumeList(org: org, env: env, dangling: danglingOnly, volumes: records.sorted { $0.name < $1.name })
    }

    /// Driver, mountpoint, labels, options, size (`docker system df -v`) and the containers
    /// that reference the volume.
    public func get(_ name: String) throws -> VolumeDetail {
        try Self.validateName(name)
        let v = try requireVolume(name)
        let containers = try docker.containers(usingVolume: name)
        let usage = try docker.volumeUsage().first { $0.name == name }
        return VolumeDetail(name: v.name, driver: v.driver, scope: VolumeScope(rawValue: v.scope), mountpoint: v.mountpoint,
                            createdAt: v.createdAt.map(Timestamps.utc),
                            org: v.labels[Self.orgLabel], env: v.labels[Self.envLabel], labels: v.labels, options: v.options,
                            sizeBytes: usage?.bytes, size: usage?.size ?? "N/A", containers: containers)
    }

    // MARK: - create

    /// Creates a volume with the user's labels plus `tetra.org` (when an org resolved) and
    /// `tetra.env` (when given). An existing name is a conflict (exit 5): `docker volume
    /// create` itself would silently reuse it.
    public func create(_ name: String, driver: String?, options: [String], labels: [String], org: String?, env: String?,
                       tags: [String] = [], dryRun: Bool) throws -> VolumeCreateResult {
        try Self.validateName(name)
        if let org { try Names.validate(org, what: "org") }
        if let env { try Names.validate(env, what: "env") }
        if let driver { try Self.validateDriver(driver) }
        let opts = try options.map { try Self.keyValue($0, what: "--opt") }
        var labelPairs = try labels.map { try Self.keyValue($0, what: "--label") }
        for (key, _) in labelPairs where key == Self.orgLabel || key == Self.envLabel {
            throw CoreError.invalidArgument("the label \(key) is set by tetra", hint: key == Self.orgLabel ? "use --org ORG" : "use --env ENV")
        }
        if let org { labelPairs.append((Self.orgLabel, org)) }
        if let env { labelPairs.append((Self.envLabel, env)) }
        for tag in tags {
            try Tags.validate(tag)
            labelPairs.append((Self.tagLabelPrefix + tag, ""))
        }
        let result = VolumeCreateResult(name: name, driver: driver ?? "local", org: org, env: env,
                                        labels: Dictionary(labelPairs, uniquingKeysWith: { _, b in b }),
                                        options: Dictionary(opts, uniquingKeysWith: { _, b in b }), dryRun: dryRun)
        let create = {
            if try self.docker.volumeInspect(name) != nil {
                throw CoreError.conflict("volume '\(name)' already exists", hint: "see it with 'tetra volume get \(name)'")
            }
            if !dryRun { try self.docker.volumeCreate(name, driver: driver, options: opts, labels: labelPairs) }
        }
        if dryRun { try create() } else { try withVolumeLock(name, create) }
        return result
    }

    // MARK: - delete

    /// Deletes a volume no container references (else exit 5 naming them), after writing a
    /// backup to `backupFile` when given. `confirm` is called once the checks passed (not on
    /// a dry run).
    public func delete(_ name: String, backupFile: String?, image: String?, dryRun: Bool,
                       confirm: () throws -> Void) throws -> VolumeDeleteResult {
        try Self.validateName(name)
        let resolvedImage = try backupFile.map { _ in try resolveImage(image) }
        func body() throws -> VolumeDeleteResult {
            _ = try self.requireVolume(name)
            let users = try self.docker.containers(usingVolume: name)
            if !users.isEmpty { throw Self.inUseError(name, users) }
            var backup: VolumeBackupResult? = nil
            if let backupFile, let resolvedImage {
                let target = try self.checkBackupTarget(backupFile, force: false)
                if dryRun {
                    backup = VolumeBackupResult(volume: name, file: target, image: resolvedImage, bytes: 0, dryRun: true, runningUsers: [])
                } else {
                    try confirm()
                    backup = try self.writeBackup(name, to: target, image: resolvedImage, replace: false, runningUsers: [])
                }
            } else if !dryRun {
                try confirm()
            }
            if !dryRun {
                do {
                    try self.docker.volumeRemove(name)
                } catch is DockerVolumeInUse {
                    throw Self.inUseError(name, (try? self.docker.containers(usingVolume: name)) ?? [])
                }
            }
            return VolumeDeleteResult(name: name, dryRun: dryRun, backup: backup)
        }
        return dryRun ? try body() : try withVolumeLock(name) { try body() }
    }

    // MARK: - prune

    /// Removes the volumes no container references: those labelled `tetra.org=org`, or with
    /// `all` every unused volume of the engine. Each volume is removed under its own lock; one
    /// that is locked or became used meanwhile is skipped and reported. `confirm` gets the
    /// number of volumes about to be removed (not called on a dry run or when there is none).
    public func prune(org: String?, all: Bool, dryRun: Bool, confirm: (Int) throws -> Void) throws -> VolumePruneResult {
        if let org { try Names.validate(org, what: "org") }
        guard all || org != nil else {
            throw CoreError.invalidArgument("volume prune needs a scope: --org ORG (or TETRA_ORG, default_org), or --all",
                                            hint: "--all removes every unused volume of the Docker engine, not only tetra's")
        }
        var filters = ["dangling=true"]
        if !all, let org { filters.append("label=\(Self.orgLabel)=\(org)") }
        let candidates = try docker.volumeList(filters: filters).map(\.name).sorted()
        var result = VolumePruneResult(org: all ? nil : org, all: all, dryRun: dryRun, removed: [], skipped: [])
        if dryRun || candidates.isEmpty {
            result.removed = candidates
            return result
        }
        try confirm(candidates.count)
        for name in candidates {
            try core.interrupt.check()
            do {
                try withVolumeLock(name, wait: 0) { try docker.volumeRemove(name) }
                result.removed.append(name)
            } catch is DockerVolumeInUse {
                result.skipped.append(.init(name: name, reason: "in use"))
            } catch CoreError.lockHeld(_, let holder, _) {
                result.skipped.append(.init(name: name, reason: "locked by \(holder)"))
            } catch CoreError.notFound {
                continue // removed by someone else meanwhile
            }
        }
        return result
    }

    // MARK: - backup

    /// Writes `NAME`'s content as a tar.gz to `file`: to a temporary file in the same
    /// directory, fsynced, then renamed; a failed or interrupted backup leaves no file. An
    /// existing `file` is refused (exit 5) unless `force`.
    public func backup(_ name: String, to file: String, image: String?, force: Bool, dryRun: Bool) throws -> VolumeBackupResult {
        try Self.validateName(name)
        let image = try resolveImage(image)
        let target = file == "-" ? "-" : try checkBackupTarget(file, force: force)
        let body = { () throws -> VolumeBackupResult in
            _ = try self.requireVolume(name)
            let running = try self.docker.containers(usingVolume: name).filter { $0.state == .running }.map(\.name)
            if dryRun {
                return VolumeBackupResult(volume: name, file: target, image: image, bytes: 0, dryRun: true, runningUsers: running)
            }
            if !running.isEmpty {
                self.core.progress.warn("volume '\(name)' is used by running container\(running.count == 1 ? "" : "s") \(running.joined(separator: ", ")): files written during the backup may be inconsistent")
            }
            if target == "-" { return try self.streamBackup(name, image: image, runningUsers: running) }
            return try self.writeBackup(name, to: target, image: image, replace: force, runningUsers: running)
        }
        return dryRun ? try body() : try withVolumeLock(name, body)
    }

    /// The absolute archive path after checks: a .tar.gz/.tgz name in an existing directory,
    /// not a directory, not an existing file unless `force`.
    func checkBackupTarget(_ file: String, force: Bool) throws -> String {
        // A symlink is followed (its target is replaced); a special file is refused (exit 2).
        let path = try AtomicFile.writeTarget(core.absolutePath(file))
        let base = PathText.lastComponent(path)
        guard base.hasSuffix(".tar.gz") || base.hasSuffix(".tgz"), base != ".tar.gz", base != ".tgz" else {
            throw CoreError.invalidArgument("the backup file '\(Names.printable(file))' must end in .tar.gz or .tgz")
        }
        let dir = PathText.parent(path)
        var isDir = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir else {
            throw CoreError.notFound(what: "directory", name: dir, hint: "create it first")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir { throw CoreError.invalidArgument("\(file) is a directory") }
            if !force { throw CoreError.conflict("\(file) already exists", hint: "choose another file name, or --force to replace it") }
        }
        return path
    }

    static func helperName(_ op: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 6)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        return "tetra-volume-\(op)-" + SHA256.hex(bytes)
    }

    /// `docker run --rm` of the helper with the volume mounted at /data.
    func helperArgs(_ helper: String, volume: String, readOnly: Bool, interactive: Bool, image: String,
                    entrypoint: String, _ args: [String]) -> [String] {
        var out = ["run", "--rm", "--name", helper, "--label", "\(Self.helperLabel)=volume", "--network", "none",
                   "--log-driver", "none", "--user", "0:0"]
        if interactive { out.append("-i") }
        // nocopy: an empty volume is never filled with the image's own files at the mount path.
        out += ["-v", "\(volume):\(Self.mountPath):\(readOnly ? "ro," : "")nocopy", "--entrypoint", entrypoint, image]
        return out + args
    }

    /// Docker for cleanup after an interrupt: the context's runner refuses to start anything
    /// once the interrupt flag is raised, and a helper container must not be left behind.
    var cleanupDocker: Docker {
        core.interrupt.isRaised
            ? Docker(runner: SystemProcessRunner(environment: core.environment), host: docker.host)
            : docker
    }

    /// Writes the archive; without `replace`, a file that appeared at `target` meanwhile is not
    /// overwritten (link(2) refuses an existing name).
    func writeBackup(_ name: String, to target: String, image: String, replace: Bool, runningUsers: [String]) throws -> VolumeBackupResult {
        let dir = PathText.parent(target)
        let base = PathText.lastComponent(target)
        // The atomic writer's temporary name, so a killed backup's leftover is swept like its.
        AtomicFile.sweepStaleTemps(dir: dir, base: base)
        let temp = dir + "/." + base + ".tmp-\(getpid())-" + AtomicFile.randomHex(8)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw IOError("write", path: target, errno: errno) }
        close(fd)
        var done = false
        let helper = Self.helperName("backup")
        defer {
            if !done {
                unlink(temp)
                cleanupDocker.removeContainerQuietly(helper)
            }
        }
        core.progress.step("backing up volume \(name) to \(target) (helper image \(image))")
        let watcher = ByteWatcher(progress: core.progress, name: "tetra-backup-progress") {
            var st = stat()
            return stat(temp, &st) == 0 ? Int64(st.st_size) : nil
        }
        watcher.start()
        let args = helperArgs(helper, volume: name, readOnly: true, interactive: false, image: image,
                              entrypoint: "tar", ["-C", Self.mountPath, "-czf", "-", "."])
        let result: ProcessResult
        do {
            result = try docker.call(args, timeout: nil, outputFile: temp)
        } catch {
            watcher.stop()
            throw error
        }
        watcher.stop()
        guard result.status == 0 else {
            throw helperFailure("backup of volume '\(name)'", image: image, result)
        }
        // fsync, rename over the target, fsync the directory.
        let wfd = open(temp, O_RDONLY | O_CLOEXEC)
        guard wfd >= 0 else { throw IOError("write", path: target, errno: errno) }
        var st = stat()
        let synced = fsync(wfd) == 0 && fstat(wfd, &st) == 0
        let err = errno
        close(wfd)
        guard synced else { throw IOError("write", path: target, errno: err) }
        guard st.st_size > 0 else { throw CoreError.failed("the backup of volume '\(name)' produced an empty archive") }
        try core.interrupt.check()
        if !replace, link(temp, target) == 0 {
            unlink(temp)
        } else if !replace, errno == EEXIST {
            throw CoreError.conflict("\(target) already exists", hint: "choose another file name, or --force to replace it")
        } else {
            // --force, or a filesystem without hard links: rename (atomic replace).
            guard rename(temp, target) == 0 else { throw IOError("write", path: target, errno: errno) }
        }
        done = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        return VolumeBackupResult(volume: name, file: target, image: image, bytes: Int64(st.st_size), dryRun: false,
                                  runningUsers: runningUsers)
    }

    /// `volume backup NAME -`: the archive streams to standard output (nothing is written here).
    func streamBackup(_ name: String, image: String, runningUsers: [String]) throws -> VolumeBackupResult {
        let helper = Self.helperName("backup")
        var done = false
        defer { if !done { cleanupDocker.removeContainerQuietly(helper) } }
        core.progress.step("backing up volume \(name) to standard output (helper image \(image))")
        let args = helperArgs(helper, volume: name, readOnly: true, interactive: false, image: image,
                              entrypoint: "tar", ["-C", Self.mountPath, "-czf", "-", "."])
        let result = try docker.call(args, timeout: nil, outputFile: "-")
        guard result.status == 0 else { throw helperFailure("backup of volume '\(name)'", image: image, result) }
        done = true
        return VolumeBackupResult(volume: name, file: "-", image: image, bytes: 0, dryRun: false, runningUsers: runningUsers)
    }

    /// A helper container that failed: docker's own failures (125: the daemon could not run
    /// it, e.g. a missing image) are tool failures; the command's failure is reported with its
    /// stderr.
    func helperFailure(_ what: String, image: String, _ result: ProcessResult) -> any TetraError {
        let tail = Redactor().redact(ToolError.tail(of: result.stderrString)).trimming(.whitespacesAndNewlines)
        if result.status == 125 || result.status == 126 || result.status == 127 {
            let hint = "the helper image \(image) must be available to the engine (docker pull \(image), or set --image / volume_image in config/tetra.toml) and provide sh, tar and gzip"
            return DockerHelperError(message: "\(what): docker could not run the helper container (exit \(result.status))\(tail.isEmpty ? "" : ": \(tail)")", hint: hint)
        }
        return CoreError.failed("\(what) failed in the helper container (exit \(result.status))\(tail.isEmpty ? "" : ": \(tail)")")
    }

    // MARK: - restore

    /// Replaces nothing unless asked: an empty (or missing) volume gets the archive's content;
    /// a volume with content is refused (exit 5) unless `force`, which replaces it. The
    /// archive is extracted into a staging directory inside the volume first; the old content
    /// is removed only once the whole archive extracted. A missing volume is created (with the
    /// tetra labels) and removed again if the restore fails.
    public func restore(_ name: String, from file: String, image: String?, force: Bool, org: String?, env: String?,
                        dryRun: Bool) throws -> VolumeRestoreResult {
        try Self.validateName(name)
        if let org { try Names.validate(org, what: "org") }
        if let env { try Names.validate(env, what: "env") }
        let image = try resolveImage(image)
        let archive = file == "-" ? "-" : core.absolutePath(file)
        if archive != "-" { try checkArchive(archive, file: file) }
        let body = { () throws -> VolumeRestoreResult in
            let existing = try self.docker.volumeInspect(name)
            if existing != nil {
                let running = try self.docker.containers(usingVolume: name).filter { $0.state == .running }.map(\.name)
                if !running.isEmpty {
                    self.core.progress.warn("volume '\(name)' is used by running container\(running.count == 1 ? "" : "s") \(running.joined(separator: ", "))")
                }
            }
            if dryRun {
                var replaced = false
                if existing != nil, try self.hasContent(name, image: image) {
                    guard force else { throw Self.notEmptyError(name) }
                    replaced = true
                }
                return VolumeRestoreResult(volume: name, file: archive, image: image, created: existing == nil,
                                           replaced: replaced, dryRun: true)
            }
            var created = false
            if existing == nil {
                var labels: [(String, String)] = []
                if let org { labels.append((Self.orgLabel, org)) }
                if let env { labels.append((Self.envLabel, env)) }
                try self.docker.volumeCreate(name, driver: nil, options: [], labels: labels)
                created = true
            }
            let helper = Self.helperName("restore")
            var ok = false
            defer {
                if !ok {
                    let cleanup = self.cleanupDocker
                    cleanup.removeContainerQuietly(helper)
                    if created { _ = try? cleanup.volumeRemove(name) }
                }
            }
            // The helper reads a descriptor that shares its offset with ours: how far it read is
            // the progress (a pipe on stdin has no offset: no count then).
            let fd = archive == "-" ? fcntl(0, F_DUPFD_CLOEXEC, 3) : open(archive, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw IOError("read", path: archive, errno: errno) }
            defer { close(fd) }
            let start = lseek(fd, 0, SEEK_CUR)
            var st = stat()
            let size = start >= 0 && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) - Int64(start) : nil
            self.core.progress.phase("restoring volume \(name) from \(archive) (helper image \(image))", files: nil, bytes: size)
            let args = self.helperArgs(helper, volume: name, readOnly: false, interactive: true, image: image, entrypoint: "sh",
                                       ["-c", Self.restoreScript, "tetra-restore", force ? "1" : "0"])
            let watcher = ByteWatcher(progress: self.core.progress, name: "tetra-restore-progress") {
                let at = lseek(fd, 0, SEEK_CUR)
                return start >= 0 && at >= start ? Int64(at - start) : nil
            }
            watcher.start()
            defer { watcher.stop() }
            let result = try self.docker.call(args, timeout: nil, inputDescriptor: fd)
            if result.status == 75 { throw Self.notEmptyError(name) }
            guard result.status == 0 else {
                throw self.helperFailure("restore of volume '\(name)'", image: image, result)
            }
            ok = true
            if result.stdoutString.contains("tetra:root-attributes-not-restored") {
                self.core.progress.warn("the owner and mode of the volume's top directory could not be restored (the helper's tar lacks --no-recursion)")
            }
            return VolumeRestoreResult(volume: name, file: archive, image: image, created: created,
                                       replaced: result.stdoutString.contains("tetra:replaced"), dryRun: false)
        }
        return dryRun ? try body() : try withVolumeLock(name, body)
    }

    /// A named archive exists, is not a directory and, when a regular file, starts like gzip.
    /// (A stream, `-` or `<(...)`, is not peeked at: it is read once, by the helper.)
    func checkArchive(_ archive: String, file: String) throws {
        var isDir = false
        guard FileManager.default.fileExists(atPath: archive, isDirectory: &isDir) else {
            throw CoreError.notFound(what: "archive", name: file)
        }
        guard !isDir else { throw CoreError.invalidArgument("\(file) is a directory, not a .tar.gz archive") }
        var st = stat()
        guard stat(archive, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return } // a stream: read once, by the helper
        let fd = open(archive, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CoreError.failed("cannot read \(file): \(String(cString: strerror(errno)))")
        }
        var magic: [UInt8] = [0, 0]
        let n = read(fd, &magic, 2)
        close(fd)
        guard n == 2, magic == [0x1F, 0x8B] else {
            throw CoreError.invalidArgument("\(file) is not a gzip-compressed tar archive")
        }
    }

    static func notEmptyError(_ name: String) -> CoreError {
        CoreError.conflict("volume '\(name)' is not empty", hint: "--force replaces its content with the archive's")
    }

    /// True when the volume has any entry (run in a read-only helper).
    func hasContent(_ name: String, image: String) throws -> Bool {
        let helper = Self.helperName("check")
        let args = helperArgs(helper, volume: name, readOnly: true, interactive: false, image: image, entrypoint: "sh",
                              ["-c", Self.contentCheckScript])
        let result = try docker.call(args, timeout: 300)
        switch result.status {
        case 0: return false
        case 3: return true
        default:
            cleanupDocker.removeContainerQuietly(helper)
            throw helperFailure("checking volume '\(name)'", image: image, result)
        }
    }

    /// Exits 3 when /data has any entry (hidden ones included), 0 when empty.
    static let contentCheckScript = """
    for f in /data/* /data/.[!.]* /data/..?*; do
      if [ -e "$f" ] || [ -h "$f" ]; then exit 3; fi
    done
    exit 0
    """

    /// Restore inside the helper ($1: 1 to replace existing content). Exit 75: not empty.
    /// The archive (stdin) is extracted into a staging directory in the volume; only when that
    /// succeeded is the old content removed and the new moved into place (same filesystem:
    /// renames). Last, the archive's own root entry (owner, mode, mtime of the volume's top
    /// directory, e.g. a database's 0700 uid 999) is applied to /data with a one-entry tar.
    /// Prints tetra:replaced when there was content.
    static let restoreScript = """
    stage=/data/.tetra-restore-staging
    had=0
    for f in /data/* /data/.[!.]* /data/..?*; do
      if [ -e "$f" ] || [ -h "$f" ]; then
        [ "$f" = "$stage" ] || had=1
      fi
    done
    if [ "$had" = 1 ] && [ "$1" != 1 ]; then echo "the volume is not empty" >&2; exit 75; fi
    rm -rf "$stage" && mkdir "$stage" || exit 76
    if ! tar -C "$stage" -xzf -; then rm -rf "$stage"; exit 77; fi
    for f in /data/* /data/.[!.]* /data/..?*; do
      if [ -e "$f" ] || [ -h "$f" ]; then
        [ "$f" = "$stage" ] || rm -rf "$f" || exit 78
      fi
    done
    for f in "$stage"/* "$stage"/.[!.]* "$stage"/..?*; do
      if [ -e "$f" ] || [ -h "$f" ]; then mv "$f" /data/ || exit 78; fi
    done
    (cd "$stage" && tar -cf - --no-recursion .) | tar -C /data -xf - || echo tetra:root-attributes-not-restored
    rm -rf "$stage"
    if [ "$had" = 1 ]; then echo tetra:replaced; fi
    exit 0
    """
}
