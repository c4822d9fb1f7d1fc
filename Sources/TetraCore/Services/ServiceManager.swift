import FoundationEssentials
import Glibc

/// The services of one org: status, start, stop, restart, logs, health, create, remove,
/// boot. The core API behind `tetra svc` (and `tetra quickstart`'s demo service:
/// `create(...)` then `start([name])`).
public struct ServiceManager: Sendable {
    public let core: CoreContext
    public let org: String

    public init(core: CoreContext, org: String) {
        self.core = core
        self.org = org
    }

    public var paths: StatePaths { core.paths }

    public func catalog() throws -> ServiceCatalog {
        try ServiceCatalog.load(paths: paths, org: org)
    }

    public static func containerName(org: String, service: String) -> String { "tetra-\(org)-\(service)" }

    // MARK: - Status

    public struct Status: Sendable, Encodable {
        public var org: String
        public var name: String
        public var runtime: ServiceDefinition.Runtime
        public var enabled: Bool
        public var state: ServiceStateName
        public var health: ServiceHealthName
        public var pid: Int32?
        public var supervisor_pid: Int32?
        public var started_at: Date?
        public var uptime_seconds: Int?
        public var restarts: Int
        public var port: Int?
        public var port_name: String?
        public var last_health: HealthResult?
        public var last_exit: ExitRecord?
        public var message: String?
        public var container: String?
    }

    /// Every service of the org (a docker service whose engine cannot be asked is "unknown").
    public func list() throws -> [Status] { list(try catalog()) }

    public func list(_ cat: ServiceCatalog) -> [Status] {
        cat.definitions.map { def in
            do { return try status(def, cat) } catch {
                var s = baseStatus(def, cat)
                s.state = .unknown
                s.message = (error as? any TetraError)?.message ?? "\(error)"
                return s
            }
        }
    }

    public func status(_ name: String) throws -> Status {
        let (cat, def) = try single(name)
        return try status(def, cat)
    }

    /// One service's definition without reading the others (status, logs, health of one
    /// service stay fast in an org with hundreds of services). Its unknown keys are in the
    /// returned catalog's warnings.
    public func single(_ name: String) throws -> (ServiceCatalog, ServiceDefinition) {
        try Names.validate(name, what: "service")
        let cat = try ServiceCatalog.load(paths: paths, org: org, only: name)
        return (cat, try cat.definition(name))
    }

    func baseStatus(_ def: ServiceDefinition, _ cat: ServiceCatalog) -> Status {
        var portName: String? = nil
        if case .named(let n)? = def.port { portName = n }
        return Status(org: org, name: def.name, runtime: def.runtime, enabled: def.enabled, state: .stopped,
                      health: def.health == nil ? .none : .unknown, restarts: 0,
                      port: (try? cat.resolvePort(def)) ?? nil, port_name: portName,
                      container: def.runtime == .docker ? Self.containerName(org: org, service: def.name) : nil)
    }

    public func status(_ def: ServiceDefinition, _ cat: ServiceCatalog) throws -> Status {
        var s = baseStatus(def, cat)
        if def.runtime == .docker { return try dockerStatus(def, base: s) }
        let sp = cat.servicePaths(def.name)
        let loaded: ServiceRecord?
        do { loaded = try ServiceRecord.load(sp.stateFile) } catch {
            // A corrupt state file: say so (naming it), and whether a supervisor still runs.
            s.state = .unknown
            s.message = (error as? any TetraError)?.message ?? "\(error)"
            if let sup = Self.lockedSupervisor(sp) {
                s.supervisor_pid = sup.pid
                s.message! += "; its supervisor (pid \(sup.pid)) runs: `tetra svc stop \(def.name)` stops it"
            }
            return s
        }
        guard let rec = loaded else { return s }
        s.state = ServiceStateName(recorded: rec.state)
        s.health = ServiceHealthName(recorded: rec.health)
        s.restarts = rec.restarts
        s.last_health = rec.last_health
        s.last_exit = rec.last_exit
        s.message = rec.message
        if rec.port != nil { s.port = rec.port }
        if ServiceRecord.activeStates.contains(rec.state) {
            if rec.supervisorAlive {
                s.supervisor_pid = rec.supervisor?.pid
                if let p = rec.process, p.isAlive {
                    s.pid = p.pid
                    s.started_at = rec.started_at
                    if let started = rec.started_at { s.uptime_seconds = max(0, Int(core.now().timeIntervalSince(started))) }
                } else if rec.state == "running" {
                    // Never "running" without a process: it ended and its supervisor has not
                    // recorded that yet.
                    s.state = .starting
                    s.message = "pid \(rec.process.map { String($0.pid) } ?? "?") ended; its supervisor has not recorded it yet"
                }
            } else {
                s.state = .failed
                s.message = "the supervisor (pid \(rec.supervisor.map { String($0.pid) } ?? "?")) is gone"
            }
        }
        return s
    }

    /// The supervisor holding a service's lock (`supervisor.lock` in its state directory, which
    /// names it while it runs): how a service stays stoppable when `state.json` is lost.
    static func lockedSupervisor(_ sp: ServicePaths) -> ProcessRef? {
        guard let h = try? LockManager(locksDirectory: sp.stateDirectory).currentHolder(of: "supervisor"),
              let start = h.startTime else { return nil }
        let ref = ProcessRef(pid: h.pid, start_time: start)
        return ref.isAlive ? ref : nil
    }

    // MARK: - Start

    public struct StartResult: Sendable, Encodable {
        public var name: String
        public enum Action: String, Sendable, Encodable { case started, alreadyRunning = "already-running" }
        public var runtime: ServiceDefinition.Runtime
        public var action: Action
        public var state: ServiceStateName
        public var pid: Int32?
        public var supervisor_pid: Int32?
        public var port: Int?
        public var container: String?
    }

    /// Starts `names` (or every service) and what they depend on, dependencies first.
    public func start(_ names: [String], all: Bool = false) throws -> [StartResult] {
        let cat = try catalog()
        for n in names { _ = try cat.definition(n) }
        let order = try cat.startOrder(all ? cat.definitions.map(\.name) : names)
        let dependedOn = Set(try order.flatMap { try cat.definition($0).dependsOn })
        var results: [StartResult] = []
        for name in order {
            try core.interrupt.check()
            let def = try cat.definition(name)
            results.append(try start(def, cat))
            if dependedOn.contains(name), def.health != nil { try waitHealthy(def, cat) }
        }
        return results
    }

    /// Before its dependents start, a service with a health check gets the time its check
    /// needs to pass (start_period + (interval + timeout) × retries). Failing (crash loop,
    /// failed) stops the start; still unknown when the time is up is a warning.
    func waitHealthy(_ def: ServiceDefinition, _ cat: ServiceCatalog) throws {
        guard let h = def.health else { return }
        let deadline = Monotonic.now() + h.startPeriod + (h.interval + h.timeout) * Double(h.retries) + 1
        while Monotonic.now() < deadline {
            try core.interrupt.check()
            let s = try status(def, cat)
            if s.health == .healthy { return }
            if s.state == .failed || s.state == .crashloop || s.state == .stopped {
                throw CoreError.failed("\(def.name) is \(s.state.rawValue)" + (s.message.map { ": \($0)" } ?? "") + "; the services that depend on it were not started",
                                       hint: "see `tetra svc logs \(def.name) --stderr`")
            }
            usleep(100_000)
        }
        core.progress.warn("\(def.name) is not healthy yet; starting the services that depend on it anyway")
    }

    public func start(_ def: ServiceDefinition, _ cat: ServiceCatalog) throws -> StartResult {
        let port = try cat.resolvePort(def)
        if def.runtime == .docker { return try dockerStart(def, port: port) }
        let sp = cat.servicePaths(def.name)
        if (try? ServiceRecord.load(sp.stateFile)) == nil, let sup = Self.lockedSupervisor(sp) {
            throw CoreError.conflict("\(def.name) has a supervisor (pid \(sup.pid)) but its state file \(sp.stateFile) is unreadable",
                                     hint: "`tetra svc stop \(def.name)` stops it; start it again then")
        }
        if let rec = ServiceRecord.read(sp.stateFile), ServiceRecord.activeStates.contains(rec.state), rec.supervisorAlive {
            return StartResult(name: def.name, runtime: .process, action: .alreadyRunning, state: ServiceStateName(recorded: rec.state),
                               pid: rec.process?.pid, supervisor_pid: rec.supervisor?.pid, port: rec.port)
        }
        // Leftovers of a previous run whose supervisor is gone (killed -9): stop its group
        // first, so the port check below sees only strangers.
        if let old = ServiceRecord.read(sp.stateFile), let p = old.process { Self.killGroup(p, timeout: def.stopTimeout) }
        if let port { try checkPortFree(port, service: def) }
        try AtomicFile.ensureDirectory(sp.stateDirectory, mode: 0o700)
        let token = UUID().uuidString.lowercased()
        var initial = ServiceRecord(org: org, name: def.name, state: "starting", health: def.health == nil ? "none" : "unknown",
                                    token: token, now: core.now())
        initial.port = port
        try initial.write(to: sp.stateFile)

        let outFD = open(sp.supervisorOutput, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        defer { if outFD >= 0 { close(outFD) } }
        let exe = core.executablePath
        let argv = [exe, "svc", "__supervise", def.name, "--org", org, "--dir", paths.root, "--token", token]
        let supervisorPID: pid_t
        do {
            supervisorPID = try Spawn.spawn(Spawn.Options(executable: exe, argv: argv, environment: core.environment,
                                                          stdout: outFD >= 0 ? outFD : nil,
                                                          stderr: outFD >= 0 ? outFD : nil, newSession: true))
        } catch {
            throw CoreError.failed("cannot start the supervisor of \(def.name): \(error)")
        }
        // Wait for the supervisor to spawn the service (or to fail doing so).
        let deadline = Monotonic.now() + 15
        var exited = false
        while true {
            if let rec = ServiceRecord.read(sp.stateFile), rec.token == token {
                if rec.state == "failed" || rec.state == "crashloop" {
                    throw CoreError.failed("\(def.name): \(rec.message ?? rec.state)",
                                           hint: "state \(rec.state); see `tetra svc status \(def.name)` and `tetra svc logs \(def.name) --stderr`")
                }
                // Spawned (possibly already exited once, for a command that fails at once).
                if rec.process != nil || rec.last_exit != nil || rec.state == "stopped" {
                    return StartResult(name: def.name, runtime: .process, action: .started, state: ServiceStateName(recorded: rec.state),
                                       pid: rec.process?.pid, supervisor_pid: rec.supervisor?.pid ?? supervisorPID, port: port)
                }
            }
            if exited || Monotonic.now() > deadline {
                let tail = (try? String(contentsOfFile: sp.supervisorOutput, encoding: .utf8)).map { ToolError.tail(of: $0) } ?? ""
                throw CoreError.failed("the supervisor of \(def.name) did not start the service" + (tail.isEmpty ? "" : ": \(tail)"),
                                       hint: "see \(sp.eventsLog)")
            }
            if Spawn.reap(supervisorPID) != nil { exited = true; continue }
            usleep(20_000)
        }
    }

    /// Exit 5 when the port is bound by a process (naming its pid).
    func checkPortFree(_ port: Int, service def: ServiceDefinition) throws {
        let holders = SocketScanner().scan().filter { $0.port == port && $0.proto.isTCP }
        guard let h = holders.first else { return }
        let who = h.pid.map { "pid \($0) (\(h.process ?? "?"))" } ?? "another process (pid not visible)"
        throw CoreError.conflict("\(def.name): port \(port) is already bound by \(who)",
                                 hint: "stop that process, or give \(def.name) another port")
    }

    // MARK: - Stop

    public struct StopResult: Sendable, Encodable {
        public var name: String
        public enum Action: String, Sendable, Encodable { case stopped, alreadyStopped = "already-stopped" }
        public var runtime: ServiceDefinition.Runtime
        public var action: Action
        public var pid: Int32?
        public var killed: Bool
    }

    /// Stops `names` (or every service) in reverse dependency order.
    public func stop(_ names: [String], all: Bool = false) throws -> [StopResult] {
        let cat = try catalog()
        for n in names { _ = try cat.definition(n) }
        let order: [String] = all ? try cat.startOrder(cat.definitions.map(\.name)).reversed() : names
        return try order.map { try stop(try cat.definition($0), cat) }
    }

    public func stop(_ def: ServiceDefinition, _ cat: ServiceCatalog) throws -> StopResult {
        if def.runtime == .docker { return try dockerStop(def) }
        let sp = cat.servicePaths(def.name)
        // A corrupt or missing state file does not hide a running supervisor: its lock names it.
        let loaded = ServiceRecord.read(sp.stateFile)
        let supervisor = [loaded?.supervisor, Self.lockedSupervisor(sp)].compactMap { $0 }.first { $0.isAlive }
        let corrupt = loaded == nil && FileManager.default.fileExists(atPath: sp.stateFile)
        guard loaded != nil || supervisor != nil || corrupt else {
            return StopResult(name: def.name, runtime: .process, action: .alreadyStopped, pid: nil, killed: false)
        }
        if corrupt && supervisor == nil {
            core.progress.warn("\(def.name): the state file \(sp.stateFile) was corrupt and no supervisor runs; it is rewritten as stopped")
        }
        var rec = loaded ?? ServiceRecord(org: org, name: def.name, state: "stopped", now: core.now())
        let proc = rec.process
        var acted = false
        var killed = false
        if let sup = supervisor {
            acted = true
            kill(sup.pid, SIGTERM)
            kill(sup.pid, SIGCONT)
            let deadline = Monotonic.now() + def.stopTimeout + 5
            while sup.isAlive && Monotonic.now() < deadline {
                _ = Spawn.reap(sup.pid)
                usleep(20_000)
            }
            if sup.isAlive { kill(sup.pid, SIGKILL); killed = true }
            _ = Spawn.reap(sup.pid)
            rec = ServiceRecord.read(sp.stateFile) ?? rec
        }
        let pid = proc?.pid
        // The supervisor stops its process group; if it was gone (or killed), do it here.
        if let proc, Self.killGroup(proc, timeout: def.stopTimeout) { acted = true; killed = true }
        let wasActive = ServiceRecord.activeStates.contains(rec.state)
        rec.state = "stopped"
        rec.health = def.health == nil ? "none" : "unknown"
        rec.supervisor = nil
        rec.process = nil
        rec.message = "stopped"
        rec.updated_at = core.now()
        if FileManager.default.fileExists(atPath: sp.stateDirectory) { try rec.write(to: sp.stateFile) }
        return StopResult(name: def.name, runtime: .process, action: (acted || wasActive) ? .stopped : .alreadyStopped,
                          pid: pid, killed: killed)
    }

    /// SIGTERM to the process group a service's process leads (the leader checked by pid and
    /// start time; with the leader gone, its group's remaining members), SIGKILL after
    /// `timeout`, until no member is left. True when something was signalled.
    @discardableResult
    static func killGroup(_ p: ProcessRef, timeout: TimeInterval) -> Bool {
        let leaderAlive = p.isAlive
        let members = Spawn.groupMembers(p.pid)
        // The leader's pid now names another process: the group by that number is not ours.
        if !leaderAlive && members.contains(p.pid) { return false }
        guard leaderAlive || !members.isEmpty else { return false }
        kill(-p.pid, SIGTERM)
        let deadline = Monotonic.now() + timeout
        while Monotonic.now() < deadline {
            _ = Spawn.reap(p.pid)
            if Spawn.groupMembers(p.pid).isEmpty { return true }
            usleep(20_000)
        }
        kill(-p.pid, SIGKILL)
        let until = Monotonic.now() + 2
        while !Spawn.groupMembers(p.pid).isEmpty && Monotonic.now() < until { _ = Spawn.reap(p.pid); usleep(10_000) }
        return true
    }

    public func restart(_ name: String) throws -> StartResult {
        let cat = try catalog()
        let def = try cat.definition(name)
        _ = try stop(def, cat)
        return try start(def, cat)
    }

    // MARK: - Boot

    public struct BootResult: Sendable, Encodable {
        public var started: [StartResult]
        public var failed: [Failure]
        public struct Failure: Sendable, Encodable {
            public var name: String
            public var error: String
        }
    }

    /// Starts every `enabled = true` service (dependencies first, also when not enabled
    /// themselves); a failure is recorded and the others still start.
    public func boot() throws -> BootResult {
        let cat = try catalog()
        let order = try cat.startOrder(cat.definitions.filter(\.enabled).map(\.name))
        var result = BootResult(started: [], failed: [])
        for name in order {
            try core.interrupt.check()
            do {
                result.started.append(try start(try cat.definition(name), cat))
            } catch let e as any TetraError {
                result.failed.append(.init(name: name, error: e.message))
            }
        }
        return result
    }

    /// A systemd unit that runs `svc boot` at start-up and `svc stop --all` at shutdown.
    public func systemdUnit() -> String {
        let exe = core.executablePath
        let user = core.userName
        return """
        [Unit]
        Description=tetra services of org \(org)
        After=network-online.target docker.service
        Wants=network-online.target

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        User=\(user)
        Environment=TETRA_DIR=\(paths.root)
        ExecStart=\(exe) svc boot --org \(org)
        ExecStop=\(exe) svc stop --all --org \(org)
        TimeoutStopSec=120

        [Install]
        WantedBy=multi-user.target

        """
    }

    // MARK: - Logs and health

    public func logs(_ name: String, stderr: Bool, since: Date?, limit: Int?) throws -> [LogLine] {
        let (cat, def) = try single(name)
        let stream = stderr ? "stderr" : "stdout"
        if def.runtime == .docker { return try dockerLogs(name, stderr: stderr, since: since, limit: limit) }
        let sp = cat.servicePaths(name)
        return LogReader.read(stderr ? sp.stderrLog : sp.stdoutLog, stream: stream, since: since, limit: limit)
    }

    public func logPath(_ name: String, stderr: Bool) throws -> String {
        let (cat, def) = try single(name)
        guard def.runtime == .process else {
            throw CoreError.invalidArgument("svc logs -f follows process services only",
                                            hint: "for a docker service: docker logs -f \(Self.containerName(org: org, service: name))")
        }
        let sp = cat.servicePaths(name)
        return stderr ? sp.stderrLog : sp.stdoutLog
    }

    /// Probes the service's health check now (from this process).
    public func health(_ name: String) throws -> HealthResult {
        let (cat, def) = try single(name)
        guard let h = def.health else {
            throw CoreError.failed("\(name) has no health check", hint: "add [health] with http, tcp or command to \(def.file)")
        }
        let port = try cat.resolvePort(def)
        if def.runtime == .docker, case .command = h.check {
            guard let info = try Docker(runner: core.runner).inspectContainer(Self.containerName(org: org, service: name)) else {
                throw CoreError.failed("\(name) is not running")
            }
            let status = info.State.Health?.Status ?? (info.State.Running ? "running" : info.State.Status)
            return HealthResult(ok: status == "healthy", at: core.now(), message: "docker health: \(status)", duration_ms: 0)
        }
        var env = core.environment
        for (k, v) in def.env { env[k] = ServiceDefinition.substitute(v, port: port) }
        if let port { env["PORT"] = String(port) }
        return HealthProbe.run(h.check, port: port, timeout: h.timeout, environment: env, cwd: def.cwd, now: core.now)
    }

    // MARK: - Create and remove

    public struct CreateResult: Sendable, Encodable {
        public var name: String
        public var file: String
        public var command: [String]
        public var port: String?
        public var dry_run: Bool
    }

    /// Writes `services/<name>.toml` (exit 5 when it exists).
    public func create(_ name: String, command: [String], port: String?, enabled: Bool = false,
                       healthHTTP: String? = nil, dryRun: Bool = false) throws -> CreateResult {
        try Names.validate(name, what: "service")
        try Names.validate(org, what: "org")
        guard FileManager.default.fileExists(atPath: paths.org(org) + "/org.toml") else {
            throw CoreError.notFound(what: "org", name: org, hint: "create it with `tetra org create \(org)`")
        }
        guard let first = command.first, !first.isEmpty else {
            throw CoreError.invalidArgument("--command must name a program")
        }
        var ref: ServiceDefinition.PortRef? = nil
        if let port {
            if let n = Int(port) {
                guard PortNumber.isValid(n) else { throw CoreError.invalidArgument("port \(n) is out of range (1-65535)") }
                ref = .number(n)
            } else {
                try Names.validate(port, what: "port")
                ref = .named(port)
            }
        }
        let file = paths.org(org) + "/services/\(name).toml"
        if FileManager.default.fileExists(atPath: file) {
            throw CoreError.conflict("service \(name) already exists (\(file))", hint: "edit the file, or `tetra svc remove \(name)` first")
        }
        let text = ServiceDefinition.render(name: name, command: command, port: ref, enabled: enabled,
                                            health: healthHTTP.map { .http($0) })
        // The text must read back (catches anything the flags let through).
        _ = try ServiceDefinition.parse(try TOMLDocument(parsing: text, fileName: file), file: file, expectedName: name)
        if !dryRun {
            try AtomicFile.ensureDirectory(paths.org(org) + "/services", mode: 0o755)
            try AtomicFile.write(string: text, to: file, mode: 0o644)
        }
        return CreateResult(name: name, file: file, command: command, port: port, dry_run: dryRun)
    }

    public struct RemoveResult: Sendable, Encodable {
        public var name: String
        public var file: String
        public var stopped: Bool
        public var dry_run: Bool
    }

    /// Stops the service, removes its container (docker), its state and logs, and its file.
    public func remove(_ name: String, dryRun: Bool = false) throws -> RemoveResult {
        let cat = try catalog()
        let def = try cat.definition(name)
        let dependents = cat.definitions.filter { $0.dependsOn.contains(name) }.map(\.name)
        guard dependents.isEmpty else {
            throw CoreError.conflict("\(name) is a dependency of \(dependents.joined(separator: ", "))",
                                     hint: "remove it from their depends_on first")
        }
        if dryRun { return RemoveResult(name: name, file: def.file, stopped: false, dry_run: true) }
        let stopped = try stop(def, cat).action == .stopped
        if def.runtime == .docker {
            try Docker(runner: core.runner).removeContainer(Self.containerName(org: org, service: name))
        }
        let sp = cat.servicePaths(name)
        try? FileManager.default.removeItem(atPath: sp.stateDirectory)
        // Its measurements go with it (docs/metrics.md).
        try? FileManager.default.removeItem(atPath: MetricsStore(paths: core.paths, org: org, service: name).directory)
        if unlink(def.file) != 0 && errno != ENOENT { throw IOError("remove", path: def.file, errno: errno) }
        return RemoveResult(name: name, file: def.file, stopped: stopped, dry_run: false)
    }

    // MARK: - Ports ownership

    /// The pids of the service that declares port name `portName` (its process group), for
    /// `ports check` and `ports reconcile`; nil when no running service owns the name.
    public static func portOwners(paths: StatePaths) -> PortService.OwnerLookup {
        // Every org's services, read once.
        var owners: [String: Set<Int32>] = [:]
        let orgs = (try? FileManager.default.contentsOfDirectory(atPath: paths.orgs)) ?? []
        for org in orgs where Names.isValid(org) {
            guard let cat = try? ServiceCatalog.load(paths: paths, org: org) else { continue }
            for def in cat.definitions {
                guard case .named(let portName)? = def.port, def.runtime == .process else { continue }
                guard let rec = ServiceRecord.read(cat.servicePaths(def.name).stateFile),
                      ServiceRecord.activeStates.contains(rec.state), let p = rec.process, p.isAlive else { continue }
                owners[portName, default: []].formUnion(Spawn.groupMembers(p.pid) + [p.pid])
            }
        }
        let snapshot = owners
        return { name in snapshot[name] }
    }

    /// Services in crashloop or unhealthy (for `tetra doctor`), across every org.
    public static func troubled(paths: StatePaths) -> [(org: String, name: String, state: String, message: String?)] {
        var out: [(String, String, String, String?)] = []
        let orgs = ((try? FileManager.default.contentsOfDirectory(atPath: paths.services)) ?? []).sorted()
        for org in orgs where Names.isValid(org) {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: paths.services + "/" + org)) ?? []).sorted()
            for name in names where Names.isValid(name) {
                guard let rec = ServiceRecord.read(ServicePaths(paths: paths, org: org, name: name).stateFile) else { continue }
                var state = rec.state
                if ServiceRecord.activeStates.contains(state) && !rec.supervisorAlive { state = "failed" }
                if state == "crashloop" || state == "unhealthy" || state == "failed" || (state == "running" && rec.health == "unhealthy") {
                    out.append((org, name, state, rec.message))
                }
            }
        }
        return out
    }
}
