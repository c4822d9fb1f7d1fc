import Foundation
import XCTest
import TetraCore

/// Crash safety of `tetra org push` itself (the built binary): SIGKILL at several points of a
/// push of thousands of files, and Ctrl-C (SIGINT). After every kill `current` points at a
/// complete release, nothing else at the target changed, and the next push succeeds
/// (breaking the dead pusher's lock, removing its partial upload and its scratch).
final class OrgCrashE2ETests: XCTestCase {
    static let files = 3000

    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    /// Rewrites every bulk file so that each push copies all of them (no hard links).
    func touchAll(_ f: OrgFixture, round: Int) throws {
        for i in 0..<Self.files {
            try "file \(i) round \(round)\n\(String(repeating: "z", count: 200 + i % 300))\n"
                .write(toFile: f.tetra.stateRoot + "/orgs/acme/files/bulk/d\(i % 50)/f\(i).conf", atomically: false, encoding: .utf8)
        }
    }

    func startPush(_ f: OrgFixture, env: String = "dev") throws -> Process {
        try f.start(["org", "push", "acme", env])
    }

    enum Point: CustomStringConvertible {
        case snapshotting, lockTaken, midUpload, afterRename, at(TimeInterval)
        var description: String {
            switch self {
            case .snapshotting: return "holding the org lock (snapshot, render)"
            case .lockTaken: return "lock taken"
            case .midUpload: return "mid-upload"
            case .afterRename: return "after the rename"
            case .at(let t): return String(format: "%.2fs", t)
            }
        }
    }

    /// The other releases' manifests and the target's top level, to check nothing else changed.
    func targetFingerprint(_ target: String, excluding: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        for r in DeployFixture.releases(target) where !excluding.contains(r) && !r.hasSuffix(".partial") {
            out[r] = (try? String(contentsOfFile: "\(target)/releases/\(r)/\(ReleaseManifest.fileName)", encoding: .utf8)) ?? "?"
        }
        return out
    }

    func testSIGKILLOfOrgPushAtSeveralPoints() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 50, extraFiles: Self.files)
        try crashRounds(f, env: "dev", target: f.devTarget, points: [.snapshotting, .lockTaken, .midUpload, .afterRename, .at(0.4), .at(0.9)])
    }

    /// keep_releases = 1: from the third push on, every push recycles the release it prunes
    /// (renamed to the new partial and corrected in place); a kill may consume that release,
    /// and nothing else.
    func testSIGKILLOfARecyclingLocalPushAtSeveralPoints() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1, extraFiles: Self.files)
        var r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try touchAll(f, round: 99)
        r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try crashRounds(f, env: "dev", target: f.devTarget, points: [.lockTaken, .midUpload, .afterRename, .at(0.5)], recycling: true)
    }

    func testSIGKILLOfOrgPushOverSSHAtSeveralPoints() throws {
        _ = try requireTool("rsync")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd, keepStaging: 50, extraFiles: Self.files)
        try crashRounds(f, env: "staging", target: f.stagingPath, points: [.lockTaken, .midUpload, .afterRename, .at(1.2)])
    }

    func crashRounds(_ f: OrgFixture, env: String, target: String, points: [Point], recycling: Bool = false) throws {
        var consumed = 0
        defer { if recycling { XCTAssertGreaterThan(consumed, 0, "no round was killed while recycling") } }
        var r = try f.run(["org", "push", "acme", env])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (round, point) in points.enumerated() {
            try touchAll(f, round: round)
            let before = Set(DeployFixture.releases(target))
            let fingerprint = targetFingerprint(target, excluding: [])
            let historyBefore = f.read(target + "/.tetra/history.jsonl").split(separator: "\n").count
            let child = try startPush(f, env: env)
            var reached = true
            switch point {
            case .snapshotting:
                // The org's source lock is held (snapshot and render) by the child.
                let pid = String(child.processIdentifier)
                reached = waitFor(60) { f.read(f.tetra.stateRoot + "/state/locks/org.acme.lock").contains(pid) }
            case .lockTaken:
                reached = waitFor(60) { FileManager.default.fileExists(atPath: target + "/.tetra/lock") }
            case .midUpload:
                reached = waitFor(60) {
                    guard let p = DeployFixture.releases(target).first(where: { $0.hasSuffix(".partial") }) else { return false }
                    return FileManager.default.fileExists(atPath: "\(target)/releases/\(p)/bulk/d10")
                }
            case .afterRename:
                reached = waitFor(60) { DeployFixture.releases(target).contains { !$0.hasSuffix(".partial") && !before.contains($0) } }
            case .at(let t):
                usleep(useconds_t(t * 1_000_000))
            }
            // (an ssh connection master, persisting 10 s after its last use, may be among them)
            let orphans = DeployFixture.descendants(of: child.processIdentifier)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertTrue(reached, "round \(round): never reached \(point)")
            XCTAssertTrue(waitFor(60) { orphans.allSatisfy { !DeployFixture.isRunning($0) } }, "orphans \(orphans) still running")

            // Right after the crash: current is a complete release, the old or the new one.
            let current = try DeployFixture.assertCurrentComplete(target)
            let after = Set(DeployFixture.releases(target).filter { !$0.hasSuffix(".partial") })
            let vanished = before.subtracting(after)
            consumed += vanished.count
            if recycling {
                // Only the release the push was pruning (the oldest; never current or previous) may be gone.
                XCTAssertTrue(vanished.isSubset(of: Set(before.sorted().prefix(max(0, before.count - 1)))),
                              "round \(round) (\(point)): \(vanished) disappeared")
            } else {
                XCTAssertTrue(vanished.isEmpty, "round \(round) (\(point)): a release disappeared")
            }
            let added = after.subtracting(before)
            XCTAssertLessThanOrEqual(added.count, 1, "round \(round): \(added)")
            XCTAssertTrue(before.contains(current) || added.contains(current), "round \(round)")
            XCTAssertEqual(targetFingerprint(target, excluding: added), fingerprint.filter { !vanished.contains($0.key) },
                           "round \(round): other releases changed")
            XCTAssertLessThanOrEqual(f.read(target + "/.tetra/history.jsonl").split(separator: "\n").count - historyBefore, 1)
            let entries = Set(((try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []))
            XCTAssertTrue(entries.isSubset(of: ["current", "releases", ".tetra", "current.tmp"]), "round \(round): \(entries)")

            // The next push succeeds.
            r = try f.run(["org", "push", "acme", env])
            XCTAssertEqual(r.status, 0, "round \(round) (\(point)): \(r.stderr)")
            let next = try DeployFixture.assertCurrentComplete(target)
            XCTAssertFalse(before.contains(next))
            XCTAssertFalse(DeployFixture.releases(target).contains { $0.hasSuffix(".partial") }, "round \(round): partial left")
            XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/.tetra/lock"))
            if case .midUpload = point {
                XCTAssertTrue(r.stderr.contains("broke a stale lock"), "round \(round): \(r.stderr)")
            }
            let scratch = (try? FileManager.default.contentsOfDirectory(atPath: f.tetra.stateRoot + "/state/tmp")) ?? []
            XCTAssertEqual(scratch, [], "round \(round): the dead push's scratch (rendered secrets) was removed")
        }
        f.assertSecretsOnlyInRenderedFiles()
    }

    func testSIGINTOfOrgPushExits130ReleasesTheLockAndChangesNothing() throws {
        let f = try OrgFixture(sshd: nil, extraFiles: Self.files)
        var r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let first = try DeployFixture.assertCurrentComplete(f.devTarget)
        var interrupted = 0
        for round in 0..<3 {
            try touchAll(f, round: round)
            let child = try startPush(f)
            XCTAssertTrue(waitFor(60) { FileManager.default.fileExists(atPath: f.devTarget + "/.tetra/lock") })
            kill(child.processIdentifier, SIGINT)
            child.waitUntilExit()
            if child.terminationStatus == 0 {
                // The push completed before the signal was seen: a complete release.
                try DeployFixture.assertCurrentComplete(f.devTarget)
                continue
            }
            interrupted += 1
            XCTAssertEqual(child.terminationStatus, 130)
            XCTAssertEqual(f.currentRelease(f.devTarget), first)
            XCTAssertEqual(DeployFixture.releases(f.devTarget), [first], "the partial was removed")
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.devTarget + "/.tetra/lock"), "the lock was released")
            let scratch = (try? FileManager.default.contentsOfDirectory(atPath: f.tetra.stateRoot + "/state/tmp")) ?? []
            XCTAssertEqual(scratch, [], "scratch removed on the way out")
            let audit = f.read(f.tetra.stateRoot + "/state/audit.jsonl")
            XCTAssertTrue(audit.contains(#""result":"interrupted""#), audit)
            break
        }
        XCTAssertGreaterThan(interrupted, 0, "no round was interrupted mid-push")
        r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try DeployFixture.assertCurrentComplete(f.devTarget)
    }
}
