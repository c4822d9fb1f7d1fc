import Foundation
import XCTest

/// The template library through the built binary and real git: a bare upstream over
/// file:// and over the loopback sshd (key auth).
final class LibraryE2ETests: XCTestCase {
    /// The loopback sshd itself: key login works, and git clones over it.
    func testSSHServerAcceptsKeyLoginAndGit() throws {
        let git = try requireTool("git")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let r = try sshd.ssh(["echo", "hello"])
        XCTAssertEqual(r.status, 0, "ssh failed: \(r.stderr)\nsshd log:\n\(sshd.log)")
        XCTAssertEqual(r.stdout, "hello\n")

        let work = Tetra.makeTempDir("tetra-sshd-git")
        defer { try? FileManager.default.removeItem(atPath: work) }
        XCTAssertEqual(try Tetra.exec(git, ["init", "-q", "--bare", work + "/up.git"]).status, 0)
        var env = ProcessInfo.processInfo.environment
        env.merge(sshd.gitEnvironment) { $1 }
        let clone = try Tetra.exec(git, ["clone", "-q", sshd.url(path: work + "/up.git"), work + "/clone"], env: env)
        XCTAssertEqual(clone.status, 0, "git clone over ssh failed: \(clone.stderr)\nsshd log:\n\(sshd.log)")
    }

    /// An upstream bare repository with a working copy that commits and pushes to it.
    struct Upstream {
        let dir: String
        let bare: String
        let work: String
        let git: String

        init() throws {
            git = try requireTool("git")
            dir = Tetra.makeTempDir("tetra-lib-up")
            bare = dir + "/templates.git"
            work = dir + "/work"
            try run(["init", "-q", "--bare", "-b", "main", bare], in: dir)
            try run(["init", "-q", "-b", "main", work], in: dir)
            try run(["remote", "add", "origin", bare])
        }

        @discardableResult
        func run(_ args: [String], in cwd: String? = nil) throws -> String {
            var env = ProcessInfo.processInfo.environment
            env.merge(["GIT_AUTHOR_NAME": "Upstream Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                       "GIT_COMMITTER_NAME": "Upstream Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"]) { $1 }
            let r = try Tetra.exec(git, args, env: env, cwd: cwd ?? work)
            guard r.status == 0 else { throw SSHServerError("git \(args.joined(separator: " ")) failed: \(r.stderr)") }
            return r.stdout
        }

        func commit(_ files: [String: String], _ message: String, force: Bool = false) throws {
            for (path, text) in files {
                let full = work + "/" + path
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: full, atomically: true, encoding: .utf8)
            }
            try run(["add", "-A"])
            try run(["commit", "-q", "-m", message])
            try run(["push", "-q"] + (force ? ["--force"] : []) + ["origin", "HEAD:main"])
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The whole life of a library: init, an upstream commit shown and applied by update,
    /// rollback, a local edit refused then saved on a backup branch with --force, a diverged
    /// upstream refused; history and templates follow.
    func scenario(url: String, env: [String: String], upstream: Upstream) throws {
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        func run(_ args: [String]) throws -> Tetra.Result { try t.run(args, env: env) }

        let initR = try run(["library", "init", url])
        XCTAssertEqual(initR.status, 0, initR.stderr)
        XCTAssertTrue(initR.stdout.hasPrefix("cloned \(url) into \(t.stateRoot)/library: main at "), initR.stdout)
        XCTAssertTrue(initR.stdout.hasSuffix(", 1 template\n"), initR.stdout)
        XCTAssertTrue(initR.stderr.contains("tetra: cloning \(url)"), "progress step: \(initR.stderr)")

        // The library's template overrides the built-in of the same name.
        let list = try run(["template", "list"])
        XCTAssertTrue(list.stdout.contains("service/web          file       library   active, overrides built-in"), list.stdout)
        XCTAssertEqual(try run(["template", "render", "service/web"]).stdout, "library web v1\n")

        // An upstream commit: update shows it (commits and files), then applies it.
        try upstream.commit(["templates/service/web.toml": "library web v2\n", "templates/service/cache.conf": "cache {{ size }}\n"],
                            "Add the cache template")
        let dry = try run(["library", "update", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("incoming commits (1):\n  "), dry.stdout)
        XCTAssertTrue(dry.stdout.contains(" Add the cache template (Upstream Dev, "), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("changed files (2):\n  A  templates/service/cache.conf\n  M  templates/service/web.toml\n"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("would update main: "), dry.stdout)
        XCTAssertEqual(try run(["template", "render", "service/web"]).stdout, "library web v1\n", "a dry run changes nothing")

        let update = try run(["library", "update"])
        XCTAssertEqual(update.status, 0, update.stderr)
        XCTAssertTrue(update.stdout.contains("Add the cache template"), update.stdout)
        XCTAssertTrue(update.stdout.contains("updated main: "), update.stdout)
        XCTAssertEqual(try run(["template", "render", "service/web"]).stdout, "library web v2\n")
        XCTAssertEqual(try run(["template", "render", "service/cache", "--set", "size=64"]).stdout, "cache 64\n")
        let status = try json(try run(["library", "status", "--json"]).stdout)
        XCTAssertEqual(status["url"] as? String, url)
        XCTAssertEqual(status["ref"] as? String, "main")
        XCTAssertEqual(status["dirty"] as? Bool, false)
        XCTAssertEqual(status["behind"] as? Int, 0)
        XCTAssertEqual(status["template_count"] as? Int, 2)

        // rollback: back to the version before the last update.
        let rollback = try run(["library", "rollback"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertTrue(rollback.stdout.hasPrefix("rolled back main: "), rollback.stdout)
        XCTAssertEqual(try run(["template", "render", "service/web"]).stdout, "library web v1\n")
        XCTAssertEqual(try run(["template", "render", "service/cache"]).status, 4, "the template is gone again")
        let log = try json(try run(["library", "log", "--json"]).stdout)["entries"] as? [[String: Any]] ?? []
        XCTAssertEqual(log.map { $0["action"] as? String }, ["init", "update", "rollback"])
        XCTAssertEqual(log[2]["from"] as? String, log[1]["to"] as? String)
        XCTAssertEqual(log[2]["to"] as? String, log[1]["from"] as? String)
        XCTAssertEqual(Set(log.compactMap { $0["user"] as? String }).count, 1)
        let logText = try run(["library", "log"]).stdout
        XCTAssertTrue(logText.contains("rollback"), logText)
        XCTAssertTrue(logText.contains(" → "), logText)

        // A local edit: refused (exit 5) with a hint, then saved on a backup branch by --force.
        let edited = t.stateRoot + "/library/templates/service/web.toml"
        try "my local edit\n".write(toFile: edited, atomically: true, encoding: .utf8)
        let refused = try run(["library", "update"])
        XCTAssertEqual(refused.status, 5, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("the library has local changes (1 file: M templates/service/web.toml); update refused"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("hint: commit or discard them in \(t.stateRoot)/library, or re-run with --force"), refused.stderr)
        XCTAssertEqual(try String(contentsOfFile: edited, encoding: .utf8), "my local edit\n")
        let doctor = try run(["doctor", "--json"])
        let checks = (try json(doctor.stdout)["checks"] as? [[String: Any]] ?? []).filter { ($0["name"] as? String)?.hasPrefix("library") == true }
        XCTAssertEqual(checks.map { $0["status"] as? String }, ["ok", "warning"], "\(checks)")

        let forced = try run(["library", "update", "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        let backupLine = try XCTUnwrap(forced.stdout.split(separator: "\n").first { $0.hasPrefix("saved 1 local change on branch ") }, forced.stdout)
        let backup = String(backupLine.dropFirst("saved 1 local change on branch ".count))
        XCTAssertTrue(backup.hasPrefix("tetra-backup/"), backup)
        XCTAssertEqual(try String(contentsOfFile: edited, encoding: .utf8), "library web v2\n")
        XCTAssertEqual(try upstream.run(["show", backup + ":templates/service/web.toml"], in: t.stateRoot + "/library"), "my local edit\n")

        // A diverged upstream (history rewritten upstream): refused and explained.
        try upstream.run(["reset", "-q", "--hard", "HEAD~1"])
        try upstream.commit(["templates/service/web.toml": "rewritten\n"], "Rewrite history", force: true)
        let diverged = try run(["library", "update"])
        XCTAssertEqual(diverged.status, 5, diverged.stderr)
        XCTAssertTrue(diverged.stderr.contains("the library has diverged from origin/main: 1 local commit not upstream, 1 upstream commit not here; an update only fast-forwards"), diverged.stderr)
        XCTAssertTrue(diverged.stderr.contains("hint: inspect with 'git -C \(t.stateRoot)/library log --oneline --graph HEAD origin/main'"), diverged.stderr)
        XCTAssertEqual(try String(contentsOfFile: edited, encoding: .utf8), "library web v2\n", "nothing changed")

        // Every mutation was audited, and the library lock is free again.
        let audit = try json(try run(["audit", "--json"]).stdout)["entries"] as? [[String: Any]] ?? []
        XCTAssertEqual(audit.filter { ($0["command"] as? String)?.hasPrefix("library") == true }.count, 6)
    }

    func testLibraryOverFileURL() throws {
        let upstream = try Upstream()
        defer { upstream.remove() }
        try upstream.commit(["templates/service/web.toml": "library web v1\n"], "First templates")
        try scenario(url: "file://" + upstream.bare, env: [:], upstream: upstream)
    }

    func testLibraryOverSSHWithKeyAuth() throws {
        let upstream = try Upstream()
        defer { upstream.remove() }
        try upstream.commit(["templates/service/web.toml": "library web v1\n"], "First templates")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        try scenario(url: sshd.url(path: upstream.bare), env: sshd.gitEnvironment, upstream: upstream)
        // Without the key, the same URL is refused by the server: exit 6 with ssh's message.
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let noKey = "ssh -F /dev/null -o UserKnownHostsFile=\(sshd.knownHostsFile) -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -i /dev/null -p \(sshd.port)"
        let denied = try t.run(["library", "init", sshd.url(path: upstream.bare)], env: ["GIT_SSH_COMMAND": noKey])
        XCTAssertEqual(denied.status, 6, denied.stderr)
        XCTAssertTrue(denied.stderr.contains("Permission denied"), denied.stderr)
    }

    func testUnreachableURLIsExit6WithAClearMessage() throws {
        _ = try requireTool("git")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let missing = try t.run(["library", "init", "file:///nonexistent/templates.git"])
        XCTAssertEqual(missing.status, 6)
        XCTAssertTrue(missing.stderr.hasPrefix("tetra: cloning file:///nonexistent/templates.git\ntetra: error: could not clone the library at file:///nonexistent/templates.git: fatal: '/nonexistent/templates.git' does not appear to be a git repository"), missing.stderr)
        XCTAssertTrue(missing.stderr.contains("  hint: check the URL, the network and your access"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/library"))

        let refused = try t.run(["library", "init", "ssh://git@127.0.0.1:1/templates.git"],
                                env: ["GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5"])
        XCTAssertEqual(refused.status, 6)
        XCTAssertTrue(refused.stderr.contains("Connection refused"), refused.stderr)
    }

    /// A token in the URL is used, never stored and never printed (stdout, stderr, JSON
    /// errors, audit log, history, the clone's config).
    func testCredentialsInURLsAreNeverPrintedOrStored() throws {
        _ = try requireTool("git")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        let secret = "tok3n-SECRET-42"
        let url = "https://deploy:\(secret)@127.0.0.1:1/ops/templates.git"
        for args in [["library", "init", url], ["library", "init", url, "--json"], ["library", "init", url, "--dry-run"]] {
            let r = try t.run(args)
            XCTAssertEqual(r.status, 6, r.stderr)
            XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "\(args): \(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stderr.contains("https://deploy:***@127.0.0.1:1/ops/templates.git"), r.stderr)
        }
        let audit = try String(contentsOfFile: t.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertFalse(audit.contains(secret))
        XCTAssertTrue(audit.contains("deploy:***@"), audit)

        // (That a successful clone stores the URL without them: LibraryCommandTests.)
    }
}
