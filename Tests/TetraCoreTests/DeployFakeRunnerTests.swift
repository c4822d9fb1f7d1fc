import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// The ssh transport's argv and call sequence, against the fail-closed FakeProcessRunner:
/// any call not expected here fails the test.
final class DeployFakeRunnerTests: XCTestCase {
    var tree = ""
    var manifest = ReleaseManifest()
    let prev = try! ReleaseID("20261121T150000Z-aaaaaaa")
    let id = try! ReleaseID("20261121T160301Z-3f2a9c1")
    let target = try! DeployTarget.parse("ssh://deploy@h:2222/srv/acme", sshKey: "/keys/id")
    let sshOptions = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-p", "2222", "-i", "/keys/id", "-o", "IdentitiesOnly=yes",
                      "-o", "UserKnownHostsFile=/kh"]

    override func setUpWithError() throws {
        tree = NSTemporaryDirectory() + "fake-tree-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        try "a = 1\n".write(toFile: tree + "/etc/app.toml", atomically: false, encoding: .utf8)
        try "b\n".write(toFile: tree + "/README", atomically: false, encoding: .utf8)
        manifest = try ReleaseManifest.build(from: tree)
        let dir = tree
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    }

    func manager(_ fake: FakeProcessRunner, transfer: TransportOptions.Transfer = .auto, interrupt: InterruptFlag = InterruptFlag(),
                 progress: any ProgressReporter = SilentProgress(), now: Date = Date()) -> ReleaseManager {
        let context = CoreContext(environment: ["HOME": "/home/t", "USER": "tester"], workingDirectory: "/", stateRoot: "/nonexistent",
                                  now: { now }, runner: fake, progress: progress, interrupt: interrupt,
                                  commandLine: ["tetra", "org", "push", "acme", "prod"])
        var options = TransportOptions(sshExtraOptions: ["-o", "UserKnownHostsFile=/kh"], transfer: transfer, connectionSharing: false)
        options.lockKeeper = false
        return ReleaseManager(target: target, context: context, options: options)
    }

    /// An ssh call to deploy@h whose script contains `marker`.
    static func isSSH(_ req: ProcessRequest, containing marker: String) -> Bool {
        req.executable == "ssh" && req.arguments.suffix(3).first == "--" && req.arguments.suffix(2).first == "deploy@h"
            && (req.arguments.last ?? "").hasPrefix("sh -c '") && (req.arguments.last ?? "").contains(marker)
    }

    func stateOutput(current: ReleaseID?, releases: [ReleaseID], rsync: Bool = true, acquired: Bool = true) -> String {
        (acquired ? "@@tetra:acquired\n" : "") + "@@tetra:state\nexists=yes\n" + (current.map { "current=releases/\($0)\n" } ?? "")
            + (rsync ? "rsync=yes\n" : "") + "sha256sum=yes\n@@tetra:entries\n" + releases.map { $0.rawValue + "\n" }.joined()
            + "@@tetra:end\n"
    }

    func expectLock(_ fake: FakeProcessRunner, rsync: Bool = true) {
        let out = stateOutput(current: prev, releases: [prev], rsync: rsync)
        let options = sshOptions
        fake.expect("ssh lock", executable: "ssh", matching: { req in
            Self.isSSH(req, containing: "ln /srv/acme/.tetra/lock.") && Array(req.arguments.prefix(options.count)) == options
        }, response: .result(ProcessResult(status: 0, stdout: Data(out.utf8))))
    }

    func expectCommit(_ fake: FakeProcessRunner, captured: Captured) {
        let id = self.id
        fake.expect("ssh commit", executable: "ssh", matching: { Self.isSSH($0, containing: "mv -T") },
                    response: .dynamic { req in
                        captured.set(req.arguments.last ?? "")
                        XCTAssertTrue(req.arguments.last!.contains("mv /srv/acme/releases/\(id).partial /srv/acme/releases/\(id)"))
                        return ProcessResult(status: 0, stdout: Data("@@tetra:switched\n@@tetra:committed\n".utf8))
                    })
    }

    func testRsyncDeployArgvAndCallSequence() throws {
        let fake = FakeProcessRunner()
        expectLock(fake)
        let tree = self.tree
        let prev = self.prev
        let id = self.id
        fake.expect("rsync upload", executable: "rsync", matching: { req in
            let a = req.arguments
            return a == ["-rlp", "--checksum", "--stats", "-e",
                         "ssh -o BatchMode=yes -o ConnectTimeout=15 -p 2222 -i /keys/id -o IdentitiesOnly=yes -o UserKnownHostsFile=/kh",
                         "--link-dest=../\(prev)", "--", tree + "/", "deploy@h:/srv/acme/releases/\(id).partial/"]
        }, response: .result(ProcessResult(status: 0, stdout: Data("Number of regular files transferred: 1\nTotal bytes sent: 1,234\n".utf8))))
        let commit = Captured()
        expectCommit(fake, captured: commit)

        let result = try manager(fake).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                              metadata: ReleaseMetadata(org: "acme", env: "prod", snapshot: "s1", created: Date(),
                                                                        by: "tester@h", source: "push"))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(fake.calls.count, 3, "lock, transfer, commit")
        XCTAssertEqual(result.release, id)
        XCTAssertEqual(result.previous, prev)
        XCTAssertEqual(result.transfer, TransferStats(method: "rsync", files: 2, filesSent: 1, filesLinked: nil, bytesSent: 1234))
        let script = try XCTUnwrap(commit.all.first)
        XCTAssertTrue(script.contains("ln -s releases/\(id) /srv/acme/current.tmp && mv -T /srv/acme/current.tmp /srv/acme/current"), script)
        XCTAssertTrue(script.contains("\"action\":\"deploy\""), script)
        XCTAssertTrue(script.contains("\"previous\":\"\(prev)\""), script)
        XCTAssertTrue(script.contains("grep -q -F -e"), "the commit releases the lock")
        XCTAssertTrue(script.contains("sha256sum -c .tetra-manifest.sha256"), "the upload is verified before the switch")
        XCTAssertTrue(script.contains("printf '\\''%s'\\'' '\\''# written by tetra"), "the metadata is an argument: \(script)")
        XCTAssertTrue(script.contains("cat > /srv/acme/releases/\(id).partial/.tetra-manifest.sha256"), script)
        XCTAssertEqual(fake.calls[2].input, Data(manifest.text.utf8), "the manifest goes on stdin")
    }

    func testTarFallbackArgvAndStdin() throws {
        let fake = FakeProcessRunner()
        expectLock(fake, rsync: false)
        let tree = self.tree
        fake.expect("tar create", executable: "tar", matching: { req in
            // The names go to tar on stdin: ".", every directory, then the files, NUL-separated.
            req.arguments == ["-c", "-f", "-", "--no-recursion", "--null", "-C", tree, "-T", "-"]
                && req.input == Data(".\0etc\0README\0etc/app.toml\0".utf8)
        }, response: .result(ProcessResult(status: 0, stdout: Data("TARSTREAM".utf8))))
        let id = self.id
        fake.expect("ssh untar", executable: "ssh", matching: { req in
            Self.isSSH(req, containing: "tar -x -p -f - -C /srv/acme/releases/\(id).partial") && req.input == Data("TARSTREAM".utf8)
        }, response: .result(ProcessResult(status: 0)))
        expectCommit(fake, captured: Captured())
        let result = try manager(fake).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                              metadata: ReleaseMetadata(org: "acme", env: "prod", snapshot: "s1", created: Date(),
                                                                        by: "t@h", source: "push"))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(result.transfer.method, "tar")
        XCTAssertEqual(result.transfer.bytesSent, 9)
    }

    func testCountsOfAnRsyncUploadComeFromItsProgressOutput() throws {
        let fake = FakeProcessRunner()
        expectLock(fake)
        fake.expect("rsync", ["--version"], stdout: "rsync  version 3.2.7  protocol version 31\n")
        fake.expect("rsync upload", executable: "rsync", matching: { $0.arguments.prefix(4) == ["-rlp", "--checksum", "--stats", "--info=progress2"] },
                    response: .result(ProcessResult(status: 0, stdout: Data(("\r  6 75%  0.00kB/s  0:00:00 (xfr#1, to-chk=2/4)"
                        + "\r  6 100%  0.00kB/s  0:00:00 (xfr#1, to-chk=0/4)\nNumber of regular files transferred: 1\nTotal bytes sent: 1,234\n").utf8))))
        expectCommit(fake, captured: Captured())
        let progress = CountingProgress()
        let result = try manager(fake, progress: progress).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                                  metadata: ReleaseMetadata(org: "acme", env: "prod", snapshot: "s1", created: Date(),
                                                                                            by: "t@h", source: "push"))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(result.transfer.bytesSent, 1234)
        let sending = try XCTUnwrap(progress.phases.first { $0.name.hasPrefix("sending to") })
        XCTAssertEqual(sending.files, 2, "the manifest's files")
        XCTAssertTrue(progress.expected.isEmpty, "unchanged files are linked from the previous release: the bytes to send are not known")
        XCTAssertEqual(progress.files, 2, "4 entries checked less '.' and etc/")
        XCTAssertEqual(progress.bytes, 6)
    }

    func testCountsOfATarUploadGoByBatch() throws {
        let fake = FakeProcessRunner()
        expectLock(fake, rsync: false)
        fake.expect("tar create", executable: "tar", matching: { _ in true }, response: .result(ProcessResult(status: 0, stdout: Data("TARSTREAM".utf8))))
        fake.expect("ssh untar", executable: "ssh", matching: { Self.isSSH($0, containing: "tar -x") }, response: .result(ProcessResult(status: 0)))
        expectCommit(fake, captured: Captured())
        let progress = CountingProgress()
        _ = try manager(fake, progress: progress).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                         metadata: ReleaseMetadata(org: "acme", env: "prod", snapshot: "s1", created: Date(),
                                                                                   by: "t@h", source: "push"))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(progress.expected.map(\.bytes), [8], "the files' sizes: 6 + 2 bytes")
        XCTAssertEqual(progress.files, 2)
        XCTAssertEqual(progress.bytes, 8)
    }

    /// Many hosts upload into one phase (a fleet): their increments add up, and no host sets
    /// the phase's totals with its own.
    func testAnUploadThatIsNotThePhasesOnlyOneSetsNoTotals() throws {
        let fake = FakeProcessRunner()
        fake.expect("tar create", executable: "tar", matching: { _ in true }, response: .result(ProcessResult(status: 0, stdout: Data("T".utf8))))
        fake.expect("ssh untar", executable: "ssh", matching: { Self.isSSH($0, containing: "tar -x") }, response: .result(ProcessResult(status: 0)))
        let progress = CountingProgress()
        let context = CoreContext(environment: ["HOME": "/home/t"], workingDirectory: "/", stateRoot: "/x", runner: fake, progress: progress)
        let transport = target.transport(context: context, options: TransportOptions(sshExtraOptions: ["-o", "UserKnownHostsFile=/kh"],
                                                                                    transfer: .tar, connectionSharing: false))
        let request = UploadRequest(tree: tree, manifest: manifest, release: id, previous: nil, state: TargetState(exists: true))
        XCTAssertFalse(request.setsTotals)
        _ = try transport.upload(request)
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertTrue(progress.expected.isEmpty)
        XCTAssertEqual(progress.files, 2)
        XCTAssertEqual(progress.bytes, 8)
    }

    func testDeadHostIsToolErrorWithoutTheScriptInTheMessage() throws {
        let fake = FakeProcessRunner()
        fake.expect("ssh lock", executable: "ssh", matching: { Self.isSSH($0, containing: "ln ") },
                    response: .result(ProcessResult(status: 255, stderr: Data("ssh: connect to host h port 2222: Connection refused\r\n".utf8))))
        XCTAssertThrowsError(try manager(fake).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                      metadata: ReleaseMetadata(org: "a", env: "p", snapshot: "s", created: Date(),
                                                                                by: "t", source: "push"))) { error in
            guard let e = error as? ToolError, case .failed(let argv, let status, _) = e else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode.rawValue, 6)
            XCTAssertEqual(status, 255)
            XCTAssertEqual(argv, ["ssh"] + self.sshOptions + ["--", "deploy@h", "<lock /srv/acme/.tetra/lock>"])
            XCTAssertTrue(e.message.contains("Connection refused"), e.message)
            XCTAssertFalse(e.message.contains("printf"), "the remote script is not shown")
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [], "nothing else was tried")
    }

    func testInterruptedTransferRemovesThePartialThenUnlocks() throws {
        let fake = FakeProcessRunner()
        expectLock(fake)
        fake.expect("rsync", executable: "rsync", matching: { _ in true }, response: .error(CoreError.interrupted))
        let id = self.id
        fake.expect("remove partial", executable: "ssh", matching: { Self.isSSH($0, containing: "rm -rf /srv/acme/releases/\(id).partial") },
                    response: .result(ProcessResult(status: 0)))
        fake.expect("unlock", executable: "ssh", matching: { Self.isSSH($0, containing: "grep -q -F -e") && !$0.arguments.last!.contains("mv ") },
                    response: .result(ProcessResult(status: 0)))
        XCTAssertThrowsError(try manager(fake).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                      metadata: ReleaseMetadata(org: "a", env: "p", snapshot: "s", created: Date(),
                                                                                by: "t", source: "push"))) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testInterruptBeforeTransferNeverStartsIt() throws {
        let fake = FakeProcessRunner()
        let flag = InterruptFlag()
        let out = stateOutput(current: prev, releases: [prev])
        fake.expect("ssh lock", executable: "ssh", matching: { Self.isSSH($0, containing: "ln ") },
                    response: .dynamic { _ in flag.raise(); return ProcessResult(status: 0, stdout: Data(out.utf8)) })
        fake.expect("unlock", executable: "ssh", matching: { Self.isSSH($0, containing: "grep -q -F -e") },
                    response: .result(ProcessResult(status: 0)))
        XCTAssertThrowsError(try manager(fake, interrupt: flag).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                                       metadata: ReleaseMetadata(org: "a", env: "p", snapshot: "s",
                                                                                                 created: Date(), by: "t", source: "push"))) {
            XCTAssertEqual($0 as? CoreError, .interrupted)
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testHeldLockIsExit5AndAnExpiredOneIsBrokenThenRetried() throws {
        let now = Date(timeIntervalSince1970: 1_795_276_981)
        let live = TargetLockRecord(token: "aaaaaaaaaaaaaaaa", pid: 9, host: "ci-7", user: "ci", command: "tetra org push acme prod",
                                    time: now.addingTimeInterval(-60), ttl: 3600)
        let fake = FakeProcessRunner()
        fake.expect("ssh lock", executable: "ssh", matching: { Self.isSSH($0, containing: "ln ") },
                    response: .result(ProcessResult(status: 0, stdout: Data("@@tetra:held\n\(live.jsonLine)\n\n@@tetra:end-held\n".utf8))))
        XCTAssertThrowsError(try manager(fake, now: now).activate(prev)) { error in
            guard let e = error as? CoreError, case .lockHeld(let resource, let holder, _) = e else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode.rawValue, 5)
            XCTAssertEqual(resource, "target ssh://deploy@h:2222/srv/acme")
            XCTAssertEqual(holder, live.holderDescription)
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])

        let expired = TargetLockRecord(token: "bbbbbbbbbbbbbbbb", pid: 9, host: "ci-7", user: "ci", command: "tetra org push acme prod",
                                       time: now.addingTimeInterval(-7200), ttl: 3600)
        let fake2 = FakeProcessRunner()
        fake2.expect("ssh lock", executable: "ssh", matching: { Self.isSSH($0, containing: "ln ") },
                     response: .result(ProcessResult(status: 0, stdout: Data("@@tetra:held\n\(expired.jsonLine)\n@@tetra:end-held\n".utf8))))
        fake2.expect("break", executable: "ssh", matching: { Self.isSSH($0, containing: "bbbbbbbbbbbbbbbb") && $0.arguments.last!.contains("lock.broken.") },
                     response: .result(ProcessResult(status: 0, stdout: Data("@@tetra:broken\n".utf8))))
        let current = try ReleaseID("20261121T170000Z-0000000")
        let acquired = stateOutput(current: current, releases: [prev, current])
        fake2.expect("ssh lock again", executable: "ssh", matching: { Self.isSSH($0, containing: "ln ") },
                     response: .result(ProcessResult(status: 0, stdout: Data(acquired.utf8))))
        fake2.expect("metadata", executable: "ssh", matching: { Self.isSSH($0, containing: "@@tetra:file") },
                     response: .result(ProcessResult(status: 0)))
        let prev = self.prev
        fake2.expect("commit", executable: "ssh", matching: {
            Self.isSSH($0, containing: "mv -T") && !$0.arguments.last!.contains(".partial") && $0.arguments.last!.contains("releases/\(prev)")
                && $0.arguments.last!.contains("broke_lock")
        }, response: .result(ProcessResult(status: 0, stdout: Data("@@tetra:committed\n".utf8))))
        let progress = Recorder()
        let r = try manager(fake2, progress: progress, now: now).activate(prev)
        XCTAssertEqual(fake2.assertAllExpectationsMet(), [])
        XCTAssertEqual(r.brokeLock, expired)
        XCTAssertEqual(r.previous, current)
        XCTAssertTrue(progress.warnings.first?.contains("broke a stale lock") == true, "\(progress.warnings)")
    }

    func testForcedRsyncWhenTheTargetLacksItIsExit6() throws {
        let fake = FakeProcessRunner(installed: ["rsync"])
        expectLock(fake, rsync: false)
        fake.expect("remove partial", executable: "ssh", matching: { Self.isSSH($0, containing: "rm -rf") }, response: .result(ProcessResult(status: 0)))
        fake.expect("unlock", executable: "ssh", matching: { Self.isSSH($0, containing: "grep -q -F -e") }, response: .result(ProcessResult(status: 0)))
        XCTAssertThrowsError(try manager(fake, transfer: .rsync).deploy(renderedTree: tree, manifest: manifest, releaseId: id,
                                                                        metadata: ReleaseMetadata(org: "a", env: "p", snapshot: "s",
                                                                                                  created: Date(), by: "t", source: "push"))) { error in
            guard let e = error as? ToolError, case .notInstalled("rsync", let hint) = e else { return XCTFail("\(error)") }
            XCTAssertTrue(hint?.contains("deploy@h:2222") == true, hint ?? "")
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testConnectionSharingOptions() {
        let context = CoreContext(environment: ["TMPDIR": NSTemporaryDirectory()], workingDirectory: "/", stateRoot: "/x",
                                  runner: FakeProcessRunner())
        let t = target.transport(context: context) as! SSHTransport
        XCTAssertEqual(t.ssh.controlPath, SSHCommand.controlDirectory(temporaryDirectory: NSTemporaryDirectory()).map { $0 + "/%C" })
        XCTAssertTrue(t.ssh.options.contains("ControlMaster=auto"))
        let off = target.transport(context: context, options: TransportOptions(connectionSharing: false)) as! SSHTransport
        XCTAssertNil(off.ssh.controlPath)
        XCTAssertFalse(off.ssh.options.contains("ControlMaster=auto"))
    }
}

final class Recorder: ProgressReporter, @unchecked Sendable {
    private let lock = NSLock()
    private var _warnings: [String] = []
    var warnings: [String] { lock.lock(); defer { lock.unlock() }; return _warnings }
    func phase(_ name: String, files: Int?, bytes: Int64?) {}
    func expect(files: Int?, bytes: Int64?) {}
    func advance(files: Int, bytes: Int64) {}
    func warn(_ message: String) { lock.lock(); _warnings.append(message); lock.unlock() }
}

final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    func set(_ v: String) { lock.lock(); values.append(v); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return values }
}
