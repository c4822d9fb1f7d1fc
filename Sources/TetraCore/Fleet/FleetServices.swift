import FoundationEssentials
import Glibc

/// `svc status|start|stop|restart|health|logs --env ENV`: the same `svc` verb run on every
/// selected host of an environment, `rollout.parallel` at once, by the tetra a push installed
/// there (`<target>/.tetra/bin/tetra-<hash>`; the running tetra for a local target) against
/// the host's state root (`<target>/.tetra/state`), with `--json`. The hosts' documents are
/// merged: their records, each with a `host` key, and one report per host.
public struct FleetServices: Sendable {
    public let context: CoreContext
    public let org: String
    public let envName: String
    public let hosts: [FleetHost]
    let env: EnvironmentConfig
    let parallel: Int

    /// What one host answered.
    public struct HostReport: Encodable, Sendable {
        public enum Result: String, Encodable, Sendable { case ok, failed, unreachable, not_pushed }
        public var host: String
        public var target: String
        public var result: Result
        public var exit_code: Int?
        public var error: String?
        public var duration_ms: Int
    }

    /// The merged document: `services` (status, start, stop, restart, health) or `lines`
    /// (logs), each record with its `host`; `hosts`, one report per host.
    public struct Report: Encodable, Sendable {
        public var org: String
        public var env: String
        public var name: String?
        public var stream: String?
        public var services: [HostJSON]?
        public var lines: [HostJSON]?
        public var hosts: [HostReport]
        public var host_count: Int
        public var failed_count: Int

        /// 0 when every host answered ok, 6 when no host could be reached, else 1.
        public var exitCode: ExitCode {
            FleetExit.code(failed: failed_count, unreachable: hosts.filter { $0.result == .unreachable }.count, hosts: hosts.count)
        }
    }

    /// The hosts of `envName` (of org `org`) chosen by `selector` (nil: every host).
    public init(context: CoreContext, org: String, env envName: String, hosts selector: HostSelector?) throws {
        let loaded = try OrgStore(paths: context.paths).load(org)
        let env = try loaded.environment(envName)
        guard let spec = try OrgService(context: context).fleetSpec(loaded, envName: envName, env: env,
                                                                    options: FleetOptions(hosts: selector)) else {
            throw CoreError.invalidArgument("\(envName) runs no services (it has one target and no `services`)",
                                            hint: "list them in [environments.\(envName)] services = [...] and push; without --env, svc acts on this machine")
        }
        self.context = context
        self.org = org
        self.envName = envName
        self.env = env
        hosts = spec.hosts
        parallel = spec.parallel
    }

    /// Runs `tetra svc ARGUMENTS` (`group`: `tetra metrics ARGUMENTS`) on every host and merges
    /// the answers. `logs` merges the hosts' lines by time under `lines`; every other verb gives
    /// `services` (a document without `services` is one record). Ctrl-C stops every host's
    /// command: `CoreError.interrupted`.
    public func run(_ arguments: [String], group: String = "svc", timeout: TimeInterval = 120) throws -> Report {
        let answers = Slots<(HostReport, HostJSON?)>(hosts.count)
        Parallel.forEach(hosts.count, width: parallel) { i in answers.set(i, run(hosts[i], arguments, group: group, timeout: timeout)) }
        try context.interrupt.check()
        let results = answers.values
        var report = Report(org: org, env: envName, hosts: results.map(\.0), host_count: hosts.count,
                            failed_count: results.filter { $0.0.result != .ok }.count)
        if arguments.first == "logs" {
            report.name = arguments.dropFirst().first
            report.stream = arguments.contains("--stderr") ? "stderr" : "stdout"
            let tagged = results.flatMap { r in (r.1?["lines"]?.array ?? []).compactMap { Self.tagged($0, host: r.0.host) } }
            report.lines = tagged.enumerated().sorted { a, b in
                let (x, y) = (a.element["time"]?.text ?? "", b.element["time"]?.text ?? "")
                return x == y ? a.offset < b.offset : x < y
            }.map(\.element)
        } else {
            report.services = results.flatMap { r -> [HostJSON] in
                guard let doc = r.1 else { return [] }
                return (doc["services"]?.array ?? [doc]).compactMap { Self.tagged($0, host: r.0.host) }
            }
        }
        return report
    }

    /// A host's record with its `host` key.
    static func tagged(_ value: HostJSON, host: String) -> HostJSON? {
        guard var record = value.object else { return nil }
        record["host"] = .string(host)
        return .object(record)
    }

    func run(_ host: FleetHost, _ arguments: [String], group: String = "svc", timeout: TimeInterval) -> (HostReport, HostJSON?) {
        let started = Monotonic.now()
        var report = HostReport(host: host.name, target: host.target, result: .ok, duration_ms: 0)
        var doc: HostJSON?
        do {
            let (shell, argv, target) = try command(host, arguments + ["--json"], script: Self.runScript, group: group)
            report.target = target.description
            let r = try shell.run(argv, cwd: "/", timeout: timeout)
            if let missing = notPushed(r.stdoutString, target: target) {
                report.result = .not_pushed
                report.error = missing
            } else {
                report.exit_code = Int(r.status)
                doc = try? JSONDecoder().decode(HostJSON.self, from: r.stdout)
                if r.status != 0 || doc == nil {
                    report.result = .failed
                    report.error = Self.failure(r, doc)
                }
            }
        } catch {
            report.result = FleetHostRun.isUnreachable(error) ? .unreachable : .failed
            report.error = FleetHostRun.message(error)
        }
        report.duration_ms = Int(((Monotonic.now() - started) * 1000).rounded())
        return (report, doc)
    }

    /// Why a host's `svc` failed: its JSON error, an unhealthy check, or its exit and output.
    static func failure(_ r: ProcessResult, _ doc: HostJSON?) -> String {
        if let err = try? JSONDecoder().decode(HostJSON.self, from: r.stderr), let message = err["error"]?["message"]?.text {
            return message
        }
        if doc?["healthy"] == .bool(false) {
            return "unhealthy" + (doc?["result"]?["message"]?.text.map { ": " + $0 } ?? "")
        }
        return "tetra svc exited with status \(r.status): " + ToolError.tail(of: r.stderrString + r.stdoutString)
    }

    /// The message of a host that has no state root or not this tetra (the guard's marker).
    func notPushed(_ stdout: String, target: DeployTarget) -> String? {
        if stdout.hasPrefix("@@tetra:no-state") {
            return "no push with services yet (nothing at \(target.path)/.tetra/state)"
        }
        if stdout.hasPrefix("@@tetra:no-binary") {
            return "no push with services yet by this tetra (tetra-\((try? HostBinary(context: context).executableHash.prefix(12)) ?? "?") "
                + "is not in \(target.path)/.tetra/bin); push to install it"
        }
        return nil
    }

    /// The shell at the host and the argv that runs `tetra GROUP ARGUMENTS` there under `script`.
    func command(_ host: FleetHost, _ arguments: [String], script: String,
                 group: String = "svc") throws -> (TargetShell, [String], DeployTarget) {
        let target = try env.deployTarget(host.target)
        let transport = ReleaseManager(target: target, context: context, options: env.transportOptions()).transport
        let binary = target.isLocal ? context.executablePath : try HostBinary(context: context).installedPath(targetPath: target.path)
        let state = target.path + "/.tetra/state"
        let argv = ["sh", "-c", script, "tetra-svc", binary, state + "/orgs/" + org + "/services", group] + arguments
            + ["--dir", state, "--org", org]
        return (TargetShell(transport: transport, context: context), argv, target)
    }

    /// At the host, before anything runs: the org's services under the state root and this
    /// tetra must be there, else a marker line. The data are the script's arguments
    /// (`$1` the binary, `$2` the services directory, then tetra's own arguments).
    static let guardScript = """
        b=$1; s=$2; shift 2
        if [ ! -d "$s" ]; then echo @@tetra:no-state; exit 0; fi
        if [ ! -x "$b" ]; then echo @@tetra:no-binary; exit 0; fi

        """
    static let runScript = guardScript + "exec \"$b\" \"$@\"\n"
}
