import Dispatch
import FoundationEssentials
import Glibc

/// The supervisor of one service: `tetra svc __supervise NAME` re-executed by `svc start`
/// in a new session (setsid, its own process group, stdin from /dev/null). It spawns the
/// service's argv in a process group of its own, writes its stdout and stderr to rotating
/// logs with a timestamp per line, probes health, restarts by policy with exponential
/// backoff, detects crash loops, and records everything in `state.json` atomically.
///
/// It ends when: the interrupt flag is raised (SIGTERM from `svc stop`: the service's process
/// group gets SIGTERM, SIGKILL after `stop_timeout`), its state directory disappears (the
/// service is stopped, nothing is written), or the service reaches a final state (stopped,
/// failed, crashloop).
///
/// Between events it sleeps (see `SupervisorWaker`): an idle service costs no CPU. While it
/// runs it alone writes `state.json`; a copy written by anything else (garbage included) is
/// replaced with its own record at once.
public final class Supervisor: @unchecked Sendable {
    let def: ServiceDefinition
    let sp: ServicePaths
    let port: Int?
    let baseEnvironment: [String: String]
    let interrupt: InterruptFlag
    let now: @Sendable () -> Date
    /// A process that stayed up this long ran well: the restart after it waits the initial
    /// `backoff` again, however often it was restarted before.
    public static let stableUptime: TimeInterval = 10

    var record: ServiceRecord
    let stdoutLog: RotatingLog
    let stderrLog: RotatingLog
    let events: RotatingLog
    var child: pid_t? = nil
    /// The readers of the current child's stdout and stderr.
    var loggers: [PipeLogger] = []
    var spawnedAt: TimeInterval = 0
    var healthPassedOnce = false
    var nextProbeAt: TimeInterval = 0
    var restartAt: TimeInterval? = nil
    /// When a run last stayed up `stableUptime`: restarts before it do not grow the backoff.
    var backoffSince: Date? = nil
    let probes = ProbeBox()
    /// What this supervisor last wrote to `state.json`.
    var lastWritten: Data? = nil
    /// How often the service is sampled (docs/metrics.md); set before `run`.
    public var metricsInterval: TimeInterval = MetricsSettings.defaultInterval
    var metrics: SupervisorMetrics? = nil
    /// Called on the supervisor's loop with each sample, after it is recorded (the alert engine).
    public var onSample: ((MetricSample) -> Void)? = nil

    public init(definition: ServiceDefinition, paths: ServicePaths, port: Int?, environment: [String: String],
                token: String, interrupt: InterruptFlag, now: @escaping @Sendable () -> Date = { Date() }) {
        self.def = definition
        self.sp = paths
        self.port = port
        self.baseEnvironment = environment
        self.interrupt = interrupt
        self.now = now
        self.record = ServiceRecord(org: paths.org, name: paths.name, state: "starting",
                                    health: definition.health == nil ? "none" : "unknown", token: token, now: now())
        record.port = port
        stdoutLog = RotatingLog(path: paths.stdoutLog, maxSize: definition.logs.maxSize, keep: definition.logs.keep)
        stderrLog = RotatingLog(path: paths.stderrLog, maxSize: definition.logs.maxSize, keep: definition.logs.keep)
        events = RotatingLog(path: paths.eventsLog, maxSize: 1_000_000, keep: 2)
    }

    func event(_ text: String) {
        events.append(lines: [LineAssembler.stamp(Array(text.utf8), now())])
    }

    func save() {
        record.updated_at = now()
        guard FileManager.default.fileExists(atPath: sp.stateDirectory) else { return }
        do {
            let data = try record.encoded()
            try AtomicFile.write(data, to: sp.stateFile, mode: 0o600)
            lastWritten = data
        } catch { event("cannot write state: \(error)") }
    }

    /// `state.json` was written by another process while this supervisor runs (only `svc
    /// start` before it and `svc stop` after it write there): garbage, or a record that is not
    /// its own. It is replaced with the supervisor's record, so status and stop keep working.
    func verifyState() {
        guard let data = try? AtomicFile.readIfExists(sp.stateFile), data != lastWritten else { return }
        let what: String
        do {
            _ = try ServiceRecord.decode(data, path: sp.stateFile)
            what = "state file \(sp.stateFile) was overwritten by another process"
        } catch {
            what = (error as? any TetraError)?.message ?? "\(error)"
        }
        event("\(what); rewritten")
        save()
    }

    /// Runs until the service is stopped or reaches a final state. Returns an exit code.
    public func run() -> ExitCode {
        // One supervisor per service: the lock is held for the supervisor's lifetime (flock:
        // released by the kernel when it dies).
        let lock: HeldLock
        do {
            lock = try LockManager(locksDirectory: sp.stateDirectory)
                .acquire("supervisor", holder: LockHolder.current(command: "tetra svc __supervise \(def.name)", now: now()))
        } catch {
            event("another supervisor runs this service: \(error)")
            return .conflict
        }
        defer { lock.release() }
        Spawn.closeOnExecAll()
        record.supervisor = ProcessRef.current(getpid())
        event("supervisor started (pid \(getpid()))")
        // The supervisor lives in the service's working directory (default /): the service
        // and its command probes inherit it, and no mount is held busy by a random cwd.
        let dir = def.cwd ?? "/"
        guard chdir(dir) == 0 else {
            let message = "cannot enter working directory \(dir): \(String(cString: strerror(errno)))"
            event(message)
            finish("failed", message: message)
            return .failure
        }
        let waker: SupervisorWaker
        do { waker = try SupervisorWaker(watching: sp.stateDirectory, stateFile: sp.stateFile) } catch {
            finish("failed", message: "\(error)")
            return .failure
        }
        probes.waker = waker
        interrupt.onRaise { waker.wake() }
        startMetrics()
        guard spawnChild(waker) else { return .failure }
        while true {
            if interrupt.isRaised {
                event("stop requested")
                stopChild()
                finish("stopped", message: "stopped")
                return .success
            }
            if !FileManager.default.fileExists(atPath: sp.stateDirectory) {
                // The state was removed (svc remove, rm -rf): nothing to record into.
                stopChild()
                return .success
            }
            if let pid = child, let status = Spawn.reap(pid) {
                if !handleExit(pid: pid, status: status) { return status == 0 ? .success : .failure }
            }
            if let (pid, result) = probes.take(), pid == child {
                if !handleProbe(result) { return .failure }
            }
            if child == nil, let at = restartAt, Monotonic.now() >= at {
                restartAt = nil
                record.restarts += 1
                guard spawnChild(waker) else { return .failure }
            }
            if let pid = child, let health = def.health, !probes.inFlight, Monotonic.now() >= nextProbeAt {
                launchProbe(health, pid: pid)
            }
            sampleIfDue()
            if waker.wait(timeout: nextDue().map { max(0, $0 - Monotonic.now()) }) { verifyState() }
        }
    }

    /// The next timer (monotonic seconds): the restart after a backoff, the next health
    /// check or the next sample. nil: nothing is due, the supervisor sleeps until an event.
    func nextDue() -> TimeInterval? {
        let timers = [child == nil ? restartAt : nil, child != nil && def.health != nil && !probes.inFlight ? nextProbeAt : nil,
                      metrics?.nextAt]
        return timers.compactMap { $0 }.min()
    }

    // MARK: - Spawning

    /// The child's environment: the supervisor's, the definition's `env`, `PORT`, and the
    /// named secrets read now from the org's secrets, decrypted in memory (never recorded anywhere).
    func childEnvironment() throws -> [String: String] {
        var env = baseEnvironment
        for (k, v) in def.env { env[k] = ServiceDefinition.substitute(v, port: port) }
        if let port { env["PORT"] = String(port) }
        if !def.secrets.isEmpty {
            let secrets = try ServiceSecrets.values(sp)
            for key in def.secrets {
                guard let value = secrets[key] else {
                    throw Spawn.Failure(message: "secret \(key) is not defined in \(sp.secretsFile)")
                }
                env[key] = value
            }
        }
        return env
    }

    func spawnChild(_ waker: SupervisorWaker) -> Bool {
        do {
            let env = try childEnvironment()
            let argv = def.command.map { ServiceDefinition.substitute($0, port: port) }
            let out = try Spawn.pipe()
            let err: (read: Int32, write: Int32)
            do { err = try Spawn.pipe() } catch { close(out.read); close(out.write); throw error }
            let pid: pid_t
            do {
                pid = try Spawn.spawn(Spawn.Options(executable: argv[0], argv: argv, environment: env,
                                                    stdout: out.write, stderr: err.write))
            } catch {
                for fd in [out.read, out.write, err.read, err.write] { close(fd) }
                throw error
            }
            close(out.write)
            close(err.write)
            loggers = [PipeLogger(fd: out.read, log: stdoutLog), PipeLogger(fd: err.read, log: stderrLog)]
            for l in loggers { l.start() }
            child = pid
            waker.watchExit(of: pid)
            spawnedAt = Monotonic.now()
            record.process = ProcessRef.current(pid)
            record.started_at = now()
            healthPassedOnce = false
            record.consecutive_failures = 0
            if let h = def.health {
                record.health = "unknown"
                record.state = "starting"
                nextProbeAt = spawnedAt + (h.startPeriod > 0 ? min(h.interval, 0.5) : h.interval)
            } else {
                record.state = "running"
            }
            record.message = nil
            event("started \(argv[0]) (pid \(pid))")
            save()
            return true
        } catch {
            let message = "\(error)"
            event("cannot start: \(message)")
            finish("failed", message: message)
            return false
        }
    }

    // MARK: - Exits and restarts

    /// Waits (bounded: a daemonised grandchild may hold a pipe) until every line the
    /// child wrote is in its log.
    func drainLoggers() {
        let deadline = DispatchTime.now() + 3
        for l in loggers { _ = l.done.wait(timeout: deadline) }
        loggers = []
    }

    /// Returns false when the supervisor should end (a final state was recorded).
    func handleExit(pid: pid_t, status: Int32) -> Bool {
        let uptime = Monotonic.now() - spawnedAt
        child = nil
        record.process = nil
        // Whatever the service left in its process group goes with it.
        if !Spawn.remainingMembers(ofReapedLeader: pid).isEmpty { kill(-pid, SIGKILL) }
        drainLoggers()
        let reason = status >= 128 ? "killed by signal \(status - 128)" : "exited with status \(status)"
        record.last_exit = ExitRecord(status: status, at: now(), reason: reason)
        event("pid \(pid) \(reason)")
        let restart: Bool
        switch def.restart.policy {
        case .always: restart = true
        case .onFailure: restart = status != 0
        case .no: restart = false
        }
        guard restart else {
            finish(status == 0 ? "stopped" : "failed", message: reason)
            return false
        }
        return scheduleRestart(after: reason, state: "starting", uptime: uptime)
    }

    /// Schedules the next spawn after the backoff, or records `crashloop` when
    /// `max_restarts` restarts already happened within `window`. False: crash loop.
    /// The backoff doubles with each restart within `window`, except those before a run that
    /// stayed up `stableUptime` (`uptime`: how long the process that ended ran).
    func scheduleRestart(after reason: String, state: String, uptime: TimeInterval) -> Bool {
        let current = now()
        if uptime >= Self.stableUptime { backoffSince = current }
        record.restart_times = record.restart_times.filter { current.timeIntervalSince($0) < def.restart.window }
        if record.restart_times.count >= def.restart.maxRestarts {
            let message = "\(record.restart_times.count) restarts within \(DurationParser.format(def.restart.window)); last: \(reason)"
            event("crash loop: \(message); not restarting")
            finish("crashloop", message: message)
            return false
        }
        let exponent = Double(record.restart_times.filter { t in backoffSince.map { t > $0 } ?? true }.count)
        let delay = min(def.restart.backoff * pow(2, exponent), def.restart.maxBackoff)
        record.restart_times.append(current)
        record.last_restart_reason = reason
        restartAt = Monotonic.now() + delay
        record.state = state
        record.message = "restarting in \(DurationParser.format(delay)) (\(reason))"
        event(record.message!)
        save()
        return true
    }

    func finish(_ state: String, message: String?) {
        record.state = state
        record.message = message
        record.process = nil
        record.supervisor = nil
        // No process, nothing healthy: the last probe stays in last_health.
        record.health = def.health == nil ? "none" : "unknown"
        save()
    }

    /// SIGTERM to the service's process group, SIGKILL after `stop_timeout`; returns when no
    /// process of the group is left.
    func stopChild() {
        guard let pid = child else { return }
        kill(-pid, SIGTERM)
        let deadline = Monotonic.now() + def.stopTimeout
        var reaped = false
        var status: Int32 = 0
        while Monotonic.now() < deadline {
            if !reaped, let s = Spawn.reap(pid) { reaped = true; status = s }
            if reaped && Spawn.remainingMembers(ofReapedLeader: pid).isEmpty { break }
            usleep(20_000)
        }
        if !reaped || !Spawn.remainingMembers(ofReapedLeader: pid).isEmpty {
            event("pid \(pid) did not stop within \(DurationParser.format(def.stopTimeout)): SIGKILL")
            kill(-pid, SIGKILL)
            if !reaped {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                status = Spawn.decode(raw)
            }
            let until = Monotonic.now() + 2
            while !Spawn.remainingMembers(ofReapedLeader: pid).isEmpty && Monotonic.now() < until { usleep(10_000) }
        }
        child = nil
        record.process = nil
        drainLoggers()
        record.last_exit = ExitRecord(status: status, at: now(), reason: "stopped")
        event("pid \(pid) stopped")
    }

    // MARK: - Health

    func launchProbe(_ health: ServiceDefinition.Health, pid: pid_t) {
        probes.inFlight = true
        // Only a command probe needs the service's environment (secrets read again, like a spawn).
        var probeEnvironment = baseEnvironment
        if case .command = health.check { probeEnvironment = (try? childEnvironment()) ?? baseEnvironment }
        let env = probeEnvironment
        let port = self.port
        let cwd = def.cwd
        let now = self.now
        let box = probes
        Threads.start(name: "tetra-health", stackSize: 1 << 19) {
            let result = HealthProbe.run(health.check, port: port, timeout: health.timeout, environment: env, cwd: cwd, now: now)
            box.put(pid, result)
        }
    }

    /// False when the supervisor should end (a crash loop was recorded).
    func handleProbe(_ r: HealthResult) -> Bool {
        guard let health = def.health else { return true }
        record.last_health = r
        let mono = Monotonic.now()
        if r.ok {
            if record.health != "healthy" { event("healthy: \(r.message)") }
            healthPassedOnce = true
            record.consecutive_failures = 0
            record.health = "healthy"
            record.state = "running"
            record.message = nil
            nextProbeAt = mono + health.interval
            save()
            return true
        }
        let inStartPeriod = !healthPassedOnce && mono - spawnedAt < health.startPeriod
        if inStartPeriod {
            nextProbeAt = mono + min(health.interval, 0.5)
            save()
            return true
        }
        record.consecutive_failures += 1
        nextProbeAt = mono + health.interval
        event("health check failed (\(record.consecutive_failures)/\(health.retries)): \(r.message)")
        guard record.consecutive_failures >= health.retries else { save(); return true }
        record.health = "unhealthy"
        record.state = "unhealthy"
        record.message = "\(record.consecutive_failures) failed health checks: \(r.message)"
        save()
        guard def.restart.policy != .no else { return true }
        let uptime = mono - spawnedAt
        stopChild()
        return scheduleRestart(after: "unhealthy: \(r.message)", state: "unhealthy", uptime: uptime)
    }
}

/// Health results handed from probe threads to the supervisor loop.
final class ProbeBox: @unchecked Sendable {
    private let lock = Lock()
    private var result: (pid_t, HealthResult)? = nil
    private var running = false
    /// Woken when a result is put.
    var waker: SupervisorWaker? {
        get { lock.lock(); defer { lock.unlock() }; return wakerRef }
        set { lock.lock(); wakerRef = newValue; lock.unlock() }
    }
    private var wakerRef: SupervisorWaker? = nil

    var inFlight: Bool {
        get { lock.lock(); defer { lock.unlock() }; return running }
        set { lock.lock(); running = newValue; lock.unlock() }
    }

    func put(_ pid: pid_t, _ r: HealthResult) {
        lock.lock()
        result = (pid, r)
        running = false
        let w = wakerRef
        lock.unlock()
        w?.wake()
    }

    func take() -> (pid_t, HealthResult)? {
        lock.lock()
        defer { lock.unlock() }
        let r = result
        result = nil
        return r
    }
}
