import FoundationEssentials

/// Containers through the `docker` CLI (services with `runtime = "docker"`). `DOCKER_HOST`
/// is honoured (the runner passes the environment through).
extension Docker {
    /// What `docker run -d` is given.
    public struct RunOptions: Sendable, Equatable {
        public var name: String
        public var image: String
        public var labels: [(String, String)] = []
        public var network: String?
        public var volumes: [String] = []
        public var ports: [String] = []
        /// Plain environment, passed as `-e KEY=VALUE`.
        public var environment: [(String, String)] = []
        /// Secret values: passed as `-e KEY` (docker reads the value from its own
        /// environment), so they never appear in an argv.
        public var secretEnvironment: [(String, String)] = []
        /// `no`, `on-failure[:N]`, `always`.
        public var restart: String?
        /// A shell command for `--health-cmd` (docker runs it with /bin/sh -c in the container).
        public var healthCommand: String?
        public var healthInterval: TimeInterval?
        public var healthTimeout: TimeInterval?
        public var healthRetries: Int?
        public var healthStartPeriod: TimeInterval?
        public var stopTimeout: Int?
        public var command: [String] = []

        public init(name: String, image: String) {
            self.name = name
            self.image = image
        }

        public static func == (a: RunOptions, b: RunOptions) -> Bool { a.arguments == b.arguments }

        /// The argv after `docker`.
        public var arguments: [String] {
            var a = ["run", "-d", "--name", name]
            for (k, v) in labels { a += ["--label", "\(k)=\(v)"] }
            if let network { a += ["--network", network] }
            for v in volumes { a += ["-v", v] }
            for p in ports { a += ["-p", p] }
            for (k, v) in environment { a += ["-e", "\(k)=\(v)"] }
            for (k, _) in secretEnvironment { a += ["-e", k] }
            if let restart { a += ["--restart", restart] }
            if let healthCommand {
                a += ["--health-cmd", healthCommand]
                if let i = healthInterval { a += ["--health-interval", Self.seconds(i)] }
                if let t = healthTimeout { a += ["--health-timeout", Self.seconds(t)] }
                if let r = healthRetries { a += ["--health-retries", String(r)] }
                if let s = healthStartPeriod { a += ["--health-start-period", Self.seconds(s)] }
            }
            if let stopTimeout { a += ["--stop-timeout", String(stopTimeout)] }
            a.append(image)
            a += command
            return a
        }

        /// Docker durations: "500ms", "10s" (Go duration syntax).
        static func seconds(_ t: TimeInterval) -> String {
            if t < 1 { return "\(Int((t * 1000).rounded()))ms" }
            if t == t.rounded() { return "\(Int(t))s" }
            return "\(Int((t * 1000).rounded()))ms"
        }
    }

    /// `docker run -d ...`; returns the container id.
    @discardableResult
    public func runContainer(_ options: RunOptions) throws -> String {
        var env: [String: String] = [:]
        for (k, v) in options.secretEnvironment { env[k] = v }
        let request = ProcessRequest("docker", options.arguments, environment: env, timeout: 120,
                                     secrets: options.secretEnvironment.map(\.1))
        return try runner.runChecked(request).stdoutString.trimming(.whitespacesAndNewlines)
    }

    /// The parts of `docker inspect` a service status needs.
    public struct ContainerInfo: Sendable, Equatable, Decodable {
        public struct State: Sendable, Equatable, Decodable {
            public struct Health: Sendable, Equatable, Decodable {
                public var Status: String
                public var FailingStreak: Int?
            }
            public var Status: String
            public var Running: Bool
            public var Pid: Int
            public var ExitCode: Int
            public var StartedAt: String?
            public var Health: Health?
        }
        public var Id: String
        public var Name: String
        public var RestartCount: Int
        public var State: State
    }

    /// `docker inspect --type container NAME`; nil when there is no such container.
    public func inspectContainer(_ name: String) throws -> ContainerInfo? {
        let result = try runner.run(ProcessRequest("docker", ["inspect", "--type", "container", name], timeout: 30))
        if result.status != 0 {
            if result.stderrString.lowercased().contains("no such") { return nil }
            throw ToolError.failed(argv: ["docker", "inspect", "--type", "container", name], status: result.status,
                                   stderrTail: ToolError.tail(of: result.stderrString))
        }
        let list = try JSONDecoder().decode([ContainerInfo].self, from: result.stdout)
        return list.first
    }

    /// `docker stop -t SECONDS NAME` (SIGTERM, SIGKILL after the timeout).
    public func stopContainer(_ name: String, timeout: Int) throws {
        try runner.runChecked(ProcessRequest("docker", ["stop", "-t", String(timeout), name], timeout: TimeInterval(timeout) + 60))
    }

    /// `docker rm -f NAME`; a missing container is not an error.
    public func removeContainer(_ name: String) throws {
        let result = try runner.run(ProcessRequest("docker", ["rm", "-f", name], timeout: 60))
        if result.status != 0 && !result.stderrString.lowercased().contains("no such") {
            throw ToolError.failed(argv: ["docker", "rm", "-f", name], status: result.status, stderrTail: ToolError.tail(of: result.stderrString))
        }
    }

    /// `docker logs -t [--since T] [--tail N] NAME`: the container's stdout and stderr apart.
    public func containerLogs(_ name: String, since: Date?, tail: Int?) throws -> (stdout: String, stderr: String) {
        var args = ["logs", "-t"]
        if let since { args += ["--since", String(Int(since.timeIntervalSince1970))] }
        if let tail { args += ["--tail", String(tail)] }
        args.append(name)
        let result = try runner.runChecked(ProcessRequest("docker", args, timeout: 60, outputLimit: 64 << 20))
        return (result.stdoutString, result.stderrString)
    }

    /// Names of containers carrying every `label=value` given.
    public func containerNames(labels: [String: String]) throws -> [String] {
        var args = ["ps", "-a", "--format", "{{.Names}}"]
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) { args += ["--filter", "label=\(k)=\(v)"] }
        let out = try runner.runChecked(ProcessRequest("docker", args, timeout: 30)).stdoutString
        return out.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
}
