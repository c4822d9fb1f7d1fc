import FoundationEssentials

/// `orgs/<org>/services/<name>.toml` (SPEC §3 "svc"): one service, decoded into typed values
/// with `path:line:column` errors. Defaults (documented in docs/service-definitions.md):
/// `runtime = "process"`, `enabled = false`, `stop_timeout = "10s"`; no health check unless
/// `[health]` names one (`interval = "10s"`, `timeout = "2s"`, `retries = 3`,
/// `start_period = "5s"`); `[restart]` `policy = "on-failure"`, `max_restarts = 5`,
/// `window = "60s"`, `backoff = "500ms"`, `max_backoff = "30s"`; `[logs]` `max_size = "10MB"`,
/// `keep = 5`.
///
/// `{port}` in `command`, `health.http`, `health.tcp`, `health.command` and docker `ports`
/// is replaced by the resolved port number.
public struct ServiceDefinition: Sendable, Equatable {
    public enum Runtime: String, Sendable, Equatable, Codable { case process, docker }

    /// `port = "api"` (a registered name) or `port = 4000`.
    public enum PortRef: Sendable, Equatable, CustomStringConvertible {
        case named(String)
        case number(Int)
        public var description: String {
            switch self {
            case .named(let n): return n
            case .number(let p): return String(p)
            }
        }
    }

    public enum HealthCheck: Sendable, Equatable {
        case http(String)
        case tcp(String)
        case command([String])

        public var kind: String {
            switch self {
            case .http: return "http"
            case .tcp: return "tcp"
            case .command: return "command"
            }
        }
    }

    public struct Health: Sendable, Equatable {
        public var check: HealthCheck
        public var interval: TimeInterval = 10
        public var timeout: TimeInterval = 2
        public var retries: Int = 3
        public var startPeriod: TimeInterval = 5
    }

    public enum RestartPolicy: String, Sendable, Equatable, Codable, CaseIterable {
        case no, onFailure = "on-failure", always
    }

    public struct Restart: Sendable, Equatable {
        public var policy: RestartPolicy = .onFailure
        public var maxRestarts: Int = 5
        public var window: TimeInterval = 60
        public var backoff: TimeInterval = 0.5
        public var maxBackoff: TimeInterval = 30
        public init() {}
    }

    public struct Logs: Sendable, Equatable {
        public var maxSize: Int64 = 10_000_000
        public var keep: Int = 5
        public init() {}
    }

    /// What a push that changes the release does to the running service (services of an
    /// environment: see docs/fleets.md).
    public enum OnDeploy: String, Sendable, Equatable, CaseIterable {
        /// Stop and start it (the default).
        case restart
        /// SIGHUP to its process group, or its `reload` command.
        case reload
        /// Leave it running (started when it is not).
        case none
    }

    public struct DockerSettings: Sendable, Equatable {
        public var image: String
        public var volumes: [String] = []
        public var ports: [String] = []
        public var network: String?
    }

    public var name: String
    public var command: [String]
    public var cwd: String?
    public var port: PortRef?
    public var env: [String: String]
    public var secrets: [String]
    public var dependsOn: [String]
    public var runtime: Runtime
    public var enabled: Bool
    public var stopTimeout: TimeInterval
    public var health: Health?
    public var restart: Restart
    public var logs: Logs
    public var docker: DockerSettings?
    public var onDeploy: OnDeploy = .restart
    /// `reload = [...]`: run (in the service's directory) instead of SIGHUP by `on_deploy = "reload"`.
    public var reload: [String]?
    /// `description = "..."` and `tags = [...]`: what `tetra search` matches.
    public var summary: String?
    public var tags: [String] = []
    /// `[metrics] interval`: how often its supervisor samples it (nil: the org's, else 10 s).
    public var metricsInterval: TimeInterval?
    /// The file it was read from.
    public var file: String

    public init(name: String, command: [String], cwd: String? = nil, port: PortRef? = nil, env: [String: String] = [:],
                secrets: [String] = [], dependsOn: [String] = [], runtime: Runtime = .process, enabled: Bool = false,
                stopTimeout: TimeInterval = 10, health: Health? = nil, restart: Restart = Restart(), logs: Logs = Logs(),
                docker: DockerSettings? = nil, file: String = "") {
        self.name = name
        self.command = command
        self.cwd = cwd
        self.port = port
        self.env = env
        self.secrets = secrets
        self.dependsOn = dependsOn
        self.runtime = runtime
        self.enabled = enabled
        self.stopTimeout = stopTimeout
        self.health = health
        self.restart = restart
        self.logs = logs
        self.docker = docker
        self.file = file
    }

    /// Replaces `{port}` with the resolved port (left as is when there is none).
    public static func substitute(_ text: String, port: Int?) -> String {
        guard let port else { return text }
        return text.replacingAll("{port}", with: String(port))
    }
}

// MARK: - Decoding

/// The file as written; every field optional so defaults and semantic checks happen with
/// positions in `ServiceDefinition.parse`.
private struct RawService: Decodable {
    var name: String?
    var description: String?
    var tags: [String]?
    var command: [String]?
    var cwd: String?
    var port: TOMLValue?
    var env: [String: String]?
    var secrets: [String]?
    var depends_on: [String]?
    var runtime: String?
    var enabled: Bool?
    var stop_timeout: String?
    var image: String?
    var volumes: [String]?
    var ports: [String]?
    var network: String?
    var health: RawHealth?
    var restart: RawRestart?
    var logs: RawLogs?
    var on_deploy: String?
    var reload: [String]?
    var metrics: MetricsConfig?

    struct RawHealth: Decodable {
        var http: String?
        var tcp: TOMLValue?
        var command: [String]?
        var interval: String?
        var timeout: String?
        var retries: Int?
        var start_period: String?
    }

    struct RawRestart: Decodable {
        var policy: String?
        var max_restarts: Int?
        var window: String?
        var backoff: String?
        var max_backoff: String?
    }

    struct RawLogs: Decodable {
        var max_size: String?
        var keep: Int?
    }
}

extension ServiceDefinition {
    /// Reads and validates a definition file. `expectedName` is the file's base name; a
    /// `name` key, when present, must match it. Throws `ConfigError` (exit 3) listing every
    /// problem with `path:line:column`; returns unknown keys as warnings.
    public static func load(path: String, expectedName: String) throws -> (ServiceDefinition, [ConfigProblem]) {
        guard let data = try AtomicFile.readIfExists(path, limit: InputFile.configLimit) else {
            throw CoreError.notFound(what: "service", name: expectedName)
        }
        let document = try TOMLDocument(bytes: Array(data), fileName: path)
        return try parse(document, file: path, expectedName: expectedName)
    }

    public static func parse(_ document: TOMLDocument, file: String, expectedName: String) throws -> (ServiceDefinition, [ConfigProblem]) {
        let checked = check(document, file: file, expectedName: expectedName)
        guard let def = checked.definition, checked.problems.isEmpty else { throw ConfigError(checked.problems) }
        return (def, checked.warnings)
    }

    /// A definition checked in full: every problem of the file (wrong types, bad values,
    /// at once), unknown keys as warnings, and the definition as far as it could be read
    /// (defaults where a key is wrong; nil only when nothing could be decoded).
    public struct Checked: Sendable {
        public var definition: ServiceDefinition?
        public var problems: [ConfigProblem]
        public var warnings: [ConfigProblem]
    }

    public static func check(_ document: TOMLDocument, file: String, expectedName: String) -> Checked {
        let decoded = TOMLDecoder().decodeCollecting(RawService.self, from: document, file: file)
        guard let raw = decoded.value else { return Checked(definition: nil, problems: decoded.problems, warnings: decoded.warnings) }
        var problems: [ConfigProblem] = []
        func problem(_ path: [String], _ message: String) {
            guard !decoded.failed(path) else { return } // reported by the decoder
            problems.append(ConfigProblem(file: file, position: document.position(of: path),
                                          keyPath: path.joined(separator: "."), message: message))
        }
        func duration(_ text: String?, _ path: [String], _ fallback: TimeInterval, allowZero: Bool = true) -> TimeInterval {
            guard let text else { return fallback }
            do {
                let v = try DurationParser.parse(text)
                if !allowZero && v <= 0 { problem(path, "must be longer than 0s"); return fallback }
                return v
            } catch {
                problem(path, "invalid duration '\(text)' (e.g. 500ms, 30s, 5m)")
                return fallback
            }
        }

        let name = raw.name ?? expectedName
        if raw.name != nil, name != expectedName {
            problem(["name"], "name '\(name)' does not match the file name '\(expectedName).toml'")
        }
        if let reason = Names.problem(with: name) { problem(["name"], "invalid service name '\(Names.printable(name))': \(reason)") }

        let runtime: Runtime
        switch raw.runtime ?? "process" {
        case "process": runtime = .process
        case "docker": runtime = .docker
        case let other:
            problem(["runtime"], "unknown runtime '\(other)' (expected \"process\" or \"docker\")")
            runtime = .process
        }

        let command = raw.command ?? []
        if runtime == .process {
            if raw.command == nil, !decoded.failed(["command"]) { problem([], "missing required key 'command' (an argv array, e.g. [\"node\", \"server.js\"])") }
            else if command.isEmpty || command[0].isEmpty { problem(["command"], "command must name a program") }
        }
        var docker: DockerSettings? = nil
        if runtime == .docker {
            if let image = raw.image, !image.isEmpty {
                docker = DockerSettings(image: image, volumes: raw.volumes ?? [], ports: raw.ports ?? [], network: raw.network)
            } else if !decoded.failed(["image"]) {
                problem([], "missing required key 'image' (runtime = \"docker\")")
            }
        } else {
            for key in ["image", "volumes", "ports", "network"] where document.value(at: [key]) != nil {
                problem([key], "'\(key)' applies to runtime = \"docker\" only")
            }
        }

        var port: PortRef? = nil
        if let p = raw.port {
            switch p {
            case .string(let s):
                if let reason = Names.problem(with: s) { problem(["port"], "invalid port name '\(Names.printable(s))': \(reason)") }
                else { port = .named(s) }
            case .integer(let i):
                if PortNumber.isValid(Int(i)) { port = .number(Int(i)) } else { problem(["port"], "port \(i) is out of range (1-65535)") }
            default:
                problem(["port"], "expected a port name (string) or number, found \(TOMLDocument.article(p))")
            }
        }

        for key in (raw.env ?? [:]).keys.sorted() where !SecretsFile.isValidKey(key) {
            problem(["env", key], "invalid environment variable name '\(Names.printable(key))'")
        }
        // A NUL would silently cut the value (or argument) short at exec: refused.
        for (key, value) in (raw.env ?? [:]).sorted(by: { $0.key < $1.key }) where value.utf8.contains(0) {
            problem(["env", key], "the value contains a NUL character (\\u0000), which no environment variable can hold")
        }
        for (i, arg) in (raw.command ?? []).enumerated() where arg.utf8.contains(0) {
            problem(["command"], "command[\(i)] contains a NUL character (\\u0000), which no argument can hold")
        }
        for (i, s) in (raw.secrets ?? []).enumerated() where !SecretsFile.isValidKey(s) {
            problem(["secrets"], "secrets[\(i)]: invalid secret name '\(Names.printable(s))'")
        }
        for message in Tags.problems(raw.tags ?? []) { problem(["tags"], message) }
        for dep in raw.depends_on ?? [] {
            if let reason = Names.problem(with: dep) { problem(["depends_on"], "invalid service name '\(Names.printable(dep))': \(reason)") }
            else if dep == name { problem(["depends_on"], "a service cannot depend on itself") }
        }

        let stopTimeout = duration(raw.stop_timeout, ["stop_timeout"], 10, allowZero: false)

        var health: Health? = nil
        if let h = raw.health {
            var checks: [HealthCheck] = []
            if let http = h.http {
                if http.hasPrefix("http://") { checks.append(.http(http)) }
                else { problem(["health", "http"], "expected an http:// URL (https is not probed), e.g. \"http://127.0.0.1:{port}/health\"") }
            }
            if let tcp = h.tcp {
                switch tcp {
                case .string(let s): checks.append(.tcp(s))
                case .integer(let i): checks.append(.tcp(String(i)))
                default: problem(["health", "tcp"], "expected \"{port}\", \"HOST:PORT\" or a port number")
                }
            }
            if let c = h.command {
                if c.isEmpty || c[0].isEmpty { problem(["health", "command"], "command must name a program") }
                else { checks.append(.command(c)) }
            }
            if checks.count > 1 {
                problem(["health"], "name one check: http, tcp or command")
            } else if let check = checks.first {
                var hh = Health(check: check)
                hh.interval = duration(h.interval, ["health", "interval"], 10, allowZero: false)
                hh.timeout = duration(h.timeout, ["health", "timeout"], 2, allowZero: false)
                hh.startPeriod = duration(h.start_period, ["health", "start_period"], 5)
                if let r = h.retries {
                    if r < 1 { problem(["health", "retries"], "must be at least 1") } else { hh.retries = r }
                }
                health = hh
            } else if problems.isEmpty && decoded.problems.isEmpty {
                problem(["health"], "[health] needs a check: http = \"http://127.0.0.1:{port}/health\", tcp = \"{port}\" or command = [...]")
            }
        }

        var restart = Restart()
        if let r = raw.restart {
            if let p = r.policy {
                if let policy = RestartPolicy(rawValue: p) { restart.policy = policy }
                else { problem(["restart", "policy"], "unknown policy '\(p)' (expected no, on-failure or always)") }
            }
            if let m = r.max_restarts {
                if m < 0 { problem(["restart", "max_restarts"], "must be 0 or more") } else { restart.maxRestarts = m }
            }
            restart.window = duration(r.window, ["restart", "window"], 60, allowZero: false)
            restart.backoff = duration(r.backoff, ["restart", "backoff"], 0.5)
            restart.maxBackoff = duration(r.max_backoff, ["restart", "max_backoff"], 30)
            if restart.maxBackoff < restart.backoff { problem(["restart", "max_backoff"], "must not be shorter than backoff") }
        }

        var logs = Logs()
        if let l = raw.logs {
            if let s = l.max_size {
                do {
                    let b = try SizeValue.bytes(s)
                    if b < 1024 { problem(["logs", "max_size"], "must be at least 1KB") } else { logs.maxSize = b }
                } catch {
                    problem(["logs", "max_size"], "invalid size '\(s)' (e.g. 10MB, 1GiB)")
                }
            }
            if let k = l.keep {
                if k < 1 || k > 1000 { problem(["logs", "keep"], "must be between 1 and 1000") } else { logs.keep = k }
            }
        }

        if let cwd = raw.cwd, !cwd.hasPrefix("/") {
            problem(["cwd"], "cwd must be an absolute path")
        }

        var onDeploy = OnDeploy.restart
        if let text = raw.on_deploy {
            if let value = OnDeploy(rawValue: text) { onDeploy = value }
            else { problem(["on_deploy"], "unknown value '\(Names.printable(text))' (expected restart, reload or none)") }
        }
        if let r = raw.reload, r.first?.isEmpty ?? true { problem(["reload"], "reload must name a program") }

        var def = ServiceDefinition(name: name, command: command, cwd: raw.cwd, port: port, env: raw.env ?? [:],
                                    secrets: raw.secrets ?? [], dependsOn: raw.depends_on ?? [], runtime: runtime,
                                    enabled: raw.enabled ?? false, stopTimeout: stopTimeout, health: health,
                                    restart: restart, logs: logs, docker: docker, file: file)
        def.onDeploy = onDeploy
        def.reload = raw.reload
        def.summary = raw.description
        def.tags = raw.tags ?? []
        if let text = raw.metrics?.interval {
            switch MetricsSettings.interval(text) {
            case .success(let v): def.metricsInterval = v
            case .failure(let p): problem(["metrics", "interval"], p.message)
            }
        }
        let all = (decoded.problems + problems).enumerated().sorted { a, b in
            let pa = a.element.position ?? SourcePosition(line: 0, column: 0), pb = b.element.position ?? SourcePosition(line: 0, column: 0)
            return (pa.line, pa.column, a.offset) < (pb.line, pb.column, b.offset)
        }.map(\.element)
        return Checked(definition: def, problems: all, warnings: decoded.warnings)
    }

    /// The TOML text `svc create` writes.
    public static func render(name: String, command: [String], port: PortRef?, enabled: Bool = false,
                              health: HealthCheck? = nil) -> String {
        var s = "name = \(TOMLSerializer.formatValue(.string(name)))\n"
        s += "command = [" + command.map { TOMLSerializer.formatValue(.string($0)) }.joined(separator: ", ") + "]\n"
        switch port {
        case .named(let n)?: s += "port = \(TOMLSerializer.formatValue(.string(n)))\n"
        case .number(let p)?: s += "port = \(p)\n"
        case nil: break
        }
        s += "enabled = \(enabled)\n"
        if let health {
            s += "\n[health]\n"
            switch health {
            case .http(let u): s += "http = \(TOMLSerializer.formatValue(.string(u)))\n"
            case .tcp(let t): s += "tcp = \(TOMLSerializer.formatValue(.string(t)))\n"
            case .command(let c): s += "command = [" + c.map { TOMLSerializer.formatValue(.string($0)) }.joined(separator: ", ") + "]\n"
            }
            s += "interval = \"10s\"\ntimeout = \"2s\"\nretries = 3\nstart_period = \"5s\"\n"
        }
        s += "\n[restart]\npolicy = \"on-failure\"\nmax_restarts = 5\nwindow = \"60s\"\nbackoff = \"500ms\"\nmax_backoff = \"30s\"\n"
        s += "\n[logs]\nmax_size = \"10MB\"\nkeep = 5\n"
        return s
    }
}
