import Foundation
import XCTest
import TetraCore

/// `tetra org` and `tetra env` through the built binary: dev on a local path, staging and
/// prod over a real loopback sshd.
final class OrgE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let obj = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try XCTUnwrap(obj as? [String: Any], file: file, line: line)
    }

    func testPushPromoteProtectedDriftPullRollbackHistoryOverSSH() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        let log = OutputLog()

        var r = try f.run(["org", "validate", "acme"], log: log)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)

        // push dev (local)
        r = try f.run(["org", "push", "acme", "dev", "-m", "first", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        let pushed = try json(r.stdout)
        let devRelease = try XCTUnwrap(pushed["release"] as? String)
        XCTAssertEqual(pushed["secret_files"] as? [String], ["db.env"])
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(f.devTarget), devRelease)
        let devDir = f.devTarget + "/current"
        XCTAssertEqual(f.read(devDir + "/app.env"), "APP_ENV=dev\nDOMAIN=dev.acme.example\nPORT=3100\nREPLICAS=1\n")
        XCTAssertTrue(f.read(devDir + "/db.env").contains(OrgFixture.secret))
        XCTAssertEqual(DeployFixture.mode(devDir + "/db.env"), 0o600)
        XCTAssertEqual(DeployFixture.mode(devDir + "/app.env"), 0o644)
        XCTAssertEqual(f.read(devDir + "/conf/nginx.conf"), "worker_processes 2;\n")

        // the working copy changes after the push: promote must take what dev runs
        try "User-agent: changed-later\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/robots.txt", atomically: true, encoding: .utf8)

        // promote dev -> staging (ssh)
        r = try f.run(["env", "promote", "dev", "staging", "--org", "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr + "\n" + sshd.log)
        let promoted = try json(r.stdout)
        XCTAssertEqual(promoted["source"] as? String, "promoted from dev@\(devRelease)")
        XCTAssertEqual(promoted["snapshot"] as? String, pushed["snapshot"] as? String)
        let stagingRelease = try DeployFixture.assertCurrentComplete(f.stagingPath)
        XCTAssertEqual(f.read(f.stagingPath + "/current/robots.txt"), "User-agent: *\n", "promote used the working copy")
        XCTAssertTrue(f.read(f.stagingPath + "/current/app.env").contains("DOMAIN=staging.acme.example"))
        XCTAssertEqual(DeployFixture.mode(f.stagingPath + "/current/db.env"), 0o600)
        XCTAssertTrue(f.read(f.stagingPath + "/current/.tetra-release.toml").contains("promoted from dev@\(devRelease)"))

        // promote dev -> prod is not allowed (prod promotes from staging)
        r = try f.run(["env", "promote", "dev", "prod", "--org", "acme", "--approve"], log: log)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("promote_from"), r.stderr)

        // protected prod: refused without --approve, nothing there
        r = try f.run(["env", "promote", "staging", "prod", "--org", "acme", "--validate"], log: log)
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("--approve"), r.stderr)
        XCTAssertNil(f.currentRelease(f.prodPath))
        r = try f.run(["org", "push", "acme", "prod"], log: log)
        XCTAssertEqual(r.status, 7, r.stderr)

        // a dry run shows the diff and changes nothing
        r = try f.run(["env", "promote", "staging", "prod", "--org", "acme", "--dry-run"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("+ app.env"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.prodPath + "/releases"))

        r = try f.run(["env", "promote", "staging", "prod", "--org", "acme", "--validate", "--approve", "-m", "go live"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("check passed: test -f"), r.stdout)
        let prodRelease1 = try DeployFixture.assertCurrentComplete(f.prodPath)
        XCTAssertTrue(f.read(f.prodPath + "/current/app.env").contains("REPLICAS=3"))
        XCTAssertTrue(f.read(f.prodPath + "/current/.tetra-release.toml").contains("promoted from staging@\(stagingRelease)"))

        // a failing check stops a promotion before anything is pushed
        r = try f.run(["org", "set", "environments.prod.checks", #"[["test", "-f", "{release}/missing.conf"]]"#, "--org", "acme"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try f.run(["env", "promote", "staging", "prod", "--org", "acme", "--validate", "--approve"], log: log)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("check failed"), r.stderr)
        XCTAssertEqual(f.currentRelease(f.prodPath), prodRelease1)

        // push prod twice more (approved) so there is something to roll back to
        r = try f.run(["org", "push", "acme", "prod", "--approve"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        let prodRelease2 = try DeployFixture.assertCurrentComplete(f.prodPath)
        XCTAssertNotEqual(prodRelease1, prodRelease2)
        XCTAssertEqual(f.read(f.prodPath + "/current/robots.txt"), "User-agent: changed-later\n")

        // env diff staging prod: robots.txt and app.env differ; secrets never shown
        r = try f.run(["env", "diff", "staging", "prod", "--org", "acme"], log: log)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("-User-agent: *"), r.stdout)
        XCTAssertTrue(r.stdout.contains("+User-agent: changed-later"), r.stdout)
        r = try f.run(["env", "diff", "staging", "staging", "--org", "acme", "--stat"], log: log)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)

        // drift: a file edited at the target
        r = try f.run(["org", "status", "acme"], log: log)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        try "hand edit\n".write(toFile: f.stagingPath + "/current/conf/nginx.conf", atomically: false, encoding: .utf8)
        r = try f.run(["org", "status", "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("conf/nginx.conf"), r.stdout)
        r = try f.run(["org", "pull", "acme", "staging"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("~ conf/nginx.conf"), r.stdout)
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/conf/nginx.conf"), "worker_processes 2;\n", "pull without --write writes nothing")
        r = try f.run(["org", "pull", "acme", "staging", "--write", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["written"] as? [String], ["conf/nginx.conf"])
        XCTAssertEqual(f.read(f.tetra.stateRoot + "/orgs/acme/files/conf/nginx.conf"), "hand edit\n")

        // org diff: the local render against prod's current release
        r = try f.run(["org", "diff", "acme", "prod"], log: log)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("+hand edit"), r.stdout)

        // rollback prod: refused without --approve, then back to release 1
        r = try f.run(["org", "rollback", "acme", "prod"], log: log)
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertEqual(f.currentRelease(f.prodPath), prodRelease2)
        r = try f.run(["env", "rollback", "prod", "--approve", "--org", "acme", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["how"] as? String, "switched")
        XCTAssertEqual(f.currentRelease(f.prodPath), prodRelease1)

        // history: local and target, every action
        r = try f.run(["org", "history", "acme", "prod", "--json"], log: log)
        XCTAssertEqual(r.status, 0, r.stderr)
        let entries = try XCTUnwrap(try json(r.stdout)["entries"] as? [[String: Any]])
        let local = entries.filter { $0["origin"] as? String == "local" }.compactMap { $0["action"] as? String }
        XCTAssertEqual(local, ["promote", "push", "rollback"])
        let remote = entries.filter { $0["origin"] as? String == "target" }.compactMap { $0["action"] as? String }
        XCTAssertEqual(remote, ["deploy", "deploy", "activate"])
        r = try f.run(["env", "history", "prod", "--org", "acme"], log: log)
        XCTAssertTrue(r.stdout.contains("go live"), r.stdout)

        // secrets: rendered files only
        for extra in [["env", "show", "prod", "--org", "acme", "--json"], ["org", "show", "acme", "--json"], ["env", "list", "--org", "acme"]] {
            r = try f.run(extra, log: log)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertTrue(r.stdout.contains("staging"))
        log.assertNoSecrets([OrgFixture.secret, OrgFixture.sessionSecret])
        f.assertSecretsOnlyInRenderedFiles()
        // the audit log has org and env filled
        let audit = f.read(f.tetra.stateRoot + "/state/audit.jsonl")
        XCTAssertTrue(audit.contains(#""command":"env promote""#), audit)
        for line in audit.split(separator: "\n") where line.contains(#""command":"env promote""#) || line.contains(#""command":"org push""#) {
            XCTAssertTrue(line.contains(#""org":"acme""#), String(line))
            XCTAssertTrue(line.contains(#""env":""#), String(line))
        }
    }

    /// A push that changes a few files goes over ssh as a delta (one session: hard links to
    /// the previous release plus the changed files); a change the delta cannot carry (a mode)
    /// or a previous release that drifted at the target falls back to the full upload.
    func testSmallPushesOverSSHGoAsADeltaAndFallBackOnModeChangesAndDrift() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        let log = OutputLog()
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        func push() throws -> [String: Any] {
            let r = try f.run(["org", "push", "acme", "staging", "--json"], log: log)
            XCTAssertEqual(r.status, 0, r.stderr + "\n" + sshd.log)
            return try json(r.stdout)
        }
        try FileManager.default.createDirectory(atPath: files + "/extra", withIntermediateDirectories: true)
        try "a\n".write(toFile: files + "/extra/a.txt", atomically: true, encoding: .utf8)
        try "b\n".write(toFile: files + "/extra/b.txt", atomically: true, encoding: .utf8)
        let first = try push()
        XCTAssertEqual(first["transport"] as? String, "rsync")
        let release1 = try DeployFixture.assertCurrentComplete(f.stagingPath)

        // one changed file, one added in a new directory, one removed
        try "User-agent: delta\n".write(toFile: files + "/robots.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: files + "/new/dir", withIntermediateDirectories: true)
        try "fresh\n".write(toFile: files + "/new/dir/added.txt", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: files + "/extra/b.txt")
        Thread.sleep(forTimeInterval: 1.05)
        let second = try push()
        XCTAssertEqual(second["transport"] as? String, "delta", "\(second)")
        XCTAssertEqual(second["files_sent"] as? Int, 2)
        XCTAssertLessThan(try XCTUnwrap(second["bytes_sent"] as? Int), 20_000)
        let release2 = try DeployFixture.assertCurrentComplete(f.stagingPath)
        XCTAssertNotEqual(release1, release2)
        XCTAssertEqual(f.read(f.stagingPath + "/current/robots.txt"), "User-agent: delta\n")
        XCTAssertEqual(f.read(f.stagingPath + "/current/new/dir/added.txt"), "fresh\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.stagingPath + "/current/extra/b.txt"))
        XCTAssertEqual(f.read(f.stagingPath + "/releases/\(release1)/extra/b.txt"), "b\n")
        XCTAssertEqual(f.read(f.stagingPath + "/releases/\(release1)/robots.txt"), "User-agent: *\n", "the previous release is untouched")
        XCTAssertEqual(DeployFixture.mode(f.stagingPath + "/current/db.env"), 0o600)
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(f.stagingPath), release2)

        // a mode-only change: the delta sees the shape differ and the full upload runs
        XCTAssertEqual(chmod(files + "/conf/nginx.conf", 0o640), 0)
        Thread.sleep(forTimeInterval: 1.05)
        let third = try push()
        XCTAssertEqual(third["transport"] as? String, "rsync", "\(third)")
        _ = try DeployFixture.assertCurrentComplete(f.stagingPath)
        XCTAssertEqual(DeployFixture.mode(f.stagingPath + "/current/conf/nginx.conf"), 0o640)

        // drift in the previous release: the delta's check fails, the full upload repairs it
        let release3 = try XCTUnwrap(f.currentRelease(f.stagingPath))
        let drifted = f.stagingPath + "/releases/\(release3)/robots.txt"
        XCTAssertEqual(unlink(drifted), 0)
        try "hand edit\n".write(toFile: drifted, atomically: false, encoding: .utf8)
        try "fresh again\n".write(toFile: files + "/new/dir/added.txt", atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 1.05)
        let fourth = try push()
        XCTAssertEqual(fourth["transport"] as? String, "rsync", "\(fourth)")
        _ = try DeployFixture.assertCurrentComplete(f.stagingPath)
        XCTAssertEqual(f.read(f.stagingPath + "/current/robots.txt"), "User-agent: delta\n")
        XCTAssertEqual(f.read(f.stagingPath + "/current/new/dir/added.txt"), "fresh again\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.stagingPath + "/.tetra/lock"))
        let partials = try FileManager.default.contentsOfDirectory(atPath: f.stagingPath + "/releases").filter { $0.hasSuffix(".partial") }
        XCTAssertEqual(partials, [])
        log.assertNoSecrets([OrgFixture.secret, OrgFixture.sessionSecret])
    }

    func testRollbackToAPrunedReleaseReRendersItFromItsSnapshot() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1)
        let orgFiles = f.tetra.stateRoot + "/orgs/acme/files"
        var releases: [String] = []
        for version in ["one", "two", "three"] {
            try "version \(version)\n".write(toFile: orgFiles + "/robots.txt", atomically: true, encoding: .utf8)
            let r = try f.run(["org", "push", "acme", "dev"])
            XCTAssertEqual(r.status, 0, r.stderr)
            releases.append(try DeployFixture.assertCurrentComplete(f.devTarget))
        }
        // keep_releases = 1 keeps current and previous only
        XCTAssertEqual(DeployFixture.releases(f.devTarget + "/"), Array(releases.suffix(2)))
        var r = try f.run(["org", "rollback", "acme", "dev", "--to", releases[0], "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try json(r.stdout)
        XCTAssertEqual(out["how"] as? String, "re-rendered")
        let now = try DeployFixture.assertCurrentComplete(f.devTarget)
        XCTAssertFalse(releases.contains(now), "a new release made from the snapshot")
        XCTAssertEqual(f.read(f.devTarget + "/current/robots.txt"), "version one\n")
        XCTAssertTrue(f.read(f.devTarget + "/current/.tetra-release.toml").contains("rollback to \(releases[0])"))
        // the working copy is untouched
        XCTAssertEqual(f.read(orgFiles + "/robots.txt"), "version three\n")
        // plain rollback: back to the release it replaced
        r = try f.run(["org", "rollback", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(f.currentRelease(f.devTarget), releases[2])
        // an unknown release: not found
        r = try f.run(["org", "rollback", "acme", "dev", "--to", "20200101T000000Z-0000000"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.run(["org", "rollback", "acme", "dev", "--to", "../../etc"])
        XCTAssertEqual(r.status, 2, r.stderr)
    }

    func testADeadHostFailsWithExit6AndChangesNothingLocally() throws {
        let f = try OrgFixture(sshd: nil)
        let before = try snapshotOfState(f)
        let r = try f.run(["org", "push", "acme", "staging"])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertTrue(r.stderr.contains("tetra: error:"), r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.0.1"), r.stderr)
        XCTAssertEqual(try snapshotOfState(f), before, "nothing changed in the state root but the audit log")
        let status = try f.run(["org", "status", "acme", "staging"])
        XCTAssertEqual(status.status, 6, status.stderr)
    }

    /// Every file of the state root but the audit log and lock files, with its content.
    func snapshotOfState(_ f: OrgFixture) throws -> [String: String] {
        var out: [String: String] = [:]
        let root = f.tetra.stateRoot
        let e = FileManager.default.enumerator(atPath: root)
        while let rel = e?.nextObject() as? String {
            if rel.hasSuffix("audit.jsonl") || rel.hasPrefix("state/locks") { continue }
            var st = stat()
            guard lstat(root + "/" + rel, &st) == 0 else { continue }
            out[rel] = (st.st_mode & S_IFMT) == S_IFDIR ? "dir" : f.read(root + "/" + rel)
        }
        return out
    }

    func testAHeldRemoteLockIsExit5NamingItsHolder() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        let record = TargetLockRecord(token: "feedfacefeedface", pid: 4242, host: "build-7.example", user: "ci",
                                      command: "tetra org push acme staging", time: Date(), ttl: 3600, boot: nil)
        try DeployFixture.writeLock(f.stagingPath, record)
        let r = try f.run(["org", "push", "acme", "staging"])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("pid 4242 on build-7.example"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.stagingPath + "/current"))
        XCTAssertTrue(f.read(f.stagingPath + "/.tetra/lock").contains("feedfacefeedface"), "the lock is left alone")
    }

    func testValidateListsEveryProblemAndNamesAreCheckedFirst() throws {
        let f = try OrgFixture(sshd: nil)
        let orgToml = f.tetra.stateRoot + "/orgs/acme/org.toml"
        var text = f.read(orgToml)
        text = text.replacingOccurrences(of: "port_range = \"staging\"", with: "port_range = \"nosuch\"")
        text = text.replacingOccurrences(of: "promote_from = \"dev\"", with: "promote_from = \"prod\"")
        text = text.replacingOccurrences(of: "keep_releases = 3", with: "keep_releases = 0\nprotect = true")
        try text.write(toFile: orgToml, atomically: true, encoding: .utf8)
        try "{{ ports.nosuchport }} {{ secrets.MISSING }}\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/x.conf.tmpl",
                                                                  atomically: true, encoding: .utf8)
        var r = try f.run(["org", "validate", "acme"])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        for needle in ["port_range", "nosuch", "cycle", "keep_releases", "ports.nosuchport", "secrets.MISSING", "org.toml:"] {
            XCTAssertTrue(r.stdout.contains(needle), "\(needle) missing in:\n\(r.stdout)")
        }
        XCTAssertTrue(r.stderr.contains("protect"), "unknown key warned: \(r.stderr)")
        chmod(f.tetra.stateRoot + "/orgs/acme/secrets.env", 0o644)
        r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("chmod 600"), "a readable secrets.env is warned about: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains(OrgFixture.secret))
        XCTAssertNil(f.currentRelease(f.devTarget))
        r = try f.run(["org", "push", "../x", "dev"])
        XCTAssertEqual(r.status, 2, r.stderr)
        r = try f.run(["org", "push", "acme", "../dev"])
        XCTAssertEqual(r.status, 2, r.stderr)
        r = try f.run(["org", "show", "nosuch"])
        XCTAssertEqual(r.status, 4, r.stderr)
        r = try f.run(["org", "push", "acme", "qa"])
        XCTAssertEqual(r.status, 3, "an invalid org is refused before the env is looked up: \(r.stderr)")
    }

    func testCreateUseSetDeleteAndPortsAllocateForAnEnv() throws {
        let t = Tetra(stateRoot: DeployFixture.tempDir("tetra-org-admin") + "/root")
        var r = try t.run(["org", "create", "shop", "--set", "domain=shop.example"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.stateRoot + "/orgs/shop/org.toml"))
        r = try t.run(["org", "create", "shop"])
        XCTAssertEqual(r.status, 5, r.stderr)
        r = try t.run(["org", "validate", "shop"])
        XCTAssertEqual(r.status, 3, "web is not registered yet")
        XCTAssertTrue(r.stdout.contains("tetra ports allocate web"), r.stdout)
        r = try t.run(["org", "use", "shop"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try t.run(["ports", "allocate", "web", "--env", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let port = try XCTUnwrap(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), r.stdout)
        XCTAssertTrue((3000...3999).contains(port), "from dev's range development: \(port)")
        r = try t.run(["org", "validate"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let before = try String(contentsOfFile: t.stateRoot + "/orgs/shop/org.toml", encoding: .utf8)
        r = try t.run(["org", "set", "environments.prod.keep_releases", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let after = try String(contentsOfFile: t.stateRoot + "/orgs/shop/org.toml", encoding: .utf8)
        XCTAssertEqual(ConfigFiles.changedLines(before, after), ["-keep_releases = 10", "+keep_releases = 7"])
        r = try t.run(["org", "set", "environments.prod.keep_releases", "\"many\""])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(try String(contentsOfFile: t.stateRoot + "/orgs/shop/org.toml", encoding: .utf8), after)
        r = try t.run(["org", "list", "--json"])
        XCTAssertTrue(r.stdout.contains("\"name\" : \"shop\""), r.stdout)
        r = try t.run(["org", "delete", "shop"])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("--yes"), r.stderr)
        r = try t.run(["org", "delete", "shop", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.stateRoot + "/orgs/shop"))
        let snapLog = try String(contentsOfFile: t.stateRoot + "/state/snapshots/log/shop.jsonl", encoding: .utf8)
        XCTAssertTrue(snapLog.contains("before org set"), snapLog)
        XCTAssertTrue(snapLog.contains("before org delete"), snapLog)
        XCTAssertEqual(DeployFixture.mode(t.stateRoot + "/state/snapshots"), 0o700)
    }

    func testDoctorReportsInvalidOrgsAndUnreachableTargetsAndCompletionKnowsOrgsEnvsReleases() throws {
        let f = try OrgFixture(sshd: nil)
        var r = try f.run(["org", "push", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let release = try XCTUnwrap(f.currentRelease(f.devTarget))

        r = try f.run(["doctor", "--json"])
        XCTAssertTrue(r.stdout.contains("\"name\" : \"org acme\""), r.stdout)
        XCTAssertFalse(r.stdout.contains("target acme/"), "targets are checked only with --check-targets")
        r = try f.run(["doctor", "--check-targets"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("target acme/staging"), r.stdout)
        XCTAssertTrue(r.stdout.contains("unreachable"), r.stdout)
        XCTAssertTrue(r.stdout.contains("target acme/dev"), r.stdout)

        try "[org]\nname = 1\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        r = try f.run(["doctor"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("org.toml:2:8"), r.stdout)
        r = try f.run(["org", "validate", "acme"])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("orgs/acme/org.toml:2:8"), r.stdout)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 3)

        r = try f.run(["__complete", "org", "push", ""])
        XCTAssertEqual(r.stdout.split(separator: "\n"), ["acme"])
        r = try f.run(["__complete", "org", "rollback", "acme", "dev", "--to", ""])
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), [release])
        r = try f.run(["__complete", "env", "show", "--org", "acme", "p"])
        XCTAssertEqual(r.stdout, "", "a broken org.toml completes nothing")
    }

    func testCompletionOfEnvironments() throws {
        let f = try OrgFixture(sshd: nil)
        var r = try f.run(["__complete", "org", "push", "acme", ""])
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), ["dev", "prod", "staging"])
        r = try f.run(["__complete", "env", "promote", "--org", "acme", "s"])
        XCTAssertEqual(r.stdout, "staging\n")
        XCTAssertEqual(try f.run(["org", "use", "acme"]).status, 0)
        r = try f.run(["__complete", "env", "rollback", "d"])
        XCTAssertEqual(r.stdout, "dev\n")
    }
}
