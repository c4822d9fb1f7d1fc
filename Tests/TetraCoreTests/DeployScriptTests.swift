import Foundation
import XCTest
@testable import TetraCore

/// The remote scripts, run by a real `sh` exactly as ssh would hand them to the remote login
/// shell (`sh -c <the one string>`), against a temporary directory.
final class DeployScriptTests: XCTestCase {
    var root = ""
    var paths: RemotePaths { RemotePaths(root: root) }
    let runner = SystemProcessRunner(environment: ProcessInfo.processInfo.environment)
    let id1 = try! ReleaseID("20261121T160301Z-3f2a9c1")
    let id2 = try! ReleaseID("20261121T170000Z-0000001")

    override func setUpWithError() throws {
        let base = NSTemporaryDirectory() + "scripts-\(UUID().uuidString.prefix(8))"
        // '=' and ',' are allowed in remote paths and are quoted by ShellQuote.
        root = base + "/srv/ac=me,1"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: base) }
    }

    /// What the remote side does with the ssh argument: the login shell runs it.
    func run(_ script: RemoteScript, input: Data? = nil) throws -> ProcessResult {
        try runner.run(ProcessRequest("/bin/sh", ["-c", script.sshArgument], input: input))
    }

    func record(_ token: String, host: String = "h1") -> TargetLockRecord {
        TargetLockRecord(token: token, pid: 42, host: host, user: "deploy", command: "tetra org push 'acme' \"prod\" $(x)",
                         time: Date(timeIntervalSince1970: 1_795_276_981), ttl: 600)
    }

    func testScriptsQuoteEveryDataWord() {
        let p = RemotePaths(root: "/srv/a=b")
        XCTAssertEqual(RemoteScripts.removePartial(p, id1).text, "rm -rf '/srv/a=b/releases/20261121T160301Z-3f2a9c1.partial'")
        XCTAssertEqual(RemoteScripts.unlock(p, token: "abc").text,
                       "if grep -q -F -e '\"token\":\"abc\"' '/srv/a=b/.tetra/lock' 2>/dev/null; then rm -f '/srv/a=b/.tetra/lock'; fi\n"
                           + "rm -f '/srv/a=b/.tetra/alive.abc'")
        XCTAssertEqual(RemoteScripts.removePartial(RemotePaths(root: "/srv/plain"), id1).sshArgument,
                       "sh -c 'rm -rf /srv/plain/releases/20261121T160301Z-3f2a9c1.partial'")
    }

    func testLockAcquireHeldBreakAndUnlock() throws {
        // Leftovers of a crash, to be cleaned by whoever takes the lock.
        try FileManager.default.createDirectory(atPath: root + "/releases/20261121T150000Z-1234567.partial/d", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/current.tmp", withDestinationPath: "releases/x")
        let first = record("1111111111111111")
        let r1 = try run(RemoteScripts.tryLock(paths, record: first))
        XCTAssertEqual(r1.status, 0, r1.stderrString)
        let lines = RemoteOutput.lines(r1.stdout)
        XCTAssertTrue(lines.contains("@@tetra:acquired"), r1.stdoutString)
        XCTAssertEqual(RemoteOutput.state(lines)?.partials, ["20261121T150000Z-1234567.partial"], "listed, then removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/releases/20261121T150000Z-1234567.partial"))
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/current.tmp"))
        XCTAssertEqual(TargetLockRecord.parse(try String(contentsOfFile: paths.lock, encoding: .utf8)), first)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: paths.meta), ["lock"], "no temporary file left")

        let second = record("2222222222222222")
        let r2 = try run(RemoteScripts.tryLock(paths, record: second))
        let held = RemoteOutput.lines(r2.stdout)
        XCTAssertTrue(held.contains("@@tetra:held"), r2.stdoutString)
        let start = held.firstIndex(of: "@@tetra:held")! + 1
        let end = held.firstIndex(of: "@@tetra:end-held")!
        XCTAssertEqual(TargetLockRecord.parse(held[start..<end].joined(separator: "\n")), first)

        // Break: only the lock with the token we judged stale.
        XCTAssertTrue(try run(RemoteScripts.breakLock(paths, token: "9999999999999999", asideSuffix: "a1")).stdoutString.contains("@@tetra:changed"))
        XCTAssertEqual(TargetLockRecord.parse(try String(contentsOfFile: paths.lock, encoding: .utf8)), first, "put back")
        XCTAssertTrue(try run(RemoteScripts.breakLock(paths, token: first.token, asideSuffix: "a2")).stdoutString.contains("@@tetra:broken"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.lock))
        XCTAssertTrue(try run(RemoteScripts.breakLock(paths, token: first.token, asideSuffix: "a3")).stdoutString.contains("@@tetra:gone"))

        // Unlock removes only our own lock.
        _ = try run(RemoteScripts.tryLock(paths, record: second))
        _ = try run(RemoteScripts.unlock(paths, token: first.token))
        XCTAssertTrue(FileManager.default.fileExists(atPath: paths.lock))
        _ = try run(RemoteScripts.unlock(paths, token: second.token))
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.lock))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: paths.meta), [])
    }

    func testLockDirectoryIsNeverTakenForOurs() throws {
        try FileManager.default.createDirectory(atPath: paths.lock, withIntermediateDirectories: true)
        let r = try run(RemoteScripts.tryLock(paths, record: record("3333333333333333")))
        XCTAssertTrue(RemoteOutput.lines(r.stdout).contains("@@tetra:held"), r.stdoutString + r.stderrString)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: paths.lock), [])
    }

    func testCommitSwitchesAppendsPrunesUnlocksAndNeverEvaluatesData() throws {
        let fm = FileManager.default
        let canary = root + "/PWNED"
        _ = try run(RemoteScripts.tryLock(paths, record: record("4444444444444444")))
        // The upload (after the lock: taking it removes any partial).
        try fm.createDirectory(atPath: paths.partial(id2) + "/etc", withIntermediateDirectories: true)
        try "new".write(toFile: paths.partial(id2) + "/etc/app.conf", atomically: false, encoding: .utf8)
        try fm.createDirectory(atPath: paths.release(id1), withIntermediateDirectories: true)
        let old = try ReleaseID("20261120T000000Z-aaaaaaa")
        try fm.createDirectory(atPath: paths.release(old) + "/x", withIntermediateDirectories: true)
        try "f".write(toFile: paths.release(old) + "/x/f", atomically: false, encoding: .utf8)
        chmod(paths.release(old) + "/x", 0o555) // a read-only directory in the pruned release
        try fm.createSymbolicLink(atPath: paths.current, withDestinationPath: "releases/" + id1.rawValue)

        let nasty = "{\"message\":\"it's $(touch \(canary)) `touch \(canary)` \\\\ %s %n \\n ; rm -rf / #\"}"
        let plan = CommitPlan(finalize: id2, activate: id2, historyLine: nasty, prune: [old], unlockToken: "4444444444444444")
        let r = try run(RemoteScripts.commit(paths, plan))
        XCTAssertEqual(r.status, 0, r.stderrString)
        let lines = RemoteOutput.lines(r.stdout)
        XCTAssertTrue(lines.contains("@@tetra:committed"), r.stdoutString)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id2.rawValue)
        XCTAssertEqual(try String(contentsOfFile: root + "/current/etc/app.conf", encoding: .utf8), "new")
        XCTAssertEqual(try String(contentsOfFile: paths.history, encoding: .utf8), nasty + "\n", "byte for byte")
        XCTAssertFalse(fm.fileExists(atPath: canary), "nothing in the data was run")
        XCTAssertFalse(fm.fileExists(atPath: paths.release(old)), "pruned: out of releases/ at once")
        // ... and deleted by the background job
        let deadline = Date().addingTimeInterval(10)
        while ((try? fm.contentsOfDirectory(atPath: paths.trash)) ?? []).isEmpty == false, Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: paths.trash), [], "the trash is emptied")
        XCTAssertFalse(fm.fileExists(atPath: paths.partial(id2)))
        XCTAssertFalse(fm.fileExists(atPath: paths.lock))
        XCTAssertFalse(fm.fileExists(atPath: paths.currentTmp))

        // Activate (no finalize): back to id1.
        let back = try run(RemoteScripts.commit(paths, CommitPlan(finalize: nil, activate: id1, historyLine: "{}", prune: [], unlockToken: nil)))
        XCTAssertEqual(back.status, 0)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id1.rawValue)

        // A missing release: exit 4, current unchanged. An existing one: exit 3.
        let missing = try ReleaseID("20300101T000000Z-0000000")
        XCTAssertEqual(try run(RemoteScripts.commit(paths, CommitPlan(finalize: nil, activate: missing, historyLine: "{}", prune: [],
                                                                        unlockToken: nil))).status, 4)
        try fm.createDirectory(atPath: paths.partial(id1), withIntermediateDirectories: true)
        XCTAssertEqual(try run(RemoteScripts.commit(paths, CommitPlan(finalize: id1, activate: id1, historyLine: "{}", prune: [],
                                                                        unlockToken: nil))).status, 3)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id1.rawValue)
        XCTAssertEqual(try String(contentsOfFile: paths.history, encoding: .utf8), nasty + "\n{}\n")
    }

    func testCommitVerifiesTheUploadAgainstItsManifestBeforeSwitching() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: paths.partial(id2) + "/etc", withIntermediateDirectories: true)
        try "good\n".write(toFile: paths.partial(id2) + "/etc/a.conf", atomically: false, encoding: .utf8)
        try "also good\n".write(toFile: paths.partial(id2) + "/b.conf", atomically: false, encoding: .utf8)
        let manifest = try ReleaseManifest.build(from: paths.partial(id2))
        try manifest.text.write(toFile: paths.partial(id2) + "/" + ReleaseManifest.fileName, atomically: false, encoding: .utf8)
        try fm.createDirectory(atPath: paths.release(id1), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: paths.current, withDestinationPath: "releases/" + id1.rawValue)
        try "tampered\n".write(toFile: paths.partial(id2) + "/etc/a.conf", atomically: false, encoding: .utf8)

        let plan = CommitPlan(finalize: id2, activate: id2, historyLine: "{}", prune: [], unlockToken: nil, verify: true)
        let bad = try run(RemoteScripts.commit(paths, plan))
        XCTAssertEqual(bad.status, 5)
        XCTAssertTrue(bad.stderrString.contains("etc/a.conf: FAILED"), bad.stderrString)
        XCTAssertFalse(bad.stderrString.contains("b.conf: OK"), "only failures are shown")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id1.rawValue)
        XCTAssertFalse(fm.fileExists(atPath: paths.history))

        try "good\n".write(toFile: paths.partial(id2) + "/etc/a.conf", atomically: false, encoding: .utf8)
        let good = try run(RemoteScripts.commit(paths, plan))
        XCTAssertEqual(good.status, 0, good.stderrString)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: paths.current), "releases/" + id2.rawValue)
    }

    func testReadFilesHashTreeAndTarRoundTrip() throws {
        let fm = FileManager.default
        let dir = paths.release(id1)
        try fm.createDirectory(atPath: dir + "/a b", withIntermediateDirectories: true)
        try "x\n".write(toFile: dir + "/a b/c.conf", atomically: false, encoding: .utf8)
        try Data([0, 0x0A, 0xFF]).write(to: URL(fileURLWithPath: dir + "/bin"))
        try fm.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "bin")

        let files = RemoteOutput.files(try run(RemoteScripts.readFiles(paths, ["releases/\(id1)/bin", "releases/\(id1)/nope"], mark: "M1")).stdout,
                                       mark: "M1")
        XCTAssertEqual(files, ["releases/\(id1)/bin": Data([0, 0x0A, 0xFF])])

        let hashed = RemoteOutput.hashes(RemoteOutput.lines(try run(RemoteScripts.hashTree(paths, id1)).stdout))
        var local: [String: String] = [:]
        try LocalTransport.hashFiles(dir) { local[$0] = $1 }
        XCTAssertEqual(hashed, local)
        XCTAssertEqual(hashed["link"], "not-a-regular-file", "a symlink at the target counts as a change")
        XCTAssertTrue(try run(RemoteScripts.hashTree(paths, id2)).stdoutString.contains("@@tetra:no-release"))

        let tar = try run(RemoteScripts.tarRelease(paths, id1))
        XCTAssertEqual(tar.status, 0)
        let into = root + "/untarred"
        let untar = try run(RemoteScripts.untar(into: into), input: tar.stdout)
        XCTAssertEqual(untar.status, 0, untar.stderrString)
        XCTAssertEqual(try String(contentsOfFile: into + "/a b/c.conf", encoding: .utf8), "x\n")
    }

    func testInspectOfAMissingTarget() throws {
        let state = RemoteOutput.state(RemoteOutput.lines(try run(RemoteScripts.inspect(RemotePaths(root: root + "/nope"))).stdout))
        XCTAssertEqual(state?.exists, false)
        XCTAssertEqual(state?.releases, [])
        XCTAssertNil(state?.current)
    }

    /// The delta step: a release made of hard links to the previous one minus the removed
    /// files, the manifest rebuilt and checked; a previous release that drifted falls back
    /// and leaves no partial.
    func testDeltaPrepareBuildsFromThePreviousReleaseAndFallsBackOnDrift() throws {
        let prev = root + "/releases/" + id1.rawValue
        try FileManager.default.createDirectory(atPath: prev + "/d e", withIntermediateDirectories: true)
        try "a\n".write(toFile: prev + "/a.txt", atomically: true, encoding: .utf8)
        try "b\n".write(toFile: prev + "/d e/b 'x'.txt", atomically: true, encoding: .utf8)
        let old = ReleaseManifest(files: ["a.txt": SHA256.hex(of: "a\n"), "d e/b 'x'.txt": SHA256.hex(of: "b\n")])
        try old.text.write(toFile: prev + "/" + ReleaseManifest.fileName, atomically: true, encoding: .utf8)
        let new = ReleaseManifest(files: ["a.txt": SHA256.hex(of: "a\n")])
        let drop = SHA256.hex(of: "b\n") + "  d e/b 'x'.txt\n"
        func mode(_ path: String) throws -> String {
            String(((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0), radix: 8)
        }
        // "d e" is left empty by the removal: it goes too
        let shape = "f \(try mode(prev + "/a.txt")) a.txt\n"
        func script(_ shapeHash: String) -> RemoteScript {
            RemoteScripts.deltaPrepare(paths, release: id2, previous: id1, removed: ["d e/b 'x'.txt"], dropLines: drop, addLines: "",
                                       manifestHash: new.contentHash, shapeHash: shapeHash, hasTar: false)
        }
        var r = try run(script(SHA256.hex(of: shape)))
        XCTAssertEqual(r.status, 0, r.stderrString)
        XCTAssertTrue(r.stdoutString.contains("@@tetra:delta-ready"), r.stdoutString + r.stderrString)
        let partial = root + "/releases/" + id2.rawValue + ".partial"
        XCTAssertEqual(try String(contentsOfFile: partial + "/" + ReleaseManifest.fileName, encoding: .utf8), new.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial + "/d e/b 'x'.txt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial + "/d e"), "no empty directory is left")
        XCTAssertTrue(FileManager.default.fileExists(atPath: prev + "/d e/b 'x'.txt"), "the previous release is untouched")
        XCTAssertEqual(try String(contentsOfFile: prev + "/" + ReleaseManifest.fileName, encoding: .utf8), old.text)

        // a wrong shape (e.g. a mode changed) falls back and removes the partial
        r = try run(script(SHA256.hex(of: "other")))
        XCTAssertTrue(r.stdoutString.contains("@@tetra:delta-fallback shape"), r.stdoutString)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))

        // drift in the previous release: the file check fails
        try FileManager.default.removeItem(atPath: prev + "/a.txt")
        try "edited\n".write(toFile: prev + "/a.txt", atomically: true, encoding: .utf8)
        r = try run(script(SHA256.hex(of: shape)))
        XCTAssertTrue(r.stdoutString.contains("@@tetra:delta-fallback verify"), r.stdoutString)
        XCTAssertFalse(r.stdoutString.contains("@@tetra:delta-ready"), r.stdoutString)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))

        // Nothing kept (every file changed): only the changed files are checked, in the new
        // release (here a.txt was to come in the tar stream but did not: its new line does
        // not match the file the partial holds).
        try "a\n".write(toFile: prev + "/a.txt", atomically: true, encoding: .utf8)
        let changed = ReleaseManifest(files: ["a.txt": SHA256.hex(of: "zzz\n")])
        r = try run(RemoteScripts.deltaPrepare(paths, release: id2, previous: id1, removed: ["d e/b 'x'.txt"],
                                               dropLines: drop + SHA256.hex(of: "a\n") + "  a.txt\n", addLines: changed.text,
                                               manifestHash: changed.contentHash, shapeHash: SHA256.hex(of: shape), hasTar: false,
                                               keepsFiles: false))
        XCTAssertTrue(r.stdoutString.contains("@@tetra:delta-fallback verify"), r.stdoutString + r.stderrString)
        XCTAssertFalse(r.stdoutString.contains("@@tetra:delta-ready"), r.stdoutString)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
    }
}
