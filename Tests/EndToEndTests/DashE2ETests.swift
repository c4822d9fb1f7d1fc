import Foundation
import XCTest

/// `tetra dash` driven in a real terminal: the built binary runs in a detached tmux session
/// (its own tmux server, its socket in the state root), keys go in with `send-keys`, the screen comes out with
/// `capture-pane`. After dash exits, the shell prints DASH-EXITED:<status> and the terminal's
/// canonical/echo modes (stty), which shows the terminal was restored and the alternate
/// screen left (no dash frame remains on the visible screen).
final class DashE2ETests: XCTestCase {
    var f: SvcFixture!
    var socket = ""
    var tmux = ""

    override func setUpWithError() throws {
        tmux = try requireTool("tmux")
        f = try SvcFixture()
        socket = f.root + "/tmux.sock"
        try f.write("sleeper", "command = [\"sleep\", \"1000\"]\n")
        try f.write("other", "command = [\"sleep\", \"1001\"]\n")
        XCTAssertEqual(try f.svc(["start", "sleeper", "other"]).status, 0)
    }

    override func tearDown() {
        _ = try? Tetra.exec(tmux, ["-S", socket, "kill-server"])
        f?.cleanUp()
        f = nil
    }

    /// Starts dash in a tmux window of 80x24; the inner shell writes dash's pid to a file.
    func startDash(_ args: [String] = []) throws {
        let pidFile = f.root + "/dash.pid"
        let dash = ([Tetra.binary, "dash", "--dir", f.root, "--org", "acme"] + args).joined(separator: " ")
        let script = "sh -c 'echo $$ > \(pidFile); exec \(dash)'; echo DASH-EXITED:$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo; exec sleep 120"
        // The tmux server outlives the client and keeps its descriptors: spawned with
        // /dev/null for all three and waited for by pid (no pipes to drain).
        XCTAssertEqual(Self.spawnWait([tmux, "-S", socket, "-f", "/dev/null", "new-session", "-d", "-s", "dash", "-x", "80", "-y", "24",
                                       "sh", "-c", script]), 0)
        XCTAssertTrue(waitScreen(10) { $0.contains("SERVICES (") }, screen())
    }

    static func spawnWait(_ argv: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    func screen() -> String {
        (try? Tetra.exec(tmux, ["-S", socket, "capture-pane", "-p", "-t", "dash"]).stdout) ?? ""
    }

    func keys(_ k: String...) {
        _ = try? Tetra.exec(tmux, ["-S", socket, "send-keys", "-t", "dash"] + k)
    }

    func waitScreen(_ timeout: TimeInterval, _ condition: (String) -> Bool) -> Bool {
        f.wait(timeout) { condition(screen()) }
    }

    func pid(_ name: String) throws -> Int? { try f.status(name)["pid"] as? Int }

    /// The terminal after dash: the marker, canonical mode and echo back, no frame left.
    func assertRestored(status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(waitScreen(10) { $0.contains("DASH-EXITED:") && $0.contains("echo") }, screen(), file: file, line: line)
        let s = screen()
        XCTAssertTrue(s.contains("DASH-EXITED:\(status)"), s, file: file, line: line)
        let modes = s.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertTrue(modes.contains("icanon") && modes.contains("echo"), s, file: file, line: line)
        XCTAssertFalse(modes.contains("-icanon") || modes.contains("-echo"), s, file: file, line: line)
        XCTAssertFalse(s.contains("SERVICES ("), "the alternate screen was left: \(s)", file: file, line: line)
    }

    func testServicesFilterRestartConfirmationAndQuit() throws {
        try startDash()
        var s = screen()
        XCTAssertTrue(s.contains("sleeper") && s.contains("other") && s.contains("running"), s)
        XCTAssertTrue(s.contains("HEALTH") && s.contains("CPU HIST"), s)
        // `/` then a name filters.
        keys("/")
        XCTAssertTrue(waitScreen(5) { $0.contains("filter (") }, screen())
        keys("sleep", "Enter")
        XCTAssertTrue(waitScreen(5) { $0.contains("SERVICES (1)") && $0.contains("filter: sleep") }, screen())
        s = screen()
        XCTAssertTrue(s.contains("> sleeper") && !s.contains("other"), s)
        // r then n: nothing happens.
        let before = try XCTUnwrap(try pid("sleeper"))
        keys("r")
        XCTAssertTrue(waitScreen(5) { $0.contains("restart sleeper? [y/N]") }, screen())
        keys("n")
        XCTAssertTrue(waitScreen(5) { $0.contains("restart sleeper: not done") }, screen())
        XCTAssertEqual(try pid("sleeper"), before)
        // r then y: restarted, a new pid, an audit line.
        keys("r")
        XCTAssertTrue(waitScreen(5) { $0.contains("restart sleeper? [y/N]") }, screen())
        keys("y")
        XCTAssertTrue(waitScreen(15) { $0.contains("restarted sleeper") }, screen())
        let after = try pid("sleeper")
        XCTAssertNotNil(after)
        XCTAssertNotEqual(after, before)
        let audit = (try? String(contentsOfFile: f.root + "/state/audit.jsonl", encoding: .utf8)) ?? ""
        XCTAssertTrue(audit.split(separator: "\n").contains { $0.contains("\"command\":\"svc restart\"") && $0.contains("\"dash\"") }, audit)
        keys("q")
        assertRestored(status: 0)
    }

    func testReadOnlyRefusesActionsAndResizeRedraws() throws {
        try startDash(["--read-only"])
        XCTAssertTrue(screen().contains("read-only"), screen())
        let before = try pid("sleeper")
        keys("r")
        XCTAssertTrue(waitScreen(5) { $0.contains("read-only: actions are off") }, screen())
        XCTAssertEqual(try pid("sleeper"), before)
        // Narrower: the sparkline and health columns go, nothing passes the width.
        _ = try Tetra.exec(tmux, ["-S", socket, "resize-window", "-t", "dash", "-x", "60", "-y", "16"])
        XCTAssertTrue(waitScreen(5) { !$0.contains("HEALTH") && $0.contains("STATE") }, screen())
        let lines = screen().split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 60 }, screen())
        XCTAssertLessThanOrEqual(lines.count, 16)
        _ = try Tetra.exec(tmux, ["-S", socket, "resize-window", "-t", "dash", "-x", "100", "-y", "30"])
        XCTAssertTrue(waitScreen(5) { $0.contains("HEALTH") && $0.contains("CPU HIST") }, screen())
        keys("C-c")
        assertRestored(status: 0)
    }

    func testSIGTERMRestoresTheTerminal() throws {
        try startDash()
        let text = try String(contentsOfFile: f.root + "/dash.pid", encoding: .utf8)
        let dashPid = try XCTUnwrap(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(dashPid, SIGTERM), 0)
        assertRestored(status: 130)
    }

    func testProtectedEnvDemandsTheTypedName() throws {
        try """
        [org]
        name = "acme"

        [environments.prod]
        target = "\(f.root)/targets/prod"
        protected = true
        """.write(toFile: f.root + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        try startDash(["--env", "prod"])
        XCTAssertTrue(screen().contains("env prod (protected)"), screen())
        let before = try XCTUnwrap(try pid("other"))
        keys("r")
        XCTAssertTrue(waitScreen(5) { $0.contains("type other to restart it") }, screen())
        keys("y", "Enter")
        XCTAssertTrue(waitScreen(5) { $0.contains("the name did not match, not done") }, screen())
        XCTAssertEqual(try pid("other"), before)
        keys("r")
        XCTAssertTrue(waitScreen(5) { $0.contains("type other to restart it") }, screen())
        keys("other", "Enter")
        XCTAssertTrue(waitScreen(15) { $0.contains("restarted other") }, screen())
        XCTAssertNotEqual(try pid("other"), before)
        keys("q")
        assertRestored(status: 0)
    }

    /// Enter opens the log pane of the selected service: stdout and stderr merged, following.
    func testEnterShowsTheSelectedServicesLogs() throws {
        try f.write("talker", "command = [\"sh\", \"-c\", \"echo hello-out; echo panic: boom >&2; exec sleep 1000\"]\n")
        XCTAssertEqual(try f.svc(["start", "talker"]).status, 0)
        try startDash()
        keys("/")
        keys("talker", "Enter")
        XCTAssertTrue(waitScreen(5) { $0.contains("> talker") }, screen())
        keys("Enter")
        XCTAssertTrue(waitScreen(5) { $0.contains("LOGS") && $0.contains("  hello-out") && $0.contains("! panic: boom") }, screen())
        keys("Escape")
        XCTAssertTrue(waitScreen(5) { $0.contains("ENVIRONMENTS") && !$0.contains("LOGS") }, screen())
        keys("q")
        assertRestored(status: 0)
    }

    func testOnceAndJSONWithoutATerminal() throws {
        let once = try f.t.run(["dash", "--org", "acme"])
        XCTAssertEqual(once.status, 0, once.stderr)
        XCTAssertFalse(once.stdout.contains("\u{1B}"), once.stdout)
        XCTAssertTrue(once.stdout.contains("SERVICES (2)") && once.stdout.contains("sleeper") && once.stdout.contains("running"), once.stdout)
        XCTAssertEqual(try f.t.run(["dash", "--org", "acme", "--once"]).stdout.split(separator: "\n").dropFirst(),
                       once.stdout.split(separator: "\n").dropFirst())
        let json = try f.t.run(["dash", "--org", "acme", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let services = try XCTUnwrap(doc["services"] as? [[String: Any]])
        XCTAssertEqual(services.map { $0["name"] as? String }, ["other", "sleeper"])
        XCTAssertEqual(services.map { $0["state"] as? String }, ["running", "running"])
        XCTAssertEqual(services[1]["pid"] as? Int, try pid("sleeper"))
        XCTAssertEqual(try f.t.run(["dash", "--org", "acme", "--env", "nope"]).status, 4)
    }
}
