import XCTest
@testable import TetraCore
import TetraTestSupport

final class ProcessGroupSamplerTests: XCTestCase {
    func python() throws -> String {
        for p in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("python3 is not installed") }
        throw XCTSkip("python3 is not installed: the sampler is not measured against a real process")
    }

    /// Spawns `code` in a process group of its own; returns its pid.
    func spawn(_ code: String) throws -> pid_t {
        let py = try python()
        let pid = try Spawn.spawn(Spawn.Options(executable: py, argv: [py, "-c", code], environment: [:]))
        addTeardownBlock {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        return pid
    }

    func waitForFile(_ path: String) {
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(20_000) }
    }

    func testParsesAStatLineWithSpacesAndParenthesesInTheName() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194304 100 0 0 0 7 6 4 1 20 0 3 0 70428 121839616 28952 18446744073709551615 1"
        let s = ProcessGroupSampler.parseStat(ArraySlice(Array(line.utf8)), pid: 42)
        XCTAssertEqual(s?.pgrp, 42)
        XCTAssertEqual(s?.ticks, 18)
        XCTAssertEqual(s?.threads, 3)
        XCTAssertEqual(s?.start, 70428)
        XCTAssertEqual(s?.rssPages, 28952)
        XCTAssertNil(ProcessGroupSampler.parseStat(ArraySlice(Array("42 (z) Z 1 42 42".utf8)), pid: 42))
    }

    func testAProcessHolding100MBShowsAbout100MB() throws {
        let ready = NSTemporaryDirectory() + "sampler-\(UUID().uuidString)"
        let pid = try spawn("import time\nb=bytearray(100<<20)\nfor i in range(0,len(b),4096): b[i]=1\nopen('\(ready)','w').close()\ntime.sleep(60)")
        waitForFile(ready)
        defer { try? FileManager.default.removeItem(atPath: ready) }
        let sampler = ProcessGroupSampler()
        let u = try XCTUnwrap(sampler.sample(pgid: pid, monotonic: Monotonic.now()))
        XCTAssertGreaterThanOrEqual(u.memoryBytes, 90 << 20, "\(u.memoryBytes)")
        XCTAssertLessThanOrEqual(u.memoryBytes, 130 << 20, "\(u.memoryBytes)")
        XCTAssertGreaterThanOrEqual(u.threads, 1)
        XCTAssertGreaterThanOrEqual(u.openFiles ?? 0, 3)
        XCTAssertNil(u.cpuPercent, "no CPU percentage from one reading")
        XCTAssertNil(sampler.sample(pgid: 999_999, monotonic: Monotonic.now()))
    }

    func testChildrenAreCountedWithTheirCPUAndMemory() throws {
        let ready = NSTemporaryDirectory() + "sampler-\(UUID().uuidString)"
        // The parent only waits; its child holds 60 MB and burns a core.
        let child = "b=bytearray(60<<20)\nfor i in range(0,len(b),4096): b[i]=1\nopen('\(ready)','w').close()\nwhile True: pass"
        let pid = try spawn("import subprocess,sys\nsubprocess.run([sys.executable,'-c',\(pythonString(child))])")
        waitForFile(ready)
        defer { try? FileManager.default.removeItem(atPath: ready) }
        let sampler = ProcessGroupSampler()
        _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
        usleep(1_000_000)
        let u = try XCTUnwrap(sampler.sample(pgid: pid, monotonic: Monotonic.now()))
        XCTAssertGreaterThanOrEqual(u.memoryBytes, 60 << 20, "\(u.memoryBytes)")
        // The parent only waits: any CPU is the child's (a busy loop; a share of a loaded machine).
        XCTAssertGreaterThanOrEqual(u.cpuPercent ?? 0, 20, "the child's busy loop is counted")
        XCTAssertLessThanOrEqual(u.cpuPercent ?? 0, 210)
        XCTAssertEqual(sampler.scan(pgid: pid).count, 2)
    }

    func pythonString(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            .replacingOccurrences(of: "\n", with: "\\n") + "'"
    }

    func testCgroupFilesAreRead() throws {
        let dir = NSTemporaryDirectory() + "cgroup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        try write("memory.current", "104857600\n")
        try write("pids.current", "7\n")
        try write("cpu.stat", "usage_usec 1000000\nuser_usec 900000\nsystem_usec 100000\n")
        let s = CgroupSampler(directory: dir)
        let first = try XCTUnwrap(s.sample(monotonic: 100))
        XCTAssertEqual(first.memoryBytes, 104_857_600)
        XCTAssertEqual(first.threads, 7)
        XCTAssertNil(first.cpuPercent)
        try write("cpu.stat", "usage_usec 1500000\n")
        XCTAssertEqual(try XCTUnwrap(s.sample(monotonic: 101)).cpuPercent ?? 0, 50, accuracy: 0.001)
        // The directory of a process from /proc/PID/cgroup (cgroup v2 only).
        let proc = dir + "/proc"
        try FileManager.default.createDirectory(atPath: proc + "/5", withIntermediateDirectories: true)
        try write("proc/5/cgroup", "0::/\n")
        XCTAssertEqual(CgroupSampler.directory(ofPid: 5, procRoot: proc, cgroupRoot: dir), dir + "/")
    }
}

extension ProcessGroupSamplerTests {
    /// Between full scans only the members are read; a new member is found by the next full
    /// scan at the latest (here forced by the number of processes changing).
    func testFullScansOnlyWhenTheGroupMayHaveChanged() throws {
        let ready = NSTemporaryDirectory() + "sampler-\(UUID().uuidString)"
        let go = ready + ".go"
        let pid = try spawn("import os,subprocess,sys,time\nopen('\(ready)','w').close()\nwhile not os.path.exists('\(go)'): time.sleep(0.05)\nsubprocess.run(['sleep','30'])")
        waitForFile(ready)
        defer { try? FileManager.default.removeItem(atPath: ready); try? FileManager.default.removeItem(atPath: go) }
        let sampler = ProcessGroupSampler()
        sampler.rescanEvery = 1000
        _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
        XCTAssertEqual(sampler.fullScans, 1)
        FileManager.default.createFile(atPath: go, contents: Data())
        let deadline = Date().addingTimeInterval(10)
        while sampler.scan(pgid: pid).count < 2 && Date() < deadline { usleep(50_000) }
        // The machine has one process more than at the first scan: the next sample scans.
        while sampler.known.count < 2 && Date() < deadline {
            _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
            usleep(50_000)
        }
        XCTAssertEqual(sampler.known.count, 2, "the sleep child joined the group and was found")
        XCTAssertGreaterThanOrEqual(sampler.fullScans, 2)
        // With the count of processes steady, member reads alone (most samples on a quiet machine).
        sampler.processesAtScan = 0
        _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
        let scans = sampler.fullScans
        var st = stat()
        stat("/proc", &st)
        sampler.processesAtScan = UInt64(st.st_nlink)
        _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
        stat("/proc", &st)
        if UInt64(st.st_nlink) == sampler.processesAtScan { XCTAssertEqual(sampler.fullScans, scans, "no full scan") }
        // Every rescanEvery samples, a full scan whatever happens.
        sampler.rescanEvery = 0
        _ = sampler.sample(pgid: pid, monotonic: Monotonic.now())
        XCTAssertEqual(sampler.fullScans, scans + 1)
    }
}
