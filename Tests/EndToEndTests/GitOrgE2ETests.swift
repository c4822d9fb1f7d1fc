import Foundation
import TetraTestSupport
import XCTest

/// Orgs that are git work trees, through the built binary and real git: an upstream bare
/// repository over file:// and over the loopback sshd; pushes of a tag, a branch and a
/// commit; dirty work trees; rollback to a commit; log with deployments; update.
final class GitOrgE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    /// A bare upstream `shop.git` and a work tree that commits and pushes to it.
    struct Upstream {
        let dir: String
        let bare: String
        let work: String
        let git: String
        let target: String

        init() throws {
            git = try requireTool("git")
            dir = DeployFixture.tempDir("tetra-gitorg")
            bare = dir + "/shop.git"
            work = dir + "/work"
            target = dir + "/targets"
            try run(["init", "-q", "--bare", "-b", "main", bare], in: dir)
            try run(["init", "-q", "-b", "main", work], in: dir)
            try run(["remote", "add", "origin", bare])
            try FileManager.default.createDirectory(atPath: work + "/files", withIntermediateDirectories: true)
            try """
            [org]
            name = "shop"

            [environments.dev]
            target = "\(target)/dev"

            [environments.prod]
            target = "\(target)/prod"

            """.write(toFile: work + "/org.toml", atomically: true, encoding: .utf8)
            try commit("v1", tag: "v1")
            try commit("v2")
            try run(["push", "-q", "origin", "main", "--tags"])
        }

        @discardableResult
        func run(_ args: [String], in dir: String? = nil) throws -> String {
            let env = ["GIT_AUTHOR_NAME": "Ops", "GIT_AUTHOR_EMAIL": "ops@example.com", "GIT_COMMITTER_NAME": "Ops",
                       "GIT_COMMITTER_EMAIL": "ops@example.com", "HOME": self.dir]
            let r = try Tetra.exec(git, args, env: ProcessInfo.processInfo.environment.merging(env) { $1 }, cwd: dir ?? work)
            guard r.status == 0 else { throw SSHServerError("git \(args.joined(separator: " ")): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func commit(_ version: String, tag: String? = nil) throws {
            try "\(version)\n".write(toFile: work + "/files/version.txt", atomically: true, encoding: .utf8)
            try run(["add", "-A"])
            try run(["commit", "-q", "-m", "version \(version)"])
            if let tag { try run(["tag", tag]) }
        }

        func rev(_ ref: String) throws -> String { try run(["rev-parse", ref]) }
        func deployed(_ env: String) -> String? { try? String(contentsOfFile: target + "/\(env)/current/version.txt", encoding: .utf8) }
    }

    func json(_ r: Tetra.Result) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
    }

    func testPushTagsBranchesAndCommitsLogAndRollBack() throws {
        let up = try Upstream()
        let t = Tetra(stateRoot: up.dir + "/state-root")
        XCTAssertEqual(try t.run(["init"]).status, 0)
        // Credentials in a URL: refused, nothing created.
        let secret = try t.run(["org", "create", "shop", "--from-git", "https://ops:hunter2@git.example/shop.git"])
        XCTAssertEqual(secret.status, 2)
        XCTAssertFalse(secret.stderr.contains("hunter2"), secret.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/orgs/shop"))

        let pinner = GoldenPinner(tetra: t, replacements: [(up.dir, "$WORK")])
        let created = try pinner.pin("org create from-git", ["org", "create", "shop", "--from-git", "file://" + up.bare], strings: ["commit"])
        XCTAssertEqual(created["commit"] as? String, try up.rev("main"))

        // A tag, a commit and a branch, rendered as committed.
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev", "--ref", "v1"]).status, 0)
        XCTAssertEqual(up.deployed("dev"), "v1\n")
        let v1 = try up.rev("v1")
        let p = try t.run(["org", "push", "shop", "prod", "--ref", String(v1.prefix(9)), "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual(up.deployed("prod"), "v1\n")
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev", "--ref", "main"]).status, 0)
        XCTAssertEqual(up.deployed("dev"), "v2\n")
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev", "--ref", "no-such-ref"]).status, 4)
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev", "--ref", "--upload-pack=evil"]).status, 2)

        // The working copy: dirty tracked files refused, --allow-dirty records it.
        let orgFile = t.stateRoot + "/orgs/shop/files/version.txt"
        try "local\n".write(toFile: orgFile, atomically: true, encoding: .utf8)
        let dirty = try t.run(["org", "push", "shop", "dev"])
        XCTAssertEqual(dirty.status, 1)
        XCTAssertTrue(dirty.stderr.contains("uncommitted changes to tracked files: files/version.txt"), dirty.stderr)
        XCTAssertEqual(up.deployed("dev"), "v2\n", "nothing pushed")
        // --ref ignores the working copy.
        XCTAssertEqual(try t.run(["org", "push", "shop", "prod", "--ref", "main"]).status, 0)
        XCTAssertEqual(up.deployed("prod"), "v2\n")
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev", "--allow-dirty"]).status, 0)
        XCTAssertEqual(up.deployed("dev"), "local\n")

        // Status and history record commit, ref and dirty.
        let status = json(try t.run(["org", "status", "shop", "--json"]))
        let rows = status["environments"] as? [[String: Any]] ?? []
        let dev = rows.first { $0["env"] as? String == "dev" }
        let prod = rows.first { $0["env"] as? String == "prod" }
        XCTAssertEqual(dev?["commit"] as? String, try up.rev("main"))
        XCTAssertEqual(dev?["dirty"] as? Bool, true)
        XCTAssertEqual(prod?["ref"] as? String, "main")
        XCTAssertEqual(prod?["dirty"] as? Bool, false)

        // log: each commit with where it is deployed.
        let log = try pinner.pin("org log", ["org", "log", "shop", "-n", "5"], strings: ["commit", "time", "release"])
        let commits = log["commits"] as? [[String: Any]] ?? []
        XCTAssertEqual(commits.map { $0["subject"] as? String }, ["version v2", "version v1"])
        let v2Deployments = (commits.first?["deployments"] as? [[String: Any]] ?? []).compactMap { $0["env"] as? String }
        XCTAssertEqual(Set(v2Deployments), ["dev", "prod"])
        let text = try t.run(["org", "log", "shop"])
        XCTAssertTrue(text.stdout.contains("version v2  [dev (dirty), prod]"), text.stdout)

        // Rollback to a commit (abbreviated): the newest release rendered from it.
        let back = try t.run(["org", "rollback", "shop", "prod", "--to", String(v1.prefix(7))])
        XCTAssertEqual(back.status, 0, back.stderr)
        XCTAssertEqual(up.deployed("prod"), "v1\n")
        XCTAssertEqual(try t.run(["org", "rollback", "shop", "prod", "--to", "abcdef0"]).status, 4)
        // search finds releases by commit.
        let found = try t.run(["search", "kind:release", "commit:" + String(v1.prefix(8)), "--json"])
        XCTAssertEqual(found.status, 0, found.stderr)
        XCTAssertEqual((json(found)["result_count"] as? Int), 2)

        try pinner.pin("org branches", ["org", "branches", "shop"], strings: ["commit"])
    }

    func testUpdateFastForwardsAndRefusesDirtyOrDivergedOverSSH() throws {
        let up = try Upstream()
        let sshd = try SSHServer()
        defer { sshd.stop() }
        var t = Tetra(stateRoot: up.dir + "/state-root")
        t.environment.merge(sshd.gitEnvironment) { $1 }
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let created = try t.run(["org", "create", "shop", "--from-git", sshd.url(path: up.bare), "--ref", "main"], env: sshd.gitEnvironment)
        XCTAssertEqual(created.status, 0, created.stderr + "\n" + sshd.log)
        let pinner = GoldenPinner(tetra: t, replacements: [(up.dir, "$WORK")])
        try pinner.pin("org update", ["org", "update", "shop"], strings: ["from", "to"])

        try up.commit("v3")
        try up.run(["push", "-q", "origin", "main"])
        let updated = try t.run(["org", "update", "shop", "--json"], env: sshd.gitEnvironment)
        XCTAssertEqual(updated.status, 0, updated.stderr)
        XCTAssertEqual(json(updated)["action"] as? String, "updated")
        XCTAssertEqual(json(updated)["to"] as? String, try up.rev("main"))
        XCTAssertEqual(try t.run(["org", "push", "shop", "dev"]).status, 0)
        XCTAssertEqual(up.deployed("dev"), "v3\n")

        // Dirty: refused, nothing changed.
        let org = t.stateRoot + "/orgs/shop"
        try "edited\n".write(toFile: org + "/files/version.txt", atomically: true, encoding: .utf8)
        let dirty = try t.run(["org", "update", "shop"], env: sshd.gitEnvironment)
        XCTAssertEqual(dirty.status, 5)
        XCTAssertTrue(dirty.stderr.contains("uncommitted changes"), dirty.stderr)
        let git = try requireTool("git")
        _ = try Tetra.exec(git, ["-C", org, "checkout", "--", "files/version.txt"])
        // Diverged: a local commit the upstream does not have, and a new upstream commit.
        _ = try Tetra.exec(git, ["-C", org, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "--allow-empty", "-m", "local"])
        try up.commit("v4")
        try up.run(["push", "-q", "origin", "main"])
        let head = try Tetra.exec(git, ["-C", org, "rev-parse", "HEAD"]).stdout
        let diverged = try t.run(["org", "update", "shop"], env: sshd.gitEnvironment)
        XCTAssertEqual(diverged.status, 5)
        XCTAssertTrue(diverged.stderr.contains("diverged"), diverged.stderr)
        XCTAssertEqual(try Tetra.exec(git, ["-C", org, "rev-parse", "HEAD"]).stdout, head, "nothing moved")
        // Not a git org.
        XCTAssertEqual(try t.run(["org", "create", "plain"]).status, 0)
        XCTAssertEqual(try t.run(["org", "update", "plain"]).status, 2)
        XCTAssertEqual(try t.run(["org", "push", "plain", "dev", "--ref", "main"]).status, 2)
    }
}
