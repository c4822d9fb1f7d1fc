import FoundationEssentials
import Glibc

/// Starting processes with `posix_spawn` directly (the supervisor and its children): argv,
/// never a shell; a new session or process group; standard streams given as descriptors;
/// signal dispositions reset to their defaults (tetra ignores SIGPIPE, a service must not
/// inherit that).
public enum Spawn {
    /// Orders spawns after descriptor creation (see `spawn`).
    private static let lock = Lock()

    static func isCurrentDirectory(_ dir: String) -> Bool {
        var a = stat(), b = stat()
        return stat(dir, &a) == 0 && stat(".", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// `POSIX_SPAWN_SETSID` is not imported into Swift (glibc spawn.h: 0x80).
    static let setsidFlag: Int32 = 0x80

    public struct Options: Sendable {
        public var executable: String
        public var argv: [String]
        public var environment: [String: String]
        public var workingDirectory: String?
        /// Descriptors for 0, 1, 2 in the child (nil: /dev/null).
        public var stdin: Int32?
        public var stdout: Int32?
        public var stderr: Int32?
        /// A new session (setsid): no controlling terminal, its own process group.
        public var newSession: Bool
        /// Its own process group (pgid = pid) when not a new session.
        public var newProcessGroup: Bool

        public init(executable: String, argv: [String], environment: [String: String], workingDirectory: String? = nil,
                    stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil,
                    newSession: Bool = false, newProcessGroup: Bool = true) {
            self.executable = executable
            self.argv = argv
            self.environment = environment
            self.workingDirectory = workingDirectory
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.newSession = newSession
            self.newProcessGroup = newProcessGroup
        }
    }

    /// Why a spawn failed, in words an operator understands.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        /// The cause alone (the system's words), for callers that name the program themselves.
        public var reason: String
        public var description: String { message }

        public init(message: String, reason: String? = nil) {
            self.message = message
            self.reason = reason ?? message
        }
    }

    /// Resolves `name` on PATH (or checks it when it contains a slash).
    public static func resolve(_ name: String, path: String?, cwd: String?) -> String? {
        if name.contains("/") {
            let dir = cwd ?? FileManager.default.currentDirectoryPath
            let full = name.hasPrefix("/") ? name : (dir.hasSuffix("/") ? dir : dir + "/") + name
            return access(full, X_OK) == 0 ? full : nil
        }
        return SystemProcessRunner.resolve(name, searchPath: path ?? "/usr/local/bin:/usr/bin:/bin")
    }

    /// Spawns and returns the pid. The child's descriptors other than 0/1/2 are closed.
    public static func spawn(_ o: Options) throws -> pid_t {
        if let dir = o.workingDirectory {
            var st = stat()
            guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw Failure(message: "working directory \(dir) does not exist")
            }
        }
        guard let exe = resolve(o.executable, path: o.environment["PATH"], cwd: o.workingDirectory) else {
            throw Failure(message: "command '\(o.executable)' not found" + (o.executable.contains("/") ? " or not executable" : " on PATH"))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }

        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        for (target, source) in [(Int32(0), o.stdin), (1, o.stdout), (2, o.stderr)] {
            posix_spawn_file_actions_adddup2(&actions, source ?? devNull, target)
        }
        // Nothing but 0, 1 and 2 reaches the child, not even a descriptor our own parent
        // leaked to us without close-on-exec (a supervisor holding its caller's pipe would keep
        // `svc start`'s caller waiting forever): glibc's closefrom action (2.34 and later).
        _ = tetra_posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        if let dir = o.workingDirectory, !Self.isCurrentDirectory(dir) {
            _ = tetra_posix_spawn_file_actions_addchdir_np(&actions, dir)
        }

        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if o.newSession { flags |= setsidFlag } else if o.newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)

        let argv: [UnsafeMutablePointer<CChar>?] = o.argv.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = o.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        // Serialised with pipe creation: a descriptor made by another thread is close-on-exec
        // before any spawn can inherit it (static builds have no pipe2/closefrom to call).
        lock.lock()
        let rc = posix_spawn(&pid, exe, &actions, &attr, argv, envp)
        lock.unlock()
        guard rc == 0 else {
            throw Failure(message: "cannot start \(o.executable): \(String(cString: strerror(rc)))", reason: String(cString: strerror(rc)))
        }
        return pid
    }

    /// The descriptors open in this process (from /proc/self/fd).
    static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }

    /// Marks every descriptor above 2 close-on-exec (the supervisor does it at start for
    /// whatever it inherited).
    public static func closeOnExecAll() {
        for fd in openDescriptors() where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// A pipe with both ends close-on-exec (the child gets its end through dup2).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try SystemProcessRunner.makePipe()
        } catch {
            throw Failure(message: "pipe: \(String(cString: strerror(errno)))")
        }
    }


    /// Non-blocking reap: the exit status as a shell reports it (code, or 128 + signal),
    /// nil while running. `-1` when the pid is not our child.
    public static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return nil }
        if r < 0 { return errno == EINTR ? nil : -1 }
        return decode(status)
    }

    public static func decode(_ status: Int32) -> Int32 {
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }

    /// What is left of the process group `pgid` after its leader (pid `pgid`) was reaped.
    /// A process with pid `pgid` in that group is a newcomer that reused the number (ours is
    /// gone): then the group is not ours and nothing is returned.
    public static func remainingMembers(ofReapedLeader pgid: pid_t) -> [pid_t] {
        let members = groupMembers(pgid)
        return members.contains(pgid) ? [] : members
    }

    /// Every pid whose process group is `pgid` (from /proc/<pid>/stat field 5).
    public static func groupMembers(_ pgid: pid_t) -> [pid_t] {
        guard pgid > 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var out: [pid_t] = []
        for e in entries {
            guard let pid = pid_t(e), let data = FileManager.default.contents(atPath: "/proc/\(e)/stat") else { continue }
            let line = String(decoding: data, as: UTF8.self)
            guard let close = line.lastIndex(of: ")") else { continue }
            let rest = line[line.index(after: close)...].split(separator: " ")
            // rest[0] state, rest[1] ppid, rest[2] pgrp
            if rest.count > 2, rest[0] != "Z", pid_t(rest[2]) == pgid { out.append(pid) }
        }
        return out
    }
}

// GNU extensions that glibc declares only under _GNU_SOURCE, which the Glibc module does not
// define (and a static binary cannot dlsym them): bound by name, like `renameat2` (integer
// and pointer arguments pass alike in Swift and C). In glibc since 2.29 and 2.34.
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func tetra_posix_spawn_file_actions_addchdir_np(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>,
                                                         _ path: UnsafePointer<CChar>) -> Int32
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func tetra_posix_spawn_file_actions_addclosefrom_np(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>,
                                                            _ from: Int32) -> Int32
