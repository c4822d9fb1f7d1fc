import Foundation
import XCTest
import TetraCore

/// Releases over a real sshd on 127.0.0.1 (its own host key and authorized_keys), through
/// the core library. The "remote" directory is on this machine, so the tests can look at it
/// directly (inodes, links) after driving it over ssh.
final class DeploySSHE2ETests: XCTestCase {
    static let server = ServerBox()
    var sshd: SSHServer!
    var remoteDir = ""

    override func setUpWithError() throws {
        _ = try requireTool("rsync")
        sshd = try Self.server.get()
        remoteDir = DeployFixture.tempDir("tetra-remote") + "/srv/acme"
    }

    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    override class func tearDown() {
        server.stop()
        super.tearDown()
    }

    func manager(_ transfer: TransportOptions.Transfer = .auto, context: CoreContext = DeployFixture.context(),
                 tarBatchBytes: Int? = nil, rsyncExtra: [String] = []) throws -> ReleaseManager {
        var options = DeployFixture.sshOptions(sshd, transfer: transfer)
        if let tarBatchBytes { options.tarBatchBytes = tarBatchBytes }
        options.rsyncExtraArguments = rsyncExtra
        return ReleaseManager(target: try DeployFixture.sshTarget(sshd, path: remoteDir), context: context, options: options)
    }

    func testRsyncDeployTwiceLinksUnchangedFilesAndSendsOnlyTheChange() throws {
        let tree = try DeployFixture.makeTree(files: 300)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(first.transfer.method, "rsync")
        XCTAssertGreaterThan(first.transfer.bytesSent, 30_000)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), first.release.rawValue)
        XCTAssertEqual(DeployFixture.mode(remoteDir + "/current/secret.env"), 0o600)

        try "port = 1\n".write(toFile: tree + "/svc7/conf.d1/file7.conf", atomically: false, encoding: .utf8)
        let second = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(second.previous, first.release)
        XCTAssertEqual(second.transfer.filesSent, 1, "only the changed file")
        // One small file, the manifest (~30 KB for 300 files, mostly unchanged: rsync sends a
        // delta against the previous one) and rsync's file list.
        XCTAssertLessThan(second.transfer.bytesSent, first.transfer.bytesSent / 2, "\(second.transfer)")
        let r1 = remoteDir + "/releases/\(first.release)"
        let r2 = remoteDir + "/releases/\(second.release)"
        XCTAssertEqual(DeployFixture.inode(r1 + "/svc8/conf.d2/file8.conf"), DeployFixture.inode(r2 + "/svc8/conf.d2/file8.conf"),
                       "unchanged files are hard links into the previous release (--link-dest)")
        XCTAssertNotEqual(DeployFixture.inode(r1 + "/svc7/conf.d1/file7.conf"), DeployFixture.inode(r2 + "/svc7/conf.d1/file7.conf"))
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), second.release.rawValue)

        // Reading over ssh.
        XCTAssertEqual(try m.current(), second.release)
        XCTAssertEqual(try m.list().map(\.id), [first.release, second.release])
        XCTAssertEqual(try m.list().last?.metadata?.fileCount, 302)
        XCTAssertEqual(try m.readManifest(second.release), try ReleaseManifest.build(from: tree))
        let history = try m.history()
        XCTAssertEqual(history.map(\.release), [first.release.rawValue, second.release.rawValue])
        XCTAssertEqual(history.last?.transport, "rsync")
        XCTAssertNil(try m.lockHolder())

        // Rollback over ssh.
        XCTAssertEqual(try m.rollbackCandidate(), first.release)
        XCTAssertTrue(try m.activate(first.release).changed)
        XCTAssertEqual(DeployFixture.currentLink(remoteDir), "releases/\(first.release)")
        XCTAssertEqual(try m.history().last?.action, "activate")

        // Fetch over ssh (rsync) without tetra's files.
        let into = DeployFixture.tempDir("tetra-fetch")
        try m.fetch(second.release, into: into)
        XCTAssertEqual(try ReleaseManifest.build(from: into), try ReleaseManifest.build(from: tree))
    }

    func testTarFallbackInSeveralBatches() throws {
        let tree = try DeployFixture.makeTree(files: 120)
        // Batches of ~16 KB: many ssh calls, each a tar stream through the runner's stdin.
        let m = try manager(.tar, tarBatchBytes: 16 << 10)
        let first = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(first.transfer.method, "tar")
        XCTAssertGreaterThan(first.transfer.bytesSent, 120 * 512)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), first.release.rawValue)
        XCTAssertEqual(DeployFixture.mode(remoteDir + "/current/secret.env"), 0o600)
        try "changed\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let second = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(second.previous, first.release)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), second.release.rawValue)
        XCTAssertEqual(try String(contentsOfFile: remoteDir + "/current/VERSION", encoding: .utf8), "changed\n")
        XCTAssertEqual(try m.history().last?.transport, "tar")

        // Fetch with tar too.
        let into = DeployFixture.tempDir("tetra-fetch")
        try m.fetch(second.release, into: into)
        XCTAssertEqual(try ReleaseManifest.build(from: into), try ReleaseManifest.build(from: tree))
    }

    /// The tree no longer matches the manifest it was deployed with (changed after the
    /// manifest was built): the target's check before the switch refuses it.
    func testUploadThatDoesNotMatchItsManifestIsNotActivated() throws {
        let tree = try DeployFixture.makeTree(files: 20)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let manifest = try ReleaseManifest.build(from: tree)
        try "v3, written after the manifest\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        Thread.sleep(forTimeInterval: 1.0)
        XCTAssertThrowsError(try m.deploy(renderedTree: tree, manifest: manifest,
                                          releaseId: ReleaseID(time: Date(), contentHash: manifest.contentHash),
                                          metadata: DeployFixture.metadata())) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode, .failure, "\(error)")
            XCTAssertTrue("\(error)".contains("VERSION: FAILED"), "\(error)")
        }
        XCTAssertEqual(DeployFixture.currentLink(remoteDir), "releases/\(first.release)")
        XCTAssertEqual(DeployFixture.releases(remoteDir), [first.release.rawValue], "the rejected upload is removed")
        XCTAssertNil(try m.lockHolder())
        XCTAssertEqual(try m.history().count, 1)
    }

    func testPruneAndDriftOverSSH() throws {
        let tree = try DeployFixture.makeTree(files: 4)
        let m = try manager()
        var ids: [ReleaseID] = []
        for i in 0..<4 {
            try "v\(i)\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
            ids.append(try DeployFixture.deploy(m, tree: tree, keep: 2).release)
        }
        XCTAssertEqual(DeployFixture.releases(remoteDir), ids.suffix(2).map(\.rawValue))

        XCTAssertTrue(try m.drift(ids[3]).isClean)
        try "edited on the server\n".write(toFile: remoteDir + "/current/svc1/conf.d1/file1.conf", atomically: false, encoding: .utf8)
        try "stray\n".write(toFile: remoteDir + "/current/stray.txt", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: remoteDir + "/current/svc2/conf.d2/file2.conf")
        let drift = try m.drift(ids[3])
        XCTAssertEqual(drift.changed, ["svc1/conf.d1/file1.conf"])
        XCTAssertEqual(drift.missing, ["svc2/conf.d2/file2.conf"])
        XCTAssertEqual(drift.added, ["stray.txt"])
        XCTAssertThrowsError(try m.drift(ids[0])) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode, .notFound, "\(error)")
        }
    }

    func testHeldRemoteLockFailsWithExit5NamingTheHolder() throws {
        let tree = try DeployFixture.makeTree(files: 3)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        let holder = TargetLockRecord(token: "1111222233334444", pid: 777, host: "laptop-of-ana", user: "ana",
                                      command: "tetra env promote staging prod", time: Date(), ttl: 1800)
        try DeployFixture.writeLock(remoteDir, holder)
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try DeployFixture.deploy(m, tree: tree)) { error in
            guard let e = error as? TetraError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode.rawValue, 5)
            XCTAssertEqual(e.kind, "lock_held")
            XCTAssertTrue(e.message.contains("ana pid 777 on laptop-of-ana (tetra env promote staging prod)"), e.message)
            XCTAssertTrue(e.message.contains("ssh://"), e.message)
        }
        XCTAssertEqual(try m.lockHolder(), holder)
        XCTAssertEqual(DeployFixture.releases(remoteDir), [first.release.rawValue])
        XCTAssertEqual(DeployFixture.currentLink(remoteDir), "releases/\(first.release)")

        // Expired: broken, reported, recorded.
        let expired = TargetLockRecord(token: "5555666677778888", pid: 777, host: "laptop-of-ana", user: "ana",
                                       command: "tetra env promote staging prod", time: Date().addingTimeInterval(-4000), ttl: 1800)
        try DeployFixture.writeLock(remoteDir, expired)
        let r = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(r.brokeLock, expired)
        XCTAssertEqual(try m.history().last?.brokeLock, expired.holderDescription)
        XCTAssertNil(try m.lockHolder())
    }

    func testDeadHostFailsWithExit6AndChangesNothingLocally() throws {
        let tree = try DeployFixture.makeTree(files: 5)
        let before = try ReleaseManifest.build(from: tree)
        let closedPort = try SSHServer.freePort()
        let target = try DeployTarget.parse("ssh://\(sshd.user)@127.0.0.1:\(closedPort)\(remoteDir)", sshKey: sshd.clientKey)
        // A state root and a TMPDIR of its own, to see that nothing is left behind locally.
        let tmp = DeployFixture.tempDir("tetra-tmp")
        let context = DeployFixture.context(stateRoot: DeployFixture.tempDir("tetra-state"), environment: ["TMPDIR": tmp])
        let stateBefore = try FileManager.default.contentsOfDirectory(atPath: context.stateRoot)
        let m = ReleaseManager(target: target, context: context, options: DeployFixture.sshOptions(sshd))
        XCTAssertThrowsError(try DeployFixture.deploy(m, tree: tree)) { error in
            guard let e = error as? ToolError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode.rawValue, 6)
            XCTAssertTrue(e.message.contains("Connection refused"), e.message)
            XCTAssertTrue(e.message.contains("<lock \(self.remoteDir)/.tetra/lock>"), e.message)
        }
        XCTAssertThrowsError(try m.current()) { XCTAssertEqual(($0 as? TetraError)?.exitCode.rawValue, 6) }
        XCTAssertEqual(try ReleaseManifest.build(from: tree), before, "the rendered tree is untouched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: context.stateRoot), stateBefore)
        // Only the (empty) private directory for shared ssh connections.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), ["tetra-ssh-\(getuid())"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/tetra-ssh-\(getuid())"), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: remoteDir))
    }

    func testForcedRsyncWithoutRsyncIsExit6AndCleansUp() throws {
        // transfer = .rsync, but the rsync program is missing here: exit 6 after the lock was
        // taken; the lock and the partial release must not stay behind.
        let tree = try DeployFixture.makeTree(files: 2)
        var options = DeployFixture.sshOptions(sshd, transfer: .rsync)
        options.rsyncProgram = "rsync-that-does-not-exist"
        let m = ReleaseManager(target: try DeployFixture.sshTarget(sshd, path: remoteDir), context: DeployFixture.context(),
                               options: options)
        XCTAssertThrowsError(try DeployFixture.deploy(m, tree: tree)) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode.rawValue, 6, "\(error)")
        }
        XCTAssertNil(try m.lockHolder(), "the lock is released after the failure")
        XCTAssertEqual(DeployFixture.releases(remoteDir), [], "the partial upload is removed")
    }

    /// Kills the transfer child (rsync) with SIGKILL in the middle of a large deploy running
    /// on another thread: the deploy fails (exit 6), `current` still points at the complete
    /// previous release, the lock is released, and the next deploy succeeds and leaves no
    /// `.partial` behind.
    func testTransferKilledMidwayLeavesCurrentCompleteAndNextDeploySucceeds() throws {
        let tree = try DeployFixture.makeTree(files: 3000)
        // 12 MB at 4 MB/s: a few seconds of transfer to kill it in.
        let m = try manager(rsyncExtra: ["--bwlimit=4000"])
        let first = try DeployFixture.deploy(try manager(), tree: tree)
        // Change every file so the next transfer is long enough to be interrupted.
        let bigger = try DeployFixture.makeTree(DeployFixture.tempDir("tetra-tree2"), files: 3000, seed: "v2")
        for i in stride(from: 0, to: 3000, by: 1) {
            let path = "\(bigger)/svc\(i % 20)/conf.d\(i % 3)/file\(i).conf"
            try (String(repeating: "z", count: 4000) + "\(i)\n").write(toFile: path, atomically: false, encoding: .utf8)
        }
        let outcome = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { outcome.set(.success(try DeployFixture.deploy(m, tree: bigger))) } catch { outcome.set(.failure(error)) }
            done.signal()
        }
        // Wait for rsync to be running and for the partial release to fill up a little.
        var killed: Int32? = nil
        let deadline = Date().addingTimeInterval(60)
        while killed == nil, Date() < deadline {
            if let rsync = DeployFixture.children(of: getpid()).first(where: { $0.comm == "rsync" && DeployFixture.isRunning($0.pid) }),
               let partial = DeployFixture.releases(remoteDir).first(where: { $0.hasSuffix(".partial") }),
               Self.countFiles(remoteDir + "/releases/" + partial) > 50 {
                kill(rsync.pid, SIGKILL)
                killed = rsync.pid
            }
            usleep(20_000)
        }
        XCTAssertNotNil(killed, "rsync was never seen running")
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        switch outcome.get() {
        case .failure(let error)?:
            XCTAssertEqual((error as? TetraError)?.exitCode.rawValue, 6, "\(error)")
        case .success(let r)?:
            XCTFail("the deploy survived the kill: \(r.release)")
        case nil:
            XCTFail("no outcome")
        }
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), first.release.rawValue)
        XCTAssertNil(try m.lockHolder(), "the lock was released")

        let next = try DeployFixture.deploy(m, tree: bigger)
        XCTAssertEqual(next.previous, first.release)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(remoteDir), next.release.rawValue)
        XCTAssertEqual(DeployFixture.releases(remoteDir), [first.release.rawValue, next.release.rawValue],
                       "no .partial is left")
    }

    static func countFiles(_ dir: String) -> Int {
        var n = 0
        let e = FileManager.default.enumerator(atPath: dir)
        while e?.nextObject() != nil { n += 1 }
        return n
    }
}

/// One sshd shared by the tests of a class (starting one costs ~100 ms plus key generation).
final class ServerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var server: SSHServer?
    func get() throws -> SSHServer {
        lock.lock(); defer { lock.unlock() }
        if let server { return server }
        let s = try SSHServer()
        server = s
        return s
    }
    func stop() {
        lock.lock(); defer { lock.unlock() }
        server?.stop()
        server = nil
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<DeployResult, Error>?
    func set(_ v: Result<DeployResult, Error>) { lock.lock(); value = v; lock.unlock() }
    func get() -> Result<DeployResult, Error>? { lock.lock(); defer { lock.unlock() }; return value }
}
