import FoundationEssentials
import Glibc

extension FleetServices {
    /// `svc logs NAME -f --env ENV`: one long-lived session per host (ssh, or a process here
    /// for a local target) running `tetra svc logs NAME -f` there; every line is handed to
    /// `emit` as it arrives, prefixed `host/NAME `, and what a host says on stderr to `note`,
    /// prefixed `host: `. Runs until every session has ended, or Ctrl-C (the interrupt flag)
    /// ends them all: the sessions are stopped and, at each host, the follower ends with its
    /// session (it watches the session's stdin, which this side holds open).
    public func follow(_ arguments: [String], service: String, emit: @escaping @Sendable (String) -> Void,
                       note: @escaping @Sendable (String) -> Void) -> Report {
        let answers = Slots<HostReport>(hosts.count)
        Parallel.forEach(hosts.count, width: hosts.count) { i in
            answers.set(i, follow(hosts[i], arguments, prefix: hosts[i].name + "/" + service + " ", emit: emit, note: note))
        }
        let reports = answers.values
        return Report(org: org, env: envName, name: service, hosts: reports, host_count: reports.count,
                      failed_count: reports.filter { $0.result != .ok }.count)
    }

    func follow(_ host: FleetHost, _ arguments: [String], prefix: String, emit: @escaping @Sendable (String) -> Void,
                note: @escaping @Sendable (String) -> Void) -> HostReport {
        let started = Monotonic.now()
        var report = HostReport(host: host.name, target: host.target, result: .ok, duration_ms: 0)
        let marker = Slots<String>(1)
        let out = LineSplitter { line in
            if line.hasPrefix("@@tetra:") { marker.set(0, line) } else { emit(prefix + line) }
        }
        let err = LineSplitter { line in note(host.name + ": " + line) }
        do {
            let (shell, argv, target) = try command(host, arguments, script: Self.followScript)
            report.target = target.description
            let session = try SystemProcessRunner.makePipe()
            defer { close(session.read); close(session.write) }
            var request = shell.request(argv, cwd: "/", timeout: nil)
            request.inputFile = "/dev/fd/\(session.read)"
            let onOutput: @Sendable (OutputChunk) -> Void = { chunk in (chunk.stream == .stdout ? out : err).feed(chunk.data) }
            let r: ProcessResult
            if let system = context.runner as? SystemProcessRunner {
                r = try system.run(request, onOutput: onOutput)
            } else {
                r = try context.runner.run(request)
                onOutput(OutputChunk(stream: .stdout, data: r.stdout))
                onOutput(OutputChunk(stream: .stderr, data: r.stderr))
            }
            out.finish()
            err.finish()
            if let error = shell.sshFailure(argv, r) { throw error }
            if let missing = notPushed(marker.values.first ?? "", target: target) {
                report.result = .not_pushed
                report.error = missing
                note(host.name + ": " + missing)
            } else if r.status != 0 {
                report.result = .failed
                report.exit_code = Int(r.status)
                report.error = "tetra svc logs exited with status \(r.status)"
            }
        } catch CoreError.interrupted {
            out.finish()
        } catch {
            report.result = FleetHostRun.isUnreachable(error) ? .unreachable : .failed
            report.error = FleetHostRun.message(error)
            note(host.name + ": " + (report.result == .unreachable ? "unreachable: " : "") + (report.error ?? ""))
        }
        report.duration_ms = Int(((Monotonic.now() - started) * 1000).rounded())
        return report
    }

    /// `svc logs -f` at the host, ended when its session's stdin closes (the session ended
    /// here), and the session ended when it ends (so a follower that stops ends the session).
    static let followScript = guardScript + """
        exec 3<&0
        "$b" "$@" 3<&- &
        p=$!
        { cat <&3 >/dev/null 2>&1; kill $p 2>/dev/null; } &
        c=$!
        exec 3<&-
        wait $p
        s=$?
        kill $c 2>/dev/null
        exit $s

        """
}

/// Splits a stream of chunks into lines (the last, unterminated one is kept until more
/// arrives or `finish`) and hands each to `line`.
final class LineSplitter: @unchecked Sendable {
    private let lock = Lock()
    private var pending: [UInt8] = []
    private let line: @Sendable (String) -> Void

    init(_ line: @escaping @Sendable (String) -> Void) { self.line = line }

    func feed(_ data: Data) {
        let lines: [String] = lock.withLock {
            pending += data
            guard let last = pending.lastIndex(of: 0x0A) else { return [] }
            let complete = pending[..<last]
            pending.removeSubrange(...last)
            return complete.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
        for l in lines { line(l) }
    }

    func finish() {
        let rest: [UInt8] = lock.withLock { defer { pending = [] }; return pending }
        if !rest.isEmpty { line(String(decoding: rest, as: UTF8.self)) }
    }
}
