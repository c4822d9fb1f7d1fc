import Foundation
import XCTest

/// Services with runtime "process", through the built binary with real processes.
final class SvcProcessE2ETests: XCTestCase {
    var f: SvcFixture!

    override func setUpWithError() throws {
        f = try SvcFixture()
    }

    override func tearDown() {
        f?.cleanUp()
        f = nil
    }

    /// python3 -m http.server with an HTTP health check becomes healthy; kill -9 of its process
    /// is noticed and it is restarted (counted) within 2 s; a second start is a no-op; the port
    /// registry sees the service as the owner of its port.
    func testHTTPServiceHealthyThenRestartedAfterKill9() throws {
        _ = try requireTool("python3")
        let port = try f.allocatePort("web")
        var r = try f.svc(["create", "web", "--command", "python3 -m http.server {port} --bind 127.0.0.1", "--port", "web",
                           "--health-http", "http://127.0.0.1:{port}/"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // Probe every second.
        let file = f.root + "/orgs/acme/services/web.toml"
        try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "interval = \"10s\"", with: "interval = \"1s\"")
            .write(toFile: file, atomically: true, encoding: .utf8)
        r = try f.svc(["start", "web"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("started web"), r.stdout)
        XCTAssertTrue(try f.wait(10) { try f.status("web")["health"] as? String == "healthy" }, "\(f.record("web"))")
        var s = try f.status("web")
        XCTAssertEqual(s["state"] as? String, "running")
        XCTAssertEqual(s["port"] as? Int, port)
        let pid = Int32(s["pid"] as! Int)
        XCTAssertEqual(Proc.stat(pid)?[2], String(pid), "the service leads its own process group")
        XCTAssertEqual((s["last_health"] as? [String: Any])?["ok"] as? Bool, true)

        // Already running: no-op, exit 0, says so.
        r = try f.svc(["start", "web"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("already running"), r.stdout)

        // The registry: the service owns its port (no "bound" problem), reconcile is correct.
        let check = try f.t.run(["ports", "check", "--json"])
        XCTAssertFalse(check.stdout.contains("\"bound\""), check.stdout)
        let rec = try f.t.run(["ports", "reconcile", "--json"])
        XCTAssertTrue(rec.stdout.contains("\"correct\""), rec.stdout)

        // kill -9: restarted within 2 s, restart counted.
        let killedAt = Date()
        XCTAssertEqual(kill(pid, SIGKILL), 0)
        var newPID: Int32 = 0
        let restarted = try f.wait(2) {
            let st = try f.status("web")
            guard let p = st["pid"] as? Int, Int32(p) != pid else { return false }
            newPID = Int32(p)
            return true
        }
        XCTAssertTrue(restarted, "not restarted within 2s: \(f.record("web"))")
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 2.5)
        s = try f.status("web")
        XCTAssertEqual(s["restarts"] as? Int, 1)
        XCTAssertEqual((s["last_exit"] as? [String: Any])?["status"] as? Int, 137)
        XCTAssertTrue(Proc.alive(newPID))
        XCTAssertTrue(try f.wait(5) { try f.status("web")["health"] as? String == "healthy" })

        // Logs: the request lines of the health checks are on stderr, timestamped.
        r = try f.svc(["logs", "web", "--stderr", "-n", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("GET / HTTP/1.1"), r.stdout)
        XCTAssertNotNil(r.stdout.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression))

        // Health now, from the CLI.
        r = try f.svc(["health", "web"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("healthy"), r.stdout)

        r = try f.svc(["stop", "web"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(f.wait(2) { !Proc.alive(newPID) })
        XCTAssertEqual(try f.status("web")["state"] as? String, "stopped")
        r = try f.svc(["health", "web"])
        XCTAssertEqual(r.status, 1, "nothing listens any more: \(r.stdout)")
    }

    /// A command that exits 1 at once: restarted with backoff max_restarts times, then
    /// `crashloop`, and no more restarts.
    func testImmediateExitEntersCrashloop() throws {
        try f.write("bad", """
        command = ["sh", "-c", "echo failing >&2; exit 1"]

        [restart]
        policy = "on-failure"
        max_restarts = 3
        window = "60s"
        backoff = "100ms"
        max_backoff = "1s"
        """)
        let r = try f.svc(["start", "bad"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try f.wait(10) { try f.status("bad")["state"] as? String == "crashloop" }, "\(f.record("bad"))")
        let s = try f.status("bad")
        XCTAssertEqual(s["restarts"] as? Int, 3)
        XCTAssertTrue((s["message"] as? String ?? "").contains("3 restarts within"), "\(s)")
        usleep(1_500_000)
        XCTAssertEqual(try f.status("bad")["restarts"] as? Int, 3, "no more restarts after the crash loop")
        XCTAssertEqual(try f.status("bad")["state"] as? String, "crashloop")
        XCTAssertTrue(f.processesMentioningRoot().isEmpty, "the supervisor has ended")
        // Every run's stderr was kept: 4 runs.
        let logs = try f.svc(["logs", "bad", "--stderr", "--json"])
        let lines = ((try JSONSerialization.jsonObject(with: Data(logs.stdout.utf8)) as? [String: Any])?["lines"] as? [Any])?.count
        XCTAssertEqual(lines, 4)
        // doctor reports it.
        let doctor = try f.t.run(["doctor", "--json"])
        XCTAssertTrue(doctor.stdout.contains("crashloop"), doctor.stdout)
        XCTAssertEqual(doctor.status, 1)
    }

    /// A health endpoint that starts failing: the service is marked `unhealthy`, then
    /// restarted by its policy, and healthy again once the endpoint recovers.
    func testFailingHealthMarksUnhealthyThenRestarts() throws {
        let python = try requireTool("python3")
        let port = try f.allocatePort("flaky")
        let marker = f.root + "/fail-health"
        let script = f.root + "/flaky.py"
        try """
        import http.server, os, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code = 500 if os.path.exists(sys.argv[2]) else 200
                self.send_response(code); self.end_headers(); self.wfile.write(b"x")
            def log_message(self, *a): pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """.write(toFile: script, atomically: true, encoding: .utf8)
        try f.write("flaky", """
        command = ["\(python)", "\(script)", "{port}", "\(marker)"]
        port = "flaky"
        stop_timeout = "2s"

        [health]
        http = "http://127.0.0.1:{port}/health"
        interval = "300ms"
        timeout = "1s"
        retries = 2
        start_period = "3s"

        [restart]
        policy = "on-failure"
        backoff = "1s"
        """)
        XCTAssertEqual(try f.svc(["start", "flaky"]).status, 0)
        XCTAssertTrue(try f.wait(10) { try f.status("flaky")["health"] as? String == "healthy" })
        XCTAssertEqual(try f.status("flaky")["port"] as? Int, port)
        let firstPID = try f.status("flaky")["pid"] as? Int
        FileManager.default.createFile(atPath: marker, contents: Data())
        var sawUnhealthy = false
        XCTAssertTrue(try f.wait(10) {
            let s = try f.status("flaky")
            if s["state"] as? String == "unhealthy" { sawUnhealthy = true }
            return (s["restarts"] as? Int ?? 0) >= 1
        })
        XCTAssertTrue(sawUnhealthy, "the unhealthy state was recorded before the restart")
        XCTAssertTrue((f.record("flaky")["last_restart_reason"] as? String ?? "").hasPrefix("unhealthy"), "\(f.record("flaky"))")
        try FileManager.default.removeItem(atPath: marker)
        XCTAssertTrue(try f.wait(10) {
            let s = try f.status("flaky")
            return s["health"] as? String == "healthy" && s["state"] as? String == "running"
        })
        XCTAssertNotEqual(try f.status("flaky")["pid"] as? Int, firstPID)
    }

    /// `stop --all` stops in reverse dependency order and leaves no process behind: not the
    /// children a service forked, not one that ignores SIGTERM (SIGKILL after stop_timeout).
    func testStopAllLeavesNoProcess() throws {
        try f.write("db", """
        command = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
        """)
        try f.write("api", """
        command = ["sh", "-c", "trap '' TERM; sleep 300"]
        depends_on = ["db"]
        stop_timeout = "1s"
        """)
        let r = try f.svc(["start", "--all", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let started = ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["services"] as? [[String: Any]])?
            .compactMap { $0["name"] as? String }
        XCTAssertEqual(started, ["db", "api"], "dependencies first")
        XCTAssertTrue(f.wait(3) { Proc.group(Int32(f.record("db")["process"].flatMap { ($0 as? [String: Any])?["pid"] as? Int } ?? 0)).count >= 3 })
        let groups = ["db", "api"].compactMap { (f.record($0)["process"] as? [String: Any])?["pid"] as? Int }.map(Int32.init)
        let supervisors = ["db", "api"].compactMap { (f.record($0)["supervisor"] as? [String: Any])?["pid"] as? Int }.map(Int32.init)
        XCTAssertEqual(groups.count, 2)
        XCTAssertEqual(supervisors.count, 2)
        XCTAssertGreaterThanOrEqual(Proc.group(groups[0]).count, 3, "db's shell and two sleeps")

        let stop = try f.svc(["stop", "--all"])
        XCTAssertEqual(stop.status, 0, stop.stderr)
        XCTAssertLessThan(stop.stdout.range(of: "stopped api")!.lowerBound, stop.stdout.range(of: "stopped db")!.lowerBound,
                          "reverse dependency order: \(stop.stdout)")
        for g in groups { XCTAssertEqual(Proc.group(g), [], "process group \(g) is empty") }
        for s in supervisors { XCTAssertFalse(Proc.alive(s), "supervisor \(s) has ended") }
        XCTAssertEqual(f.processesMentioningRoot(), [])
        for n in ["db", "api"] { XCTAssertEqual(try f.status(n)["state"] as? String, "stopped") }
    }

    /// A chatty service writes 3000 stdout lines and 100 stderr lines; the logs rotate at
    /// max_size and no line is lost, split or reordered; stdout and stderr are kept apart.
    func testChattyLogsRotateWithoutLosingLines() throws {
        let python = try requireTool("python3")
        try f.write("chatty", """
        command = ["\(python)", "-c", "import sys\\nfor i in range(3000):\\n    print('line %06d ' % i + 'x' * 80, flush=(i % 7 == 0))\\n    if i % 30 == 0: print('err %04d' % (i // 30), file=sys.stderr)"]
        [restart]
        policy = "on-failure"
        [logs]
        max_size = "20KB"
        keep = 100
        """)
        XCTAssertEqual(try f.svc(["start", "chatty"]).status, 0)
        XCTAssertTrue(try f.wait(15) { try f.status("chatty")["state"] as? String == "stopped" }, "\(f.record("chatty"))")
        let dir = f.root + "/state/services/acme/chatty"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("stdout.log") }
        XCTAssertGreaterThan(files.count, 10, "rotated: \(files)")
        for file in files {
            let size = (try FileManager.default.attributesOfItem(atPath: dir + "/" + file)[.size] as? Int) ?? 0
            XCTAssertLessThanOrEqual(size, 20_000, file)
        }
        let r = try f.svc(["logs", "chatty", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["lines"] as? [[String: Any]]) ?? []
        XCTAssertEqual(lines.count, 3000)
        for (i, l) in lines.enumerated() where l["line"] as? String != String(format: "line %06d ", i) + String(repeating: "x", count: 80) {
            XCTFail("line \(i) is \(l)")
            break
        }
        XCTAssertTrue(lines.allSatisfy { $0["time"] is String })
        let err = try f.svc(["logs", "chatty", "--stderr"])
        XCTAssertEqual(err.stdout.split(separator: "\n").count, 100)
        XCTAssertFalse(err.stdout.contains("line 0"))
        let tail = try f.svc(["logs", "chatty", "-n", "2"])
        XCTAssertTrue(tail.stdout.hasSuffix(String(format: "line %06d ", 2999) + String(repeating: "x", count: 80) + "\n"), tail.stdout)
        XCTAssertEqual(tail.stdout.split(separator: "\n").count, 2)
        XCTAssertEqual(try f.svc(["logs", "chatty", "--since", "1h", "--json"]).stdout.components(separatedBy: "\"line\"").count - 1, 3000)
    }

    /// The supervisor keeps running after the shell that started it exits; it is in its own
    /// session with stdin from /dev/null and ignores SIGHUP. Removing its state directory
    /// ends it and its service.
    func testSupervisorOutlivesItsShellAndEndsWithItsStateDirectory() throws {
        try f.write("sleeper", "command = [\"sleep\", \"300\"]\n")
        var env = f.t.environment
        env["TETRA_ORG"] = "acme"
        let shell = try Tetra.exec("/usr/bin/setsid", ["bash", "-c", "'\(Tetra.binary)' svc start sleeper; exit"], env: env)
        XCTAssertEqual(shell.status, 0, shell.stderr)
        let rec = f.record("sleeper")
        let sup = Int32((rec["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0)
        let child = Int32((rec["process"] as? [String: Any])?["pid"] as? Int ?? 0)
        XCTAssertGreaterThan(sup, 0)
        usleep(300_000)
        XCTAssertTrue(Proc.alive(sup), "the supervisor outlived its shell")
        XCTAssertTrue(Proc.alive(child))
        let st = Proc.stat(sup)!
        XCTAssertEqual(st[3], String(sup), "the supervisor leads its own session")
        XCTAssertEqual(st[2], String(sup), "and its own process group")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sup)/fd/0"), "/dev/null")
        // Nothing of its caller's leaked in: Foundation's Process (this test's harness) gives
        // its children a socket it watches for their exit; a supervisor holding it would keep
        // the caller of `svc start` waiting for ever.
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(sup)/fd")
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sup)/fd/\($0)") }
        XCTAssertFalse(fds.contains { $0.hasPrefix("socket:") }, "\(fds)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child)/fd").sorted(), ["0", "1", "2"])
        kill(sup, SIGHUP)
        usleep(300_000)
        XCTAssertTrue(Proc.alive(sup), "SIGHUP (a terminal closing) does not end it")
        XCTAssertEqual(try f.status("sleeper")["state"] as? String, "running")

        try FileManager.default.removeItem(atPath: f.root + "/state/services/acme/sleeper")
        XCTAssertTrue(f.wait(3) { !Proc.alive(sup) && !Proc.alive(child) }, "supervisor and service end with the state directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.root + "/state/services/acme/sleeper/state.json"))
    }

    /// Bad input: a command that does not exist, an unknown key, a wrong type, a dependency
    /// cycle, a port name not in the registry, a port bound by a stranger.
    func testBadInput() throws {
        try f.write("ghost", "command = [\"no-such-program-tetra\"]\n")
        var r = try f.svc(["start", "ghost"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("no-such-program-tetra"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not found"), r.stderr)
        XCTAssertEqual(try f.status("ghost")["state"] as? String, "failed")
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/ghost.toml")

        try f.write("typo", "command = [\"sleep\", \"1\"]\nrestrat = 3\n")
        r = try f.svc(["list"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("typo.toml:2:1"), r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown key 'restrat'"), r.stderr)
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/typo.toml")

        try f.write("wrong", "name = \"wrong\"\ncommand = \"sleep 1\"\n")
        r = try f.svc(["status", "wrong"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("wrong.toml:2:11"), r.stderr)
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/wrong.toml")

        try f.write("a", "command = [\"sleep\", \"1\"]\ndepends_on = [\"b\"]\n")
        try f.write("b", "command = [\"sleep\", \"1\"]\ndepends_on = [\"a\"]\n")
        r = try f.svc(["start", "a"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("dependency cycle: a -> b -> a"), r.stderr)
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/a.toml")
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/b.toml")

        try f.write("noport", "command = [\"sleep\", \"300\"]\nport = \"unregistered\"\n")
        r = try f.svc(["start", "noport"])
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("port 'unregistered' not found"), r.stderr)
        try FileManager.default.removeItem(atPath: f.root + "/orgs/acme/services/noport.toml")

        let python = try requireTool("python3")
        let port = try f.allocatePort("taken")
        let stranger = Process()
        stranger.executableURL = URL(fileURLWithPath: python)
        stranger.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1"]
        stranger.standardOutput = FileHandle.nullDevice
        stranger.standardError = FileHandle.nullDevice
        try stranger.run()
        defer { stranger.terminate(); stranger.waitUntilExit() }
        XCTAssertTrue(f.wait(10) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            a.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        })
        try f.write("clash", "command = [\"sleep\", \"300\"]\nport = \"taken\"\n")
        r = try f.svc(["start", "clash"])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("pid \(stranger.processIdentifier)"), r.stderr)
        XCTAssertEqual(try f.status("clash")["state"] as? String, "stopped")

        r = try f.svc(["status", "nope"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.t.run(["svc", "list", "--org", "missing-org"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.svc(["start", "Bad/Name"])
        XCTAssertEqual(r.status, 2, r.stderr)
    }

    /// create, boot (enabled only), --print-unit, remove (needs --yes).
    func testCreateBootAndRemove() throws {
        var r = try f.svc(["create", "on", "--command", "sleep 300", "--enabled"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try f.svc(["create", "off", "--command", "sleep 'three hundred'"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOfFile: f.root + "/orgs/acme/services/off.toml", encoding: .utf8)
            .contains("command = [\"sleep\", \"three hundred\"]"))
        r = try f.svc(["create", "on", "--command", "sleep 1"])
        XCTAssertEqual(r.status, 5, "exists: \(r.stderr)")

        r = try f.svc(["boot", "--print-unit"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ExecStart=\(Tetra.binary) svc boot --org acme") || r.stdout.contains("svc boot --org acme"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Environment=TETRA_DIR=\(f.root)"), r.stdout)

        r = try f.svc(["boot"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try f.status("on")["state"] as? String, "running")
        XCTAssertEqual(try f.status("off")["state"] as? String, "stopped")

        r = try f.svc(["remove", "on"])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertEqual(try f.status("on")["state"] as? String, "running", "refused: nothing changed")
        let pid = Int32(try f.status("on")["pid"] as? Int ?? 0)
        r = try f.svc(["remove", "on", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(Proc.alive(pid))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.root + "/orgs/acme/services/on.toml"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.root + "/state/services/acme/on"))
        r = try f.t.run(["__complete", "svc", "status", ""], env: ["TETRA_ORG": "acme"])
        XCTAssertTrue(r.stdout.contains("off"), r.stdout)
    }

    /// Secrets are read from secrets.env at spawn time and given to the service only: not in
    /// the state file, logs of tetra, --json, the audit log, or the supervisor's environment.
    func testSecretsReachTheServiceOnly() throws {
        let secret = "s3cret-xyz-\(UInt32.random(in: 100_000...999_999))"
        let secrets = f.root + "/orgs/acme/secrets.env"
        try "API_TOKEN=\(secret)\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        chmod(secrets, 0o600)
        try f.write("sec", """
        command = ["sh", "-c", "echo len=${#API_TOKEN} tail=${API_TOKEN#s3cret-xyz-}; echo port=$PORT mode=$MODE cwd=$(pwd); exec sleep 300"]
        cwd = "\(f.root)/orgs"
        port = 4999
        env = { MODE = "m" }
        secrets = ["API_TOKEN"]
        """)
        XCTAssertEqual(try f.svc(["start", "sec"]).status, 0)
        XCTAssertTrue(try f.wait(5) { try f.svc(["logs", "sec"]).stdout.contains("port=4999 mode=m cwd=\(f.root)/orgs") },
                      (try? f.svc(["logs", "sec"]).stdout) ?? "")
        // Only 0, 1 and 2 are open in the service: no descriptor of tetra leaks into it.
        let child = Int32((f.record("sec")["process"] as? [String: Any])?["pid"] as? Int ?? 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child)/fd").sorted(), ["0", "1", "2"])
        XCTAssertTrue(try f.svc(["logs", "sec"]).stdout.contains("len=17 tail=\(secret.suffix(6))"), "the service got the secret")
        let sup = Int32((f.record("sec")["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0)
        let environ = FileManager.default.contents(atPath: "/proc/\(sup)/environ") ?? Data()
        XCTAssertFalse(String(decoding: environ, as: UTF8.self).contains(secret), "not in the supervisor's environment")
        var everything = try f.svc(["status", "sec", "--json"]).stdout + f.svc(["list", "--json"]).stdout
        everything += try f.t.run(["audit", "--json"]).stdout
        let dir = f.root + "/state/services/acme/sec"
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where !file.hasPrefix("stdout") {
            everything += (try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? ""
        }
        XCTAssertFalse(everything.contains(secret))
        XCTAssertEqual(try f.svc(["stop", "sec"]).status, 0)

        // A secret the file does not define: failed, naming the key and not any value.
        try f.write("sec2", "command = [\"sleep\", \"300\"]\nsecrets = [\"MISSING_KEY\"]\n")
        let r = try f.svc(["start", "sec2"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("MISSING_KEY"), r.stderr)
        XCTAssertFalse(r.stderr.contains(secret))
        XCTAssertEqual(try f.status("sec2")["state"] as? String, "failed")
    }

    /// `svc logs -f` prints lines as they arrive until interrupted.
    func testLogsFollow() throws {
        let timeout = try requireTool("timeout")
        try f.write("ticker", """
        command = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]
        """)
        XCTAssertEqual(try f.svc(["start", "ticker"]).status, 0)
        let r = try Tetra.exec(timeout, ["2", Tetra.binary, "svc", "logs", "ticker", "-f", "-n", "1", "--org", "acme"], env: f.t.environment)
        XCTAssertEqual(r.status, 124, "ended by the timeout: \(r.stderr)")
        let ticks = r.stdout.split(separator: "\n").compactMap { line in line.split(separator: " ").last.flatMap { Int($0) } }
        XCTAssertGreaterThanOrEqual(ticks.count, 8, r.stdout)
        XCTAssertEqual(ticks, Array(ticks[0]..<(ticks[0] + ticks.count)), "in order, none lost")
    }

    /// A dependency with a health check is healthy before its dependents start.
    func testDependentsStartAfterTheirDependencyIsHealthy() throws {
        let python = try requireTool("python3")
        _ = try f.allocatePort("db")
        try f.write("db", """
        command = ["\(python)", "-c", "import time, http.server, sys; time.sleep(1); http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind='127.0.0.1')", "{port}"]
        port = "db"
        [health]
        tcp = "{port}"
        interval = "1s"
        start_period = "5s"
        """)
        try f.write("api", "command = [\"sleep\", \"300\"]\ndepends_on = [\"db\"]\n")
        let r = try f.svc(["start", "api"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("started db"), r.stdout)
        XCTAssertEqual(try f.status("db")["health"] as? String, "healthy", "waited for db before api")
        XCTAssertEqual(try f.status("api")["state"] as? String, "running")
    }

    /// A supervisor killed with SIGKILL: status says failed; the orphaned service is stopped by
    /// the next start (or stop), never left running twice.
    func testKilledSupervisorIsReportedAndItsOrphanCleanedUp() throws {
        try f.write("orphan", "command = [\"sleep\", \"300\"]\n")
        XCTAssertEqual(try f.svc(["start", "orphan"]).status, 0)
        let rec = f.record("orphan")
        let sup = Int32((rec["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0)
        let child = Int32((rec["process"] as? [String: Any])?["pid"] as? Int ?? 0)
        kill(sup, SIGKILL)
        XCTAssertTrue(f.wait(2) { !Proc.alive(sup) })
        let s = try f.status("orphan")
        XCTAssertEqual(s["state"] as? String, "failed")
        XCTAssertTrue((s["message"] as? String ?? "").contains("supervisor"), "\(s)")
        XCTAssertTrue(Proc.alive(child))
        let r = try f.svc(["start", "orphan"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(Proc.alive(child), "the orphan was stopped")
        XCTAssertEqual(try f.status("orphan")["state"] as? String, "running")
        XCTAssertNotEqual(try f.status("orphan")["pid"] as? Int, Int(child))
    }

    /// A `command` health check; with policy "no" an unhealthy service is not restarted and
    /// becomes healthy again when its check passes.
    func testCommandHealthCheckWithPolicyNo() throws {
        let marker = f.root + "/ready"
        try f.write("cmd", """
        command = ["sleep", "300"]
        env = { MARKER = "\(marker)" }
        [health]
        command = ["sh", "-c", "test -f \\"$MARKER\\""]
        interval = "200ms"
        retries = 2
        start_period = "0s"
        [restart]
        policy = "no"
        """)
        XCTAssertEqual(try f.svc(["start", "cmd"]).status, 0)
        XCTAssertTrue(try f.wait(5) { try f.status("cmd")["state"] as? String == "unhealthy" })
        let pid = try f.status("cmd")["pid"] as? Int
        XCTAssertNotNil(pid)
        FileManager.default.createFile(atPath: marker, contents: Data())
        XCTAssertTrue(try f.wait(5) { try f.status("cmd")["health"] as? String == "healthy" })
        let s = try f.status("cmd")
        XCTAssertEqual(s["state"] as? String, "running")
        XCTAssertEqual(s["pid"] as? Int, pid, "policy no: never restarted")
        XCTAssertEqual(s["restarts"] as? Int, 0)
        XCTAssertEqual(try f.svc(["health", "cmd"]).status, 0)
    }

    /// The port registry knows the services' processes: a service listening elsewhere than
    /// its declared port is `listening-on-another-port`; a stranger on its port is "bound".
    func testPortsReconcileAndCheckUseTheServicesProcesses() throws {
        let python = try requireTool("python3")
        let declared = try f.allocatePort("web")
        let actual = try f.allocatePort("tmp")
        XCTAssertEqual(try f.t.run(["ports", "remove", "tmp"]).status, 0)
        try f.write("web", """
        command = ["\(python)", "-m", "http.server", "\(actual)", "--bind", "127.0.0.1"]
        port = "web"
        [health]
        tcp = "127.0.0.1:\(actual)"
        interval = "1s"
        """)
        XCTAssertEqual(try f.svc(["start", "web"]).status, 0)
        XCTAssertTrue(try f.wait(10) { try f.status("web")["health"] as? String == "healthy" })
        var r = try f.t.run(["ports", "reconcile", "--json"])
        XCTAssertEqual(r.status, 1, "a mismatch")
        let rows = ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]]) ?? []
        let web = rows.first { $0["name"] as? String == "web" }
        XCTAssertEqual(web?["status"] as? String, "listening-on-another-port", "\(rows)")
        XCTAssertEqual(web?["actual"] as? [Int], [actual])

        let stranger = Process()
        stranger.executableURL = URL(fileURLWithPath: python)
        stranger.arguments = ["-m", "http.server", String(declared), "--bind", "127.0.0.1"]
        stranger.standardOutput = FileHandle.nullDevice
        stranger.standardError = FileHandle.nullDevice
        try stranger.run()
        defer { stranger.terminate(); stranger.waitUntilExit() }
        XCTAssertTrue(try f.wait(10) {
            try f.t.run(["ports", "check"]).stdout.contains("bound by pid \(stranger.processIdentifier)")
        }, (try? f.t.run(["ports", "check"]).stdout) ?? "")
        r = try f.t.run(["ports", "check"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("not by its service"), r.stdout)
    }
}
