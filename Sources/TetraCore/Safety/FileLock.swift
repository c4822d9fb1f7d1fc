import FoundationEssentials
import Glibc

/// Who holds a lock: recorded as JSON inside the lock file while it is held.
public struct LockHolder: Codable, Sendable, Equatable {
    public var pid: Int32
    public var host: String
    /// The (redacted) command line, e.g. "tetra ports allocate api".
    public var command: String
    public var time: Date
    /// /proc start time of `pid` (clock ticks since boot) to tell a live holder from a
    /// process that merely reuses its pid. nil when unknown.
    public var startTime: UInt64?

    public init(pid: Int32, host: String, command: String, time: Date, startTime: UInt64? = nil) {
        self.pid = pid
        self.host = host
        self.command = command
        self.time = time
        self.startTime = startTime
    }

    /// This process as a holder. `command` is the redacted command line.
    public static func current(command: String, host: String = ProcessIdentity.hostName, now: Date = Date()) -> LockHolder {
        LockHolder(pid: getpid(), host: host, command: command, time: now,
                   startTime: ProcessIdentity.startTime(pid: getpid()))
    }

    /// `pid 4242 on host1 (tetra ports allocate api) since 2026-11-21T17:03:00Z`
    public var description: String {
        "pid \(pid) on \(host) (\(command)) since \(Timestamps.iso8601(time))"
    }

    /// True when the recorded process is on this host and provably gone (no such pid, or
    /// the pid now belongs to a process that started at another time).
    public var isDeadLocalProcess: Bool {
        guard host == ProcessIdentity.hostName else { return false }
        if !ProcessIdentity.isAlive(pid: pid) { return true }
        if let recorded = startTime, let actual = ProcessIdentity.startTime(pid: pid), recorded != actual { return true }
        return false
    }

    enum CodingKeys: String, CodingKey { case pid, host, command, time, startTime = "start_time" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pid = try c.decode(Int32.self, forKey: .pid)
        host = try c.decode(String.self, forKey: .host)
        command = try c.decode(String.self, forKey: .command)
        let timeText = try c.decode(String.self, forKey: .time)
        guard let t = Timestamps.parseISO8601(timeText) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "not an ISO 8601 time")
        }
        time = t
        startTime = try c.decodeIfPresent(UInt64.self, forKey: .startTime)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pid, forKey: .pid)
        try c.encode(host, forKey: .host)
        try c.encode(command, forKey: .command)
        try c.encode(Timestamps.iso8601(time), forKey: .time)
        try c.encodeIfPresent(startTime, forKey: .startTime)
    }
}

/// A lock held by this process. Released by `release()`, or when the object is destroyed
/// (keep a reference for as long as the lock must be held: `_ = try acquire(...)` releases
/// at once), or when the process dies (the kernel drops flock locks with the last descriptor).
public final class HeldLock: @unchecked Sendable {
    public let resource: String
    public let path: String
    private let lock = Lock()
    private let guardPath: String
    private var fd: Int32

    init(resource: String, path: String, fd: Int32, guardPath: String) {
        self.resource = resource
        self.path = path
        self.fd = fd
        self.guardPath = guardPath
    }

    public var isHeld: Bool { lock.lock(); defer { lock.unlock() }; return fd >= 0 }

    /// Clears the holder record and releases the lock. Idempotent.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        // Clear the record while still holding the lock, so the file never names a holder
        // that is gone; the file itself stays (see LockManager on why it is never unlinked).
        // Under the guard, so a waiter never sees the lock held with the record cleared.
        let guardFD = open(guardPath, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        if guardFD >= 0 { try? LockManager.flockRetrying(guardFD, LOCK_EX, path: guardPath) }
        defer { if guardFD >= 0 { close(guardFD) } }
        _ = ftruncate(fd, 0)
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

/// Per-resource locks for mutating commands (SPEC §1 Safety): `flock(2)` on
/// `state/locks/<resource>.lock`, with the holder (pid, host, command, time) recorded in the
/// file while it is held.
///
/// Why stale locks need no breaking: an flock belongs to the open file description, and the
/// kernel releases it when the last descriptor referring to it is closed — in particular
/// when the holding process exits or is killed (even by SIGKILL). A lock file left behind
/// by a dead process is therefore simply acquirable; its stale holder record is overwritten
/// by the next holder. There is no "lock exists = locked" state to clean up by hand.
///
/// When flock says "held" but the recorded pid on this host is dead, we still do NOT break
/// the lock. Only a live process can keep an flock, so one exists; the record is just not
/// describing it. That happens (a) in the short window after a new holder acquired the lock
/// and before it wrote its record (the file still shows the previous, dead holder) — breaking
/// here would let two commands mutate the same state; (b) when a child inherited the
/// descriptor (we open lock files with O_CLOEXEC so our own children never do, but other
/// code might fork without exec); (c) when the pid is from another pid namespace (a
/// container sharing the state directory). In all cases the safe answer is "held": we
/// re-read the record once after a short pause (case a resolves itself) and otherwise report
/// the lock as held, saying the recorded holder is gone and how to find the real one.
///
/// Lock files are never unlinked: unlinking an flock'd file lets a waiter lock the orphaned
/// inode while a newcomer locks a fresh file at the same path, and both would "hold" it.
///
/// Taking the lock and writing the record, and clearing the record and unlocking, each happen
/// under a short-held guard (`<resource>.guard`, also flock'd). A waiter that finds the lock
/// held reads the record under the same guard, so it always sees the record of the process
/// that holds the lock: there is no window in which it is held but names nobody.
public final class LockManager: Sendable {
    public let locksDirectory: String

    public init(locksDirectory: String) {
        self.locksDirectory = locksDirectory
    }

    /// The lock file path of a resource (`<locksDirectory>/<sanitised>.lock`).
    public func path(for resource: String) throws -> String {
        locksDirectory + "/" + (try Self.fileName(for: resource)) + ".lock"
    }

    /// Turns a resource name ("ports", "org.acme", "org.acme.env.dev", "ssl.*.example.com")
    /// into a safe file name: a-z, 0-9, '.', '_', '-' kept (upper case lowered); anything
    /// else, a leading '.', or excessive length is replaced and a short hash of the original
    /// appended so distinct resources never share a file. Empty names are refused.
    public static func fileName(for resource: String) throws -> String {
        guard !resource.isEmpty else {
            throw CoreError.invalidArgument("invalid lock resource name: empty")
        }
        var out = ""
        var changed = false
        for scalar in resource.unicodeScalars {
            let v = scalar.value
            if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) || v == 0x2E || v == 0x5F || v == 0x2D {
                out.unicodeScalars.append(scalar)
            } else if v >= 0x41 && v <= 0x5A {
                out.unicodeScalars.append(Unicode.Scalar(v + 0x20)!)
                changed = true
            } else {
                out += "_"
                changed = true
            }
        }
        if out.hasPrefix(".") { out = "_" + out.dropFirst(); changed = true }
        while out.contains("..") { out = out.replacingAll("..", with: "._"); changed = true }
        if out.utf8.count > 120 { out = String(out.prefix(120)); changed = true }
        if changed { out += "-" + fnv1a(resource) }
        return out
    }

    /// Acquires the lock on `resource`. When it is held: waits up to `wait` seconds (polling
    /// every ~50ms with jitter, unwinding with `CoreError.interrupted` when `interrupt` is
    /// raised), then throws `CoreError.lockHeld` (exit 5) naming the holder.
    public func acquire(_ resource: String, wait: TimeInterval = 0, holder: LockHolder,
                        interrupt: InterruptFlag? = nil) throws -> HeldLock {
        let lockPath = try path(for: resource)
        try AtomicFile.ensureDirectory(locksDirectory, mode: 0o700)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw IOError("open lock file", path: lockPath, errno: errno) }
        var keep = false
        defer { if !keep { close(fd) } }

        let guardFD = try openGuard(lockPath)
        defer { close(guardFD) }

        let deadline = Monotonic.now() + max(0, wait)
        var generator = SystemRandomNumberGenerator()
        while true {
            try interrupt?.check()
            switch try attempt(fd: fd, guardFD: guardFD, holder: holder, path: lockPath) {
            case .acquired:
                keep = true
                return HeldLock(resource: resource, path: lockPath, fd: fd, guardPath: lockPath + ".guard")
            case .held(let record):
                let now = Monotonic.now()
                if now >= deadline {
                    throw heldError(resource: resource, lockPath: lockPath, record: record, waited: wait)
                }
                let pause = min(0.05 + Double.random(in: 0...0.025, using: &generator), deadline - now)
                usleep(useconds_t(max(0.001, pause) * 1_000_000))
            }
        }
    }

    enum Attempt { case acquired, held(LockHolder?) }

    /// One try under the guard: take the lock and write our record, or read the holder's.
    func attempt(fd: Int32, guardFD: Int32, holder: LockHolder, path: String) throws -> Attempt {
        try Self.flockRetrying(guardFD, LOCK_EX, path: path + ".guard")
        defer { _ = flock(guardFD, LOCK_UN) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            if err == EINTR { continue }
            guard err == EWOULDBLOCK || err == EAGAIN else { throw IOError("lock", path: path, errno: err) }
            return .held(readRecord(path))
        }
        // We hold it: replace whatever record is there (possibly a dead holder's) with ours.
        do {
            try writeRecord(holder, fd: fd, path: path)
        } catch {
            _ = flock(fd, LOCK_UN)
            throw error
        }
        return .acquired
    }

    func openGuard(_ lockPath: String) throws -> Int32 {
        let guardPath = lockPath + ".guard"
        let fd = open(guardPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw IOError("open lock file", path: guardPath, errno: errno) }
        return fd
    }

    /// A blocking flock that retries on EINTR (the guard is held for microseconds).
    static func flockRetrying(_ fd: Int32, _ op: Int32, path: String) throws {
        while flock(fd, op) != 0 {
            guard errno == EINTR else { throw IOError("lock", path: path, errno: errno) }
        }
    }

    /// Runs `body` while holding the lock on `resource`; the lock is released afterwards,
    /// also when `body` throws.
    public func withLock<T>(_ resource: String, wait: TimeInterval = 0, holder: LockHolder,
                            interrupt: InterruptFlag? = nil, _ body: () throws -> T) throws -> T {
        let held = try acquire(resource, wait: wait, holder: holder, interrupt: interrupt)
        defer { held.release() }
        return try body()
    }

    /// The recorded holder of a resource's lock, for status displays: nil when the lock file
    /// names nobody (released locks clear their record) or names a dead local process.
    /// Advisory only — it does not probe the lock, because even a brief probing flock could
    /// make a concurrent non-blocking acquire fail.
    public func currentHolder(of resource: String) throws -> LockHolder? {
        guard let record = readRecord(try path(for: resource)), !record.isDeadLocalProcess else { return nil }
        return record
    }

    // MARK: - internals

    func writeRecord(_ holder: LockHolder, fd: Int32, path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(holder)
        data.append(0x0A)
        if ftruncate(fd, 0) != 0 { throw IOError("write lock file", path: path, errno: errno) }
        if lseek(fd, 0, SEEK_SET) < 0 { throw IOError("write lock file", path: path, errno: errno) }
        try AtomicFile.writeAll(fd: fd, data: data, path: path, operation: "write lock file")
        _ = fsync(fd)
    }

    func readRecord(_ path: String) -> LockHolder? {
        guard let data = try? AtomicFile.readIfExists(path), !data.isEmpty else { return nil }
        return try? JSONDecoder().decode(LockHolder.self, from: data)
    }

    func heldError(resource: String, lockPath: String, record: LockHolder?, waited: TimeInterval) -> CoreError {
        let holderText: String
        var hint: String
        if let record {
            if record.isDeadLocalProcess {
                holderText = record.description + " (that process is gone, but the lock is still held by a process that inherited its lock file)"
                hint = "find the process with 'fuser -v \(lockPath)' and stop it"
            } else {
                holderText = record.description
                hint = "wait for it to finish, or retry with --lock-wait 30s"
            }
        } else {
            // Only a holder that is not tetra (or an older tetra) takes the lock without a record.
            holderText = "another process (no holder recorded in \(lockPath))"
            hint = "retry with --lock-wait 30s, or find the process with 'fuser -v \(lockPath)'"
        }
        if waited > 0 { hint = "still held after waiting \(DurationValue.format(waited)); " + hint }
        return CoreError.lockHeld(resource: resource, holder: holderText, hint: hint)
    }

    static func fnv1a(_ s: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 {
            h ^= UInt32(b)
            h = h &* 16_777_619
        }
        return NumberText.hex(h, width: 8)
    }
}

extension CoreContext {
    /// The one way a command takes a local lock: `state/locks/<resource>.lock`, holder = this
    /// process and its (redacted) command line, waiting up to `wait` (default `lockWait`, the
    /// `--lock-wait` flag) and unwinding on Ctrl-C; released when `body` returns or throws.
    public func withLock<T>(_ resource: String, wait: TimeInterval? = nil, _ body: () throws -> T) throws -> T {
        let holder = LockHolder.current(command: commandLine.joined(separator: " "), now: now())
        return try LockManager(locksDirectory: paths.locks)
            .withLock(resource, wait: wait ?? lockWait, holder: holder, interrupt: interrupt, body)
    }
}
