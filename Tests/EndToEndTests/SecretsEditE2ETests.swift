import Foundation
import XCTest

/// `secret edit` with real age and editors that are scripts: the decrypted text lives in a
/// 0600 file of a private 0700 directory (on /dev/shm here), removed after a save, after an
/// editor failure and after Ctrl-C.
final class SecretsEditE2ETests: XCTestCase {
    var f: SecretsFixture!

    override func setUpWithError() throws { f = try SecretsFixture() }
    override func tearDown() { f = nil }

    /// An editor: a shell script that records the path it was given in MARKER, then runs `body`.
    func editor(_ name: String, _ body: String) throws -> (path: String, marker: String) {
        let path = f.work + "/\(name).sh", marker = f.work + "/\(name).path"
        try "#!/bin/sh\nprintf '%s' \"$1\" > \(marker)\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return (path, marker)
    }

    func editedPath(_ marker: String) -> String? {
        (try? String(contentsOfFile: marker, encoding: .utf8)).flatMap { $0.isEmpty ? nil : $0 }
    }

    func testEditSavesAndRemovesThePlaintext() throws {
        let value = SecretsE2ETests.value("edit")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        let e = try editor("add", "printf 'NEW_KEY=fresh\\n' >> \"$1\"")
        let r = try f.ok(["secret", "edit", "--json"], env: ["EDITOR": e.path, "VISUAL": ""])
        XCTAssertTrue(r.stdout.contains("\"name\" : \"NEW_KEY\""), r.stdout)
        XCTAssertEqual(try f.decrypt(f.orgDir + "/secrets.env.age", key: 1).stdout, "DB_PASS=\(value)\nNEW_KEY=fresh\n")
        let edited = try XCTUnwrap(editedPath(e.marker))
        if FileManager.default.fileExists(atPath: "/dev/shm") { XCTAssertTrue(edited.hasPrefix("/dev/shm/tetra-secret-"), edited) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: (edited as NSString).deletingLastPathComponent), "the private directory is gone")
        f.assertNoLeak(value)
    }

    func testEditorFailureChangesNothingAndLeavesNothing() throws {
        let value = SecretsE2ETests.value("fail")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        let before = f.bytes(f.orgDir + "/secrets.env.age")
        let e = try editor("fail", "printf 'DB_PASS=changed\\n' > \"$1\"; exit 3")
        let r = try f.run(["secret", "edit", "--org", "acme"], env: ["EDITOR": e.path, "VISUAL": ""])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertEqual(f.bytes(f.orgDir + "/secrets.env.age"), before)
        let edited = try XCTUnwrap(editedPath(e.marker))
        XCTAssertFalse(FileManager.default.fileExists(atPath: (edited as NSString).deletingLastPathComponent))
        f.assertNoLeak(value)
    }

    /// Ctrl-C (SIGINT to tetra) while the editor runs: exit 130, the editor gone, the
    /// private directory gone, the encrypted file as it was. While the editor runs, the
    /// value is in no process's argv and only in the private 0600 file.
    func testCtrlCDuringEditLeavesNothingBehind() throws {
        let value = SecretsE2ETests.value("sigint")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        let before = f.bytes(f.orgDir + "/secrets.env.age")
        let e = try editor("sleepy", "exec sleep 30")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["secret", "edit", "--org", "acme"]
        process.environment = f.t.environment.merging(["EDITOR": e.path, "VISUAL": ""]) { $1 }
        process.standardInput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        XCTAssertTrue(waitFor(10) { editedPath(e.marker) != nil }, "the editor started")
        let edited = try XCTUnwrap(editedPath(e.marker))
        let dir = (edited as NSString).deletingLastPathComponent
        XCTAssertEqual(f.mode(dir), 0o700)
        XCTAssertEqual(f.mode(edited), 0o600)
        XCTAssertTrue(try String(contentsOfFile: edited, encoding: .utf8).contains(value))
        let editorPID = Proc.all().first { Proc.cmdline($0).hasPrefix("sleep 30") && Proc.stat($0).map { Int32($0[1]) == process.processIdentifier } == true }
        f.assertNoLeak(value, allowed: [edited], processes: [process.processIdentifier])
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        f.outputs.append(stderr)
        XCTAssertEqual(process.terminationStatus, 130, stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "the private directory is removed")
        if let editorPID { XCTAssertTrue(waitFor(5) { !Proc.alive(editorPID) }, "the editor is stopped") }
        XCTAssertEqual(f.bytes(f.orgDir + "/secrets.env.age"), before)
        f.assertNoLeak(value)
    }
}

extension SecretsEditE2ETests {
    /// On a terminal (a real pty), `secret set` prompts without echo: the typed value is not
    /// in what the terminal shows, and it is stored.
    func testPromptOnATerminalDoesNotEcho() throws {
        let python = try requireTool("python3")
        let value = SecretsE2ETests.value("tty")
        let driver = f.work + "/ttydrive.py"
        try """
        import os, pty, sys, time
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(sys.argv[1], sys.argv[1:])
        seen = b""
        deadline = time.time() + 20
        while b"value of" not in seen and time.time() < deadline:
            seen += os.read(fd, 1024)
        time.sleep(0.2)
        os.write(fd, os.environ["TYPED"].encode() + b"\\r")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(seen.decode(errors="replace"))
        sys.exit(os.waitstatus_to_exitcode(status))
        """.write(toFile: driver, atomically: true, encoding: .utf8)
        let r = try Tetra.exec(python, [driver, Tetra.binary, "secret", "set", "TTY_TOKEN", "--org", "acme"],
                               env: f.t.environment.merging(["TYPED": value]) { $1 })
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("value of TTY_TOKEN: "), r.stdout)
        XCTAssertFalse(r.stdout.contains(value), "the terminal did not echo the value: \(r.stdout)")
        XCTAssertEqual(try f.decrypt(f.orgDir + "/secrets.env.age", key: 0).stdout, "TTY_TOKEN=\(value)\n")
        f.assertNoLeak(value, processes: [])
    }
}

extension SecretsEditE2ETests {
    /// A tetra killed with SIGKILL during an edit cannot clean up: the next edit removes the
    /// private directory it left.
    func testDirectoryOfAKilledEditIsSweptByTheNextOne() throws {
        let value = SecretsE2ETests.value("kill")
        try f.ok(["secret", "set", "DB_PASS"], stdin: value)
        let e = try editor("stuck", "exec sleep 30")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = ["secret", "edit", "--org", "acme"]
        process.environment = f.t.environment.merging(["EDITOR": e.path, "VISUAL": ""]) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        XCTAssertTrue(waitFor(10) { editedPath(e.marker) != nil }, "the editor started")
        let dir = (try XCTUnwrap(editedPath(e.marker)) as NSString).deletingLastPathComponent
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir), "left behind by the killed run")
        let again = try editor("noop", "true")
        try f.ok(["secret", "edit"], env: ["EDITOR": again.path, "VISUAL": ""])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "swept by the next edit")
        f.assertNoLeak(value)
    }
}
