import Foundation
import XCTest
import TetraCore

/// A target lock held over ssh by a pusher on "another machine" (its lock record rewritten to
/// another host and boot id, so its pid proves nothing here): while the pusher lives, its
/// keeper session holds the lock; once it is killed, the next push breaks the lock at once
/// instead of waiting for the one-hour TTL. Against a real sshd with `flock(1)`.
final class LockKeeperE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    /// Makes the lock look as if its holder ran on another machine (same token and keeper).
    func moveHolderElsewhere(_ lock: String) throws {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: lock))
        var record = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(record["keeper"] as? Bool, true, "the ssh push's lock names its keeper")
        record["host"] = "far-away"
        record["boot"] = "00000000-0000-0000-0000-000000000000"
        let out = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: lock))
        handle.truncateFile(atOffset: 0)
        handle.write(out + Data("\n".utf8))
        handle.closeFile()
    }

    func testALiveRemoteHolderBlocksAndADeadOneIsBrokenAtOnce() throws {
        _ = try requireTool("rsync")
        _ = try requireTool("flock")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd, extraFiles: 3000)
        let target = f.stagingPath, lock = target + "/.tetra/lock"
        XCTAssertEqual(try f.run(["org", "push", "acme", "staging"]).status, 0)
        try "changed\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/conf/round.conf", atomically: true, encoding: .utf8)

        let pusher = try f.start(["org", "push", "acme", "staging"])
        XCTAssertTrue(waitFor(60) { FileManager.default.fileExists(atPath: lock) }, "the push never took the lock")
        kill(pusher.processIdentifier, SIGSTOP)
        let children = DeployFixture.descendants(of: pusher.processIdentifier)
        try moveHolderElsewhere(lock)

        // Alive (stopped, but its keeper session is up): held, exit 5, however old its pid.
        let blocked = try f.run(["org", "push", "acme", "staging", "--lock-wait", "0"])
        XCTAssertEqual(blocked.status, 5, blocked.stderr)
        XCTAssertTrue(blocked.stderr.contains("far-away"), blocked.stderr)

        // Dead: the next push breaks its lock at once and says why.
        kill(pusher.processIdentifier, SIGKILL)
        pusher.waitUntilExit()
        XCTAssertTrue(waitFor(30) { children.allSatisfy { !DeployFixture.isRunning($0) } }, "children \(children) still running")
        let next = try f.run(["org", "push", "acme", "staging", "--lock-wait", "0"])
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertTrue(next.stderr.contains("its session on the target ended"), next.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock), "released")
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: target + "/.tetra")) ?? []).filter { $0.hasPrefix("alive.") }
        XCTAssertEqual(leftovers, [], "every keeper removes its file when it ends")
    }
}
