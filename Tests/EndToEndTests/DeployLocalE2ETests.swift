import Foundation
import XCTest
import TetraCore

/// Releases at a local target through the core library (there is no CLI for them yet).
final class DeployLocalE2ETests: XCTestCase {
    var target = ""

    override func setUp() {
        target = DeployFixture.tempDir("tetra-target") + "/srv/acme/prod"
    }

    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    func manager(_ context: CoreContext = DeployFixture.context(), ttl: TimeInterval = 3600) throws -> ReleaseManager {
        ReleaseManager(target: try DeployTarget.parse(target), context: context, lockTTL: ttl)
    }

    func testDeployTwiceHardLinksUnchangedFilesAndSwitchesCurrent() throws {
        let tree = try DeployFixture.makeTree(files: 60)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        XCTAssertNil(first.previous)
        XCTAssertEqual(first.transfer.method, "copy")
        XCTAssertEqual(first.transfer.filesLinked, 0)
        XCTAssertEqual(first.transfer.filesSent, 62)
        XCTAssertEqual(DeployFixture.currentLink(target), "releases/\(first.release)")
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(target), first.release.rawValue)
        // Modes are kept: the secret stays 0600.
        XCTAssertEqual(DeployFixture.mode(target + "/current/secret.env"), 0o600)
        XCTAssertEqual(DeployFixture.mode(target + "/current/VERSION"), 0o644)

        try "changed\n".write(toFile: tree + "/svc3/conf.d0/file3.conf", atomically: false, encoding: .utf8)
        let second = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(second.previous, first.release)
        XCTAssertEqual(second.transfer.filesLinked, 61)
        XCTAssertEqual(second.transfer.filesSent, 1)
        XCTAssertEqual(second.transfer.bytesSent, Int64("changed\n".utf8.count))
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(target), second.release.rawValue)
        let r1 = target + "/releases/" + first.release.rawValue
        let r2 = target + "/releases/" + second.release.rawValue
        XCTAssertEqual(DeployFixture.inode(r1 + "/svc4/conf.d1/file4.conf"), DeployFixture.inode(r2 + "/svc4/conf.d1/file4.conf"))
        XCTAssertNotEqual(DeployFixture.inode(r1 + "/svc3/conf.d0/file3.conf"), DeployFixture.inode(r2 + "/svc3/conf.d0/file3.conf"))
        XCTAssertEqual(try String(contentsOfFile: target + "/current/svc3/conf.d0/file3.conf", encoding: .utf8), "changed\n")

        let meta = try m.metadata(second.release)
        XCTAssertEqual(meta.id, second.release.rawValue)
        XCTAssertEqual(meta.org, "acme")
        XCTAssertEqual(meta.fileCount, 62)
        XCTAssertEqual(meta.contentHash.prefix(7), second.release.rawValue.suffix(7))

        let history = try m.history()
        XCTAssertEqual(history.map(\.action), ["deploy", "deploy"])
        XCTAssertEqual(history.last?.previous, first.release.rawValue)
        XCTAssertEqual(history.last?.transport, "copy")
        XCTAssertEqual(history.last?.command, "tetra org push acme prod")
        XCTAssertEqual(try m.list().map(\.isCurrent), [false, true])
        XCTAssertNil(try m.lockHolder(), "the lock is released")
    }

    func testAnEditAtTheTargetIsNotPropagatedByHardLinks() throws {
        let tree = try DeployFixture.makeTree(files: 5)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        // Someone edits the deployed file in place (same inode as nothing else yet).
        let deployed = target + "/current/svc1/conf.d1/file1.conf"
        let original = try String(contentsOfFile: deployed, encoding: .utf8)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: deployed))
        try handle.seek(toOffset: 0)
        handle.write(Data("X".utf8))
        try handle.close()
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let second = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(second.transfer.filesSent, 2, "the edited file is copied afresh, not linked")
        XCTAssertEqual(try String(contentsOfFile: target + "/current/svc1/conf.d1/file1.conf", encoding: .utf8), original)
        XCTAssertNotEqual(DeployFixture.inode(target + "/releases/\(first.release)/svc1/conf.d1/file1.conf"),
                          DeployFixture.inode(target + "/current/svc1/conf.d1/file1.conf"))
    }

    func testActivatePreviousRollbackCandidateAndPrune() throws {
        let tree = try DeployFixture.makeTree(files: 3)
        let m = try manager()
        var ids: [ReleaseID] = []
        for i in 0..<7 {
            try "v\(i)\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
            let r = try DeployFixture.deploy(m, tree: tree, keep: 3)
            ids.append(r.release)
            if i == 6 { XCTAssertEqual(r.pruned, [ids[3]]) }
        }
        XCTAssertEqual(DeployFixture.releases(target), ids.suffix(3).map(\.rawValue))
        XCTAssertEqual(try m.current(), ids[6])
        XCTAssertEqual(try m.rollbackCandidate(), ids[5])

        // Rollback: current -> previous, recorded; the release files are untouched.
        let back = try m.activate(ids[5])
        XCTAssertTrue(back.changed)
        XCTAssertEqual(back.previous, ids[6])
        XCTAssertEqual(DeployFixture.currentLink(target), "releases/\(ids[5])")
        XCTAssertEqual(try String(contentsOfFile: target + "/current/VERSION", encoding: .utf8), "v5\n")
        let last = try XCTUnwrap(try m.history().last)
        XCTAssertEqual(last.action, "activate")
        XCTAssertEqual(last.release, ids[5].rawValue)
        XCTAssertEqual(last.previous, ids[6].rawValue)
        XCTAssertEqual(last.org, "acme")
        XCTAssertFalse(try m.activate(ids[5]).changed)

        // A deploy now keeps the rolled-back-from release only while it is among the newest.
        try "v7\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let r7 = try DeployFixture.deploy(m, tree: tree, keep: 2)
        XCTAssertEqual(r7.previous, ids[5])
        XCTAssertEqual(r7.pruned, [ids[4]], "keep 2 = the new one and the newest other, plus previous")
        XCTAssertEqual(DeployFixture.releases(target), [ids[5], ids[6], r7.release].map(\.rawValue))

        // Unknown and pruned releases.
        XCTAssertThrowsError(try m.activate(ids[0])) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode, .notFound, "\(error)")
        }
    }

    func testDriftChangedMissingAdded() throws {
        let tree = try DeployFixture.makeTree(files: 10)
        let m = try manager()
        let r = try DeployFixture.deploy(m, tree: tree)
        XCTAssertTrue(try m.drift(r.release).isClean)
        try "edited\n".write(toFile: target + "/current/svc2/conf.d2/file2.conf", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: target + "/current/VERSION")
        try "new\n".write(toFile: target + "/current/svc0/extra.conf", atomically: false, encoding: .utf8)
        let drift = try m.drift(r.release)
        XCTAssertFalse(drift.isClean)
        XCTAssertEqual(drift.changed, ["svc2/conf.d2/file2.conf"])
        XCTAssertEqual(drift.missing, ["VERSION"])
        XCTAssertEqual(drift.added, ["svc0/extra.conf"])
    }

    func testFetchCopiesTheReleaseWithoutMetadata() throws {
        let tree = try DeployFixture.makeTree(files: 12)
        let m = try manager()
        let r = try DeployFixture.deploy(m, tree: tree)
        let into = DeployFixture.tempDir("tetra-fetch")
        try m.fetch(r.release, into: into)
        XCTAssertEqual(try ReleaseManifest.build(from: into), try ReleaseManifest.build(from: tree))
        XCTAssertEqual(DeployFixture.mode(into + "/secret.env"), 0o600)
        XCTAssertThrowsError(try m.fetch(r.release, into: into), "not empty")
    }

    func testHeldLockFailsWithExit5NamingTheHolderAndChangesNothing() throws {
        let tree = try DeployFixture.makeTree(files: 3)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        let holder = TargetLockRecord(token: "feedfacefeedface", pid: 4242, host: "ci-runner-7", user: "deploy",
                                      command: "tetra org push acme prod", time: Date(), ttl: 3600)
        try DeployFixture.writeLock(target, holder)
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try DeployFixture.deploy(m, tree: tree)) { error in
            guard let e = error as? CoreError, case .lockHeld = e else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode, .conflict)
            XCTAssertEqual(e.exitCode.rawValue, 5)
            XCTAssertTrue(e.message.contains("pid 4242 on ci-runner-7"), e.message)
            XCTAssertTrue(e.message.contains("tetra org push acme prod"), e.message)
            XCTAssertNotNil(e.hint)
        }
        XCTAssertEqual(DeployFixture.releases(target), [first.release.rawValue])
        XCTAssertEqual(DeployFixture.currentLink(target), "releases/\(first.release)")
        XCTAssertEqual(try m.lockHolder(), holder, "someone else's lock is left alone")
        XCTAssertThrowsError(try m.activate(first.release))

        // --lock-wait: the holder finishes while we wait.
        let waiting = try manager(DeployFixture.context(lockWait: 5))
        let lockFile = target + "/.tetra/lock"
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.7) { unlink(lockFile) }
        let r = try DeployFixture.deploy(waiting, tree: tree)
        XCTAssertEqual(r.previous, first.release)
    }

    func testExpiredOrDeadHolderLockIsBrokenAndReported() throws {
        let tree = try DeployFixture.makeTree(files: 3)
        let progress = RecordingProgress()
        let m = try manager(DeployFixture.context(progress: progress))
        let expired = TargetLockRecord(token: "0123456789abcdef", pid: 4242, host: "ci-runner-7", user: "deploy",
                                       command: "tetra org push acme prod", time: Date().addingTimeInterval(-7200), ttl: 3600)
        try DeployFixture.writeLock(target, expired)
        let r = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(r.brokeLock, expired)
        XCTAssertTrue(progress.warnings.contains { $0.contains("broke a stale lock") && $0.contains("it expired") && $0.contains("ci-runner-7") },
                      "\(progress.warnings)")
        XCTAssertEqual(try m.history().last?.brokeLock, expired.holderDescription)

        // A holder on this host whose process is gone: broken at once, TTL or not.
        let dead = TargetLockRecord(token: "aaaaaaaaaaaaaaaa", pid: Self.deadPID(), host: ProcessIdentity.hostName, user: "me",
                                    command: "tetra org push acme prod", time: Date(), ttl: 3600)
        try DeployFixture.writeLock(target, dead)
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let r2 = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(r2.brokeLock, dead)
        XCTAssertTrue(progress.warnings.contains { $0.contains("its process is gone") }, "\(progress.warnings)")
    }

    func testInterruptDuringUploadReleasesLockAndLeavesCurrentAlone() throws {
        let tree = try DeployFixture.makeTree(files: 400)
        let first = try DeployFixture.deploy(try manager(), tree: tree)
        let flag = InterruptFlag()
        let progress = RecordingProgress(onStep: { step in if step.hasPrefix("sending") { flag.raise() } })
        let m = try manager(DeployFixture.context(interrupt: flag, progress: progress))
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try DeployFixture.deploy(m, tree: tree)) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
            XCTAssertEqual((error as? TetraError)?.exitCode.rawValue, 130)
        }
        XCTAssertEqual(DeployFixture.releases(target), [first.release.rawValue], "no partial left")
        XCTAssertEqual(DeployFixture.currentLink(target), "releases/\(first.release)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/.tetra/lock"))
        XCTAssertEqual(try manager().history().count, 1)
    }

    func testLeftoverPartialIsCleanedByTheNextDeploy() throws {
        let tree = try DeployFixture.makeTree(files: 3)
        let m = try manager()
        let first = try DeployFixture.deploy(m, tree: tree)
        let leftover = target + "/releases/20200101T000000Z-abcdef0.partial"
        try FileManager.default.createDirectory(atPath: leftover + "/deep/dir", withIntermediateDirectories: true)
        try "x".write(toFile: leftover + "/deep/dir/f", atomically: false, encoding: .utf8)
        chmod(leftover + "/deep", 0o500)
        try FileManager.default.createSymbolicLink(atPath: target + "/current.tmp", withDestinationPath: "releases/nothing")
        XCTAssertEqual(try m.state().partials, ["20200101T000000Z-abcdef0.partial"])
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let r = try DeployFixture.deploy(m, tree: tree)
        XCTAssertEqual(r.cleanedPartials, ["20200101T000000Z-abcdef0.partial"])
        XCTAssertEqual(DeployFixture.releases(target), [first.release.rawValue, r.release.rawValue])
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/current.tmp"))
    }

    func testTreeRulesAndReleaseIdConflict() throws {
        let tree = try DeployFixture.makeTree(files: 2)
        try FileManager.default.createSymbolicLink(atPath: tree + "/link", withDestinationPath: "VERSION")
        XCTAssertThrowsError(try ReleaseManifest.build(from: tree)) { error in
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: tree + "/link")
        try "x".write(toFile: tree + "/.tetra-release.toml", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try ReleaseManifest.build(from: tree))
        try FileManager.default.removeItem(atPath: tree + "/.tetra-release.toml")

        let m = try manager()
        let manifest = try ReleaseManifest.build(from: tree)
        let id = ReleaseID(time: Date(), contentHash: manifest.contentHash)
        _ = try m.deploy(renderedTree: tree, manifest: manifest, releaseId: id, metadata: DeployFixture.metadata())
        XCTAssertThrowsError(try m.deploy(renderedTree: tree, manifest: manifest, releaseId: id, metadata: DeployFixture.metadata())) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode, .conflict, "\(error)")
        }
        // A tree that no longer matches its manifest is refused before current moves.
        try "v2\n".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        let manifest2 = try ReleaseManifest.build(from: tree)
        try "tampered".write(toFile: tree + "/VERSION", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try m.deploy(renderedTree: tree, manifest: manifest2,
                                          releaseId: ReleaseID(time: Date().addingTimeInterval(5), contentHash: manifest.contentHash),
                                          metadata: DeployFixture.metadata())) { error in
            XCTAssertTrue("\(error)".contains("sha256 differs"), "\(error)")
        }
        XCTAssertEqual(DeployFixture.releases(target), [id.rawValue])
        XCTAssertNil(try m.lockHolder())
    }

    /// A pid that is not running (a child that has exited and been reaped).
    static func deadPID() -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try? p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }
}
