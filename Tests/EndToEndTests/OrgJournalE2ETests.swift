import Foundation
import XCTest
import TetraCore

/// The fault probe of lost history, as a test: `tetra org push` (the built binary) killed
/// with SIGKILL at chosen and random points, over ssh (a real sshd) and to a local target,
/// then the next push. Afterwards every change applied at the target is in the local
/// history, the target's `.tetra/history.jsonl` and the audit log, no lock or journal is
/// left, and the next push takes the target's lock at once (`--lock-wait 0`).
final class OrgJournalE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    enum Point: CustomStringConvertible {
        /// As soon as `current` moved (between the switch and the local history line).
        case afterSwitch
        case lockTaken
        case at(TimeInterval)
        var description: String {
            switch self {
            case .afterSwitch: return "right after the switch"
            case .lockTaken: return "lock taken"
            case .at(let t): return String(format: "%.3fs", t)
            }
        }
    }

    func testSIGKILLOfSSHPushLeavesNoUnrecordedChange() throws {
        _ = try requireTool("rsync")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd, keepStaging: 50, extraFiles: 200)
        try probe(f, env: "staging", target: f.stagingPath, rounds: 12)
    }

    func testSIGKILLOfLocalPushLeavesNoUnrecordedChange() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 50, extraFiles: 200)
        try probe(f, env: "dev", target: f.devTarget, rounds: 8)
    }

    /// `org history` and `org status` finish the record-keeping of a killed push too: the
    /// change shows at once, without waiting for the next push.
    func testHistoryAfterAKilledPushShowsTheChange() throws {
        let f = try OrgFixture(sshd: nil, extraFiles: 200)
        let conf = f.tetra.stateRoot + "/orgs/acme/files/conf/round.conf"
        try "one\n".write(toFile: conf, atomically: true, encoding: .utf8)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        try "two\n".write(toFile: conf, atomically: true, encoding: .utf8)
        let before = f.currentRelease(f.devTarget)
        let child = try f.start(["org", "push", "acme", "dev"])
        XCTAssertTrue(waitFor(60) { f.currentRelease(f.devTarget) != before }, "never switched")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let killed = try XCTUnwrap(f.currentRelease(f.devTarget))
        let r = try f.run(["org", "history", "acme", "dev", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(killed), "the killed push's release is in the history: \(r.stdout)")
        let audit = lines(f, f.tetra.stateRoot + "/state/audit.jsonl").filter { $0["command"] as? String == "org push" }
        XCTAssertEqual(audit.count, 2, "one audit line per push, the killed one included")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: f.tetra.stateRoot + "/state/journal")) ?? [], [])
    }

    func lines(_ f: OrgFixture, _ path: String) -> [[String: Any]] {
        f.read(path).split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func probe(_ f: OrgFixture, env: String, target: String, rounds: Int) throws {
        let conf = f.tetra.stateRoot + "/orgs/acme/files/conf/round.conf"
        try "round -1\n".write(toFile: conf, atomically: true, encoding: .utf8)
        let started = Date()
        var r = try f.run(["org", "push", "acme", env])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pushTime = Date().timeIntervalSince(started)
        var generator = SystemRandomNumberGenerator()
        // The chosen points first, then random delays over the length of a push.
        var points: [Point] = [.afterSwitch, .afterSwitch, .afterSwitch, .lockTaken]
        while points.count < rounds { points.append(.at(Double.random(in: 0.05...(pushTime * 1.1), using: &generator))) }
        var applied = 0
        for (round, point) in points.enumerated() {
            try "round \(round)\n".write(toFile: conf, atomically: true, encoding: .utf8)
            let before = f.currentRelease(target)
            let child = try f.start(["org", "push", "acme", env])
            switch point {
            case .afterSwitch:
                XCTAssertTrue(waitFor(60) { f.currentRelease(target) != before }, "round \(round): never switched")
            case .lockTaken:
                XCTAssertTrue(waitFor(60) { FileManager.default.fileExists(atPath: target + "/.tetra/lock") })
            case .at(let t):
                usleep(useconds_t(t * 1_000_000))
            }
            let orphans = DeployFixture.descendants(of: child.processIdentifier)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertTrue(waitFor(60) { orphans.allSatisfy { !DeployFixture.isRunning($0) } }, "orphans \(orphans) still running")
            let killedRelease = f.currentRelease(target)
            if killedRelease != before { applied += 1 }

            // The next push: at once, even if the dead push held the target's lock.
            r = try f.run(["org", "push", "acme", env, "--lock-wait", "0", "-m", "after round \(round)"])
            XCTAssertEqual(r.status, 0, "round \(round) (\(point)): \(r.stderr)")
            try DeployFixture.assertCurrentComplete(target)

            // Both histories and the audit log tell the same story.
            let local = lines(f, f.tetra.stateRoot + "/state/history/acme.jsonl").filter { $0["env"] as? String == env }
            let remote = lines(f, target + "/.tetra/history.jsonl")
            let audit = lines(f, f.tetra.stateRoot + "/state/audit.jsonl").filter {
                $0["command"] as? String == "org push" && $0["env"] as? String == env
            }
            let localReleases = local.compactMap { $0["release"] as? String }
            let remoteReleases = remote.compactMap { $0["release"] as? String }
            XCTAssertEqual(localReleases, remoteReleases, "round \(round) (\(point)): local and target history differ")
            XCTAssertEqual(audit.count, local.count, "round \(round) (\(point)): \(audit.count) audit lines for \(local.count) pushes")
            if let killedRelease, killedRelease != before {
                XCTAssertTrue(localReleases.contains(killedRelease), "round \(round) (\(point)): the killed push is not in the local history")
                XCTAssertTrue(remoteReleases.contains(killedRelease), "round \(round) (\(point)): not in the target's history")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/.tetra/lock"), "round \(round): lock left")
            XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/.tetra/journal"), "round \(round): target journal left")
            let journal = (try? FileManager.default.contentsOfDirectory(atPath: f.tetra.stateRoot + "/state/journal")) ?? []
            XCTAssertEqual(journal, [], "round \(round): local journal left")
            let finished = Set(DeployFixture.releases(target)), recorded = Set(remoteReleases)
            XCTAssertEqual(finished.subtracting(recorded), [], "round \(round): releases in no history")
        }
        print("killed pushes that had switched current: \(applied) of \(points.count) (\(points))")
        XCTAssertGreaterThan(applied, 0, "no kill landed after the switch")
    }
}
