import FoundationEssentials
import TetraCore

/// The flags every fleet command shares (`--hosts`, `--batch`, `--parallel`,
/// `--max-failures`) and the text rendering of a fleet push (one row per host).
enum FleetCommandSupport {
    static let hostsFlag = FlagSpec("hosts", value: .string, placeholder: "LIST",
                                    help: "only these hosts of an environment with hosts: names and tag:TAG, comma-separated")
    static let batchFlag = FlagSpec("batch", value: .string, placeholder: "N|P%",
                                    help: "hosts activated at once (a number or a percentage), instead of the env's rollout.batch")
    static let parallelFlag = FlagSpec("parallel", value: .integer(min: 1, max: 1000), placeholder: "N",
                                       help: "hosts reached and uploaded to at once, instead of rollout.parallel")
    static let maxFailuresFlag = FlagSpec("max-failures", value: .integer(min: 0, max: 100_000), placeholder: "N",
                                          help: "failed hosts tolerated before the push rolls back, instead of rollout.max_failures")
    static let pushFlags = [hostsFlag, batchFlag, parallelFlag, maxFailuresFlag]

    static func options(_ inv: Invocation) throws -> FleetOptions {
        var options = FleetOptions()
        if let text = inv.flag("hosts") { options.hosts = try HostSelector.parse(text) }
        if let text = inv.flag("batch") {
            guard let batch = FleetSpec.BatchSize.parse(text) else {
                throw CoreError.invalidArgument("--batch: '\(Names.printable(text))' is not a number of hosts (1 or more) or a percentage (1% to 100%)")
            }
            options.batch = batch
        }
        options.parallel = inv.flag("parallel").flatMap { Int($0) }
        options.maxFailures = inv.flag("max-failures").flatMap { Int($0) }
        return options
    }

    static func text(_ r: FleetPushOutcome, env: CommandEnvironment) -> String {
        var text = r.dry_run
            ? "dry run: \(r.action.rawValue) \(r.org) to \(r.env) (\(plural(r.host_count, "host")), \(plural(r.batch_count, "batch", "batches")))\n"
            : "\(r.action.rawValue) \(r.org) to \(r.env): \(r.outcome.rawValue) (release \(r.release ?? "-"), \(r.host_count - r.failed_count) of \(plural(r.host_count, "host")) ok)\n"
        text += env.table(["host", "release", "phase", "result", "time", "changes", "error"], r.hosts.map { h in
            [h.host, h.release ?? h.previous ?? "-", h.phase.rawValue, h.result.rawValue, "\(h.duration_ms) ms",
             h.changes.map { "\($0.count)" } ?? "", h.error ?? ""]
        })
        for hook in r.hooks where hook.status != 0 { text += "\(hook.hook) hook failed: \(hook.command): \(hook.error ?? "")\n" }
        if let s = r.snapshot { text += "snapshot: \(s)\n" }
        return text
    }

    static func plural(_ n: Int, _ word: String, _ many: String? = nil) -> String {
        "\(n) " + (n == 1 ? word : many ?? word + "s")
    }
}
