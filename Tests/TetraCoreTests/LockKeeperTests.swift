import Foundation
import XCTest
@testable import TetraCore

/// The keeper of a target lock (`LockKeeper` and its remote scripts), run by a real `sh` and
/// `flock(1)` against a temporary directory, as ssh would run them at the target.
final class LockKeeperTests: XCTestCase {
    var root = ""
    var paths: RemotePaths { RemotePaths(root: root) }
    let runner = SystemProcessRunner(environment: ProcessInfo.processInfo.environment)

    override func setUpWithError() throws {
        guard runner.which("flock") != nil else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("flock(1) (util-linux) is missing under CI") }
            throw XCTSkip("SKIPPED LOUDLY: flock(1) is not installed (util-linux)")
        }
        let base = NSTemporaryDirectory() + "keeper-\(UUID().uuidString.prefix(8))"
        root = base + "/srv/ac=me"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: base) }
    }

    func run(_ script: RemoteScript) throws -> ProcessResult {
        try runner.run(ProcessRequest("/bin/sh", ["-c", script.sshArgument]))
    }

    func record(_ token: String, keeper: Bool = true) -> TargetLockRecord {
        var r = TargetLockRecord(token: token, pid: 42, host: "elsewhere", user: "deploy", command: "tetra org push acme prod",
                                 time: Date(), ttl: 3600, boot: "another-machine")
        r.keeper = keeper ? true : nil
        return r
    }

    func keeper(_ token: String) -> LockKeeper? {
        let script = RemoteScripts.keeper(paths, token: token)
        return LockKeeper(runner: runner) { stdin in
            var request = ProcessRequest("/bin/sh", ["-c", script.sshArgument])
            request.inputFile = stdin
            return request
        }
    }

    func lockLines(_ r: ProcessResult) -> [Substring] { RemoteOutput.lines(r.stdout) }

    func testAHolderWhoseKeeperEndedIsReportedGoneAtOnce() throws {
        let a = "aaaaaaaaaaaaaaaa", b = "bbbbbbbbbbbbbbbb"
        let keeperA = try XCTUnwrap(keeper(a))
        let taken = try run(RemoteScripts.tryLock(paths, record: record(a)))
        XCTAssertTrue(lockLines(taken).contains("@@tetra:acquired"), taken.stdoutString + taken.stderrString)
        XCTAssertFalse(lockLines(taken).contains("@@tetra:unkept"), "the script waited for the keeper's flock")
        XCTAssertEqual(TargetLockRecord.parse(try String(contentsOfFile: paths.lock, encoding: .utf8))?.keeper, true)

        // While A's keeper lives, A holds the lock, even though its pid means nothing here.
        let held = try run(RemoteScripts.tryLock(paths, record: record(b)))
        XCTAssertTrue(lockLines(held).contains("@@tetra:held"), held.stdoutString)
        XCTAssertFalse(lockLines(held).contains("@@tetra:holder-gone"), held.stdoutString)

        // A dies (its pipe closes): the next attempt knows at once.
        keeperA.stop()
        let gone = try run(RemoteScripts.tryLock(paths, record: record(b)))
        XCTAssertTrue(lockLines(gone).contains("@@tetra:held"), gone.stdoutString)
        XCTAssertTrue(lockLines(gone).contains("@@tetra:holder-gone"), gone.stdoutString)
        XCTAssertTrue(try run(RemoteScripts.breakLock(paths, token: a, asideSuffix: "x")).stdoutString.contains("@@tetra:broken"))
    }

    func testALockWithoutKeeperIsNeverReportedGone() throws {
        let plain = record("cccccccccccccccc", keeper: false)
        _ = try run(RemoteScripts.tryLock(paths, record: plain))
        let held = try run(RemoteScripts.tryLock(paths, record: record("dddddddddddddddd", keeper: false)))
        XCTAssertTrue(lockLines(held).contains("@@tetra:held"), held.stdoutString)
        XCTAssertFalse(lockLines(held).contains("@@tetra:holder-gone"), "its TTL decides")
    }

    /// The lock script probes the keeper's file with `flock -n` while it waits; a probe that
    /// holds it just as the keeper starts must not end the keeper (the lock script then
    /// polled 10 s for nothing and took the lock unkept: the fleet bench's 10 s pushes).
    func testAKeeperOutlastsAProbeHoldingItsFileAsItStarts() throws {
        let a = "abababababababab"
        try FileManager.default.createDirectory(atPath: paths.meta, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: paths.alive(a), contents: nil)
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: try XCTUnwrap(runner.which("flock")))
        probe.arguments = [paths.alive(a), "sleep", "0.4"]
        try probe.run()
        // The probe holds the flock before the keeper tries.
        let deadline = Date().addingTimeInterval(5)
        while (try? runner.run(ProcessRequest(probe.executableURL!.path, ["-n", paths.alive(a), "true"])))?.status == 0, Date() < deadline {
            usleep(10_000)
        }
        let keeperA = try XCTUnwrap(keeper(a))
        defer { keeperA.stop() }
        let started = Date()
        let taken = try run(RemoteScripts.tryLock(paths, record: record(a)))
        probe.waitUntilExit()
        XCTAssertTrue(lockLines(taken).contains("@@tetra:acquired"), taken.stdoutString + taken.stderrString)
        XCTAssertFalse(lockLines(taken).contains("@@tetra:unkept"), "the keeper gave up while the probe held its file")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the lock script waited for a keeper that had gone")
    }

    func testUnlockRemovesTheKeeperFileAndTheNextLockSweepsDeadOnes() throws {
        let a = "eeeeeeeeeeeeeeee"
        let keeperA = try XCTUnwrap(keeper(a))
        _ = try run(RemoteScripts.tryLock(paths, record: record(a)))
        _ = try run(RemoteScripts.unlock(paths, token: a))
        keeperA.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.alive(a)))

        // A dead keeper's file (a minute old) goes; a live keeper's stays however old it is.
        let dead = paths.alive("1111111111111111"), live = "2222222222222222"
        FileManager.default.createFile(atPath: dead, contents: Data())
        let keeperLive = try XCTUnwrap(keeper(live))
        defer { keeperLive.stop() }
        XCTAssertTrue(waitFor { FileManager.default.fileExists(atPath: self.paths.alive(live)) })
        let old = Date().addingTimeInterval(-120)
        for path in [dead, paths.alive(live)] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        }
        let b = "ffffffffffffffff"
        let keeperB = try XCTUnwrap(keeper(b))
        defer { keeperB.stop() }
        XCTAssertTrue(lockLines(try run(RemoteScripts.tryLock(paths, record: record(b)))).contains("@@tetra:acquired"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead), "swept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: paths.alive(live)), "held by a live keeper")
    }

    func testCommitRefusesALockThatIsNoLongerOurs() throws {
        let id = try ReleaseID("20261121T160301Z-3f2a9c1")
        _ = try run(RemoteScripts.tryLock(paths, record: record("1234123412341234", keeper: false)))
        try FileManager.default.createDirectory(atPath: paths.release(id), withIntermediateDirectories: true)
        let plan = CommitPlan(finalize: nil, activate: id, historyLine: "{}", prune: [], unlockToken: "9999999999999999")
        let r = try run(RemoteScripts.commit(paths, plan))
        XCTAssertEqual(r.status, 6, r.stderrString)
        XCTAssertTrue(r.stderrString.contains("no longer ours"), r.stderrString)
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: paths.current), "nothing switched")
    }

    func waitFor(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return false
    }
}
