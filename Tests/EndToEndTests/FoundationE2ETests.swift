import Foundation
import XCTest

/// The built binary, as an operator runs it.
final class FoundationE2ETests: XCTestCase {
    func testVersionHelpAndUnknownCommand() throws {
        let t = Tetra()
        let v = try t.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.hasPrefix("tetra "))
        let h = try t.run(["help", "audit"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("Usage:\n  tetra audit [flags]"))
        let u = try t.run(["ponts"])
        XCTAssertEqual(u.status, 2)
        XCTAssertTrue(u.stderr.hasPrefix("tetra: error: unknown command 'ponts'"))
        XCTAssertEqual(u.stdout, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/state"), "a usage error creates nothing")
    }

    func testVerboseShowsExternalCommandsOnStderrAndQuietSilencesNotes() throws {
        let t = Tetra()
        let v = try t.run(["doctor", "--verbose"])
        XCTAssertTrue(v.stderr.contains("tetra: run: git --version"), v.stderr)
        XCTAssertTrue(v.stderr.contains("tetra: exit 0 after"), v.stderr)
        XCTAssertFalse(v.stdout.contains("tetra: run:"), "diagnostics never go to stdout")
        XCTAssertEqual(try t.run(["init"]).status, 0)
        XCTAssertEqual(try t.run(["ports", "allocate", "api", "--range", "development"]).status, 0)
        let again = try t.run(["ports", "allocate", "api", "--range", "development"])
        XCTAssertTrue(again.stderr.contains("already registered"))
        let quiet = try t.run(["ports", "allocate", "api", "--range", "development", "-q"])
        XCTAssertEqual(quiet.stderr, "")
        XCTAssertEqual(quiet.stdout, again.stdout)
    }

    func testReadOnlyCommandsDoNotCreateTheStateRoot() throws {
        let t = Tetra(stateRoot: Tetra.makeTempDir("tetra-e2e") + "/not-yet")
        XCTAssertEqual(try t.run(["audit"]).status, 0)
        XCTAssertEqual(try t.run(["__complete", "--org", ""]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot))
    }

    func testInitDoctorAuditRoundTrip() throws {
        let t = Tetra()
        let i = try t.run(["init"])
        XCTAssertEqual(i.status, 0, i.stderr)
        let d = try t.run(["doctor", "--json"])
        XCTAssertTrue([0, 1].contains(d.status), d.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(d.stdout.utf8)) as? [String: Any]
        let checks = doc?["checks"] as? [[String: Any]] ?? []
        let git = checks.first { $0["name"] as? String == "tool git" }
        XCTAssertEqual(git?["status"] as? String, "ok")
        XCTAssertTrue((git?["detail"] as? String ?? "").contains("."), "git version is reported")
        let a = try t.run(["audit", "--json"])
        let entries = (try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]]
        XCTAssertEqual(entries?.count, 1)
        let argv = entries?.first?["argv"] as? [String]
        XCTAssertEqual(argv, ["tetra", "init"])
        var st = stat()
        XCTAssertEqual(stat(t.stateRoot + "/state/audit.jsonl", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
    }

    func testDirAtAFileAndUncreatableStateRoot() throws {
        let t = Tetra()
        let file = t.stateRoot + "/file"
        try "keep".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try t.run(["init", "--dir", file])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 2, r.stderr) // error + hint
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "keep")

        // /proc refuses new directories even to root: an unwritable location.
        let p = try t.run(["init", "--dir", "/proc/tetra-test/root"])
        XCTAssertEqual(p.status, 1, p.stderr)
        XCTAssertTrue(p.stderr.hasPrefix("tetra: error: "), p.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/tetra-test"))

        if getuid() != 0 {
            let ro = Tetra.makeTempDir("tetra-ro")
            chmod(ro, 0o500)
            defer { chmod(ro, 0o700) }
            let w = try t.run(["init", "--dir", ro + "/root"])
            XCTAssertEqual(w.status, 1)
            XCTAssertTrue(w.stderr.contains("not writable"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: ro + "/root"))
        }
    }

    /// A process holding the lock is killed; the next command breaks the stale lock.
    func testKilledLockHolderLeavesNoStaleLock() throws {
        let python = try requireTool("python3")
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let lockFile = t.stateRoot + "/state/locks/init.lock"
        // A foreign holder: flock the file, record a holder, signal readiness, sleep.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: python)
        holder.arguments = ["-c", """
            import fcntl, json, os, sys, time
            f = open(sys.argv[1], "a+")
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0); f.truncate()
            f.write(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "command": "holder", "time": "2026-01-01T00:00:00Z"}))
            f.flush()
            print("locked", flush=True)
            time.sleep(60)
            """, lockFile]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        _ = out.fileHandleForReading.availableData // wait for "locked"

        let held = try t.run(["init", "--lock-wait", "0"])
        XCTAssertEqual(held.status, 5, held.stderr)
        XCTAssertTrue(held.stderr.contains("pid \(holder.processIdentifier)"), held.stderr)
        XCTAssertTrue(held.stderr.contains("--lock-wait"), held.stderr)

        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let after = try t.run(["init"])
        XCTAssertEqual(after.status, 0, "the stale lock of a dead holder is broken: \(after.stderr)")
    }

    func testLockWaitWaitsForTheHolder() throws {
        let python = try requireTool("python3")
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let lockFile = t.stateRoot + "/state/locks/init.lock"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: python)
        holder.arguments = ["-c", """
            import fcntl, sys, time
            f = open(sys.argv[1], "a+")
            fcntl.flock(f, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep(0.8)
            """, lockFile]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        _ = out.fileHandleForReading.availableData
        let r = try t.run(["init", "--lock-wait", "10s"])
        XCTAssertEqual(r.status, 0, r.stderr)
        holder.waitUntilExit()
    }
}
