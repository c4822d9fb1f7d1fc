import Dispatch
import FoundationEssentials
import Glibc

/// A piece of a child's output, delivered while it runs (for progress displays).
public struct OutputChunk: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public var stream: Stream
    public var data: Data
    public init(stream: Stream, data: Data) {
        self.stream = stream
        self.data = data
    }
}

/// Runs external programs with `posix_spawn` (`Spawn`; Foundation's `Process` would link all
/// of Foundation and ICU into the binary): argv arrays only, never a shell.
///
/// - The program is looked up on PATH by us (`which`) before anything is launched; a missing
///   program throws `ToolError.notInstalled` (exit 6).
/// - stdout and stderr are drained concurrently by dedicated reader threads while the child
///   runs, so a child writing a lot to both never blocks on a full pipe. Output beyond
///   `outputLimit` is dropped (head of stdout, tail of stderr kept, `*Truncated` set) but
///   still read, so the child never blocks.
/// - stdin is `input` written by a separate thread (a child that does not read it cannot
///   deadlock us; EPIPE is handled without a process-killing SIGPIPE), or /dev/null.
/// - On timeout: SIGTERM, then SIGKILL after `killGrace`; the result has `timedOut = true`.
///
/// Process groups: the child runs in a process group of its own (POSIX_SPAWN_SETPGROUP,
/// pgid = child pid). Consequences, and what we do about them:
/// - Signals go to the whole group (`kill(-pgid)`), so a timeout also ends grandchildren
///   (ssh under git, sh pipelines) instead of leaving them holding our pipes.
/// - Ctrl-C in the terminal reaches only the terminal's foreground group (tetra), not the
///   child. Runners built with an `InterruptFlag` watch it and stop the child (SIGTERM, then
///   SIGKILL) and throw `CoreError.interrupted`; for an immediate exit the CLI can call
///   `SystemProcessRunner.signalRunningChildren(SIGTERM)` before exiting.
/// - A child in a background group that reads the terminal is stopped (SIGTTIN); tools are
///   therefore run non-interactively (stdin /dev/null or a pipe, `ssh -o BatchMode=yes`,
///   `GIT_TERMINAL_PROMPT=0`), which matches "never prompt" in the spec.
///
/// A waiter thread sees the child's exit with `waitid(WNOWAIT)`, without reaping it, so the
/// pid cannot be reused while its group may still be signalled; the runner reaps it after.
/// The child gets only its descriptors 0, 1 and 2. After the child exits, the pipes are drained until EOF or for at most
/// `postExitDrainTimeout` (a daemonised grandchild, e.g. an ssh ControlPersist master, may
/// keep them open forever).
public struct SystemProcessRunner: ProcessRunning {
    /// The base environment; a request's `environment` is merged over it.
    public var environment: [String: String]
    /// When raised while a child runs: the child is stopped and `run` throws `CoreError.interrupted`.
    public var interrupt: InterruptFlag?
    /// How long to keep reading a pipe after the child exited (grandchildren may hold it).
    public var postExitDrainTimeout: TimeInterval

    /// execvp's default search path, used when no PATH is set at all.
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The tetra binary: when set, every tool starts through its `__parent-death` mode and
    /// dies with this process (see `ParentDeath`).
    let parentDeathWrapper: String?

    public init(environment: [String: String], interrupt: InterruptFlag? = nil, postExitDrainTimeout: TimeInterval = 2,
                parentDeathWrapper: String? = nil) {
        self.parentDeathWrapper = parentDeathWrapper
        self.environment = environment
        self.interrupt = interrupt
        self.postExitDrainTimeout = postExitDrainTimeout
    }

    // MARK: - lookup

    public func which(_ executable: String) -> String? {
        Self.resolve(executable, searchPath: environment["PATH"])
    }

    /// The environment a request's child gets.
    public func environment(for request: ProcessRequest) -> [String: String] {
        if request.replaceEnvironment { return request.environment }
        return environment.merging(request.environment) { _, new in new }
    }

    /// Resolves a program: a name with a '/' is taken as a path (relative to the current
    /// directory); otherwise each absolute directory of `searchPath` is tried in order (empty
    /// and relative entries are skipped: they would make the lookup depend on the cwd).
    public static func resolve(_ name: String, searchPath: String?) -> String? {
        guard !name.isEmpty, !name.contains("\0") else { return nil }
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : FileManager.default.currentDirectoryPath + "/" + name
            return isExecutableFile(path) ? path : nil
        }
        for dir in (searchPath ?? defaultSearchPath).split(separator: ":") where dir.hasPrefix("/") {
            let candidate = (dir.hasSuffix("/") ? String(dir) : dir + "/") + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    // MARK: - running

    public func run(_ request: ProcessRequest) throws -> ProcessResult {
        try execute(request, onOutput: nil)
    }

    /// Like `run`, and delivers output chunks as they arrive (on reader threads, in order per
    /// stream). The result still carries the (capped) output.
    public func run(_ request: ProcessRequest, onOutput: @escaping @Sendable (OutputChunk) -> Void) throws -> ProcessResult {
        try execute(request, onOutput: onOutput)
    }

    /// Sends `signal` to the process groups of all children currently run by any
    /// SystemProcessRunner in this process (e.g. from the CLI when it exits on Ctrl-C).
    public static func signalRunningChildren(_ signal: Int32) {
        for pid in ChildRegistry.shared.all() {
            signalGroup(pid, signal)
        }
    }

    static func signalGroup(_ pid: Int32, _ sig: Int32) {
        guard pid > 0 else { return }
        if kill(-pid, sig) != 0 && errno == ESRCH {
            _ = kill(pid, sig)
        }
    }

    private func execute(_ request: ProcessRequest, onOutput: (@Sendable (OutputChunk) -> Void)?) throws -> ProcessResult {
        let env = environment(for: request)
        guard let executablePath = Self.resolve(request.executable, searchPath: env["PATH"]) else {
            throw ToolError.notInstalled(tool: request.executable, hint: nil)
        }
        let toolName = Redactor(secrets: request.secrets).redact(request.executable)
        if let dir = request.workingDirectory {
            var st = stat()
            guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw ToolError.launchFailed(tool: toolName, reason: "working directory \(dir) does not exist")
            }
        }
        try interrupt?.check()

        var fds: [Int32] = []
        func closeAll() { for fd in fds where fd >= 0 { close(fd) } }
        let out: (read: Int32, write: Int32)
        let err: (read: Int32, write: Int32)
        var inp: (read: Int32, write: Int32)? = nil
        do {
            out = try Self.makePipe(); fds += [out.read, out.write]
            err = try Self.makePipe(); fds += [err.read, err.write]
            if request.input != nil && request.inputFile == nil && request.inputDescriptor == nil {
                let p = try Self.makePipe(); fds += [p.read, p.write]
                inp = p
            }
        } catch {
            closeAll()
            throw error
        }

        let (launched, argv) = parentDeathWrapper.map {
            ParentDeath.wrap(wrapper: $0, executable: executablePath, arguments: request.arguments)
        } ?? (executablePath, request.arguments)
        // Files for stdin/stdout (streamed by the kernel): opened close-on-exec; the child gets
        // them through dup2. Ours are closed once the child runs.
        var streamFDs: [Int32] = []
        defer { for fd in streamFDs { close(fd) } }
        if let given = request.inputDescriptor {
            // A duplicate shares the file offset: the caller sees how far the child read.
            let fd = fcntl(given, F_DUPFD_CLOEXEC, 3)
            guard fd >= 0 else {
                closeAll()
                throw ToolError.launchFailed(tool: toolName, reason: "cannot pass descriptor \(given): \(String(cString: strerror(errno)))")
            }
            streamFDs.append(fd)
        } else if let path = request.inputFile {
            // "-": the child reads our own standard input (a stream passed through, never re-opened).
            let fd = path == "-" ? fcntl(0, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                closeAll()
                throw ToolError.launchFailed(tool: toolName, reason: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            streamFDs.append(fd)
        }
        if let path = request.outputFile {
            // "-": the child writes to our own standard output.
            let fd = path == "-" ? fcntl(1, F_DUPFD_CLOEXEC, 3) : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                closeAll()
                throw ToolError.launchFailed(tool: toolName, reason: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            streamFDs.append(fd)
        }
        // The child's standard streams (nil: /dev/null); it runs in a process group of its own.
        let options = Spawn.Options(
            executable: launched, argv: [launched] + argv, environment: env, workingDirectory: request.workingDirectory,
            stdin: request.inputFile != nil || request.inputDescriptor != nil ? streamFDs[0] : inp?.read,
            stdout: request.outputFile != nil ? streamFDs[streamFDs.count - 1] : out.write,
            stderr: err.write, newProcessGroup: true)

        let start = Monotonic.now()
        let pid: pid_t
        do {
            pid = try Spawn.spawn(options)
        } catch let failure as Spawn.Failure {
            closeAll()
            throw ToolError.launchFailed(tool: toolName, reason: failure.reason)
        }
        ChildRegistry.shared.add(pid)
        defer { ChildRegistry.shared.remove(pid) }
        // Told when the child exits (without reaping it: the group is signalled until then).
        let exited = DispatchSemaphore(value: 0)
        Threads.start(name: "tetra-child-wait", stackSize: 1 << 16) {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            exited.signal()
        }

        // The child has its copies; ours of the child's ends must go, or we never see EOF.
        close(out.write)
        close(err.write)
        if let inp { close(inp.read) }

        let stdoutCollector = OutputCollector(limit: request.outputLimit, keepTail: false)
        let stderrCollector = OutputCollector(limit: request.outputLimit, keepTail: true)
        let stdoutReader = PipeReader(fd: out.read, stream: .stdout, collector: stdoutCollector, onOutput: onOutput)
        let stderrReader = PipeReader(fd: err.read, stream: .stderr, collector: stderrCollector, onOutput: onOutput)
        stdoutReader.start()
        stderrReader.start()
        var writer: InputWriter? = nil
        if let inp, let input = request.input {
            let w = InputWriter(fd: inp.write, data: input)
            w.start()
            writer = w
        }

        // Wait for the exit, enforcing the timeout and watching the interrupt flag.
        var timedOut = false
        var interrupted = false
        var termSentAt: TimeInterval? = nil
        var killSent = false
        var status: Int32? = nil
        while status == nil {
            if exited.wait(timeout: .now() + .milliseconds(20)) == .success {
                status = Self.reapBlocking(pid)
                break
            }
            let now = Monotonic.now()
            if let sent = termSentAt {
                if !killSent, now - sent >= request.killGrace {
                    Self.signalGroup(pid, SIGKILL)
                    killSent = true
                }
            } else if let timeout = request.timeout, now - start >= timeout {
                timedOut = true
                Self.signalGroup(pid, SIGTERM)
                termSentAt = now
            } else if interrupt?.isRaised == true {
                interrupted = true
                Self.signalGroup(pid, SIGTERM)
                termSentAt = now
            }
        }
        let duration = Monotonic.now() - start

        // Drain: wait for EOF on both pipes, bounded (each reader's semaphore is consumed once).
        var stdoutDone = false
        var stderrDone = false
        func awaitReaders(until deadline: DispatchTime) {
            if !stdoutDone { stdoutDone = stdoutReader.done.wait(timeout: deadline) == .success }
            if !stderrDone { stderrDone = stderrReader.done.wait(timeout: deadline) == .success }
        }
        var drainLimit = postExitDrainTimeout
        if let sent = termSentAt, !killSent {
            drainLimit = max(0.05, sent + request.killGrace - Monotonic.now())
        }
        awaitReaders(until: .now() + drainLimit)
        if !(stdoutDone && stderrDone), termSentAt != nil, !killSent {
            // Stragglers of a stopped child's group that survived SIGTERM: kill them too.
            Self.signalGroup(pid, SIGKILL)
            killSent = true
            awaitReaders(until: .now() + 1)
        }
        // Whatever still holds a pipe (a daemonised grandchild) is abandoned: the readers
        // take what is buffered and close their ends.
        stdoutReader.stop()
        stderrReader.stop()
        if !stdoutDone { stdoutReader.done.wait() }
        if !stderrDone { stderrReader.done.wait() }
        writer?.stop()
        writer?.done.wait()

        if interrupted {
            throw CoreError.interrupted
        }
        let (stdoutData, stdoutTruncated) = stdoutCollector.finish()
        let (stderrData, stderrTruncated) = stderrCollector.finish()
        return ProcessResult(status: status ?? -1, stdout: stdoutData, stderr: stderrData,
                             stdoutTruncated: stdoutTruncated, stderrTruncated: stderrTruncated,
                             timedOut: timedOut, duration: duration)
    }

    /// Reaps an exited child: its status as a shell reports it (the exit code, or 128 + signal
    /// number); -1 when it is not our child (someone else reaped it).
    static func reapBlocking(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while true {
            if waitpid(pid, &status, 0) == pid { return Spawn.decode(status) }
            if errno != EINTR { return -1 }
        }
    }

    /// A pipe whose both ends are close-on-exec from the start (pipe2(O_CLOEXEC)), so no
    /// other child spawned concurrently inherits them and keeps them open. The child gets its
    /// ends through dup2, which clears the flag on the duplicate.
    static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let r = fds.withUnsafeMutableBufferPointer { tetra_pipe2($0.baseAddress!, O_CLOEXEC) }
        guard r == 0 else {
            throw ToolError.launchFailed(tool: "pipe", reason: String(cString: strerror(errno)))
        }
        return (fds[0], fds[1])
    }

}

/// glibc's pipe2 is declared only under _GNU_SOURCE, which the Glibc module does not define;
/// bound by name (like `renameat2`: integer and pointer arguments pass alike in Swift and C).
@_silgen_name("pipe2")
private func tetra_pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// Pids of running children (their pgids), for `signalRunningChildren`.
final class ChildRegistry: @unchecked Sendable {
    static let shared = ChildRegistry()
    private let lock = Lock()
    private var pids: Set<Int32> = []
    func add(_ pid: Int32) { lock.lock(); pids.insert(pid); lock.unlock() }
    func remove(_ pid: Int32) { lock.lock(); pids.remove(pid); lock.unlock() }
    func all() -> [Int32] { lock.lock(); defer { lock.unlock() }; return Array(pids) }
}

/// Collects one stream up to a limit: the head (stdout) or the tail (stderr).
final class OutputCollector: @unchecked Sendable {
    private let lock = Lock()
    private var data = Data()
    private var truncated = false
    let limit: Int
    let keepTail: Bool

    init(limit: Int, keepTail: Bool) {
        self.limit = max(0, limit)
        self.keepTail = keepTail
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        lock.lock()
        defer { lock.unlock() }
        if keepTail {
            data.append(bytes.bindMemory(to: UInt8.self))
            // Trim in amortised steps: only when well over the limit.
            if data.count > limit + max(limit, 1 << 16) {
                data = Data(data.suffix(limit))
                truncated = true
            }
        } else {
            let room = limit - data.count
            if room >= bytes.count {
                data.append(bytes.bindMemory(to: UInt8.self))
            } else {
                if room > 0 { data.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<room])) }
                truncated = true
            }
        }
    }

    func finish() -> (Data, Bool) {
        lock.lock()
        defer { lock.unlock() }
        if keepTail, data.count > limit {
            data = Data(data.suffix(limit))
            truncated = true
        }
        return (data, truncated)
    }
}

/// Reads a pipe on a dedicated thread until EOF or until stopped.
final class PipeReader: @unchecked Sendable {
    let fd: Int32
    let stream: OutputChunk.Stream
    let collector: OutputCollector
    let onOutput: (@Sendable (OutputChunk) -> Void)?
    let done = DispatchSemaphore(value: 0)
    private let lock = Lock()
    private var stopRequested = false

    init(fd: Int32, stream: OutputChunk.Stream, collector: OutputCollector, onOutput: (@Sendable (OutputChunk) -> Void)?) {
        self.fd = fd
        self.stream = stream
        self.collector = collector
        self.onOutput = onOutput
    }

    func start() {
        Threads.start(name: "tetra-\(stream.rawValue)-reader") { [self] in self.loop() }
    }

    func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    private func loop() {
        let bufferSize = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer {
            buffer.deallocate()
            close(fd)
            done.signal()
        }
        var finalDrainBudget = 64 // chunks read after a stop request (a busy grandchild)
        while true {
            let stopping = isStopped
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, stopping ? 0 : 50)
            if r < 0 {
                if errno == EINTR { continue }
                return
            }
            if r == 0 {
                if stopping { return }
                continue
            }
            let n = read(fd, buffer, bufferSize)
            if n > 0 {
                let chunk = UnsafeRawBufferPointer(start: buffer, count: n)
                collector.append(chunk)
                if let onOutput { onOutput(OutputChunk(stream: stream, data: Data(chunk))) }
                if stopping {
                    finalDrainBudget -= 1
                    if finalDrainBudget <= 0 { return }
                }
            } else if n == 0 {
                return
            } else if errno != EINTR && errno != EAGAIN {
                return
            }
        }
    }
}

/// Writes a child's stdin on a dedicated thread. Non-blocking writes with poll, so it can
/// be stopped when the child is gone; SIGPIPE is blocked on this thread (and a pending one
/// consumed), so a child closing its stdin early yields EPIPE, not the death of tetra.
final class InputWriter: @unchecked Sendable {
    let fd: Int32
    let data: Data
    let done = DispatchSemaphore(value: 0)
    private let lock = Lock()
    private var stopRequested = false

    init(fd: Int32, data: Data) {
        self.fd = fd
        self.data = data
    }

    func start() {
        Threads.start(name: "tetra-stdin-writer") { [self] in self.loop() }
    }

    func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    private func loop() {
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        var oldSet = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSet, &oldSet)
        var sawEPIPE = false
        defer {
            close(fd)
            if sawEPIPE {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                while sigtimedwait(&pipeSet, nil, &zero) == SIGPIPE {}
            }
            pthread_sigmask(SIG_SETMASK, &oldSet, nil)
            done.signal()
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                if isStopped { return }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let r = poll(&pfd, 1, 50)
                if r <= 0 { continue }
                let n = write(fd, base + offset, min(1 << 16, raw.count - offset))
                if n > 0 {
                    offset += n
                } else if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    if errno == EPIPE { sawEPIPE = true }
                    return
                }
            }
        }
    }
}
