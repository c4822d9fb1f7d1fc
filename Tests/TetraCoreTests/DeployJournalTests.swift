import Foundation
import XCTest
@testable import TetraCore

/// The target's journal: a commit cut short (as by kill -9 of tetra, or of its ssh session)
/// right after it switched `current`, or right after it finalized a release, is reconciled by
/// the next lock, by the remote script (a real `sh`) and by the local transport alike.
final class DeployJournalTests: XCTestCase {
    var root = ""
    var paths: RemotePaths { RemotePaths(root: root) }
    let runner = SystemProcessRunner(environment: ProcessInfo.processInfo.environment)
    let id1 = try! ReleaseID("20261121T160301Z-3f2a9c1")
    let id2 = try! ReleaseID("20261121T170000Z-0000001")
    let fm = FileManager.default

    override func setUpWithError() throws {
        let base = NSTemporaryDirectory() + "journal-\(UUID().uuidString.prefix(8))"
        root = base + "/srv/ac=me,1"
        try fm.createDirectory(atPath: root + "/.tetra", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: paths.release(id1), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: paths.partial(id2), withIntermediateDirectories: true)
        try "x\n".write(toFile: paths.partial(id2) + "/a.conf", atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: paths.current, withDestinationPath: "releases/" + id1.rawValue)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: base) }
    }

    func run(_ script: RemoteScript) throws -> ProcessResult {
        try runner.run(ProcessRequest("/bin/sh", ["-c", script.sshArgument]))
    }

    /// The commit script up to and including the line that contains `marker` (a kill there).
    func commitCut(after marker: String, _ plan: CommitPlan) throws -> RemoteScript {
        var cut = RemoteScript()
        for line in RemoteScripts.commit(paths, plan).lines {
            cut.raw(line)
            if line.contains(marker) { return cut }
        }
        throw XCTSkip("no line with \(marker)")
    }

    var plan: CommitPlan {
        CommitPlan(finalize: id2, activate: id2, historyLine: "{\"release\":\"\(id2.rawValue)\",\"m\":\"it's \\\\n $(x)\"}", prune: [],
                   unlockToken: nil)
    }

    func record(_ token: String) -> TargetLockRecord {
        TargetLockRecord(token: token, pid: 42, host: "h1", user: "deploy", command: "tetra org push acme prod",
                         time: Date(), ttl: 600)
    }

    func history() -> String { (try? String(contentsOfFile: paths.history, encoding: .utf8)) ?? "" }

    func testRemoteKillAfterTheSwitchIsRecordedByTheNextLock() throws {
        XCTAssertEqual(try run(commitCut(after: "@@tetra:switched", plan)).status, 0)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id2.rawValue)
        XCTAssertEqual(history(), "", "the kill came before the history line")
        XCTAssertTrue(fm.fileExists(atPath: paths.journal))

        let r = try run(RemoteScripts.tryLock(paths, record: record("1111111111111111")))
        XCTAssertEqual(r.status, 0, r.stderrString)
        XCTAssertEqual(history(), plan.historyLine + "\n", "byte for byte, once")
        XCTAssertFalse(fm.fileExists(atPath: paths.journal))
        // Killed after the history line: reconciled without a second copy.
        try TargetJournal(plan).text.write(toFile: paths.journal, atomically: false, encoding: .utf8)
        try fm.removeItem(atPath: paths.lock)
        XCTAssertEqual(try run(RemoteScripts.tryLock(paths, record: record("2222222222222222"))).status, 0)
        XCTAssertEqual(history(), plan.historyLine + "\n")
    }

    func testRemoteKillBeforeTheSwitchRemovesTheFinalizedRelease() throws {
        XCTAssertEqual(try run(commitCut(after: "mv '\(paths.partial(id2))'", plan)).status, 0)
        XCTAssertTrue(fm.fileExists(atPath: paths.release(id2)), "finalized, never activated")

        XCTAssertEqual(try run(RemoteScripts.tryLock(paths, record: record("1111111111111111"))).status, 0)
        XCTAssertFalse(fm.fileExists(atPath: paths.release(id2)), "a release that was never current is removed")
        XCTAssertTrue(fm.fileExists(atPath: paths.release(id1)))
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id1.rawValue)
        XCTAssertEqual(history(), "")
        XCTAssertFalse(fm.fileExists(atPath: paths.journal))
    }

    func testStaleLockTemporariesAreSwept() throws {
        let stale = paths.meta + "/lock.9999999999999999", fresh = paths.meta + "/lock.8888888888888888"
        try "{}\n".write(toFile: stale, atomically: false, encoding: .utf8)
        try "{}\n".write(toFile: fresh, atomically: false, encoding: .utf8)
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stale)
        XCTAssertEqual(try run(RemoteScripts.tryLock(paths, record: record("1111111111111111"))).status, 0)
        XCTAssertFalse(fm.fileExists(atPath: stale))
        XCTAssertTrue(fm.fileExists(atPath: fresh), "a live attempt's temporary is left alone")
        try fm.removeItem(atPath: paths.lock)

        let local = LocalTransport(target: try DeployTarget.parse(root))
        try "{}\n".write(toFile: stale, atomically: false, encoding: .utf8)
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stale)
        guard case .acquired = try local.tryLock(record("3333333333333333")) else { return XCTFail("not acquired") }
        XCTAssertFalse(fm.fileExists(atPath: stale))
        XCTAssertTrue(fm.fileExists(atPath: fresh))
    }

    func testLocalJournalIsReconciledByTheNextLock() throws {
        let local = LocalTransport(target: try DeployTarget.parse(root))
        // Switched, no history line.
        try fm.moveItem(atPath: paths.partial(id2), toPath: paths.release(id2))
        try fm.removeItem(atPath: paths.current)
        try fm.createSymbolicLink(atPath: paths.current, withDestinationPath: "releases/" + id2.rawValue)
        try TargetJournal(plan).text.write(toFile: paths.journal, atomically: false, encoding: .utf8)
        guard case .acquired = try local.tryLock(record("1111111111111111")) else { return XCTFail("not acquired") }
        XCTAssertEqual(history(), plan.historyLine + "\n")
        XCTAssertFalse(fm.fileExists(atPath: paths.journal))
        try local.unlock(token: "1111111111111111")

        // Finalized, not switched.
        let id3 = try ReleaseID("20261121T180000Z-0000003")
        try fm.createDirectory(atPath: paths.release(id3), withIntermediateDirectories: true)
        try TargetJournal(CommitPlan(finalize: id3, activate: id3, historyLine: "{}", prune: [], unlockToken: nil)).text
            .write(toFile: paths.journal, atomically: false, encoding: .utf8)
        guard case .acquired = try local.tryLock(record("2222222222222222")) else { return XCTFail("not acquired") }
        XCTAssertFalse(fm.fileExists(atPath: paths.release(id3)))
        XCTAssertEqual(history(), plan.historyLine + "\n")
    }

    func testCommitLeavesNoJournal() throws {
        let local = LocalTransport(target: try DeployTarget.parse(root))
        try "m".write(toFile: paths.partial(id2) + "/" + ReleaseManifest.fileName, atomically: false, encoding: .utf8)
        _ = try local.commit(CommitPlan(finalize: id2, activate: id2, historyLine: "{}", prune: [], unlockToken: nil))
        XCTAssertFalse(fm.fileExists(atPath: paths.journal))
        XCTAssertEqual(try run(RemoteScripts.commit(paths, CommitPlan(finalize: nil, activate: id1, historyLine: "{}", prune: [],
                                                                        unlockToken: nil))).status, 0)
        XCTAssertFalse(fm.fileExists(atPath: paths.journal))
        XCTAssertEqual(history(), "{}\n{}\n")
    }
}
