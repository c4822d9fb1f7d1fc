import Foundation
import XCTest
@testable import TetraCore

final class SafetyLockTests: XCTestCase {
    var dir = ""
    var locks: LockManager!
    let holder = LockHolder.current(command: "tetra ports allocate api")

    override func setUp() {
        dir = ProcTestSupport.makeTempDir("tetra-locks")
        locks = LockManager(locksDirectory: dir + "/state/locks")
    }

    override func tearDown() {
        ProcTestSupport.removeTree(dir)
    }

    /// A separate process holding the lock with python's fcntl.flock, writing a holder
    /// record like tetra's (with `recordPid` instead of its own pid when given).
    func startHolder(resource: String, seconds: Double, recordPid: Int32? = nil) throws -> Process {
        guard let python = ProcTestSupport.python3 else { throw XCTSkip("python3 not available") }
        let path = try locks.path(for: resource)
        try AtomicFile.ensureDirectory(locks.locksDirectory)
        let code = """
        import fcntl, json, os, socket, sys, time
        path, seconds, record_pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
        f = open(path, "a+")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        rec = {"pid": record_pid or os.getpid(), "host": socket.gethostname(),
               "command": "tetra ports allocate api", "time": "2026-11-21T17:03:00Z"}
        f.seek(0); f.truncate(); f.write(json.dumps(rec) + "\\n"); f.flush()
        open(path + ".ready", "w").close()
        time.sleep(seconds)
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", code, path, String(seconds), String(recordPid ?? 0)]
        try p.run()
        XCTAssertTrue(ProcTestSupport.waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: path + ".ready") },
                      "helper did not take the lock")
        return p
    }

    func testAcquireRecordsHolderAndReleaseClearsIt() throws {
        let held = try locks.acquire("ports", holder: holder)
        XCTAssertEqual(held.path, dir + "/state/locks/ports.lock")
        XCTAssertEqual(ProcTestSupport.mode(dir + "/state/locks"), 0o700)
        let record = try XCTUnwrap(ProcTestSupport.read(held.path))
        let decoded = try JSONDecoder().decode(LockHolder.self, from: Data(record.utf8))
        XCTAssertEqual(decoded.pid, getpid())
        XCTAssertEqual(decoded.command, "tetra ports allocate api")
        XCTAssertEqual(decoded.host, ProcessIdentity.hostName)
        XCTAssertTrue(record.contains("\"time\":\""), record)
        XCTAssertEqual(try locks.currentHolder(of: "ports")?.pid, getpid())
        held.release()
        held.release() // idempotent
        XCTAssertFalse(held.isHeld)
        XCTAssertEqual(ProcTestSupport.read(held.path), "")
        XCTAssertNil(try locks.currentHolder(of: "ports"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: held.path), "lock files are never unlinked")
        let again = try locks.acquire("ports", holder: holder)
        again.release()
    }

    func testHeldLockFailsWithExit5NamingTheHolder() throws {
        let other = LockManager(locksDirectory: locks.locksDirectory)
        let h = LockHolder(pid: getpid(), host: ProcessIdentity.hostName, command: "tetra ports allocate api",
                           time: Timestamps.parseISO8601("2026-11-21T17:03:00Z")!)
        let held = try locks.acquire("ports", holder: h)
        defer { held.release() }
        XCTAssertThrowsError(try other.acquire("ports", holder: holder)) { error in
            guard let e = error as? CoreError, case .lockHeld(let resource, let holderText, let hint) = e else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(resource, "ports")
            XCTAssertEqual(holderText, "pid \(getpid()) on \(ProcessIdentity.hostName) (tetra ports allocate api) since 2026-11-21T17:03:00Z")
            XCTAssertTrue(hint?.contains("--lock-wait") == true, hint ?? "")
            XCTAssertEqual(e.exitCode.rawValue, 5)
            XCTAssertEqual(e.kind, "lock_held")
        }
        // Other resources are independent.
        let env = try other.acquire("org.acme.env.dev", holder: holder)
        env.release()
    }

    func testWithLockReleasesAfterBodyAndOnThrow() throws {
        struct Boom: Error {}
        XCTAssertEqual(try locks.withLock("org.acme", holder: holder) { 42 }, 42)
        XCTAssertThrowsError(try locks.withLock("org.acme", holder: holder) { throw Boom() })
        let again = try locks.acquire("org.acme", holder: holder)
        again.release()
    }

    func testLockFileDescriptorIsCloseOnExec() throws {
        let held = try locks.acquire("ports", holder: holder)
        defer { held.release() }
        let fdDir = "/proc/self/fd"
        var found = false
        for name in try FileManager.default.contentsOfDirectory(atPath: fdDir) {
            guard let fd = Int32(name),
                  let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + name),
                  target == held.path else { continue }
            found = true
            XCTAssertNotEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0, "lock fd \(fd) lacks FD_CLOEXEC")
        }
        XCTAssertTrue(found)
    }

    func testSeparateProcessHoldsThenIsKilledAndTheLockIsBroken() throws {
        let helper = try startHolder(resource: "ports", seconds: 30)
        defer { if helper.isRunning { kill(helper.processIdentifier, SIGKILL) } }
        XCTAssertThrowsError(try locks.acquire("ports", holder: holder)) { error in
            guard case .lockHeld(_, let text, _)? = error as? CoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(text, "pid \(helper.processIdentifier) on \(ProcessIdentity.hostName) (tetra ports allocate api) since 2026-11-21T17:03:00Z")
        }
        kill(helper.processIdentifier, SIGKILL)
        helper.waitUntilExit()
        // The record of the dead holder is still in the file...
        let stale = try XCTUnwrap(ProcTestSupport.read(try locks.path(for: "ports")))
        XCTAssertTrue(stale.contains("\(helper.processIdentifier)"))
        XCTAssertNil(try locks.currentHolder(of: "ports"), "a dead holder is not reported as holding")
        // ...but the kernel released the flock: the next acquire succeeds at once and replaces it.
        let held = try locks.acquire("ports", holder: holder)
        defer { held.release() }
        let record = try JSONDecoder().decode(LockHolder.self, from: Data(ProcTestSupport.read(held.path)!.utf8))
        XCTAssertEqual(record.pid, getpid())
    }

    func testStaleRecordOfDeadPidWithoutFlockIsAcquirable() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let deadPid = p.processIdentifier
        try AtomicFile.ensureDirectory(locks.locksDirectory)
        let stale = LockHolder(pid: deadPid, host: ProcessIdentity.hostName, command: "tetra org push acme prod", time: Date())
        try AtomicFile.write(try JSONEncoder().encode(stale), to: try locks.path(for: "org.acme"), mode: 0o600)
        XCTAssertTrue(stale.isDeadLocalProcess)
        let held = try locks.acquire("org.acme", holder: holder)
        defer { held.release() }
        let record = try JSONDecoder().decode(LockHolder.self, from: Data(ProcTestSupport.read(held.path)!.utf8))
        XCTAssertEqual(record.pid, getpid())
        XCTAssertEqual(record.command, "tetra ports allocate api")
    }

    func testFlockHeldButRecordedPidDeadIsStillHeld() throws {
        // The safe choice: the kernel says someone holds the lock, so we never break it, even
        // when the record names a dead process (inherited descriptor, or a new holder that
        // has not written its record yet). The message says so.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let helper = try startHolder(resource: "ports", seconds: 30, recordPid: p.processIdentifier)
        defer { kill(helper.processIdentifier, SIGKILL); helper.waitUntilExit() }
        XCTAssertThrowsError(try locks.acquire("ports", holder: holder)) { error in
            guard case .lockHeld(_, let text, let hint)? = error as? CoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.hasPrefix("pid \(p.processIdentifier) on "), text)
            XCTAssertTrue(text.contains("that process is gone"), text)
            XCTAssertTrue(hint?.contains("fuser") == true, hint ?? "")
        }
    }

    func testLockWaitSucceedsWhenTheHolderReleases() throws {
        let helper = try startHolder(resource: "ports", seconds: 0.3)
        defer { if helper.isRunning { kill(helper.processIdentifier, SIGKILL) } }
        let start = Date()
        let held = try locks.acquire("ports", wait: 2, holder: holder)
        let elapsed = Date().timeIntervalSince(start)
        held.release()
        XCTAssertGreaterThan(elapsed, 0.1, "should have waited for the holder")
        XCTAssertLessThan(elapsed, 2)
    }

    func testLockWaitInProcessRelease() throws {
        let first = try locks.acquire("ports", holder: holder)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { first.release() }
        let start = Date()
        let second = try LockManager(locksDirectory: locks.locksDirectory).acquire("ports", wait: 2, holder: holder)
        second.release()
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 1.5)
    }

    func testLockWaitGivesUpAfterTheDeadline() throws {
        let first = try locks.acquire("ports", holder: holder)
        defer { first.release() }
        let start = Date()
        XCTAssertThrowsError(try LockManager(locksDirectory: locks.locksDirectory).acquire("ports", wait: 0.3, holder: holder)) { error in
            guard case .lockHeld(_, _, let hint)? = error as? CoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(hint?.hasPrefix("still held after waiting 300ms") == true, hint ?? "")
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.29)
        XCTAssertLessThan(elapsed, 1.0)
    }

    func testInterruptWhileWaiting() throws {
        let first = try locks.acquire("ports", holder: holder)
        defer { first.release() }
        let flag = InterruptFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { flag.raise() }
        let start = Date()
        XCTAssertThrowsError(try LockManager(locksDirectory: locks.locksDirectory)
            .acquire("ports", wait: 10, holder: holder, interrupt: flag)) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    func testResourceNamesBecomeSafeDistinctFileNames() throws {
        XCTAssertEqual(try LockManager.fileName(for: "ports"), "ports")
        XCTAssertEqual(try LockManager.fileName(for: "org.acme.env.dev"), "org.acme.env.dev")
        let traversal = try LockManager.fileName(for: "../../etc/passwd")
        XCTAssertFalse(traversal.contains("/"))
        XCTAssertFalse(traversal.contains(".."))
        XCTAssertFalse(traversal.hasPrefix("."))
        let wildcard = try LockManager.fileName(for: "ssl.*.example.com")
        XCTAssertTrue(wildcard.hasPrefix("ssl._.example.com-"), wildcard)
        XCTAssertNotEqual(try LockManager.fileName(for: "Org"), try LockManager.fileName(for: "org"))
        XCTAssertNotEqual(try LockManager.fileName(for: "a*b"), try LockManager.fileName(for: "a?b"))
        XCTAssertLessThanOrEqual(try LockManager.fileName(for: String(repeating: "x", count: 500)).count, 130)
        XCTAssertThrowsError(try LockManager.fileName(for: "")) { error in
            XCTAssertEqual((error as? CoreError)?.exitCode, .usage)
        }
        let held = try locks.acquire("../escape", holder: holder)
        defer { held.release() }
        XCTAssertTrue(held.path.hasPrefix(locks.locksDirectory + "/"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/state/escape.lock"))
    }

    func testHolderDescriptionAndCoding() throws {
        let h = LockHolder(pid: 4242, host: "host1", command: "tetra ports allocate api",
                           time: Timestamps.parseISO8601("2026-11-21T17:03:00Z")!, startTime: 12345)
        XCTAssertEqual(h.description, "pid 4242 on host1 (tetra ports allocate api) since 2026-11-21T17:03:00Z")
        let data = try JSONEncoder().encode(h)
        XCTAssertEqual(try JSONDecoder().decode(LockHolder.self, from: data), h)
        XCTAssertFalse(h.isDeadLocalProcess, "another host's process is never judged dead from here")
    }
}
