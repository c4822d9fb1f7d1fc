import Foundation
import XCTest
import TetraCore

/// Integrity of releases and snapshots: drifted releases are not activated, snapshot objects
/// are verified, leftovers are swept.
final class OrgIntegrityE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let data = try XCTUnwrap(text.data(using: .utf8), file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not JSON: \(text)", file: file, line: line)
    }

    /// Pushes two releases of `env` that share conf/nginx.conf (hard links), edits that file
    /// in `current` in place, rolls back and checks the previous content came back.
    func assertRollbackRebuildsDriftedRelease(_ f: OrgFixture, env: String, target: String, sshd: SSHServer? = nil,
                                             file: StaticString = #filePath, line: UInt = #line) throws {
        let robots = f.tetra.stateRoot + "/orgs/acme/files/robots.txt"
        var releases: [String] = []
        for version in ["one", "two"] {
            try "version \(version)\n".write(toFile: robots, atomically: true, encoding: .utf8)
            let r = try f.run(["org", "push", "acme", env])
            XCTAssertEqual(r.status, 0, r.stderr + (sshd?.log ?? ""), file: file, line: line)
            releases.append(try DeployFixture.assertCurrentComplete(target, file: file, line: line))
        }
        // An edit in current, in place: the previous release shares the file.
        let shared = target + "/current/conf/nginx.conf"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: shared), file: file, line: line)
        handle.seekToEndOfFile()
        handle.write(Data("# edited at the target\n".utf8))
        handle.closeFile()
        XCTAssertEqual(f.read(target + "/releases/\(releases[0])/conf/nginx.conf"), "worker_processes 2;\n# edited at the target\n",
                       "the releases share the file", file: file, line: line)
        // status reports the drift of current and of the release a rollback goes back to
        var r = try f.run(["org", "status", "acme", env, "--json"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr, file: file, line: line)
        let status = try XCTUnwrap((try json(r.stdout, file: file, line: line)["environments"] as? [[String: Any]])?.first,
                                   file: file, line: line)
        let back = status["rollback_target"] as? [String: Any]
        XCTAssertEqual(back?["release"] as? String, releases[0], r.stdout, file: file, line: line)
        XCTAssertEqual((back?["drift"] as? [String: Any])?["changed"] as? [String], ["conf/nginx.conf"], file: file, line: line)

        r = try f.run(["org", "rollback", "acme", env, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr + (sshd?.log ?? ""), file: file, line: line)
        let out = try json(r.stdout, file: file, line: line)
        XCTAssertEqual(out["how"] as? String, "re-rendered", file: file, line: line)
        XCTAssertEqual((out["drift"] as? [String: Any])?["changed"] as? [String], ["conf/nginx.conf"], file: file, line: line)
        XCTAssertTrue(r.stderr.contains("no longer matches its manifest"), r.stderr, file: file, line: line)
        XCTAssertEqual(f.read(target + "/current/conf/nginx.conf"), "worker_processes 2;\n", "the drift was not activated",
                       file: file, line: line)
        XCTAssertEqual(f.read(target + "/current/robots.txt"), "version one\n", file: file, line: line)
        r = try f.run(["org", "status", "acme", env])
        XCTAssertEqual(r.status, 0, "clean after the rollback: " + r.stdout + r.stderr, file: file, line: line)
        // The release that was left still shows its drift when it is rolled back to.
        r = try f.run(["org", "rollback", "acme", env, "--to", releases[1], "--json"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertEqual(try json(r.stdout, file: file, line: line)["how"] as? String, "re-rendered", file: file, line: line)
        XCTAssertEqual(f.read(target + "/current/conf/nginx.conf"), "worker_processes 2;\n", file: file, line: line)
        XCTAssertEqual(f.read(target + "/current/robots.txt"), "version two\n", file: file, line: line)
    }

    func testRollbackRebuildsADriftedReleaseLocally() throws {
        let f = try OrgFixture(sshd: nil)
        try assertRollbackRebuildsDriftedRelease(f, env: "dev", target: f.devTarget)
    }

    func testRollbackRebuildsADriftedReleaseOverSSH() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        try assertRollbackRebuildsDriftedRelease(f, env: "staging", target: f.stagingPath, sshd: sshd)
    }

    func testADriftedReleaseWithoutItsSnapshotIsNotActivated() throws {
        let f = try OrgFixture(sshd: nil)
        for version in ["one", "two"] {
            try "version \(version)\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/robots.txt", atomically: true, encoding: .utf8)
            XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        }
        let before = f.currentRelease(f.devTarget)
        try "edited\n".write(toFile: f.devTarget + "/current/conf/nginx.conf", atomically: false, encoding: .utf8)
        DeployFixture.forceRemove(f.tetra.stateRoot + "/state/snapshots")
        let r = try f.run(["org", "rollback", "acme", "dev"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("has drifted (conf/nginx.conf)"), r.stderr)
        XCTAssertEqual(f.currentRelease(f.devTarget), before, "current was not switched")
    }

    func testATamperedSnapshotObjectIsNamedByRollbackAndDoctor() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1)
        var releases: [String] = []
        for version in ["one", "two", "three"] {
            try "version \(version)\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/robots.txt", atomically: true, encoding: .utf8)
            XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
            releases.append(try DeployFixture.assertCurrentComplete(f.devTarget))
        }
        var r = try f.run(["doctor"])
        XCTAssertFalse(r.stdout.contains("corrupt"), r.stdout)
        // The object of "version one\n" is replaced by other content.
        let hash = SHA256.hex(of: "version one\n")
        let object = f.tetra.stateRoot + "/state/snapshots/objects/" + hash.prefix(2) + "/" + hash
        XCTAssertTrue(FileManager.default.fileExists(atPath: object))
        chmod(object, 0o644)
        try "version evil\n".write(toFile: object, atomically: false, encoding: .utf8)

        r = try f.run(["org", "rollback", "acme", "dev", "--to", releases[0]])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(object) && r.stderr.contains("corrupt"), r.stderr)
        XCTAssertEqual(f.currentRelease(f.devTarget), releases[2])
        XCTAssertEqual(f.read(f.devTarget + "/current/robots.txt"), "version three\n")

        r = try f.run(["doctor", "--json"])
        XCTAssertEqual(r.status, 1, r.stdout)
        let checks = try XCTUnwrap(try json(r.stdout)["checks"] as? [[String: Any]])
        let bad = checks.filter { ($0["status"] as? String) == "problem" && (($0["detail"] as? String) ?? "").contains(object) }
        XCTAssertEqual(bad.count, 1, r.stdout)
    }

    func testTempObjectsOfKilledRunsAreSwept() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        // A pid that is gone: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let tmp = f.tetra.stateRoot + "/state/snapshots/objects/tmp"
        for name in ["\(child.processIdentifier)-0123456789abcdef", "obj-\(child.processIdentifier)-0123456789abcdef"] {
            try "half an object".write(toFile: tmp + "/" + name, atomically: false, encoding: .utf8)
        }
        let mine = "obj-\(getpid())-0123456789abcdef" // a live process's temp stays
        try "in use".write(toFile: tmp + "/" + mine, atomically: false, encoding: .utf8)
        try "changed\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/robots.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [mine])
    }
}

/// `org pull ENV --write` never overwrites a local change silently.
final class OrgPullConflictE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func testPullWriteRefusesLocalChangesUnlessForced() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        // At the target: two files changed, one added.
        try "User-agent: target\n".write(toFile: f.devTarget + "/current/robots.txt", atomically: true, encoding: .utf8)
        try "worker_processes 8;\n".write(toFile: f.devTarget + "/current/conf/nginx.conf", atomically: true, encoding: .utf8)
        try "added at the target\n".write(toFile: f.devTarget + "/current/extra.txt", atomically: true, encoding: .utf8)
        // Locally: robots.txt and extra.txt changed since the release was made; nginx.conf not.
        try "User-agent: local\n".write(toFile: files + "/robots.txt", atomically: true, encoding: .utf8)
        try "made here too\n".write(toFile: files + "/extra.txt", atomically: true, encoding: .utf8)

        var r = try f.run(["org", "pull", "acme", "dev", "--write"])
        XCTAssertEqual(r.status, 5, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("files/extra.txt") && r.stderr.contains("files/robots.txt"), r.stderr)
        XCTAssertFalse(r.stderr.contains("nginx.conf"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--force"), r.stderr)
        // nothing written
        XCTAssertEqual(f.read(files + "/robots.txt"), "User-agent: local\n")
        XCTAssertEqual(f.read(files + "/conf/nginx.conf"), "worker_processes 2;\n")
        XCTAssertEqual(f.read(files + "/extra.txt"), "made here too\n")

        r = try f.run(["org", "pull", "acme", "dev", "--force"])
        XCTAssertEqual(r.status, 2, r.stderr)

        r = try f.run(["org", "pull", "acme", "dev", "--write", "--force", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(out["overwritten"] as? [String], ["extra.txt", "robots.txt"])
        XCTAssertEqual(f.read(files + "/robots.txt"), "User-agent: target\n")
        XCTAssertEqual(f.read(files + "/conf/nginx.conf"), "worker_processes 8;\n")
        XCTAssertEqual(f.read(files + "/extra.txt"), "added at the target\n")
    }

    func testPullWriteWithoutLocalChangesWritesAndAFileAlreadyTheSameIsSkipped() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        try "User-agent: target\n".write(toFile: f.devTarget + "/current/robots.txt", atomically: true, encoding: .utf8)
        try "worker_processes 8;\n".write(toFile: f.devTarget + "/current/conf/nginx.conf", atomically: true, encoding: .utf8)
        try "worker_processes 8;\n".write(toFile: files + "/conf/nginx.conf", atomically: true, encoding: .utf8)
        let r = try f.run(["org", "pull", "acme", "dev", "--write", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(out["written"] as? [String], ["robots.txt"])
        XCTAssertEqual(f.read(files + "/robots.txt"), "User-agent: target\n")
    }
}

/// Corrupt state is detected and named; caches are rebuilt.
final class OrgCorruptStateE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func testGarbageReleaseMetadataIsNotClean() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        XCTAssertEqual(try f.run(["org", "status", "acme", "dev"]).status, 0)
        let meta = f.devTarget + "/current/.tetra-release.toml"
        let release = try XCTUnwrap(f.currentRelease(f.devTarget))
        try "garbage = = =\n".write(toFile: meta, atomically: true, encoding: .utf8)
        let r = try f.run(["org", "status", "acme", "dev"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("releases/\(release)/.tetra-release.toml:1:"), r.stdout)
        XCTAssertFalse(r.stdout.contains("clean"), r.stdout)
    }

    func testCorruptHistoryAndAuditLinesAreNamed() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        let local = f.tetra.stateRoot + "/state/history/acme.jsonl"
        let remote = f.devTarget + "/.tetra/history.jsonl"
        let audit = f.tetra.stateRoot + "/state/audit.jsonl"
        for path in [local, remote, audit] {
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path), path)
            handle.seekToEndOfFile()
            handle.write(Data("{not json\n".utf8))
            handle.closeFile()
        }
        func lineCount(_ path: String) -> Int { f.read(path).split(separator: "\n").count }
        var r = try f.run(["org", "history", "acme", "dev"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(local):\(lineCount(local)): corrupt line"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(remote):\(lineCount(remote)): corrupt line"), r.stderr)
        let auditLines = lineCount(audit)
        r = try f.run(["audit"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(audit):\(auditLines): corrupt line"), r.stderr)
    }

    func testAWrongHashInTheStatCacheIsNotTrustedAndTheSnapshotIsRestorable() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        let first = try XCTUnwrap(f.currentRelease(f.devTarget))
        let cache = f.tetra.stateRoot + "/state/snapshots/cache/acme.tsv"
        // robots.txt's row gets the hash of nginx.conf (an object that exists) or of nothing.
        for replacement in [SHA256.hex(of: "worker_processes 2;\n"), String(repeating: "0", count: 64)] {
            let rows = f.read(cache).split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                line.hasSuffix("\tfiles/robots.txt") ? replacement + line.dropFirst(64) : String(line)
            }
            try rows.joined(separator: "\n").write(toFile: cache, atomically: true, encoding: .utf8)
            try "changed\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/conf/nginx.conf", atomically: true, encoding: .utf8)
            let r = try f.run(["org", "push", "acme", "dev"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(f.read(f.devTarget + "/current/robots.txt"), "User-agent: *\n")
            try "worker_processes 2;\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/conf/nginx.conf", atomically: true, encoding: .utf8)
        }
        // Every snapshot recorded can be restored: the first release (pruned) re-renders.
        let r = try f.run(["org", "rollback", "acme", "dev", "--to", first])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(f.read(f.devTarget + "/current/robots.txt"), "User-agent: *\n")
        XCTAssertEqual(try f.run(["doctor"]).stdout.contains("corrupt"), false)
    }

    func testACorruptSnapshotManifestIsNamedWithItsLine() throws {
        let f = try OrgFixture(sshd: nil, keepDev: 1)
        var snapshots: [String] = [], releases: [String] = []
        for version in ["one", "two", "three"] {
            try "version \(version)\n".write(toFile: f.tetra.stateRoot + "/orgs/acme/files/robots.txt", atomically: true, encoding: .utf8)
            let r = try f.run(["org", "push", "acme", "dev", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            snapshots.append(try XCTUnwrap(out["snapshot"] as? String))
            releases.append(try XCTUnwrap(out["release"] as? String))
        }
        let manifest = f.tetra.stateRoot + "/state/snapshots/manifests/" + snapshots[0]
        chmod(manifest, 0o600)
        try (f.read(manifest) + "garbage\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        let lines = f.read(manifest).split(separator: "\n").count
        let r = try f.run(["org", "rollback", "acme", "dev", "--to", releases[0]])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(manifest):\(lines):"), r.stderr)
        XCTAssertEqual(f.currentRelease(f.devTarget), releases[2])
    }

    func testAFilesSymlinkGetsOneAnswerFromDryRunDiffAndPush() throws {
        let f = try OrgFixture(sshd: nil)
        XCTAssertEqual(try f.run(["org", "push", "acme", "dev"]).status, 0)
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        let elsewhere = f.root + "/real-files"
        try FileManager.default.moveItem(atPath: files, toPath: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: files, withDestinationPath: elsewhere)
        for args in [["org", "push", "acme", "dev", "--dry-run"], ["org", "diff", "acme", "dev"], ["org", "push", "acme", "dev"]] {
            let r = try f.run(args)
            XCTAssertEqual(r.status, 2, args.joined(separator: " ") + ": " + r.stdout + r.stderr)
            XCTAssertTrue(r.stderr.contains("'files' is a symbolic link"), r.stderr)
            XCTAssertFalse(r.stdout.contains("- robots.txt"), r.stdout)
        }
    }
}

/// Deletes leave no empty directories behind in releases.
final class OrgEmptyDirectoryE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func testARemovedFilesDirectoryIsGoneFromTheNextReleaseOverSSHDelta() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        let files = f.tetra.stateRoot + "/orgs/acme/files"
        try FileManager.default.createDirectory(atPath: files + "/deep/er", withIntermediateDirectories: true)
        try "b\n".write(toFile: files + "/deep/er/b.txt", atomically: true, encoding: .utf8)
        var r = try f.run(["org", "push", "acme", "staging"])
        XCTAssertEqual(r.status, 0, r.stderr + sshd.log)
        try FileManager.default.removeItem(atPath: files + "/deep")
        r = try f.run(["org", "push", "acme", "staging", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr + sshd.log)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(out["transport"] as? String, "delta", "a small change goes as a delta")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.stagingPath + "/current/deep"))
    }
}

final class EnvNamesE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
    }

    func testEnvListReportsInvalidNamesAsProblems() throws {
        let f = try OrgFixture(sshd: nil)
        let orgFile = f.tetra.stateRoot + "/orgs/acme/org.toml"
        try (f.read(orgFile) + "\n[environments.\"Bad Name\"]\ntarget = \"/tmp/nowhere\"\n").write(toFile: orgFile, atomically: true, encoding: .utf8)
        let r = try f.run(["env", "list", "--org", "acme", "--json"])
        XCTAssertEqual(r.status, 3, r.stderr)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let names = (out["environments"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        XCTAssertEqual(Set(names), ["dev", "staging", "prod"])
        let problems = try XCTUnwrap(out["problems"] as? [String])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].contains("org.toml:") && problems[0].contains("invalid environment name"), problems[0])
        XCTAssertTrue(r.stderr.contains("Bad Name"), r.stderr)
    }
}
