import Foundation
import XCTest

/// The library under kill -9 and with credentials in its URL, against real git.
final class LibraryFaultE2ETests: XCTestCase {
    typealias Upstream = LibraryE2ETests.Upstream

    /// A directory with a `git` that runs the real one, logs its argv to `log`, and kills its
    /// parent (tetra) with SIGKILL around the git command named by `$KILL_AT`:
    /// `before:merge` kills before running `git merge`, `after:merge` after it, etc.
    static func killingGit(realGit: String, dir: String, log: String) throws -> String {
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = """
        #!/bin/sh
        printf '%s\\n' "$*" >> '\(log)'
        cmd=""
        for a in "$@"; do case "$a" in -*) ;; *) cmd="$a"; break ;; esac; done
        if [ "$KILL_AT" = "before:$cmd" ]; then kill -9 $PPID; exit 1; fi
        '\(realGit)' "$@"
        rc=$?
        if [ "$KILL_AT" = "after:$cmd" ]; then kill -9 $PPID; fi
        exit $rc
        """
        try script.write(toFile: bin + "/git", atomically: true, encoding: .utf8)
        chmod(bin + "/git", 0o755)
        return bin
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// `library update` killed at several points: the history always matches the clone's
    /// HEAD after the next library command, and a rollback goes back exactly one update.
    func testUpdateKilledAtAnyPointIsRecordedByTheNextCommand() throws {
        for point in ["after:fetch", "before:merge", "after:merge"] {
            let up = try Upstream()
            defer { up.remove() }
            let t = Tetra()
            let bin = try Self.killingGit(realGit: up.git, dir: up.dir, log: up.dir + "/argv.log")
            let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            func run(_ args: [String], kill: String = "") throws -> Tetra.Result { try t.run(args, env: ["PATH": path, "KILL_AT": kill]) }

            try up.commit(["templates/service/web.toml": "v1\n"], "one")
            XCTAssertEqual(try run(["library", "init", "file://" + up.bare]).status, 0)
            try up.commit(["templates/service/web.toml": "v2\n"], "two")
            XCTAssertEqual(try run(["library", "update"]).status, 0)
            let c2 = try up.run(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try up.commit(["templates/service/web.toml": "v3\n"], "three")
            let c3 = try up.run(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)

            let killed = try run(["library", "update"], kill: point)
            XCTAssertNotEqual(killed.status, 0, point)

            // The next library command reconciles; then a rollback goes back one update only.
            let again = try run(["library", "update"])
            XCTAssertEqual(again.status, 0, "\(point): \(again.stderr)")
            let log = try json(try run(["library", "log", "--json"]).stdout)["entries"] as? [[String: Any]] ?? []
            XCTAssertEqual(log.last?["to"] as? String, c3, "\(point): \(log)")
            XCTAssertEqual(log.filter { $0["to"] as? String == c3 }.count, 1, "\(point): recorded once: \(log)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/state/library-journal.json"), point)
            let rollback = try run(["library", "rollback"])
            XCTAssertEqual(rollback.status, 0, rollback.stderr)
            let head = try Tetra.exec(up.git, ["-C", t.stateRoot + "/library", "rev-parse", "HEAD"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(head, c2, "\(point): the rollback went back exactly one update")
            try? FileManager.default.removeItem(atPath: t.stateRoot)
        }
    }

    /// A dumb-HTTP git server with basic auth (python3), serving `root`.
    final class AuthHTTPServer {
        let process = Process()
        let port: Int
        init(root: String, credentials: String, dir: String) throws {
            let python = try requireTool("python3")
            let script = dir + "/server.py"
            try """
            import base64, functools, http.server, sys
            root, portfile, cred = sys.argv[1], sys.argv[2], sys.argv[3]
            want = 'Basic ' + base64.b64encode(cred.encode()).decode()
            class H(http.server.SimpleHTTPRequestHandler):
                def do_GET(self):
                    if self.headers.get('Authorization') != want:
                        self.send_response(401)
                        self.send_header('WWW-Authenticate', 'Basic realm="t"')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    super().do_GET()
                def log_message(self, *a):
                    pass
            s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(H, directory=root))
            open(portfile + '.tmp', 'w').write(str(s.server_address[1]))
            import os; os.rename(portfile + '.tmp', portfile)
            s.serve_forever()
            """.write(toFile: script, atomically: true, encoding: .utf8)
            let portFile = dir + "/port"
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, root, portFile, credentials]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var found: Int?
            for _ in 0..<100 {
                if let s = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(s) { found = p; break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            port = try XCTUnwrap(found, "the http server did not start")
        }
        func stop() { process.terminate(); process.waitUntilExit() }
    }

    /// Credentials of an https URL reach git through its environment only: never in an argv,
    /// never in the clone's .git/config (also of a clone killed half-way), never in history.
    /// The next run sweeps the clone a killed run left.
    func testCredentialsNeverInArgvOrFilesAndKilledClonesAreSwept() throws {
        let up = try Upstream()
        defer { up.remove() }
        try up.commit(["templates/service/web.toml": "v1\n"], "one")
        try up.run(["update-server-info"], in: up.bare)
        let token = "tok3n-Sup3rSecret"
        let server = try AuthHTTPServer(root: up.dir, credentials: "deploy:" + token, dir: up.dir)
        defer { server.stop() }
        let argvLog = up.dir + "/argv.log"
        let bin = try Self.killingGit(realGit: up.git, dir: up.dir, log: argvLog)
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let url = "http://deploy:\(token)@127.0.0.1:\(server.port)/templates.git"

        // Killed right after the clone: the staging clone is left, without the token.
        let killed = try t.run(["library", "init", url], env: ["PATH": path, "KILL_AT": "after:clone"])
        XCTAssertNotEqual(killed.status, 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: t.stateRoot).filter { $0.hasPrefix(".library.tmp-") }
        XCTAssertEqual(leftovers.count, 1, "the killed run left its clone")
        for name in leftovers {
            XCTAssertTrue(OrgFixture.files(under: t.stateRoot + "/" + name, containing: token).isEmpty, "token stored in the killed clone")
        }

        let ok = try t.run(["library", "init", url], env: ["PATH": path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try t.run(["template", "render", "service/web"]).stdout, "v1\n")
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: t.stateRoot).filter { $0.hasPrefix(".library.tmp-") }.isEmpty,
                      "the next run swept the killed run's clone")
        XCTAssertTrue(OrgFixture.files(under: t.stateRoot, containing: token).isEmpty, "token stored under the state root")
        let argv = try String(contentsOfFile: argvLog, encoding: .utf8)
        XCTAssertTrue(argv.contains("clone"), argv)
        XCTAssertFalse(argv.contains(token), "token in git's argv:\n\(argv)")
        XCTAssertFalse(ok.stdout.contains(token) || ok.stderr.contains(token))
        // Without the credentials the server refuses: the token really was used.
        let t2 = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t2.stateRoot) }
        let anonymous = try t2.run(["library", "init", "http://127.0.0.1:\(server.port)/templates.git"])
        XCTAssertEqual(anonymous.status, 6, anonymous.stderr)
    }

    /// A symlink in the library (to a file outside it) is not used as a template, and not
    /// silently: template list/render and doctor warn about it.
    func testLibrarySymlinksAreIgnoredWithAWarning() throws {
        let up = try Upstream()
        defer { up.remove() }
        try FileManager.default.createDirectory(atPath: up.work + "/templates/service", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: up.work + "/templates/service/evil.toml", withDestinationPath: "/etc/passwd")
        try up.commit(["templates/service/web.toml": "v1\n"], "one")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        XCTAssertEqual(try t.run(["library", "init", "file://" + up.bare]).status, 0)
        let list = try t.run(["template", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stderr.contains("warning: library templates/service/evil.toml is a symlink or special file: ignored"), list.stderr)
        XCTAssertFalse(list.stdout.contains("service/evil"), list.stdout)
        let render = try t.run(["template", "render", "service/evil"])
        XCTAssertEqual(render.status, 4, render.stderr)
        XCTAssertTrue(render.stderr.contains("evil.toml is a symlink"), render.stderr)
        XCTAssertFalse(render.stdout.contains("root:"), "the link's target was rendered")
        let doctor = try t.run(["doctor"])
        XCTAssertTrue(doctor.stdout.contains("templates/service/evil.toml"), doctor.stdout)
    }
}
