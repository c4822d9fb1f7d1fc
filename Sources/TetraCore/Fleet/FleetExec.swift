import FoundationEssentials
import Glibc

/// What `tetra exec ENV -- CMD ARGS...` did: one row per host (see docs/fleets.md).
public struct ExecOutcome: Encodable, Sendable {
    public var org: String
    public var env: String
    public var dry_run: Bool
    public var hosts: [ExecHostReport]
    public var host_count: Int
    public var failed_count: Int

    /// 0 when the command exited 0 on every host; 6 when no host could be reached; else 1.
    public var exitCode: ExitCode {
        FleetExit.code(failed: failed_count, unreachable: hosts.filter { $0.result == .unreachable }.count, hosts: hosts.count)
    }
}

/// One host's row of `tetra exec`.
public struct ExecHostReport: Encodable, Sendable {
    public enum Result: String, Encodable, Sendable {
        /// The command exited 0.
        case ok
        /// The command exited non-zero, timed out, or could not be started.
        case failed
        /// ssh could not reach the host (or the command itself exited 255: ssh cannot tell).
        case unreachable
        /// Dry run: where the command would run.
        case planned
    }

    public var host: String
    public var target: String
    public var result: Result
    public var exit_code: Int?
    public var stdout_tail: String?
    public var stderr_tail: String?
    public var duration_ms: Int
    public var error: String?
}

/// What `exec` hands to its caller as each host finishes: the row and the whole output.
public struct ExecHostOutput: Sendable {
    public var report: ExecHostReport
    public var stdout: String
    public var stderr: String
    /// The longest name of the hosts the command runs on (to align prefixes).
    public var nameWidth: Int
}

extension OrgService {
    /// The tails kept in the JSON rows: the last `tailLines` lines of a stream, at most
    /// `tailBytes` bytes (cut at a character boundary).
    public static let tailLines = 20
    public static let tailBytes = 4096

    /// `tetra exec ENV -- CMD ARGS...`: `argv` on every selected host of the environment (a
    /// one-target environment is a fleet of one host), in `<target>/current`, `parallel` at
    /// once (nil: the env's rollout.parallel). `onHost` is called as each host finishes (from
    /// worker threads, one call at a time). A protected environment needs `approve`.
    public func exec(org name: String, env envName: String, argv: [String], hosts selector: HostSelector?, parallel: Int?,
                     timeout: TimeInterval, approve: Bool, dryRun: Bool,
                     onHost: @escaping @Sendable (ExecHostOutput) -> Void = { _ in }) throws -> ExecOutcome {
        guard let program = argv.first, !program.isEmpty else {
            throw CoreError.invalidArgument("no command: give it after --, as in tetra exec ENV -- uptime")
        }
        try Names.validate(name, what: "org")
        try Names.validate(envName, what: "env")
        let org = try store.load(name)
        let env = try org.environment(envName)
        let (all, width) = try execHosts(org, envName: envName, env: env)
        let hosts = try selector.map { try $0.select(all, env: envName) } ?? all
        if !dryRun { try requireApproval(env, name: envName, verb: "exec", approve: approve) }
        let targets = try hosts.map { try env.deployTarget($0.target) }
        let planned = zip(hosts, targets).map { ExecHostReport(host: $0.name, target: $1.description, result: .planned, duration_ms: 0) }
        if dryRun {
            return ExecOutcome(org: name, env: envName, dry_run: true, hosts: planned, host_count: planned.count, failed_count: 0)
        }
        context.progress.step("running \(program) on \(hosts.count == 1 ? "1 host" : "\(hosts.count) hosts") of \(envName)")
        let results = Slots<ExecHostReport>(hosts.count)
        let report = Lock()
        let nameWidth = hosts.map(\.name.count).max() ?? 0
        Parallel.forEach(hosts.count, width: parallel ?? width) { i in
            guard !context.interrupt.isRaised else { return }
            let environment = ["TETRA_ORG": name, "TETRA_ENV": envName, "TETRA_HOST": hosts[i].name]
            var output = runOnHost(argv, target: targets[i], env: env, environment: environment, timeout: timeout, row: planned[i])
            output.nameWidth = nameWidth
            results.set(i, output.report)
            report.withLock { onHost(output) }
        }
        try context.interrupt.check()
        let rows = (0..<hosts.count).map { results.get($0) ?? planned[$0] }
        return ExecOutcome(org: name, env: envName, dry_run: false, hosts: rows, host_count: rows.count,
                           failed_count: rows.filter { $0.result != .ok }.count)
    }

    /// The hosts of an environment and its rollout.parallel; one `target` is one host,
    /// named by the URL's host part, or `local`.
    func execHosts(_ org: LoadedOrg, envName: String, env: EnvironmentConfig) throws -> ([FleetHost], Int) {
        let (spec, problems) = FleetSpec.read(env, envName: envName, org: org)
        if !problems.isEmpty { throw ConfigError(problems) }
        if let spec { return (spec.hosts, spec.parallel) }
        let target = try env.deployTarget()
        let host = FleetHost(name: target.ssh?.host ?? "local", target: env.target ?? target.description, vars: TOMLTable(), tags: [],
                             services: nil)
        return ([host], env.rollout?.parallel ?? FleetSpec.defaultParallel)
    }

    /// Runs the command at one target and fills its row (never throws: a failure is the row's).
    func runOnHost(_ argv: [String], target: DeployTarget, env: EnvironmentConfig, environment: [String: String],
                   timeout: TimeInterval, row: ExecHostReport) -> ExecHostOutput {
        var row = row
        let started = Monotonic.now()
        var out = "", err = ""
        do {
            let transport = ReleaseManager(target: target, context: context, options: env.transportOptions()).transport
            let cwd = target.path + "/current"
            var st = stat()
            if target.isLocal, stat(cwd, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
                throw CoreError.failed("no current release at \(target.path)", hint: "push the environment first")
            }
            let result = try TargetShell(transport: transport, context: context).run(argv, cwd: cwd, environment: environment,
                                                                                      timeout: timeout)
            out = result.stdoutString
            err = result.stderrString
            row.exit_code = Int(result.status)
            row.stdout_tail = Self.tail(out)
            row.stderr_tail = Self.tail(err)
            if result.timedOut {
                row.result = .failed
                row.error = "timed out after \(DurationValue.format(timeout))"
            } else {
                row.result = result.status == 0 ? .ok : .failed
            }
        } catch {
            row.result = FleetHostRun.isUnreachable(error) ? .unreachable : .failed
            row.error = FleetHostRun.message(error)
        }
        row.duration_ms = Int(((Monotonic.now() - started) * 1000).rounded())
        return ExecHostOutput(report: row, stdout: out, stderr: err, nameWidth: 0)
    }

    /// The last `tailLines` lines of `text`, at most `tailBytes` bytes.
    static func tail(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var kept = lines.suffix(tailLines).joined(separator: "\n") + (text.hasSuffix("\n") ? "\n" : "")
        while kept.utf8.count > tailBytes { kept.removeFirst() }
        return kept
    }
}
