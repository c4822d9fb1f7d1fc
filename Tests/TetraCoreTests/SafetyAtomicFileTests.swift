import Foundation
import XCTest
@testable import TetraCore

final class SafetyAtomicFileTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = ProcTestSupport.makeTempDir("tetra-atomic")
        chmod(dir, 0o755)
    }

    override func tearDown() {
        ProcTestSupport.removeTree(dir)
    }

    func entries() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir).sorted()) ?? []
    }

    func testWritesNewFileWithExactModeRegardlessOfUmask() throws {
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.write(string: "hello\n", to: dir + "/a.txt")
        XCTAssertEqual(ProcTestSupport.read(dir + "/a.txt"), "hello\n")
        XCTAssertEqual(ProcTestSupport.mode(dir + "/a.txt"), 0o644)
        umask(0o000)
        try AtomicFile.write(Data("secret".utf8), to: dir + "/secrets.env", mode: 0o600)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/secrets.env"), 0o600)
        XCTAssertEqual(entries(), ["a.txt", "secrets.env"], "no temporary files left")
    }

    func testOverwritesAndReplacesMode() throws {
        try AtomicFile.write(string: "one", to: dir + "/f")
        try AtomicFile.write(string: "two", to: dir + "/f", mode: 0o600)
        XCTAssertEqual(ProcTestSupport.read(dir + "/f"), "two")
        XCTAssertEqual(ProcTestSupport.mode(dir + "/f"), 0o600)
        try AtomicFile.write(Data(), to: dir + "/f")
        XCTAssertEqual(ProcTestSupport.read(dir + "/f"), "")
        XCTAssertEqual(entries(), ["f"])
    }

    func testParentIsARegularFile() throws {
        try AtomicFile.write(string: "x", to: dir + "/file")
        XCTAssertThrowsError(try AtomicFile.write(string: "y", to: dir + "/file/child")) { error in
            guard let e = error as? IOError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.message, "cannot write \(dir)/file/child: Not a directory")
            XCTAssertEqual(e.exitCode, .failure)
            XCTAssertEqual(e.code, ENOTDIR)
        }
        XCTAssertEqual(ProcTestSupport.read(dir + "/file"), "x")
    }

    func testTargetIsADirectoryLeavesNoTemporaryFile() throws {
        try AtomicFile.ensureDirectory(dir + "/target")
        XCTAssertThrowsError(try AtomicFile.write(string: "y", to: dir + "/target")) { error in
            // Not a regular file: refused (exit 2) before a temporary file is made.
            XCTAssertEqual((error as? CoreError)?.message, "\(dir)/target is a directory; tetra writes only regular files and left it as it was")
            XCTAssertEqual((error as? CoreError)?.exitCode, .usage)
        }
        XCTAssertEqual(entries(), ["target"])
    }

    /// A symlink is followed (the target replaced, the link kept); a fifo, a link to a device
    /// and a /proc path are refused with exit 2 and left as they were.
    func testSymlinksAreFollowedAndSpecialFilesRefused() throws {
        try AtomicFile.write(string: "old", to: dir + "/real")
        XCTAssertEqual(symlink("real", dir + "/link"), 0)
        try AtomicFile.write(string: "new", to: dir + "/link")
        XCTAssertEqual(ProcTestSupport.read(dir + "/real"), "new")
        var st = stat()
        XCTAssertEqual(lstat(dir + "/link", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFLNK)
        XCTAssertEqual(mkfifo(dir + "/fifo", 0o600), 0)
        XCTAssertEqual(symlink("/dev/null", dir + "/null"), 0)
        for path in [dir + "/fifo", dir + "/null", "/proc/self/comm"] {
            XCTAssertThrowsError(try AtomicFile.write(string: "x", to: path)) { error in
                XCTAssertEqual((error as? CoreError)?.exitCode, .usage, "\(path): \(error)")
            }
        }
        XCTAssertEqual(lstat(dir + "/fifo", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertEqual(Set(entries()), ["real", "link", "fifo", "null"])
    }

    /// A directory that is not writable. Root bypasses permission bits, so as root the write
    /// is done with the effective uid switched to `nobody` for its duration (restored after).
    func testUnwritableDirectoryKeepsOldContent() throws {
        let locked = dir + "/locked"
        try AtomicFile.ensureDirectory(locked, mode: 0o755)
        try AtomicFile.write(string: "old content", to: locked + "/config.toml")
        chmod(locked, 0o555)
        defer { chmod(locked, 0o755) }
        let asRoot = getuid() == 0
        if asRoot { XCTAssertEqual(seteuid(65534), 0, "cannot drop privileges for the test") }
        var thrown: Error?
        do {
            try AtomicFile.write(string: "new content", to: locked + "/config.toml")
        } catch {
            thrown = error
        }
        if asRoot { XCTAssertEqual(seteuid(0), 0) }
        let e = try XCTUnwrap(thrown as? IOError, "the write must fail")
        XCTAssertEqual(e.message, "cannot write \(locked)/config.toml: Permission denied")
        XCTAssertNotNil(e.hint)
        XCTAssertEqual(ProcTestSupport.read(locked + "/config.toml"), "old content")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: locked), ["config.toml"])
    }

    /// A write that fails half-way (simulated full disk: RLIMIT_FSIZE makes write(2) fail with
    /// EFBIG after 4096 bytes) leaves the old file intact and no temporary file behind.
    func testFailureMidWriteKeepsOldContent() throws {
        try AtomicFile.write(string: "old content", to: dir + "/state.toml")
        var oldLimit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &oldLimit)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var limit = oldLimit
        limit.rlim_cur = 4096
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit), 0)
        var thrown: Error?
        do {
            try AtomicFile.write(Data(repeating: 0x41, count: 100_000), to: dir + "/state.toml")
        } catch {
            thrown = error
        }
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &oldLimit)
        signal(SIGXFSZ, oldHandler)
        let e = try XCTUnwrap(thrown as? IOError)
        XCTAssertEqual(e.code, EFBIG, e.message)
        XCTAssertEqual(ProcTestSupport.read(dir + "/state.toml"), "old content")
        XCTAssertEqual(entries(), ["state.toml"])
    }

    func testReadersNeverSeeAPartialFile() throws {
        let path = dir + "/big"
        let a = Data(repeating: 0x61, count: 1 << 20)
        let b = Data(repeating: 0x62, count: 1 << 20)
        try AtomicFile.write(a, to: path)
        final class Flag: @unchecked Sendable {
            let lock = NSLock()
            var done = false
            var bad = 0
            var reads = 0
        }
        let flag = Flag()
        let reader = Thread {
            while true {
                flag.lock.lock(); let stop = flag.done; flag.lock.unlock()
                if stop { break }
                if let data = FileManager.default.contents(atPath: path) {
                    let ok = data == a || data == b
                    flag.lock.lock(); flag.reads += 1; if !ok { flag.bad += 1 }; flag.lock.unlock()
                }
            }
        }
        reader.start()
        for i in 0..<60 { try AtomicFile.write(i % 2 == 0 ? b : a, to: path) }
        flag.lock.lock(); flag.done = true; flag.lock.unlock()
        usleep(100_000)
        flag.lock.lock(); defer { flag.lock.unlock() }
        XCTAssertEqual(flag.bad, 0, "a reader saw a partial file")
        XCTAssertGreaterThan(flag.reads, 0)
    }

    func testEnsureDirectory() throws {
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.ensureDirectory(dir + "/a/b/c", mode: 0o750)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/a"), 0o750)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/a/b/c"), 0o750)
        chmod(dir + "/a", 0o711)
        try AtomicFile.ensureDirectory(dir + "/a/b/c", mode: 0o700) // existing: untouched
        try AtomicFile.ensureDirectory(dir + "/a/b/d/", mode: 0o700)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/a"), 0o711)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/a/b/d"), 0o700)
        try AtomicFile.write(string: "x", to: dir + "/file")
        XCTAssertThrowsError(try AtomicFile.ensureDirectory(dir + "/file/sub")) { error in
            XCTAssertTrue((error as? IOError)?.message.hasPrefix("cannot create directory \(dir)/file/sub") == true, "\(error)")
        }
        XCTAssertThrowsError(try AtomicFile.ensureDirectory(dir + "/file")) { error in
            XCTAssertEqual((error as? IOError)?.message, "cannot create directory \(dir)/file: Not a directory")
        }
    }

    func testAppendLineCreatesWithModeAndAddsNewline() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let path = dir + "/log.jsonl"
        try AtomicFile.appendLine("{\"a\":1}", to: path)
        try AtomicFile.appendLine("{\"a\":2}\n", to: path)
        XCTAssertEqual(ProcTestSupport.read(path), "{\"a\":1}\n{\"a\":2}\n")
        XCTAssertEqual(ProcTestSupport.mode(path), 0o600)
        try AtomicFile.appendLine("x", to: dir + "/public.log", mode: 0o644)
        XCTAssertEqual(ProcTestSupport.mode(dir + "/public.log"), 0o644)
    }

    func testAppendLineAfterATornLineStartsANewLine() throws {
        let path = dir + "/log.jsonl"
        try Data("{\"a\":1}\n{\"torn".utf8).write(to: URL(fileURLWithPath: path))
        try AtomicFile.appendLine("{\"a\":2}", to: path)
        XCTAssertEqual(ProcTestSupport.read(path), "{\"a\":1}\n{\"torn\n{\"a\":2}\n")
    }

    func testConcurrentAppendsNeverInterleave() throws {
        let path = dir + "/concurrent.jsonl"
        let writers = 20
        let linesEach = 100
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            for i in 0..<linesEach {
                // Lines of varying length up to ~3.5KB (< PIPE_BUF), each self-describing.
                let payload = String(repeating: Character(UnicodeScalar(UInt8(65 + w))), count: (w * 37 + i * 91) % 3500)
                try? AtomicFile.appendLine("\(w):\(i):\(payload.count):\(payload)", to: path)
            }
        }
        let text = try XCTUnwrap(ProcTestSupport.read(path))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last, "")
        var seen = Set<String>()
        for line in lines.dropLast() {
            let parts = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let w = Int(parts[0]), let count = Int(parts[2]) else {
                return XCTFail("garbled line: \(line.prefix(80))")
            }
            let expected = String(repeating: Character(UnicodeScalar(UInt8(65 + w))), count: count)
            XCTAssertEqual(String(parts[3]), expected, "interleaved line from writer \(w)")
            seen.insert("\(parts[0]):\(parts[1])")
        }
        XCTAssertEqual(seen.count, writers * linesEach)
    }

    func testAppendsInterleavedWithOtherProcessesStayWhole() throws {
        // 10 separate processes append with O_APPEND (single write per line, no lock) while
        // this process appends with appendLine from 4 threads: every line must stay whole.
        guard let python = ProcTestSupport.python3 else { throw XCTSkip("python3 not available") }
        let path = dir + "/procs.jsonl"
        try AtomicFile.appendLine("start", to: path)
        let code = """
        import os, sys
        w = int(sys.argv[2])
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        for i in range(300):
            payload = chr(65 + w) * ((w * 37 + i * 91) % 3500)
            os.write(fd, f"{w}:{i}:{len(payload)}:{payload}\\n".encode())
        """
        var children: [Process] = []
        for w in 0..<10 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = ["-c", code, path, String(w)]
            try p.run()
            children.append(p)
        }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<150 {
                let w = 10 + t
                let payload = String(repeating: Character(UnicodeScalar(UInt8(65 + w))), count: (w * 37 + i * 91) % 3500)
                try? AtomicFile.appendLine("\(w):\(i):\(payload.count):\(payload)", to: path)
            }
        }
        for p in children { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
        try AtomicFile.appendLine("end", to: path)
        // Our torn-line repair may add a blank line when it sees a foreign (unlocked) write
        // in progress; blank lines are harmless, mixed lines are not.
        let lines = try XCTUnwrap(ProcTestSupport.read(path)).split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 10 * 300 + 4 * 150 + 2)
        XCTAssertEqual(lines.first, "start")
        XCTAssertEqual(lines.last, "end")
        for line in lines.dropFirst().dropLast() {
            let parts = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let count = Int(parts[2]) else { return XCTFail("garbled: \(line.prefix(60))") }
            XCTAssertEqual(parts[3].count, count)
            XCTAssertTrue(parts[3].allSatisfy { $0 == parts[3].first ?? "?" } || count == 0)
        }
    }

    func testReadIfExists() throws {
        XCTAssertNil(try AtomicFile.readIfExists(dir + "/missing"))
        try AtomicFile.write(string: "x", to: dir + "/present")
        XCTAssertEqual(try AtomicFile.readIfExists(dir + "/present"), Data("x".utf8))
    }
}
