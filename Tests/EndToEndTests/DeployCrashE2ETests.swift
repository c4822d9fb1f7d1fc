import Foundation
import XCTest
import TetraCore

/// Crash safety of deploys with real processes: a deployer process (this test bundle,
/// re-executed to run `testChildDeployEntryPoint`, since there is no CLI for deploys yet) is
/// killed with SIGKILL at several points of a deploy of thousands of files, or sent SIGINT.
/// After every kill: `current` points at a complete release (the old one or the new one,
/// nothing in between), nothing else at the target changed, and the next deploy succeeds,
/// breaking the dead deployer's lock and removing its `.partial`.
final class DeployCrashE2ETests: XCTestCase {
    static let files = 3000

    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    // MARK: - the child

    /// Not a test of its own: the entry point of the deployer child. Without
    /// TETRA_DEPLOY_CHILD_TARGET in the environment it does nothing.
    func testChildDeployEntryPoint() throws {
        let env = ProcessInfo.processInfo.environment
        guard let targetText = env["TETRA_DEPLOY_CHILD_TARGET"], let tree = env["TETRA_DEPLOY_CHILD_TREE"] else { return }
        // What the CLI does on Ctrl-C: raise the flag; the core unwinds.
        let flag = InterruptFlag()
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { flag.raise() }
        source.resume()
        var options = TransportOptions()
        if let kh = env["TETRA_DEPLOY_CHILD_KNOWN_HOSTS"] {
            options.sshExtraOptions = ["-o", "UserKnownHostsFile=\(kh)", "-o", "StrictHostKeyChecking=yes"]
        }
        if let extra = env["TETRA_DEPLOY_CHILD_RSYNC_EXTRA"] { options.rsyncExtraArguments = [extra] }
        let code: Int32
        do {
            let target = try DeployTarget.parse(targetText, sshKey: env["TETRA_DEPLOY_CHILD_KEY"])
            let m = ReleaseManager(target: target, context: DeployFixture.context(interrupt: flag), options: options)
            // Keep everything: a completed child deploy must not prune what the parent checks.
            let r = try DeployFixture.deploy(m, tree: tree, keep: 1000)
            FileHandle.standardOutput.write(Data("deployed \(r.release)\n".utf8))
            code = 0
        } catch let e as TetraError {
            FileHandle.standardOutput.write(Data("error: \(e.message)\n".utf8))
            code = e.exitCode.rawValue
        }
        exit(code)
    }

    // MARK: - the parent

    struct Child {
        let process: Process
        var pid: Int32 { process.processIdentifier }
    }

    func startChild(tree: String, target: String, sshd: SSHServer? = nil, rsyncExtra: String? = nil) throws -> Child {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["EndToEndTests.DeployCrashE2ETests/testChildDeployEntryPoint"]
        var env = ProcessInfo.processInfo.environment
        env["TETRA_DEPLOY_CHILD_TARGET"] = target
        env["TETRA_DEPLOY_CHILD_TREE"] = tree
        if let sshd {
            env["TETRA_DEPLOY_CHILD_KEY"] = sshd.clientKey
            env["TETRA_DEPLOY_CHILD_KNOWN_HOSTS"] = sshd.knownHostsFile
        }
        if let rsyncExtra { env["TETRA_DEPLOY_CHILD_RSYNC_EXTRA"] = rsyncExtra }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return Child(process: p)
    }

    /// Polls `condition` every millisecond for up to `timeout` seconds.
    @discardableResult
    /// Processes started by the child (rsync, ssh): after a SIGKILL they are orphans that run
    /// on; we wait for them to end (they are never killed here) before the next deploy.
    func descendants(of pid: Int32) -> [Int32] {
        var out: [Int32] = []
        var queue = [pid]
        while let p = queue.popLast() {
            for c in DeployFixture.children(of: p) {
                out.append(c.pid)
                queue.append(c.pid)
            }
        }
        return out
    }

    enum KillPoint: CustomStringConvertible {
        case lockTaken, midUpload, afterRename, at(TimeInterval)
        var description: String {
            switch self {
            case .lockTaken: return "lock taken"
            case .midUpload: return "mid-upload"
            case .afterRename: return "after the rename"
            case .at(let t): return String(format: "%.2fs", t)
            }
        }
    }

    /// One round: start a deploy in a child, SIGKILL it at `point`, check the invariants,
    /// then deploy in-process and check again.
    func crashRound(_ point: KillPoint, tree: String, targetDir: String, targetText: String, sshd: SSHServer?,
                    manager: ReleaseManager, round: Int, rsyncExtra: String? = nil) throws {
        try "round \(round) \(point)\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let before = Set(DeployFixture.releases(targetDir))
        let currentBefore = DeployFixture.currentLink(targetDir)
        let historyBefore = (try? manager.history().count) ?? 0
        let child = try startChild(tree: tree, target: targetText, sshd: sshd, rsyncExtra: rsyncExtra)
        let releases = targetDir + "/releases"
        var reached = true
        switch point {
        case .lockTaken:
            reached = waitFor(60) { FileManager.default.fileExists(atPath: targetDir + "/.tetra/lock") }
        case .midUpload:
            reached = waitFor(60) {
                guard let p = DeployFixture.releases(targetDir).first(where: { $0.hasSuffix(".partial") }) else { return false }
                return FileManager.default.fileExists(atPath: "\(releases)/\(p)/svc15")
            }
        case .afterRename:
            reached = waitFor(60) { DeployFixture.releases(targetDir).contains { !$0.hasSuffix(".partial") && !before.contains($0) } }
        case .at(let t):
            usleep(useconds_t(t * 1_000_000))
        }
        let orphans = descendants(of: child.pid)
        kill(child.pid, SIGKILL)
        child.process.waitUntilExit()
        XCTAssertTrue(reached, "round \(round): never reached \(point)")
        // Orphaned transfer processes finish or fail on their own; wait for them.
        XCTAssertTrue(waitFor(60) { orphans.allSatisfy { !DeployFixture.isRunning($0) } }, "orphans \(orphans) still running")

        // Invariants right after the crash.
        let current = try DeployFixture.assertCurrentComplete(targetDir)
        let after = Set(DeployFixture.releases(targetDir))
        let added = after.subtracting(before)
        XCTAssertTrue(after.isSuperset(of: before), "round \(round) (\(point)): a release disappeared")
        XCTAssertLessThanOrEqual(added.count, 1, "round \(round): \(added)")
        if let link = currentBefore, "releases/" + current != link {
            XCTAssertTrue(added.contains(current), "round \(round): current moved to something that is not the new release")
        }
        XCTAssertLessThanOrEqual((try manager.history().count) - historyBefore, 1)

        // The next deploy: stale lock of the dead child broken, its partial removed.
        let next = try DeployFixture.deploy(manager, tree: tree, keep: 50)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(targetDir), next.release.rawValue)
        XCTAssertFalse(DeployFixture.releases(targetDir).contains { $0.hasSuffix(".partial") }, "round \(round): partial left")
        XCTAssertFalse(FileManager.default.fileExists(atPath: targetDir + "/.tetra/lock"))
        switch point {
        case .lockTaken, .midUpload:
            // Killed while holding the lock: the dead holder's lock was broken.
            XCTAssertEqual(next.brokeLock?.pid, child.pid, "round \(round) (\(point))")
            if case .midUpload = point {
                XCTAssertEqual(next.cleanedPartials.count, 1, "round \(round): the crashed upload's partial")
            }
        default:
            break
        }
    }

    func testSIGKILLAtSeveralPointsOfALocalDeploy() throws {
        let tree = try DeployFixture.makeTree(files: Self.files)
        let targetDir = DeployFixture.tempDir("tetra-crash") + "/prod"
        let manager = ReleaseManager(target: try DeployTarget.parse(targetDir), context: DeployFixture.context())
        try DeployFixture.deploy(manager, tree: tree)
        let points: [KillPoint] = [.lockTaken, .midUpload, .afterRename, .at(0.3), .at(0.8), .at(1.5)]
        for (i, point) in points.enumerated() {
            try crashRound(point, tree: tree, targetDir: targetDir, targetText: targetDir, sshd: nil, manager: manager, round: i)
        }
    }

    func testSIGKILLAtSeveralPointsOfAnSSHDeploy() throws {
        _ = try requireTool("rsync")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let tree = try DeployFixture.makeTree(files: Self.files)
        let targetDir = DeployFixture.tempDir("tetra-crash") + "/prod"
        let targetText = sshd.url(path: targetDir)
        let manager = ReleaseManager(target: try DeployTarget.parse(targetText, sshKey: sshd.clientKey), context: DeployFixture.context(),
                                     options: DeployFixture.sshOptions(sshd))
        try DeployFixture.deploy(manager, tree: tree)
        // Every file changes each round (new content), so the transfer takes a while: slow
        // it down further so that "mid-upload" is a wide window.
        let points: [KillPoint] = [.lockTaken, .midUpload, .at(1.0), .afterRename]
        for (i, point) in points.enumerated() {
            try crashRound(point, tree: tree, targetDir: targetDir, targetText: targetText, sshd: sshd, manager: manager, round: i,
                           rsyncExtra: point.isAfterRename ? nil : "--bwlimit=2000")
        }
    }

    /// Ctrl-C: the child unwinds by itself, exits 130, releases the lock and removes its
    /// partial; `current` is untouched.
    func testSIGINTDuringAnSSHTransferExits130AndCleansUp() throws {
        _ = try requireTool("rsync")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let tree = try DeployFixture.makeTree(files: Self.files)
        let targetDir = DeployFixture.tempDir("tetra-crash") + "/prod"
        let targetText = sshd.url(path: targetDir)
        let manager = ReleaseManager(target: try DeployTarget.parse(targetText, sshKey: sshd.clientKey), context: DeployFixture.context(),
                                     options: DeployFixture.sshOptions(sshd))
        let first = try DeployFixture.deploy(manager, tree: tree)
        try "after ctrl-c\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let child = try startChild(tree: tree, target: targetText, sshd: sshd, rsyncExtra: "--bwlimit=50")
        XCTAssertTrue(waitFor(60) { DeployFixture.releases(targetDir).contains { $0.hasSuffix(".partial") } })
        usleep(300_000)
        kill(child.pid, SIGINT)
        child.process.waitUntilExit()
        XCTAssertEqual(child.process.terminationStatus, 130)
        XCTAssertEqual(DeployFixture.currentLink(targetDir), "releases/\(first.release)")
        XCTAssertEqual(DeployFixture.releases(targetDir), [first.release.rawValue], "the partial was removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: targetDir + "/.tetra/lock"), "the lock was released")
        XCTAssertEqual(try manager.history().count, 1)
    }

    func testSIGINTDuringALocalDeployExits130AndCleansUp() throws {
        let tree = try DeployFixture.makeTree(files: Self.files)
        let targetDir = DeployFixture.tempDir("tetra-crash") + "/prod"
        let manager = ReleaseManager(target: try DeployTarget.parse(targetDir), context: DeployFixture.context())
        let first = try DeployFixture.deploy(manager, tree: tree)
        try "after ctrl-c\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let child = try startChild(tree: tree, target: targetDir)
        XCTAssertTrue(waitFor(60) { DeployFixture.releases(targetDir).contains { $0.hasSuffix(".partial") } })
        kill(child.pid, SIGINT)
        child.process.waitUntilExit()
        let status = child.process.terminationStatus
        if status == 0 {
            // The copy finished before the signal was seen: then it is a complete deploy.
            XCTAssertNotEqual(DeployFixture.currentLink(targetDir), "releases/\(first.release)")
        } else {
            XCTAssertEqual(status, 130)
            XCTAssertEqual(DeployFixture.currentLink(targetDir), "releases/\(first.release)")
            XCTAssertEqual(DeployFixture.releases(targetDir), [first.release.rawValue])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: targetDir + "/.tetra/lock"))
        try DeployFixture.assertCurrentComplete(targetDir)
    }
}

extension DeployCrashE2ETests.KillPoint {
    var isAfterRename: Bool { if case .afterRename = self { return true }; return false }
}
