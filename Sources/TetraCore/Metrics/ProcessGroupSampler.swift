import FoundationEssentials
import Glibc

/// What a sampler measured of a service's processes (or its container).
public struct ResourceUsage: Sendable, Equatable {
    /// Percent of one core since the previous sample; nil on the first one.
    public var cpuPercent: Double?
    public var memoryBytes: UInt64
    public var threads: Int
    /// nil when the descriptors cannot be counted (a container, another user's process).
    public var openFiles: Int?
}

/// Measures a process group from `/proc`: every process whose process group is the service's
/// (its children included, found by scanning `/proc/*/stat`). CPU from the growth of
/// utime + stime + cutime + cstime of each member (a child reaped by a member adds its time
/// to the member's cutime) over the wall time between two samples; memory is the sum of the
/// members' resident set (stat field 24), threads field 20, descriptors the entries of
/// `/proc/PID/fd`.
///
/// Cheap by design: the kernel's work of reading every `/proc/PID/stat` is most of a sample's
/// cost, so the full scan (one `readdir` of /proc, one 1 KB read of each stat file, parsed in
/// place) is done only when the group may have changed: the first sample of a group, a member
/// gone, a different number of processes on the machine (`/proc`'s link count) than at the
/// last scan, and every `rescanEvery` samples whatever happens. Otherwise only the members'
/// stat files are read. The descriptors are counted for the members only.
public final class ProcessGroupSampler {
    let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    let procRoot: String
    /// Ticks of each member at the previous sample (pid → start time, ticks).
    var previous: [Int32: (start: UInt64, ticks: UInt64)] = [:]
    var previousGroup: Int32 = 0
    var previousAt: TimeInterval? = nil
    var buffer = [UInt8](repeating: 0, count: 1024)
    /// The members found by the last scan, and what the machine looked like then.
    var known: [Int32] = []
    var processesAtScan: UInt64 = 0
    var samplesSinceScan = 0
    /// Samples between two full scans at most (a process that joins the group while another
    /// leaves the machine is seen at the next full scan: within a minute at 10 s).
    public var rescanEvery = 6
    /// Full scans done (for tests and the benchmark).
    public private(set) var fullScans = 0

    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    /// One member's fields.
    struct Stat {
        var pid: Int32
        var pgrp: Int32
        var ticks: UInt64
        var threads: Int
        var start: UInt64
        var rssPages: UInt64
    }

    /// The group `pgid` now; nil when it has no process. `monotonic`: seconds of a monotonic
    /// clock (the CPU percentage is over the time between two calls).
    public func sample(pgid: Int32, monotonic: TimeInterval) -> ResourceUsage? {
        if pgid != previousGroup { previous = [:]; previousAt = nil; previousGroup = pgid; known = [] }
        let members = self.members(pgid: pgid)
        guard !members.isEmpty else { previous = [:]; previousAt = nil; return nil }
        var usage = ResourceUsage(cpuPercent: nil, memoryBytes: 0, threads: 0, openFiles: 0)
        var grown: UInt64 = 0
        var current: [Int32: (start: UInt64, ticks: UInt64)] = [:]
        for m in members {
            usage.memoryBytes += m.rssPages * pageSize
            usage.threads += m.threads
            if let n = countDescriptors(m.pid) { usage.openFiles = (usage.openFiles ?? 0) + n } else { usage.openFiles = nil }
            current[m.pid] = (m.start, m.ticks)
            // A member seen before: its growth; a new member: everything it used (it started
            // since the previous sample, or is the first seen of a new group).
            if let p = previous[m.pid], p.start == m.start { grown += m.ticks >= p.ticks ? m.ticks - p.ticks : 0 } else { grown += m.ticks }
        }
        if let at = previousAt, monotonic > at {
            usage.cpuPercent = Double(grown) / ticksPerSecond / (monotonic - at) * 100
        }
        previous = current
        previousAt = monotonic
        return usage
    }

    /// The group's members: those of the last scan when nothing suggests a change, else a
    /// full scan.
    func members(pgid: Int32) -> [Stat] {
        var st = stat()
        let processes = stat(procRoot, &st) == 0 ? UInt64(st.st_nlink) : 0
        if !known.isEmpty, samplesSinceScan < rescanEvery, processes == processesAtScan, processes != 0 {
            let stats = known.compactMap(readStat).filter { $0.pgrp == pgid }
            if stats.count == known.count {
                samplesSinceScan += 1
                return stats
            }
        }
        let stats = scan(pgid: pgid)
        fullScans += 1
        known = stats.map(\.pid)
        processesAtScan = processes
        samplesSinceScan = 0
        return stats
    }

    /// Every live process of the group.
    func scan(pgid: Int32) -> [Stat] {
        guard let dir = opendir(procRoot) else { return [] }
        defer { closedir(dir) }
        var out: [Stat] = []
        while let entry = readdir(dir) {
            let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                var v: Int32 = 0
                for b in raw {
                    if b == 0 { break }
                    guard b >= 48 && b <= 57 else { return nil }
                    v = v &* 10 &+ Int32(b - 48)
                }
                return v > 0 ? v : nil
            }
            guard let pid, let s = readStat(pid), s.pgrp == pgid else { continue }
            out.append(s)
        }
        return out
    }

    /// Reads and parses `/proc/PID/stat` (nil: gone, a zombie, unparsable).
    func readStat(_ pid: Int32) -> Stat? {
        let fd = open("\(procRoot)/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { return nil }
        return Self.parseStat(buffer[0..<n], pid: pid)
    }

    /// Fields of a stat line counted from the last ')' (the command may hold spaces and
    /// parentheses): 3 state, 5 pgrp, 14-17 utime stime cutime cstime, 20 threads, 22 start,
    /// 24 rss.
    static func parseStat(_ line: ArraySlice<UInt8>, pid: Int32) -> Stat? {
        guard let close = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var fields: [UInt64] = []
        fields.reserveCapacity(22)
        var i = close + 1
        var field = 3
        var state: UInt8 = 0
        while i < line.endIndex && field <= 24 {
            while i < line.endIndex && line[i] == 32 { i += 1 }
            guard i < line.endIndex else { break }
            if field == 3 { state = line[i] }
            var v: UInt64 = 0
            var negative = false
            while i < line.endIndex && line[i] != 32 && line[i] != 10 {
                let b = line[i]
                if b == UInt8(ascii: "-") { negative = true } else if b >= 48 && b <= 57 { v = v &* 10 &+ UInt64(b - 48) }
                i += 1
            }
            fields.append(negative ? 0 : v)
            field += 1
        }
        guard fields.count >= 22, state != UInt8(ascii: "Z"), state != UInt8(ascii: "X") else { return nil }
        // fields[k] is field k + 3.
        return Stat(pid: pid, pgrp: Int32(truncatingIfNeeded: fields[2]),
                    ticks: fields[11] &+ fields[12] &+ fields[13] &+ fields[14],
                    threads: Int(fields[17]), start: fields[19], rssPages: fields[21])
    }

    /// Entries of `/proc/PID/fd` (nil: not readable).
    func countDescriptors(_ pid: Int32) -> Int? {
        guard let dir = opendir("\(procRoot)/\(pid)/fd") else { return nil }
        defer { closedir(dir) }
        var n = 0
        while let e = readdir(dir) {
            let dot = withUnsafeBytes(of: e.pointee.d_name) { $0[0] == 46 }
            if !dot { n += 1 }
        }
        return n
    }
}

/// Measures a container from its cgroup v2 files: `cpu.stat` (usage_usec), `memory.current`,
/// `pids.current` (tasks, so threads). Never `docker stats`, never a process per sample.
public final class CgroupSampler {
    public let directory: String
    var previousUsec: UInt64? = nil
    var previousAt: TimeInterval? = nil

    public init(directory: String) { self.directory = directory }

    /// The cgroup directory of a process (`0::/system.slice/docker-ID.scope` in
    /// `/proc/PID/cgroup`, under `/sys/fs/cgroup`); nil without cgroup v2.
    public static func directory(ofPid pid: Int32, procRoot: String = "/proc", cgroupRoot: String = "/sys/fs/cgroup") -> String? {
        guard let data = try? AtomicFile.readIfExists("\(procRoot)/\(pid)/cgroup", limit: 64 * 1024) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("0::") {
            let dir = cgroupRoot + String(line.dropFirst(3))
            return LocalFiles.exists(dir + "/memory.current") ? dir : nil
        }
        return nil
    }

    /// `/sys/fs/cgroup/system.slice/docker-<id>.scope` (the systemd cgroup driver's place).
    public static func directory(containerID: String, cgroupRoot: String = "/sys/fs/cgroup") -> String? {
        let dir = cgroupRoot + "/system.slice/docker-\(containerID).scope"
        return LocalFiles.exists(dir + "/memory.current") ? dir : nil
    }

    func number(_ file: String) -> UInt64? {
        guard let data = try? AtomicFile.readIfExists(directory + "/" + file, limit: 4096) else { return nil }
        return UInt64(String(decoding: data, as: UTF8.self).trimming(.whitespacesAndNewlines))
    }

    public func sample(monotonic: TimeInterval) -> ResourceUsage? {
        guard let memory = number("memory.current"),
              let stat = try? AtomicFile.readIfExists(directory + "/cpu.stat", limit: 4096) else { return nil }
        var usec: UInt64? = nil
        for line in String(decoding: stat, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "usage_usec" { usec = UInt64(parts[1]) }
        }
        var usage = ResourceUsage(cpuPercent: nil, memoryBytes: memory, threads: Int(number("pids.current") ?? 0), openFiles: nil)
        if let usec, let p = previousUsec, let at = previousAt, monotonic > at, usec >= p {
            usage.cpuPercent = Double(usec - p) / 1_000_000 / (monotonic - at) * 100
        }
        previousUsec = usec
        previousAt = monotonic
        return usage
    }
}
