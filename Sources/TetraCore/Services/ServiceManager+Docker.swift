import FoundationEssentials

/// Services with `runtime = "docker"`: run, inspected, logged and stopped through the
/// `docker` CLI (container `tetra-<org>-<service>`).
extension ServiceManager {
    func dockerStatus(_ def: ServiceDefinition, base: Status) throws -> Status {
        var s = base
        guard let info = try Docker(runner: core.runner).inspectContainer(Self.containerName(org: org, service: def.name)) else {
            return s
        }
        s.restarts = info.RestartCount
        let health = info.State.Health?.Status
        if let health { s.health = ServiceHealthName(recorded: health) }
        s.state = Self.serviceState(info.State)
        switch info.State.Status {
        case "running":
            s.pid = info.State.Pid > 0 ? Int32(info.State.Pid) : nil
            // Never "running" without a process (docker reports pid 0 for a container in between).
            if s.pid == nil && s.state == .running { s.state = .starting }
        case "exited", "dead": s.message = "exited with status \(info.State.ExitCode)"
        case "restarting", "created": break
        default: s.message = "docker state \(info.State.Status)"
        }
        if let started = info.State.StartedAt.flatMap(Timestamps.parseISO8601), s.state != .stopped, s.state != .failed {
            s.started_at = started
            s.uptime_seconds = max(0, Int(core.now().timeIntervalSince(started)))
        }
        return s
    }

    /// A container's state (and health: `starting` is not healthy yet) as a service state;
    /// states tetra does not map (`paused`, `removing`) are `unknown`.
    static func serviceState(_ state: Docker.ContainerInfo.State) -> ServiceStateName {
        switch state.Status {
        case "running":
            switch state.Health?.Status {
            case "unhealthy": return .unhealthy
            case "starting": return .starting
            default: return .running
            }
        case "restarting", "created": return .starting
        case "exited", "dead": return state.ExitCode == 0 ? .stopped : .failed
        default: return .unknown
        }
    }

    /// The `docker run` options for a service (labels, image, volumes, ports, env, restart
    /// policy and health check from the definition).
    public func dockerRunOptions(_ def: ServiceDefinition, port: Int?, secrets: [(String, String)] = []) -> Docker.RunOptions {
        var o = Docker.RunOptions(name: Self.containerName(org: org, service: def.name), image: def.docker?.image ?? "")
        o.labels = [("tetra.org", org), ("tetra.service", def.name)]
        o.network = def.docker?.network
        o.volumes = def.docker?.volumes ?? []
        o.ports = (def.docker?.ports ?? []).map { ServiceDefinition.substitute($0, port: port) }
        var env = def.env.sorted { $0.key < $1.key }.map { ($0.key, ServiceDefinition.substitute($0.value, port: port)) }
        if let port { env.append(("PORT", String(port))) }
        o.environment = env
        o.secretEnvironment = secrets
        switch def.restart.policy {
        case .no: o.restart = "no"
        case .onFailure: o.restart = def.restart.maxRestarts > 0 ? "on-failure:\(def.restart.maxRestarts)" : "on-failure"
        case .always: o.restart = "always"
        }
        if let h = def.health {
            switch h.check {
            case .command(let argv): o.healthCommand = ShellQuote.join(argv.map { ServiceDefinition.substitute($0, port: port) })
            case .http(let url): o.healthCommand = "wget -q -O /dev/null \(ShellQuote.quote(ServiceDefinition.substitute(url, port: port))) || exit 1"
            case .tcp(let t):
                let target = HealthProbe.parseTarget(ServiceDefinition.substitute(t, port: port))
                // busybox nc has no -z: connect with stdin at EOF; exit 0 when it connected.
                o.healthCommand = "nc -w \(max(1, Int(h.timeout.rounded(.up)))) \(ShellQuote.quote(target?.host ?? "127.0.0.1")) \(target?.port ?? 0) </dev/null || exit 1"
            }
            o.healthInterval = h.interval
            o.healthTimeout = h.timeout
            o.healthRetries = h.retries
            o.healthStartPeriod = h.startPeriod
        }
        o.stopTimeout = Int(def.stopTimeout.rounded(.up))
        o.command = def.command.map { ServiceDefinition.substitute($0, port: port) }
        return o
    }

    func dockerStart(_ def: ServiceDefinition, port: Int?) throws -> StartResult {
        let docker = Docker(runner: core.runner)
        let name = Self.containerName(org: org, service: def.name)
        if let info = try docker.inspectContainer(name) {
            if info.State.Running {
                return StartResult(name: def.name, runtime: .docker, action: .alreadyRunning, state: .running,
                                   pid: Int32(info.State.Pid), port: port, container: name)
            }
            try docker.removeContainer(name)
        }
        if let port { try checkPortFree(port, service: def) }
        var secrets: [(String, String)] = []
        if !def.secrets.isEmpty {
            let file = try ServiceSecrets.values(ServicePaths(paths: paths, org: org, name: def.name), age: AgeTool(context: core))
            for key in def.secrets {
                guard let v = file[key] else {
                    throw ConfigError(ConfigProblem(file: def.file, keyPath: "secrets", message: "secret \(key) is not defined in secrets.env"))
                }
                secrets.append((key, v))
            }
        }
        try docker.runContainer(dockerRunOptions(def, port: port, secrets: secrets))
        let info = try docker.inspectContainer(name)
        return StartResult(name: def.name, runtime: .docker, action: .started, state: info.map { Self.serviceState($0.State) } ?? .starting,
                           pid: info.map { Int32($0.State.Pid) }, port: port, container: name)
    }

    func dockerStop(_ def: ServiceDefinition) throws -> StopResult {
        let docker = Docker(runner: core.runner)
        let name = Self.containerName(org: org, service: def.name)
        guard let info = try docker.inspectContainer(name) else {
            return StopResult(name: def.name, runtime: .docker, action: .alreadyStopped, pid: nil, killed: false)
        }
        if info.State.Running || info.State.Status == "restarting" {
            try docker.stopContainer(name, timeout: Int(def.stopTimeout.rounded(.up)))
        }
        try docker.removeContainer(name)
        return StopResult(name: def.name, runtime: .docker, action: info.State.Running ? .stopped : .alreadyStopped,
                          pid: Int32(info.State.Pid), killed: false)
    }

    /// `docker logs --tail N` counts the lines of stdout and stderr together, so the last N
    /// lines of one stream are asked for with a larger tail (four times larger each round)
    /// until N of them are in or the whole log was read.
    func dockerLogs(_ name: String, stderr: Bool, since: Date?, limit: Int?) throws -> [LogLine] {
        let stream = stderr ? "stderr" : "stdout"
        let docker = Docker(runner: core.runner)
        var tail = limit
        while true {
            if tail == 0 { return [] }
            let out = try docker.containerLogs(Self.containerName(org: org, service: name), since: since, tail: tail)
            let wanted = (stderr ? out.stderr : out.stdout).split(separator: "\n")
            guard let limit, let asked = tail else { return wanted.map { LogReader.parse($0, stream: stream) } }
            let other = (stderr ? out.stdout : out.stderr).split(separator: "\n")
            if wanted.count >= limit || wanted.count + other.count < asked {
                return wanted.suffix(limit).map { LogReader.parse($0, stream: stream) }
            }
            tail = asked.multipliedReportingOverflow(by: 4).overflow ? nil : asked * 4
        }
    }
}
