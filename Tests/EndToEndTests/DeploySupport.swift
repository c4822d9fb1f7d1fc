import Foundation
import XCTest
import TetraCore

/// Fixtures for the deploy end-to-end tests: rendered trees, contexts with the real process
/// runner, managers for local and loopback-ssh targets, and checks on a target's layout.
enum DeployFixture {
    /// A private temporary directory, removed by `removeTemporaryDirectories()` (the deploy
    /// test classes call it in tearDown).
    static func tempDir(_ prefix: String) -> String {
        let dir = Tetra.makeTempDir(prefix)
        created.add(dir)
        return dir
    }

    static let created = PathList()

    /// Removes every directory made by `tempDir` so far (also read-only ones inside).
    static func removeTemporaryDirectories() {
        for dir in created.takeAll() { forceRemove(dir) }
    }

    static func forceRemove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            chmod(path, 0o700)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { forceRemove(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// A context with the real runner, watching `interrupt`. Deploys never touch the state
    /// root, so it points nowhere.
    static func context(interrupt: InterruptFlag = InterruptFlag(), progress: any ProgressReporter = SilentProgress(),
                        lockWait: TimeInterval = 0, stateRoot: String = "/nonexistent/tetra-deploy-tests",
                        environment extra: [String: String] = [:],
                        commandLine: [String] = ["tetra", "org", "push", "acme", "prod"]) -> CoreContext {
        let env = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        return CoreContext(environment: env, workingDirectory: FileManager.default.currentDirectoryPath,
                           stateRoot: stateRoot,
                           runner: SystemProcessRunner(environment: env, interrupt: interrupt),
                           progress: progress, interrupt: interrupt, commandLine: commandLine, lockWait: lockWait)
    }

    /// Writes an org-like tree: `count` small files spread over nested directories, one
    /// `secret.env` of mode 0600. Returns the directory.
    @discardableResult
    static func makeTree(_ dir: String? = nil, files count: Int, seed: String = "v1") throws -> String {
        let root = dir ?? tempDir("tetra-tree")
        chmod(root, 0o755)
        let fm = FileManager.default
        for i in 0..<count {
            let sub = "svc\(i % 20)/conf.d\(i % 3)"
            try fm.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
            let body = "# file \(i)\nkey_\(i) = \"value \(i) \(String(repeating: "x", count: i % 200))\"\nport = \(10000 + i)\n"
            try body.write(toFile: "\(root)/\(sub)/file\(i).conf", atomically: false, encoding: .utf8)
        }
        try "DATABASE_URL=postgres://app:\(seed)@db/app\n".write(toFile: root + "/secret.env", atomically: false, encoding: .utf8)
        chmod(root + "/secret.env", 0o600)
        try "seed \(seed)\n".write(toFile: root + "/VERSION", atomically: false, encoding: .utf8)
        return root
    }

    static func metadata(source: String = "push", message: String? = nil) -> ReleaseMetadata {
        ReleaseMetadata(org: "acme", env: "prod", snapshot: "snap-1", created: Date(), by: "tester@host", source: source,
                        message: message)
    }

    /// Builds the manifest and deploys the tree with a fresh id.
    @discardableResult
    static func deploy(_ manager: ReleaseManager, tree: String, keep: Int = 5, source: String = "push") throws -> DeployResult {
        let manifest = try ReleaseManifest.build(from: tree)
        var id = ReleaseID(time: Date(), contentHash: manifest.contentHash)
        // Ids order releases by their second: wait for a second later than every release there.
        let newest = ((try? manager.state())?.releases ?? []).map(\.rawValue).max()
        while let newest, newest.prefix(16) >= id.rawValue.prefix(16) {
            Thread.sleep(forTimeInterval: 0.2)
            id = ReleaseID(time: Date(), contentHash: manifest.contentHash)
        }
        return try manager.deploy(renderedTree: tree, manifest: manifest, releaseId: id, metadata: metadata(source: source), keep: keep)
    }

    /// Test ssh options for a loopback server (its own known_hosts, strict checking).
    static func sshOptions(_ sshd: SSHServer, transfer: TransportOptions.Transfer = .auto) -> TransportOptions {
        TransportOptions(sshExtraOptions: ["-o", "UserKnownHostsFile=\(sshd.knownHostsFile)", "-o", "StrictHostKeyChecking=yes"],
                         transfer: transfer)
    }

    static func sshTarget(_ sshd: SSHServer, path: String) throws -> DeployTarget {
        try DeployTarget.parse(sshd.url(path: path), sshKey: sshd.clientKey)
    }

    // MARK: - checks on the target directory (loopback: the "remote" is this machine)

    static func currentLink(_ target: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/current")
    }

    static func releases(_ target: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: target + "/releases")) ?? []).sorted()
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    /// Fails unless `current` points to a complete release: every file of its manifest is
    /// present with its hash, nothing else is there. Returns the release id.
    @discardableResult
    static func assertCurrentComplete(_ target: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let link = currentLink(target) else {
            XCTFail("no current at \(target)", file: file, line: line)
            return ""
        }
        XCTAssertTrue(link.hasPrefix("releases/"), link, file: file, line: line)
        let id = String(link.dropFirst("releases/".count))
        XCTAssertTrue(ReleaseID.isValid(id), "current -> \(link) is not a complete release", file: file, line: line)
        let dir = target + "/" + link
        let manifestText = try String(contentsOfFile: dir + "/" + ReleaseManifest.fileName, encoding: .utf8)
        let manifest = try ReleaseManifest.parse(manifestText)
        let actual = try ReleaseManifest.build(from: try copyWithoutMetadata(dir))
        XCTAssertEqual(actual, manifest, "release \(id) is not complete", file: file, line: line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + ReleaseManifest.metadataFileName), file: file, line: line)
        return id
    }

    /// A scratch copy of a release without tetra's metadata files (to hash it).
    static func copyWithoutMetadata(_ dir: String) throws -> String {
        let copy = tempDir("tetra-check") + "/copy"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        for name in ReleaseManifest.reservedNames { try? FileManager.default.removeItem(atPath: copy + "/" + name) }
        return copy
    }

    /// Writes a lock record into a target as another deployer would have.
    static func writeLock(_ target: String, _ record: TargetLockRecord) throws {
        try FileManager.default.createDirectory(atPath: target + "/.tetra", withIntermediateDirectories: true)
        try (record.jsonLine + "\n").write(toFile: target + "/.tetra/lock", atomically: true, encoding: .utf8)
    }

    /// Child pids of `pid` (from /proc), with their command names.
    static func children(of pid: Int32) -> [(pid: Int32, comm: String)] {
        var out: [(Int32, String)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let comm = String(stat[stat.index(after: open)..<close])
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == pid { out.append((p, comm)) }
        }
        return out
    }

    /// Processes started by `pid` and their children (ssh, rsync), to wait for after a SIGKILL.
    static func descendants(of pid: Int32) -> [Int32] {
        var out: [Int32] = []
        var queue = [pid]
        while let p = queue.popLast() {
            for c in children(of: p) { out.append(c.pid); queue.append(c.pid) }
        }
        return out
    }

    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        // A zombie is not running.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }
        return false
    }
}

/// Collects progress and warnings; can run an action on a step (to interrupt mid-way).
final class RecordingProgress: ProgressReporter, @unchecked Sendable {
    private let lock = NSLock()
    private var _steps: [String] = []
    private var _warnings: [String] = []
    let onStep: (@Sendable (String) -> Void)?
    init(onStep: (@Sendable (String) -> Void)? = nil) { self.onStep = onStep }
    var steps: [String] { lock.lock(); defer { lock.unlock() }; return _steps }
    var warnings: [String] { lock.lock(); defer { lock.unlock() }; return _warnings }
    func phase(_ name: String, files: Int?, bytes: Int64?) {
        lock.lock(); _steps.append(name); lock.unlock()
        onStep?(name)
    }
    func expect(files: Int?, bytes: Int64?) {}
    func advance(files: Int, bytes: Int64) {}
    func warn(_ message: String) { lock.lock(); _warnings.append(message); lock.unlock() }
}

final class PathList: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []
    func add(_ p: String) { lock.lock(); paths.append(p); lock.unlock() }
    func takeAll() -> [String] { lock.lock(); defer { lock.unlock() }; let out = paths; paths = []; return out }
}
