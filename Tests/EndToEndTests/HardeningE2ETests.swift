import Foundation
import XCTest

/// Hostile input through the built binary: runaway templates, ssh options that would run
/// commands.
final class HardeningE2ETests: XCTestCase {
    /// `dir/a.tmpl` including p1, each pN including pN+1 twice, 32 levels; p32 is `leaf`.
    static func doublingPartials(_ dir: String, leaf: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/p", withIntermediateDirectories: true)
        for i in 1...31 {
            try "{{> p\(i + 1)}}{{> p\(i + 1)}}".write(toFile: dir + "/p/p\(i).tmpl", atomically: true, encoding: .utf8)
        }
        try leaf.write(toFile: dir + "/p/p32.tmpl", atomically: true, encoding: .utf8)
        try "start {{> p1}}\n".write(toFile: dir + "/a.tmpl", atomically: true, encoding: .utf8)
    }

    /// Output that doubles at every level stops at the per-file limit, exit 3, naming the
    /// chain of partials; nothing is written.
    func testRunawayTemplateOutputIsBounded() throws {
        let t = Tetra()
        let dir = DeployFixture.tempDir("tetra-runaway")
        try Self.doublingPartials(dir, leaf: String(repeating: "x", count: 64))
        let r = try t.run(["template", "render", dir + "/a.tmpl", "--partials", dir + "/p", "-o", dir + "/out"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("rendered output exceeds the limit of 16 MiB per file"), r.stderr)
        XCTAssertTrue(r.stderr.contains("a.tmpl -> p1 -> p2 -> p3"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/a"))
    }

    /// Work that renders nothing is bounded too, and SIGTERM ends it at once (exit 130)
    /// instead of being ignored until the render finishes.
    func testRunawayTemplateRenderEndsOnSIGTERM() throws {
        let t = Tetra()
        let dir = DeployFixture.tempDir("tetra-runaway")
        try Self.doublingPartials(dir, leaf: "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["template", "render", dir + "/a.tmpl", "--partials", dir + "/p", "-o", dir + "/out"]
        process.environment = t.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let started = Date()
        try process.run()
        Thread.sleep(forTimeInterval: 0.5)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "SIGTERM was not acted on promptly")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/a"))
    }

    /// ssh_options that would run a command are refused (exit 3, org.toml:line:column) on
    /// every command, `org status` included, and ssh never runs them.
    func testSSHOptionsThatRunCommandsAreRefused() throws {
        _ = try requireTool("ssh")
        let root = DeployFixture.tempDir("tetra-sshopt")
        let marker = root + "/ran"
        let script = root + "/proxy.sh"
        try "#!/bin/sh\ntouch \(marker)\nexit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let t = Tetra(stateRoot: root + "/state")
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let orgDir = t.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: orgDir + "/files", withIntermediateDirectories: true)
        let hostile = ["ProxyCommand=\(script)", "localcommand=\(script)", "KnownHostsCommand=\(script)",
                       "-oProxyCommand=\(script)", "Port=22 ProxyCommand=\(script)", "Match=exec", "PermitLocalCommand=yes"]
        for option in hostile {
            let quoted = option.replacingOccurrences(of: "\"", with: "\\\"")
            try """
            [org]
            name = "acme"

            [environments.prod]
            target = "ssh://nobody@127.0.0.1:1/srv/acme"
            ssh_options = ["BatchMode=yes",
              "\(quoted)"]

            """.write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
            for args in [["org", "status", "acme", "prod"], ["org", "validate", "acme"], ["org", "push", "acme", "prod", "--approve"]] {
                let r = try t.run(args)
                XCTAssertEqual(r.status, 3, "\(option) \(args): \(r.stderr)")
                XCTAssertTrue((r.stdout + r.stderr).contains("orgs/acme/org.toml:7:3"), "\(option): \(r.stdout)\(r.stderr)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "\(option) ran a command on \(args)")
            }
        }
        // Allowed options, any case, still work up to ssh itself (the target is closed: exit 6).
        try """
        [org]
        name = "acme"

        [environments.prod]
        target = "ssh://nobody@127.0.0.1:1/srv/acme"
        ssh_options = ["batchmode=yes", "ConnectTimeout=2", "StrictHostKeyChecking=no"]

        """.write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try t.run(["org", "validate", "acme"]).status, 0)
    }

    /// `completion --dir DIR` is refused (exit 2) instead of silently ignoring DIR.
    func testCompletionRefusesDir() throws {
        let t = Tetra()
        let dir = DeployFixture.tempDir("tetra-compl") + "/out"
        for args in [["completion", "bash", "--dir", dir], ["--dir", dir, "completion", "zsh"]] {
            let r = try t.run(args)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertEqual(r.stdout, "")
            XCTAssertTrue(r.stderr.contains("--dir sets the state root; 'tetra completion' prints a script on stdout"), r.stderr)
            XCTAssertTrue(r.stderr.contains("hint: write the script with a redirect"), r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        let ok = try t.run(["completion", "bash"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("__complete"), ok.stdout)
    }

    /// `ports remove` of a port a defined service uses: exit 5 naming the service, unless --force.
    func testPortsRemoveOfAPortInUseNeedsForce() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let org = t.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: org + "/services", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n[environments.dev]\ntarget = \"/tmp/nowhere\"\n".write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "name = \"web\"\ncommand = [\"/bin/sleep\", \"60\"]\nport = \"api\"\n".write(toFile: org + "/services/web.toml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try t.run(["ports", "set", "api", "3456"]).status, 0)
        XCTAssertEqual(try t.run(["ports", "set", "spare", "3457"]).status, 0)
        let refused = try t.run(["ports", "remove", "api"])
        XCTAssertEqual(refused.status, 5, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("port 'api' is used by service acme/web"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "3456\n")
        XCTAssertEqual(try t.run(["ports", "remove", "spare"]).status, 0)
        let forced = try t.run(["ports", "remove", "api", "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try t.run(["ports", "get", "api"]).status, 4)
    }

    /// A refused change to a protected environment shows the exact command to type, and that
    /// command works.
    func testProtectedRefusalShowsTheApproveCommand() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let target = DeployFixture.tempDir("tetra-approve") + "/prod"
        let org = t.stateRoot + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: org + "/files", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n[environments.prod]\ntarget = \"\(target)\"\nprotected = true\n"
            .write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "hello\n".write(toFile: org + "/files/a.txt", atomically: true, encoding: .utf8)
        let refused = try t.run(["org", "push", "acme", "prod", "-m", "raise workers"])
        XCTAssertEqual(refused.status, 7, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("hint: once the change is reviewed, run: tetra org push acme prod -m 'raise workers' --approve"),
                      refused.stderr)
        XCTAssertEqual(try t.run(["org", "push", "acme", "prod", "-m", "raise workers", "--approve"]).status, 0)
        try "hello again\n".write(toFile: org + "/files/a.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try t.run(["org", "push", "acme", "prod", "--approve"]).status, 0)
        let rollback = try t.run(["org", "rollback", "acme", "prod"])
        XCTAssertEqual(rollback.status, 7, rollback.stderr)
        XCTAssertTrue(rollback.stderr.contains("run: tetra org rollback acme prod --approve"), rollback.stderr)
    }

    /// `doctor` reports curl (a tool ACME needs) and a failed service as a problem.
    func testDoctorChecksCurlAndFailedServices() throws {
        let f = try SvcFixture()
        defer { f.cleanUp() }
        try f.write("ghost", "command = [\"no-such-program-tetra\"]\n")
        XCTAssertEqual(try f.svc(["start", "ghost"]).status, 1)
        XCTAssertEqual(try f.status("ghost")["state"] as? String, "failed")
        let r = try f.t.run(["doctor", "--json"])
        XCTAssertEqual(r.status, 1, r.stdout)
        let checks = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
        let ghost = checks.first { $0["name"] as? String == "service acme/ghost" }
        XCTAssertEqual(ghost?["status"] as? String, "problem", "\(checks)")
        XCTAssertTrue((ghost?["detail"] as? String)?.hasPrefix("failed") == true, "\(String(describing: ghost))")
        let curl = checks.first { $0["name"] as? String == "tool curl" }
        if Tetra.which("curl") != nil {
            XCTAssertEqual(curl?["status"] as? String, "ok", "\(String(describing: curl))")
        } else {
            XCTAssertEqual(curl?["status"] as? String, "warning", "\(String(describing: curl))")
        }
    }

    /// A failed ACME registration (server unreachable, or its TLS certificate not trusted)
    /// leaves no account key behind; a later successful one keeps its account.
    func testFailedACMERegistrationLeavesNoOrphanAccount() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let accounts = t.stateRoot + "/ssl/accounts"
        func leftovers() -> [String] {
            (FileManager.default.enumerator(atPath: accounts)?.allObjects as? [String]) ?? []
        }
        var r = try t.run(["ssl", "generate", "a.test", "--http-port", String(pebble.httpPort), "--acme-server", "https://127.0.0.1:1/dir"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(leftovers(), [], "an account key was left after a failed registration")
        r = try t.run(["ssl", "generate", "a.test", "--http-port", String(pebble.httpPort), "--acme-server", pebble.directoryURL],
                      env: ["TETRA_ACME_CA_BUNDLE": ""])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(leftovers(), [], "an account key was left after a failed registration")
        r = try t.run(["ssl", "generate", "a.test", "--http-port", String(pebble.httpPort), "--acme-server", pebble.directoryURL],
                      env: ["TETRA_ACME_CA_BUNDLE": pebble.caFile])
        XCTAssertEqual(r.status, 0, r.stderr + pebble.log)
        XCTAssertEqual(Set(leftovers().filter { $0.contains("/") }.compactMap { $0.split(separator: "/").last.map(String.init) }),
                       ["key.pem", "account.toml"], "\(leftovers())")
    }
}
