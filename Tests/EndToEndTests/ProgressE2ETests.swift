import Foundation
import XCTest

/// The progress display of the built binary (docs/progress.md) on a real pseudo-terminal:
/// stderr is the slave side of a pty (posix_openpt, 120 columns), everything the terminal
/// receives is read raw from the master side; stdout stays a pipe. The harness sets
/// NO_COLOR=1, which asks for plain output, so these runs leave it out.
final class ProgressE2ETests: XCTestCase {
    /// What a command printed: its stdout (a pipe) and the raw bytes its terminal received.
    struct TerminalRun {
        var status: Int32
        var stdout: String
        var terminal: String
    }

    /// Runs the binary with stderr on a new pseudo-terminal (stdin /dev/null, stdout a pipe).
    static func onTerminal(_ args: [String], env: [String: String], columns: UInt16 = 120) throws -> TerminalRun {
        let master = c_posix_openpt(O_RDWR | O_NOCTTY)
        var name = [CChar](repeating: 0, count: 128)
        guard master >= 0, c_grantpt(master) == 0, c_unlockpt(master) == 0, c_ptsname_r(master, &name, name.count) == 0 else {
            throw XCTSkip("no pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        defer { close(master) }
        var size = winsize(ws_row: 20, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        XCTAssertEqual(ioctl(master, UInt(TIOCSWINSZ), &size), 0)
        let slave = open(String(cString: &name), O_RDWR | O_NOCTTY)
        XCTAssertGreaterThanOrEqual(slave, 0)
        // The terminal as tetra sees it: no "\n" to "\r\n" translation, so the raw stream is
        // exactly what tetra wrote.
        var modes = termios()
        tcgetattr(slave, &modes)
        modes.c_oflag &= ~tcflag_t(OPOST)
        tcsetattr(slave, TCSANOW, &modes)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tetra.binary)
        process.arguments = args
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { close(slave); throw error }
        close(slave) // the child has its copy: reading the master ends (EIO) when it exits

        let terminal = DataBox(), stdout = DataBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var bytes = Data()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(master, &buffer, buffer.count)
                if n > 0 { bytes.append(contentsOf: buffer[0..<n]) } else if n < 0 && errno == EINTR { continue } else { break }
            }
            terminal.data = bytes
            done.signal()
        }
        let outHandle = out.fileHandleForReading
        Thread.detachNewThread { stdout.data = outHandle.readDataToEndOfFile(); done.signal() }
        process.waitUntilExit()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return TerminalRun(status: process.terminationStatus, stdout: String(decoding: stdout.data, as: UTF8.self),
                           terminal: String(decoding: terminal.data, as: UTF8.self))
    }

    static let redraw = "\r\u{1B}[2K"

    /// The live lines drawn (each redraw starts with carriage return and erase-line).
    static func lines(_ terminal: String) -> [String] {
        terminal.components(separatedBy: redraw).filter { !$0.isEmpty }
    }

    /// The environment of a terminal session: the harness's, without NO_COLOR.
    static func terminalEnvironment(_ base: [String: String], path: String? = nil) -> [String: String] {
        var env = base
        env.removeValue(forKey: "NO_COLOR")
        env["TERM"] = "xterm-256color"
        if let path { env["PATH"] = path + ":" + (base["PATH"] ?? "/usr/bin:/bin") }
        return env
    }

    /// Asserts the live-line contract: redrawn in place, never a newline, erased at the end,
    /// sizes in human units, never raw byte counts.
    func assertLiveLine(_ run: TerminalRun, file: StaticString = #filePath, line: UInt = #line) {
        let t = run.terminal
        XCTAssertTrue(t.hasPrefix(Self.redraw), "the line is drawn in place: \(t.debugDescription)", file: file, line: line)
        XCTAssertTrue(t.hasSuffix(Self.redraw), "the line is erased before the result: \(t.debugDescription)", file: file, line: line)
        XCTAssertFalse(t.contains("\n"), "nothing scrolls: \(t.debugDescription)", file: file, line: line)
        XCTAssertNil(t.range(of: #"\d{4,} bytes|\d{5,} ?B\b"#, options: .regularExpression), "raw byte counts: \(t.debugDescription)",
                     file: file, line: line)
        for drawn in Self.lines(t) {
            XCTAssertNotNil(drawn.range(of: #"  \d+:\d\d$"#, options: .regularExpression), "elapsed time ends each line: \(drawn)",
                            file: file, line: line)
            XCTAssertLessThan(drawn.count, 120, "fits the terminal: \(drawn)", file: file, line: line)
        }
    }

    /// Files that make a push take seconds through a slow rsync: 40 files of 75 KB (3 MB).
    static func addBulk(_ f: OrgFixture) throws {
        let dir = f.tetra.stateRoot + "/orgs/acme/files/blobs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for i in 0..<40 {
            let text = (0..<1500).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 36).padding(toLength: 49, withPad: "x", startingAt: 0) }
            try (text.joined(separator: "\n") + "\n").write(toFile: dir + "/blob\(i).txt", atomically: false, encoding: .utf8)
        }
    }

    /// A directory whose `rsync` is the real one limited to `kbps` KB/s (slow enough that the
    /// live line is redrawn with a rate).
    static func slowRsync(kbps: Int) throws -> String {
        let real = try requireTool("rsync")
        let dir = DeployFixture.tempDir("tetra-slow-rsync")
        try "#!/bin/sh\nexec \(real) --bwlimit=\(kbps) \"$@\"\n".write(toFile: dir + "/rsync", atomically: true, encoding: .utf8)
        chmod(dir + "/rsync", 0o755)
        return dir
    }

    func testAnSSHPushShowsFilesBytesRateAndElapsedOnOneLine() throws {
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let f = try OrgFixture(sshd: sshd)
        try Self.addBulk(f)
        let env = Self.terminalEnvironment(f.tetra.environment, path: try Self.slowRsync(kbps: 1000))
        let run = try Self.onTerminal(["org", "push", "acme", "staging"], env: env)
        XCTAssertEqual(run.status, 0, run.terminal)
        XCTAssertTrue(run.stdout.contains("staging"), run.stdout)
        assertLiveLine(run)
        let lines = Self.lines(run.terminal)
        XCTAssertTrue(lines.contains { $0.hasPrefix("locking ") }, "\(lines)")
        // "sending to ssh://…  12/44 files  1.2 MB/3 MB  998 KB/s  0:02": done of total, a rate.
        let counted = lines.filter {
            $0.range(of: #"^sending to ssh://\S+  \d+/4\d files  [\d.]+ [KM]?B/3(\.\d)? MB  [\d.]+ [KM]B/s  \d+:\d\d$"#,
                     options: .regularExpression) != nil
        }
        XCTAssertGreaterThanOrEqual(counted.count, 3, "the line is redrawn as the files go: \(lines)")
        let done = counted.compactMap { Int($0.split(separator: "  ")[1].split(separator: "/")[0]) }
        XCTAssertEqual(done, done.sorted(), "the count only grows")
        XCTAssertGreaterThan(done.last ?? 0, 0)
        XCTAssertTrue(lines.contains { $0.hasPrefix("switching current to ") }, "\(lines)")

        // A pull fetches the release: files and bytes received so far (rsync's count).
        let pull = try Self.onTerminal(["org", "pull", "acme", "staging"], env: env)
        XCTAssertEqual(pull.status, 0, pull.terminal)
        assertLiveLine(pull)
        let fetched = Self.lines(pull.terminal).filter {
            $0.range(of: #"^fetching staging@\S+  \d+ files?  [\d.]+ [KM]B  "#, options: .regularExpression) != nil
        }
        XCTAssertFalse(fetched.isEmpty, "\(Self.lines(pull.terminal))")
    }

    func testALocalPushShowsFilesOfTotalAndElapsed() throws {
        let f = try OrgFixture(sshd: nil, extraFiles: 3000)
        let run = try Self.onTerminal(["org", "push", "acme", "dev"], env: Self.terminalEnvironment(f.tetra.environment))
        XCTAssertEqual(run.status, 0, run.terminal)
        assertLiveLine(run)
        let lines = Self.lines(run.terminal)
        XCTAssertTrue(lines.contains { $0.range(of: #"^sending to /\S+  \d+/30\d\d files  "#, options: .regularExpression) != nil },
                      "\(lines)")
    }

    /// Backup and restore of a 30 MB volume (random bytes: the archive is as large): the
    /// backup counts the archive written (its size is not known before), the restore the
    /// archive read of its size.
    func testVolumeBackupAndRestoreCountTheArchive() throws {
        let docker = try requireTool("docker")
        guard try Tetra.exec(docker, ["info", "--format", "{{.ServerVersion}}"]).status == 0,
              try Tetra.exec(docker, ["image", "inspect", "tinybox:1"]).status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("Docker or tinybox:1 is missing in CI") }
            throw XCTSkip("SKIPPED: no Docker engine or no tinybox:1 (scripts/docker-up.sh)")
        }
        let volume = "tetra-test-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))-progress"
        let tetra = Tetra()
        let work = DeployFixture.tempDir("tetra-progress-volume")
        defer {
            _ = try? Tetra.exec(docker, ["volume", "rm", "-f", volume])
            try? FileManager.default.removeItem(atPath: tetra.stateRoot)
        }
        XCTAssertEqual(try tetra.run(["volume", "create", volume]).status, 0)
        let fill = try Tetra.exec(docker, ["run", "--rm", "--network", "none", "-v", "\(volume):/data", "tinybox:1",
                                           "sh", "-c", "head -c 30000000 /dev/urandom > /data/blob"])
        XCTAssertEqual(fill.status, 0, fill.stderr)
        let env = Self.terminalEnvironment(tetra.environment)
        let archive = work + "/v.tar.gz"

        let backup = try Self.onTerminal(["volume", "backup", volume, archive, "--image", "tinybox:1"], env: env)
        XCTAssertEqual(backup.status, 0, backup.terminal)
        assertLiveLine(backup)
        let written = Self.lines(backup.terminal).filter {
            $0.range(of: #"^backing up volume \S+ .*  [\d.]+ MB  ([\d.]+ [KM]B/s  )?\d+:\d\d$"#, options: .regularExpression) != nil
        }
        XCTAssertFalse(written.isEmpty, "bytes written so far, without a total: \(Self.lines(backup.terminal))")

        let restore = try Self.onTerminal(["volume", "restore", volume, archive, "--force", "--image", "tinybox:1"], env: env)
        XCTAssertEqual(restore.status, 0, restore.terminal)
        assertLiveLine(restore)
        let read = Self.lines(restore.terminal).filter {
            $0.range(of: #"^restoring volume \S+ .*  [\d.]+ [KM]?B/30 MB  "#, options: .regularExpression) != nil
        }
        XCTAssertTrue(read.contains { !$0.contains("  0 B/30 MB") }, "bytes read of the archive's size: \(read)")
    }

    /// A library update on a terminal fetches with git's progress: bytes while they come,
    /// then the objects received (git counts them for fetches of 100 objects and more).
    func testALibraryUpdateReportsWhatGitReceived() throws {
        let upstream = try LibraryE2ETests.Upstream()
        defer { upstream.remove() }
        try upstream.commit(["templates/service/web.toml": "library web v1\n"], "first")
        let tetra = Tetra()
        defer { try? FileManager.default.removeItem(atPath: tetra.stateRoot) }
        XCTAssertEqual(try tetra.run(["library", "init", "file://" + upstream.bare]).status, 0)
        var files: [String: String] = [:]
        for i in 0..<120 { files["templates/service/s\(i).toml"] = "service \(i) \(UInt64.random(in: 0...UInt64.max))\n" }
        try upstream.commit(files, "many services")

        let run = try Self.onTerminal(["library", "update"], env: Self.terminalEnvironment(tetra.environment))
        XCTAssertEqual(run.status, 0, run.terminal)
        assertLiveLine(run)
        let lines = Self.lines(run.terminal)
        XCTAssertTrue(lines.contains { $0.hasPrefix("fetching file://") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.range(of: #"^received 12\d of 12\d objects \([\d.]+ [KM]?B\)  "#, options: .regularExpression) != nil },
                      "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("fast-forwarding main") }, "\(lines)")

        // A failing fetch: the line is erased, then the error with git's message.
        upstream.remove()
        let failed = try Self.onTerminal(["library", "update"], env: Self.terminalEnvironment(tetra.environment))
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.terminal.hasPrefix(Self.redraw + "fetching file://"), failed.terminal.debugDescription)
        XCTAssertTrue(failed.terminal.contains(Self.redraw + "\u{1B}[31mtetra: error:"), "the line is erased first: \(failed.terminal.debugDescription)")
        XCTAssertTrue(failed.terminal.contains("does not appear to be a git repository"), failed.terminal)
    }

    func testOffATerminalPlainStepLinesAndQuietSilencesBoth() throws {
        let f = try OrgFixture(sshd: nil)
        var env = f.tetra.environment
        env.removeValue(forKey: "NO_COLOR")
        // stderr a pipe: one plain line per phase.
        let piped = try f.tetra.run(["org", "push", "acme", "dev"], env: ["NO_COLOR": ""])
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertFalse(piped.stderr.contains("\r") || piped.stderr.contains("\u{1B}"), piped.stderr)
        let steps = piped.stderr.split(separator: "\n")
        XCTAssertTrue(steps.allSatisfy { $0.hasPrefix("tetra: ") }, piped.stderr)
        XCTAssertTrue(steps.contains { $0.range(of: #"^tetra: sending to /\S+ \(\d+ files\)$"#, options: .regularExpression) != nil },
                      piped.stderr)
        // A terminal with NO_COLOR or TERM=dumb: plain lines too.
        for extra in [["NO_COLOR": "1"], ["TERM": "dumb"]] {
            let plain = try Self.onTerminal(["org", "push", "acme", "dev"],
                                            env: Self.terminalEnvironment(env).merging(extra) { $1 })
            XCTAssertEqual(plain.status, 0, plain.terminal)
            XCTAssertFalse(plain.terminal.contains("\r") || plain.terminal.contains("\u{1B}"), plain.terminal.debugDescription)
            XCTAssertTrue(plain.terminal.contains("tetra: sending to "), plain.terminal)
        }
        // --quiet: nothing on the terminal, nothing on a pipe.
        let quiet = try Self.onTerminal(["org", "push", "acme", "dev", "--quiet"], env: Self.terminalEnvironment(env))
        XCTAssertEqual(quiet.status, 0)
        XCTAssertEqual(quiet.terminal, "")
        let quietPiped = try f.tetra.run(["org", "push", "acme", "dev", "-q"], env: ["NO_COLOR": ""])
        XCTAssertEqual(quietPiped.status, 0)
        XCTAssertEqual(quietPiped.stderr, "")
    }
}

// The pseudo-terminal calls of libc (<stdlib.h> declares them only for _XOPEN_SOURCE, which
// the Glibc module is not built with).
@_silgen_name("posix_openpt") private func c_posix_openpt(_ flags: Int32) -> Int32
@_silgen_name("grantpt") private func c_grantpt(_ fd: Int32) -> Int32
@_silgen_name("unlockpt") private func c_unlockpt(_ fd: Int32) -> Int32
@_silgen_name("ptsname_r") private func c_ptsname_r(_ fd: Int32, _ buffer: UnsafeMutablePointer<CChar>, _ length: Int) -> Int32
