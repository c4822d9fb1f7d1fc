import Foundation
import XCTest

/// The supervisor under faults and at rest, with real processes: it sleeps while nothing
/// happens, its backoff starts over after a run that stayed up, status never says running
/// without a pid, and a corrupt `state.json` neither hides a running service nor makes it
/// unmanageable.
final class SvcSupervisorE2ETests: XCTestCase {
    var f: SvcFixture!

    override func setUpWithError() throws {
        f = try SvcFixture()
    }

    override func tearDown() {
        f?.cleanUp()
        f = nil
    }

    func supervisorAndChild(_ name: String) -> (Int32, Int32) {
        let rec = f.record(name)
        return (Int32((rec["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0),
                Int32((rec["process"] as? [String: Any])?["pid"] as? Int ?? 0))
    }

    /// Context switches of every thread of `pid` (each wake-up is at least one).
    func contextSwitches(_ pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.reduce(0) { sum, task in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            return sum + text.split(separator: "\n").filter { $0.contains("ctxt_switches:") }
                .compactMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }.reduce(0, +)
        }
    }

    /// An idle service's supervisor blocks (no timer wakes it: it used to poll every 100 ms),
    /// and still notices a crash at once.
    func testIdleSupervisorDoesNotWakeUp() throws {
        try f.write("idle", "command = [\"sleep\", \"300\"]\n[restart]\nbackoff = \"100ms\"\n")
        XCTAssertEqual(try f.svc(["start", "idle"]).status, 0)
        let (sup, child) = supervisorAndChild("idle")
        usleep(500_000)
        let before = contextSwitches(sup)
        usleep(3_000_000)
        let after = contextSwitches(sup)
        XCTAssertLessThanOrEqual(after - before, 2, "the idle supervisor woke \(after - before) times in 3 s")
        let killed = Date()
        kill(child, SIGKILL)
        XCTAssertTrue(try f.wait(2) { (try f.status("idle")["pid"] as? Int).map { Int32($0) != child } ?? false })
        XCTAssertLessThan(Date().timeIntervalSince(killed), 1.5, "restarted after the 100ms backoff")
    }

    /// The backoff doubles with each quick restart, and starts over from `backoff` after a
    /// run that stayed up 10 s (it used to keep growing within the window).
    func testBackoffStartsOverAfterAStableRun() throws {
        let marker = f.root + "/ran-once"
        try f.write("flappy", """
        command = ["sh", "-c", "if [ -e \\"$MARKER\\" ]; then sleep 10.5; else touch \\"$MARKER\\"; fi; exit 1"]
        env = { MARKER = "\(marker)" }

        [restart]
        policy = "on-failure"
        max_restarts = 10
        window = "10m"
        backoff = "1s"
        max_backoff = "1m"
        """)
        XCTAssertEqual(try f.svc(["start", "flappy"]).status, 0)
        // First run: a quick failure, restarted after 1s; the second run stays up 10.5 s.
        let log = f.root + "/state/services/acme/flappy/events.log"
        func delays() -> [Substring] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("restarting in") }
        }
        XCTAssertTrue(f.wait(16) { delays().count >= 2 }, "\(f.record("flappy"))")
        let events = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(delays().count, 2, events)
        XCTAssertTrue(delays().first?.contains("restarting in 1s") ?? false, events)
        XCTAssertTrue(delays().last?.contains("restarting in 1s") ?? false, "after a stable run the backoff starts over: \(events)")
    }

    /// A service whose process is gone while its supervisor has not recorded it (here: the
    /// supervisor is paused) is never shown as running without a pid.
    func testStatusNeverShowsRunningWithoutAPid() throws {
        try f.write("paused", "command = [\"sleep\", \"300\"]\n[restart]\nbackoff = \"100ms\"\n")
        XCTAssertEqual(try f.svc(["start", "paused"]).status, 0)
        let (sup, child) = supervisorAndChild("paused")
        kill(sup, SIGSTOP)
        kill(child, SIGKILL)
        XCTAssertTrue(f.wait(2) { !Proc.alive(child) })
        let s = try f.status("paused")
        XCTAssertNil(s["pid"], "\(s)")
        XCTAssertEqual(s["state"] as? String, "starting", "\(s)")
        XCTAssertTrue((s["message"] as? String ?? "").contains("pid \(child)"), "\(s)")
        kill(sup, SIGCONT)
        XCTAssertTrue(try f.wait(3) { try f.status("paused")["pid"] != nil })
        XCTAssertEqual(try f.status("paused")["state"] as? String, "running")
    }

    /// Garbage written over `state.json` of a running service: its supervisor rewrites the
    /// file at once (naming it in its events), so status still shows it running and stop
    /// stops it.
    func testCorruptStateIsRewrittenByItsSupervisor() throws {
        try f.write("api", "command = [\"sleep\", \"300\"]\n")
        XCTAssertEqual(try f.svc(["start", "api"]).status, 0)
        let (sup, child) = supervisorAndChild("api")
        let file = f.root + "/state/services/acme/api/state.json"
        try Data("\u{0}garbage{".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertTrue(f.wait(2) { f.record("api")["state"] as? String == "running" }, "rewritten")
        let s = try f.status("api")
        XCTAssertEqual(s["state"] as? String, "running")
        XCTAssertEqual(s["pid"] as? Int, Int(child))
        XCTAssertEqual(s["supervisor_pid"] as? Int, Int(sup))
        let events = try String(contentsOfFile: f.root + "/state/services/acme/api/events.log", encoding: .utf8)
        XCTAssertTrue(events.contains("state file \(file) is corrupt"), events)
        XCTAssertEqual(try f.svc(["stop", "api"]).status, 0)
        XCTAssertTrue(f.wait(2) { !Proc.alive(child) && !Proc.alive(sup) })
    }

    /// While the supervisor cannot rewrite it (paused), a corrupt state file is reported by
    /// path (state unknown, not stopped), start refuses (exit 5), and stop still stops the
    /// service through the supervisor's lock file. With no supervisor, stop repairs the file.
    func testCorruptStateStaysStoppable() throws {
        try f.write("db", "command = [\"sleep\", \"300\"]\n")
        XCTAssertEqual(try f.svc(["start", "db"]).status, 0)
        let (sup, child) = supervisorAndChild("db")
        let file = f.root + "/state/services/acme/db/state.json"
        kill(sup, SIGSTOP)
        try Data("{\"state\": \"stopped\"}".utf8).write(to: URL(fileURLWithPath: file))
        let s = try f.status("db")
        XCTAssertEqual(s["state"] as? String, "unknown", "\(s)")
        XCTAssertTrue((s["message"] as? String ?? "").contains("state file \(file) is corrupt"), "\(s)")
        XCTAssertEqual(s["supervisor_pid"] as? Int, Int(sup))
        var r = try f.svc(["start", "db"])
        XCTAssertEqual(r.status, 5, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains(file), r.stderr)
        r = try f.svc(["stop", "db"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("stopped db"), r.stdout)
        XCTAssertTrue(f.wait(2) { !Proc.alive(child) && !Proc.alive(sup) }, "service and supervisor stopped")
        XCTAssertEqual(try f.status("db")["state"] as? String, "stopped")

        try Data("garbage".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try f.status("db")["state"] as? String, "unknown")
        r = try f.svc(["stop", "db"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(file), r.stderr)
        XCTAssertEqual(try f.status("db")["state"] as? String, "stopped", "repaired")
        XCTAssertEqual(try f.svc(["start", "db"]).status, 0)
        XCTAssertEqual(try f.status("db")["state"] as? String, "running")
    }
}
