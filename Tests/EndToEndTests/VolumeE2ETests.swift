import Foundation
import XCTest

/// `tetra volume` through the built binary against the real Docker engine (started by
/// scripts/docker-up.sh, with the registry-free image tinybox:1). Other suites use the same
/// engine at the same time: every volume, container and org here carries a random name, and
/// everything is removed in tearDown; prune runs only with this test's own org.
final class VolumeE2ETests: XCTestCase {
    var docker = ""
    var tetra: Tetra!
    /// Unique per test: "tetra-test-<hex>"; the org "ttorg<hex>".
    var prefix = ""
    var org = ""
    var otherOrg = ""
    var workDir = ""
    var containers: [String] = []
    var extraImages: [String] = []
    static let image = "tinybox:1"

    override func setUpWithError() throws {
        docker = try requireTool("docker")
        let info = try Tetra.exec(docker, ["info", "--format", "{{.ServerVersion}}"])
        try requireEngine(info.status == 0, "no Docker engine answers (\(info.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))")
        let image = try Tetra.exec(docker, ["image", "inspect", Self.image])
        try requireEngine(image.status == 0, "the test image \(Self.image) is missing (scripts/docker-up.sh makes it)")
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        prefix = "tetra-test-\(hex)"
        org = "ttorg\(hex)"
        otherOrg = "ttother\(hex)"
        tetra = Tetra()
        workDir = Tetra.makeTempDir("tetra-vol-e2e")
    }

    /// Like requireTool: skip loudly, but fail under CI.
    func requireEngine(_ ok: Bool, _ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard !ok else { return }
        let message = "SKIPPED: \(why); these tests need a Docker engine (scripts/test.sh starts one as root)"
        if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("Docker is missing in CI: \(message)", file: file, line: line) }
        print("\n*** \(message) ***\n")
        throw XCTSkip(message)
    }

    override func tearDownWithError() throws {
        guard !docker.isEmpty, !prefix.isEmpty else { return }
        for c in containers { _ = try? Tetra.exec(docker, ["rm", "-f", c]) }
        // Every volume of this test: by name prefix (whatever its labels).
        if let ls = try? Tetra.exec(docker, ["volume", "ls", "-q", "--filter", "name=\(prefix)"]) {
            let names = ls.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
            if !names.isEmpty { _ = try? Tetra.exec(docker, ["volume", "rm", "-f"] + names) }
        }
        for image in extraImages { _ = try? Tetra.exec(docker, ["rmi", "-f", image]) }
        // A helper container left behind would be a bug: none may remain for our volumes.
        if let ps = try? Tetra.exec(docker, ["ps", "-a", "--filter", "label=tetra.helper", "--format", "{{.Names}} {{.Mounts}}"]) {
            let ours = ps.stdout.split(separator: "\n").filter { $0.contains(prefix) }
            XCTAssertTrue(ours.isEmpty, "helper containers left behind: \(ours)")
        }
        if let t = tetra { try? FileManager.default.removeItem(atPath: t.stateRoot) }
        if !workDir.isEmpty { try? FileManager.default.removeItem(atPath: workDir) }
    }

    // MARK: - helpers

    func vol(_ suffix: String) -> String { "\(prefix)-\(suffix)" }

    @discardableResult
    func run(_ args: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Tetra.Result {
        try tetra.run(args, env: env)
    }

    @discardableResult
    func ok(_ args: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Tetra.Result {
        let r = try tetra.run(args, env: env)
        XCTAssertEqual(r.status, 0, "tetra \(args.joined(separator: " ")) failed:\n\(r.stderr)", file: file, line: line)
        return r
    }

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text, file: file, line: line)
    }

    @discardableResult
    func dockerRun(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Tetra.Result {
        let r = try Tetra.exec(docker, args)
        XCTAssertEqual(r.status, 0, "docker \(args.joined(separator: " ")) failed: \(r.stderr)", file: file, line: line)
        return r
    }

    /// Runs a shell script in a throwaway container with the volume at /data.
    func inVolume(_ volume: String, _ script: String) throws -> String {
        try dockerRun(["run", "--rm", "--network", "none", "-v", "\(volume):/data", Self.image, "sh", "-c", script]).stdout
    }

    /// Starts a long-running container using the volume (removed in tearDown).
    func startUser(_ volume: String, name: String) throws {
        containers.append(name)
        try dockerRun(["run", "-d", "--name", name, "--network", "none", "-v", "\(volume):/data", Self.image, "sleep", "300"])
    }

    func volumeExists(_ name: String) throws -> Bool {
        try Tetra.exec(docker, ["volume", "inspect", name]).status == 0
    }

    func labels(_ name: String) throws -> [String: String] {
        let r = try dockerRun(["volume", "inspect", "--format", "{{json .Labels}}", name])
        if r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "null" { return [:] }
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String], r.stdout)
    }

    func filesIn(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    // MARK: - tests

    /// create adds tetra.org (from --org, TETRA_ORG, default_org) and tetra.env; list --org
    /// shows exactly the org's volumes; get shows driver, labels, size and the users.
    func testCreateWithLabelsListByOrgAndGet() throws {
        let a = vol("a"), b = vol("b"), c = vol("c"), d = vol("d")
        let created = try ok(["volume", "create", a, "--org", org, "--env", "dev", "--label", "team=web"])
        XCTAssertEqual(created.stdout, "created volume \(a) (driver local, labels team=web, tetra.env=dev, tetra.org=\(org))\n")
        XCTAssertEqual(try labels(a), ["tetra.org": org, "tetra.env": "dev", "team": "web"])
        try ok(["volume", "create", b], env: ["TETRA_ORG": org])
        XCTAssertEqual(try labels(b), ["tetra.org": org])
        try ok(["volume", "create", c, "--org", otherOrg, "--json"])
        // default_org from config/tetra.toml; no org at all: no tetra.org label.
        try FileManager.default.createDirectory(atPath: tetra.stateRoot + "/config", withIntermediateDirectories: true)
        try "default_org = \"\(otherOrg)\"\n".write(toFile: tetra.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        try ok(["volume", "create", d])
        XCTAssertEqual(try labels(d), ["tetra.org": otherOrg])
        try FileManager.default.removeItem(atPath: tetra.stateRoot + "/config/tetra.toml")
        let e = vol("e")
        try ok(["volume", "create", e])
        XCTAssertEqual(try labels(e), [:])
        let eGet = try json(try ok(["volume", "get", e, "--json"]).stdout)
        XCTAssertTrue(eGet["org"] == nil && eGet["env"] == nil, "absent values are left out: \(eGet)")

        // An existing name: exit 5, nothing changed.
        let again = try run(["volume", "create", a, "--org", otherOrg])
        XCTAssertEqual(again.status, 5, again.stderr)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        XCTAssertEqual(try labels(a)["tetra.org"], org)

        let list = try json(try ok(["volume", "list", "--org", org, "--json"]).stdout)
        let vols = try XCTUnwrap(list["volumes"] as? [[String: Any]])
        XCTAssertEqual(vols.map { $0["name"] as? String }, [a, b])
        XCTAssertEqual(vols[0]["env"] as? String, "dev")
        XCTAssertEqual(vols[0]["org"] as? String, org)
        XCTAssertEqual(vols[0]["in_use"] as? Bool, false)
        XCTAssertEqual((vols[0]["labels"] as? [String: String])?["team"], "web")
        let human = try ok(["volume", "list", "--org", org]).stdout
        XCTAssertTrue(human.contains(a) && human.contains(b) && !human.contains(c), human)
        let byEnv = try json(try ok(["volume", "list", "--org", org, "--env", "dev", "--json"]).stdout)
        XCTAssertEqual((byEnv["volumes"] as? [[String: Any]])?.map { $0["name"] as? String }, [a])
        let all = try ok(["volume", "list", "--all", "--json"]).stdout
        XCTAssertTrue(all.contains(c) && all.contains(e), all)

        // get: content gives a size; a container is named as a user.
        _ = try inVolume(a, "head -c 50000 /bin/busybox > /data/blob; echo hi > /data/small")
        let user = vol("user")
        try startUser(a, name: user)
        let got = try json(try ok(["volume", "get", a, "--json"]).stdout)
        XCTAssertEqual(got["name"] as? String, a)
        XCTAssertEqual(got["driver"] as? String, "local")
        XCTAssertEqual(got["org"] as? String, org)
        XCTAssertEqual(got["env"] as? String, "dev")
        XCTAssertTrue((got["mountpoint"] as? String)?.contains(a) == true, "\(got)")
        let size = try XCTUnwrap(got["size_bytes"] as? Int, "\(got)")
        XCTAssertGreaterThanOrEqual(size, 50_000)
        XCTAssertLessThan(size, 60_000)
        let users = try XCTUnwrap(got["containers"] as? [[String: Any]])
        XCTAssertEqual(users.map { $0["name"] as? String }, [user])
        XCTAssertEqual(users.first?["state"] as? String, "running")
        let text = try ok(["volume", "get", a]).stdout
        XCTAssertTrue(text.contains("containers:  1") && text.contains(user) && text.contains("tetra.org=\(org)"), text)
        let inUse = try json(try ok(["volume", "list", "--org", org, "--json"]).stdout)
        XCTAssertEqual((inUse["volumes"] as? [[String: Any]])?.first?["in_use"] as? Bool, true)
        let dangling = try json(try ok(["volume", "list", "--org", org, "--dangling", "--json"]).stdout)
        XCTAssertEqual((dangling["volumes"] as? [[String: Any]])?.map { $0["name"] as? String }, [b])

        let missing = try run(["volume", "get", vol("nope")])
        XCTAssertEqual(missing.status, 4, missing.stderr)
    }

    /// delete: refused (exit 5) naming the containers while one uses the volume (running or
    /// stopped); needs --yes (exit 7); --dry-run changes nothing; then deletes.
    func testDeleteRefusedWhileInUse() throws {
        let v = vol("busy")
        try ok(["volume", "create", v, "--org", org])
        let user = vol("sleeper")
        try startUser(v, name: user)
        let refused = try run(["volume", "delete", v, "--yes"])
        XCTAssertEqual(refused.status, 5, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("in use") && refused.stderr.contains(user), refused.stderr)
        XCTAssertTrue(try volumeExists(v))
        let jsonRefused = try run(["volume", "delete", v, "--yes", "--json"])
        XCTAssertEqual(jsonRefused.status, 5)
        XCTAssertEqual(jsonRefused.stdout, "")
        XCTAssertTrue(jsonRefused.stderr.contains("\"code\":5"), jsonRefused.stderr)

        // A stopped container still references it.
        try dockerRun(["stop", "-t", "0", user])
        let stopped = try run(["volume", "delete", v, "--yes"])
        XCTAssertEqual(stopped.status, 5, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("\(user) (exited)"), stopped.stderr)
        try dockerRun(["rm", "-f", user])

        let noYes = try run(["volume", "delete", v])
        XCTAssertEqual(noYes.status, 7, noYes.stderr)
        XCTAssertTrue(noYes.stderr.contains("--yes"), noYes.stderr)
        let dry = try ok(["volume", "delete", v, "--dry-run"])
        XCTAssertEqual(dry.stdout, "would delete volume \(v)\n")
        XCTAssertTrue(try volumeExists(v))
        let done = try ok(["volume", "delete", v, "--yes"])
        XCTAssertEqual(done.stdout, "deleted volume \(v)\n")
        XCTAssertFalse(try volumeExists(v))
        let gone = try run(["volume", "delete", v, "--yes"])
        XCTAssertEqual(gone.status, 4, gone.stderr)
        // Audited.
        let audit = try String(contentsOfFile: tetra.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"command\":\"volume delete\""), audit)
    }

    /// The whole cycle: content written, delete --backup, restore into the recreated volume
    /// (content and labels checked), restore refused into a non-empty volume, --force replaces.
    func testBackupDeleteRestoreRoundTrip() throws {
        let v = vol("data")
        try ok(["volume", "create", v, "--org", org, "--env", "prod"])
        _ = try inVolume(v, """
        busybox chown 999:998 /data; busybox chmod 750 /data
        echo hello > /data/a.txt; mkdir -p /data/sub/deeper; echo nested > /data/sub/deeper/b.txt
        echo secret > /data/.hidden; head -c 200000 /bin/busybox > /data/blob; ln -s a.txt /data/link
        """)
        let before = try inVolume(v, "cd /data && ls -laR . | grep -v '^total' | sed 's/ [A-Z][a-z][a-z] .*:[0-9][0-9] / /'; cat a.txt sub/deeper/b.txt .hidden; wc -c < blob")

        // Backup configured through config/tetra.toml's volume_image.
        try FileManager.default.createDirectory(atPath: tetra.stateRoot + "/config", withIntermediateDirectories: true)
        try "volume_image = \"\(Self.image)\"\n".write(toFile: tetra.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        let archive = workDir + "/data.tar.gz"
        let deleted = try ok(["volume", "delete", v, "--backup", archive, "--yes", "--json"])
        let dj = try json(deleted.stdout)
        let backup = try XCTUnwrap(dj["backup"] as? [String: Any])
        XCTAssertEqual(backup["file"] as? String, archive)
        XCTAssertEqual(backup["image"] as? String, Self.image)
        let bytes = try XCTUnwrap(backup["bytes"] as? Int)
        XCTAssertGreaterThan(bytes, 1000)
        XCTAssertFalse(try volumeExists(v))
        XCTAssertEqual(filesIn(workDir), ["data.tar.gz"], "no temporary file may remain")
        let attrs = try FileManager.default.attributesOfItem(atPath: archive)
        XCTAssertEqual((attrs[.size] as? NSNumber)?.intValue, bytes)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        // The archive is a real tar.gz with the files.
        let listing = try Tetra.exec(try requireTool("tar"), ["-tzf", archive])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        XCTAssertTrue(listing.stdout.contains("./sub/deeper/b.txt") && listing.stdout.contains("./.hidden"), listing.stdout)

        // Restore recreates the volume with the org/env labels and the same content.
        let restored = try ok(["volume", "restore", v, archive, "--org", org, "--env", "prod"])
        XCTAssertEqual(restored.stdout, "created volume \(v)\nrestored volume \(v) from \(archive)\n")
        XCTAssertEqual(try labels(v), ["tetra.org": org, "tetra.env": "prod"])
        let after = try inVolume(v, "cd /data && ls -laR . | grep -v '^total' | sed 's/ [A-Z][a-z][a-z] .*:[0-9][0-9] / /'; cat a.txt sub/deeper/b.txt .hidden; wc -c < blob")
        XCTAssertEqual(after, before)
        XCTAssertTrue(after.contains("hello\nnested\nsecret\n200000"), after)
        XCTAssertEqual(try inVolume(v, #"ls -ldn /data | sed 's/^\(..........\) *[0-9]* *\([0-9]*\) *\([0-9]*\).*/\1 \2 \3/'"#), "drwxr-x--- 999 998\n",
                       "the volume's top directory keeps its owner and mode")

        // Not empty: refused, unchanged; --force replaces (stale files go).
        _ = try inVolume(v, "echo changed > /data/a.txt; echo stale > /data/stale.txt")
        let refused = try run(["volume", "restore", v, archive])
        XCTAssertEqual(refused.status, 5, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("not empty") && refused.stderr.contains("--force"), refused.stderr)
        XCTAssertEqual(try inVolume(v, "cat /data/a.txt /data/stale.txt"), "changed\nstale\n")
        let dryForce = try ok(["volume", "restore", v, archive, "--force", "--dry-run", "--json"])
        XCTAssertEqual(try json(dryForce.stdout)["replaced"] as? Bool, true)
        XCTAssertEqual(try inVolume(v, "cat /data/a.txt"), "changed\n")
        let forced = try ok(["volume", "restore", v, archive, "--force", "--json"])
        let fj = try json(forced.stdout)
        XCTAssertEqual(fj["replaced"] as? Bool, true)
        XCTAssertEqual(fj["created"] as? Bool, false)
        XCTAssertEqual(try inVolume(v, "cd /data && ls -laR . | grep -v '^total' | sed 's/ [A-Z][a-z][a-z] .*:[0-9][0-9] / /'; cat a.txt sub/deeper/b.txt .hidden; wc -c < blob"), before)

        // Backup over an existing file: refused unless --force; a plain backup works.
        let second = workDir + "/second.tgz"
        try ok(["volume", "backup", v, second])
        let exists = try run(["volume", "backup", v, second])
        XCTAssertEqual(exists.status, 5, exists.stderr)
        try ok(["volume", "backup", v, second, "--force"])
        XCTAssertEqual(filesIn(workDir), ["data.tar.gz", "second.tgz"])

        // A missing archive: exit 4, nothing created; a file that is not gzip: exit 2.
        let other = vol("other")
        let noArchive = try run(["volume", "restore", other, workDir + "/missing.tar.gz"])
        XCTAssertEqual(noArchive.status, 4, noArchive.stderr)
        try "not an archive".write(toFile: workDir + "/bogus.tar.gz", atomically: true, encoding: .utf8)
        let bogus = try run(["volume", "restore", other, workDir + "/bogus.tar.gz"])
        XCTAssertEqual(bogus.status, 2, bogus.stderr)
        XCTAssertFalse(try volumeExists(other))
    }

    /// A backup whose helper fails (an image without tar) leaves no file, no temporary file
    /// and no helper container; a restore that fails removes the volume it created.
    func testFailedBackupAndRestoreLeaveNothing() throws {
        let v = vol("fail")
        try ok(["volume", "create", v, "--org", org])
        _ = try inVolume(v, "echo x > /data/x")
        // An image with no programs at all.
        let empty = Tetra.makeTempDir("tetra-empty-image")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try "x".write(toFile: empty + "/marker", atomically: true, encoding: .utf8)
        let emptyImage = "\(prefix)-empty:1"
        extraImages.append(emptyImage)
        let tarTool = try requireTool("tar")
        let tarball = workDir + "/../\(prefix)-image.tar"
        XCTAssertEqual(try Tetra.exec(tarTool, ["-C", empty, "-cf", tarball, "."]).status, 0)
        defer { try? FileManager.default.removeItem(atPath: tarball) }
        try dockerRun(["import", tarball, emptyImage])

        let target = workDir + "/x.tar.gz"
        let failed = try run(["volume", "backup", v, target, "--image", emptyImage])
        XCTAssertEqual(failed.status, 6, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("helper"), failed.stderr)
        XCTAssertEqual(filesIn(workDir), [], "a failed backup leaves no file")
        // delete --backup with a failing backup deletes nothing.
        let del = try run(["volume", "delete", v, "--backup", target, "--image", emptyImage, "--yes"])
        XCTAssertEqual(del.status, 6, del.stderr)
        XCTAssertTrue(try volumeExists(v))
        XCTAssertEqual(filesIn(workDir), [])

        // A truncated archive: the restore fails and the volume it created is removed again.
        try ok(["volume", "backup", v, target, "--image", Self.image])
        let data = try Data(contentsOf: URL(fileURLWithPath: target))
        let truncated = workDir + "/truncated.tar.gz"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        let fresh = vol("fresh")
        let r = try run(["volume", "restore", fresh, truncated, "--image", Self.image])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertFalse(try volumeExists(fresh), "the volume created for a failed restore is removed")
        // Into an existing volume with --force: the old content stays.
        let keep = try run(["volume", "restore", v, truncated, "--image", Self.image, "--force"])
        XCTAssertEqual(keep.status, 1, keep.stderr)
        XCTAssertEqual(try inVolume(v, "ls -A /data; cat /data/x"), "x\nx\n")
    }

    /// A helper image with its own files at /data: they never enter a volume (nocopy), neither
    /// on backup of an empty volume nor on restore into a new one.
    func testHelperImageFilesNeverEnterTheVolume() throws {
        let builder = vol("builder")
        containers.append(builder)
        try dockerRun(["run", "--name", builder, "--network", "none", Self.image, "sh", "-c", "echo junk > /data/junk"])
        let dirty = "\(prefix)-dirty:1"
        extraImages.append(dirty)
        try dockerRun(["commit", builder, dirty])
        let empty = vol("empty")
        try ok(["volume", "create", empty, "--org", org])
        let archive = workDir + "/empty.tar.gz"
        try ok(["volume", "backup", empty, archive, "--image", dirty])
        let listing = try Tetra.exec(try requireTool("tar"), ["-tzf", archive])
        XCTAssertEqual(listing.stdout, "./\n")
        XCTAssertEqual(try inVolume(empty, "ls -A /data"), "")
        let fresh = vol("fresh")
        try ok(["volume", "restore", fresh, archive, "--image", dirty])
        XCTAssertEqual(try inVolume(fresh, "ls -A /data"), "")
    }

    /// A mutation of a volume whose lock another process holds: exit 5 at once, or after
    /// --lock-wait; a dry run takes no lock.
    func testLockedVolumeIsExit5() throws {
        let v = vol("locked")
        try ok(["volume", "create", v, "--org", org])
        // Held by this test process (flock(2) on tetra's lock file): another process to tetra.
        let lockFile = tetra.stateRoot + "/state/locks/volume.\(v).lock"
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        defer { close(fd) }
        let r = try run(["volume", "delete", v, "--yes", "--lock-wait", "0"])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("locked"), r.stderr)
        XCTAssertTrue(try volumeExists(v))
        try ok(["volume", "delete", v, "--dry-run"])
        let waited = try run(["volume", "backup", v, workDir + "/l.tar.gz", "--lock-wait", "300ms"])
        XCTAssertEqual(waited.status, 5, waited.stderr)
        XCTAssertEqual(filesIn(workDir), [])
    }

    /// Ctrl-C during a backup: exit 130, no archive, no temporary file, no helper container.
    func testInterruptedBackupLeavesNothing() throws {
        let v = vol("big")
        try ok(["volume", "create", v, "--org", org])
        _ = try inVolume(v, "head -c 120000000 /dev/urandom > /data/big")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["volume", "backup", v, workDir + "/big.tar.gz", "--image", Self.image]
        process.environment = tetra.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the archive is being written, then interrupt.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !filesIn(workDir).contains(where: { $0.contains(".big.tar.gz.tmp-") }) { usleep(20_000) }
        XCTAssertTrue(filesIn(workDir).contains(where: { $0.contains(".big.tar.gz.tmp-") }), "the backup never started writing")
        usleep(200_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertEqual(filesIn(workDir), [], "an interrupted backup leaves no file")
        // The helper container is gone (tearDown also checks every helper of this test).
        let ps = try dockerRun(["ps", "-a", "--filter", "label=tetra.helper", "--filter", "volume=\(v)", "-q"])
        XCTAssertEqual(ps.stdout, "")
    }

    /// prune --dry-run lists the org's unused volumes and changes nothing; prune needs --yes;
    /// prune removes them and keeps used ones and other orgs' volumes.
    func testPruneDryRunThenPrune() throws {
        let unused1 = vol("p1"), unused2 = vol("p2"), used = vol("pused"), foreign = vol("pforeign")
        for v in [unused1, unused2, used] { try ok(["volume", "create", v, "--org", org]) }
        try ok(["volume", "create", foreign, "--org", otherOrg])
        let holder = vol("holder")
        containers.append(holder)
        try dockerRun(["create", "--name", holder, "--network", "none", "-v", "\(used):/data", Self.image, "true"])

        let dry = try ok(["volume", "prune", "--org", org, "--dry-run", "--json"])
        let dj = try json(dry.stdout)
        XCTAssertEqual(dj["removed"] as? [String], [unused1, unused2])
        XCTAssertEqual(dj["dry_run"] as? Bool, true)
        let dryText = try ok(["volume", "prune", "--org", org, "--dry-run"]).stdout
        XCTAssertEqual(dryText, "would delete \(unused1)\nwould delete \(unused2)\nwould delete 2 volumes of org \(org)\n")
        for v in [unused1, unused2, used, foreign] { XCTAssertTrue(try volumeExists(v)) }

        let noYes = try run(["volume", "prune", "--org", org])
        XCTAssertEqual(noYes.status, 7, noYes.stderr)
        let noScope = try run(["volume", "prune", "--yes"])
        XCTAssertEqual(noScope.status, 2, noScope.stderr)
        XCTAssertTrue(noScope.stderr.contains("--all"), noScope.stderr)

        let pruned = try ok(["volume", "prune", "--org", org, "--yes"])
        XCTAssertEqual(pruned.stdout, "deleted \(unused1)\ndeleted \(unused2)\ndeleted 2 volumes of org \(org)\n")
        XCTAssertFalse(try volumeExists(unused1))
        XCTAssertFalse(try volumeExists(unused2))
        XCTAssertTrue(try volumeExists(used))
        XCTAssertTrue(try volumeExists(foreign))
        let nothing = try ok(["volume", "prune", "--org", org, "--yes"])
        XCTAssertEqual(nothing.stdout, "no unused volumes of org \(org)\n")
    }

    /// No docker on PATH: exit 6 with a hint; completion stays silent.
    func testMissingDockerIsExit6() throws {
        let emptyBin = Tetra.makeTempDir("tetra-nodocker")
        defer { try? FileManager.default.removeItem(atPath: emptyBin) }
        for args in [["volume", "list", "--all"], ["volume", "create", vol("x")], ["volume", "get", vol("x")]] {
            let r = try run(args, env: ["PATH": emptyBin])
            XCTAssertEqual(r.status, 6, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("docker is not installed") && r.stderr.contains("hint: install the Docker CLI"), r.stderr)
        }
        let j = try run(["volume", "list", "--all", "--json"], env: ["PATH": emptyBin])
        XCTAssertEqual(j.status, 6)
        XCTAssertTrue(j.stderr.contains("\"kind\":\"tool_missing\""), j.stderr)
        let complete = try run(["__complete", "volume", "get", ""], env: ["PATH": emptyBin])
        XCTAssertEqual(complete.status, 0)
        XCTAssertEqual(complete.stdout, "")
    }

    /// DOCKER_HOST is passed to docker: an explicit socket works, a dead one is exit 6 with a
    /// clear message.
    func testDockerHostIsHonoured() throws {
        let v = vol("host")
        let socket = "/var/run/docker.sock"
        if FileManager.default.fileExists(atPath: socket), ProcessInfo.processInfo.environment["DOCKER_HOST"] == nil {
            try ok(["volume", "create", v, "--org", org], env: ["DOCKER_HOST": "unix://\(socket)"])
            XCTAssertTrue(try volumeExists(v))
        }
        let dead = workDir + "/no-such-docker.sock"
        let r = try run(["volume", "list", "--all"], env: ["DOCKER_HOST": "unix://\(dead)"])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertTrue(r.stderr.contains("the Docker daemon at unix://\(dead) does not answer"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hint: start dockerd"), r.stderr)
        let c = try run(["volume", "create", vol("never"), "--org", org], env: ["DOCKER_HOST": "unix://\(dead)"])
        XCTAssertEqual(c.status, 6, c.stderr)
        XCTAssertFalse(try volumeExists(vol("never")))
    }

    /// DOCKER_HOST=ssh://user@host reaches the engine over ssh (the loopback sshd; docker's
    /// own ssh helper, pointed at the fixture's keys through an ssh wrapper on PATH).
    func testDockerHostOverSSH() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let ssh = try requireTool("ssh")
        let bin = Tetra.makeTempDir("tetra-ssh-wrapper")
        defer { try? FileManager.default.removeItem(atPath: bin) }
        try "#!/bin/sh\nexec \(ssh) -F \(sshd.sshConfigFile) \"$@\"\n".write(toFile: bin + "/ssh", atomically: true, encoding: .utf8)
        chmod(bin + "/ssh", 0o755)
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let env = ["PATH": path, "DOCKER_HOST": "ssh://\(sshd.user)@127.0.0.1:\(sshd.port)"]
        let v = vol("ssh")
        let created = try run(["volume", "create", v, "--org", org], env: env)
        XCTAssertEqual(created.status, 0, "\(created.stderr)\nsshd log:\n\(sshd.log)")
        XCTAssertTrue(try volumeExists(v))
        let got = try json(try ok(["volume", "get", v, "--json"], env: env).stdout)
        XCTAssertEqual(got["org"] as? String, org)
        _ = try inVolume(v, "echo over-ssh > /data/f")
        let archive = workDir + "/ssh.tar.gz"
        try ok(["volume", "backup", v, archive, "--image", Self.image], env: env)
        try ok(["volume", "delete", v, "--yes"], env: env)
        try ok(["volume", "restore", v, archive, "--image", Self.image], env: env)
        XCTAssertEqual(try inVolume(v, "cat /data/f"), "over-ssh\n")
    }

    /// Bad names and arguments are refused before docker sees them (exit 2).
    func testBadNamesAndArguments() throws {
        let cases: [[String]] = [
            ["volume", "create", "Bad"], ["volume", "create", "../etc"], ["volume", "create", "a b"],
            ["volume", "create", String(repeating: "a", count: 64)], ["volume", "get", "x/y"],
            ["volume", "delete", "..", "--yes"], ["volume", "backup", "UPPER", workDir + "/u.tar.gz"],
            ["volume", "restore", "no;rm", workDir + "/u.tar.gz"],
            ["volume", "create", vol("ok"), "--env", "Prod"], ["volume", "create", vol("ok"), "--org", "Acme"],
            ["volume", "create", vol("ok"), "--label", "=v"], ["volume", "create", vol("ok"), "--label", "tetra.org=x"],
            ["volume", "create", vol("ok"), "--driver", "-rf"], ["volume", "backup", vol("ok"), workDir + "/x.tar.gz", "--image", "--rm"],
            ["volume", "backup", vol("ok"), workDir + "/x.zip"],
        ]
        for args in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("tetra: error: "), "\(args): \(r.stderr)")
        }
        XCTAssertFalse(try volumeExists(vol("ok")))
        XCTAssertEqual(filesIn(workDir), [])
    }

    /// `tetra __complete` offers volume names from the engine.
    func testCompletionOffersVolumeNames() throws {
        let v = vol("complete")
        try ok(["volume", "create", v, "--org", org])
        let r = try ok(["__complete", "volume", "get", prefix])
        XCTAssertEqual(r.stdout, "\(v)\n")
        let backup = try ok(["__complete", "volume", "backup", prefix + "-comp"])
        XCTAssertEqual(backup.stdout, "\(v)\n")
    }
}
