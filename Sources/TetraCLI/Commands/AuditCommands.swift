import FoundationEssentials
import TetraCore

/// `tetra audit [--since DUR] [--org O]`.
enum AuditCommands {
    static var spec: CommandSpec {
        CommandSpec("audit", summary: "Show the audit log of mutating commands",
                    discussion: "Every command that changes state appends one line to state/audit.jsonl.",
                    flags: [FlagSpec("since", value: .duration, placeholder: "DURATION", help: "only entries newer than DURATION (e.g. 7d)")],
                    examples: ["tetra audit --since 7d", "tetra audit --org acme --json"],
                    json: true,
                    handler: { inv, env in
                        let since = try inv.duration("since").map { env.core.now().addingTimeInterval(-$0) }
                        let (entries, corrupt) = try AuditLog(path: env.paths.auditLog).readChecked(since: since, org: env.options.org)
                        struct Result: Encodable { let entries: [AuditEntry] }
                        let rows = entries.map { e in
                            [Timestamps.iso8601(e.time), e.user, e.command, e.org ?? "-", e.env ?? "-", e.result,
                             String(e.exitCode), "\(e.durationMs)ms"]
                        }
                        let text = entries.isEmpty ? "no audit entries\n"
                            : env.table(["time", "user", "command", "org", "env", "result", "exit", "duration"], rows)
                        return CommandOutput(json: Result(entries: entries), text: text, notes: corrupt.map { "warning: " + $0 })
                    })
    }
}
