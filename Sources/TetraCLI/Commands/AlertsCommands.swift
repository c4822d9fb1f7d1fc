import FoundationEssentials
import TetraCore

/// The `alerts` group: rules of org.toml and config/alerts.toml, their state, the
/// notifications sent (docs/alerts.md).
enum AlertsCommands {
    static var spec: CommandSpec {
        CommandSpec("alerts", summary: "Alert rules, their state and the notifications sent",
                    discussion: """
                    Rules are [[alerts]] in org.toml (or config/alerts.toml for every org). Service rules are
                    evaluated by each service's supervisor; `alerts check` evaluates the rest.
                    """,
                    subcommands: [list, history, test, check])
    }

    static func service(_ env: CommandEnvironment) -> AlertService { AlertService(core: env.core) }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List the alert rules with their state (inactive, pending, firing)",
                    discussion: "Rules of every org and of config/alerts.toml; --org: that org's and the global ones.",
                    examples: ["tetra alerts list", "tetra alerts list --org acme --json"], json: true,
                    handler: { _, env in
                        let (result, warnings) = try service(env).list(org: env.options.org)
                        var rows: [[String]] = []
                        for rule in result.alerts {
                            let target = rule.service ?? rule.domain ?? "*"
                            if rule.subjects.isEmpty {
                                rows.append([rule.alert, rule.org ?? "*", target, "inactive", "-", "-", rule.when])
                            }
                            for s in rule.subjects {
                                rows.append([rule.alert, s.org ?? rule.org ?? "*", s.service ?? s.domain ?? target, s.status.rawValue,
                                             s.changed_at, s.value ?? "-", rule.when])
                            }
                        }
                        let text = rows.isEmpty ? "no alert rules (add [[alerts]] to org.toml: see docs/alerts.md)\n"
                            : env.table(["alert", "org", "subject", "status", "since", "value", "when"], rows, statusColumn: 3)
                        return CommandOutput(json: result, text: text, notes: warnings.map { "warning: " + $0 })
                    })
    }

    static var history: CommandSpec {
        CommandSpec("history", summary: "Show the notifications sent and whether they were delivered",
                    flags: [FlagSpec("since", value: .duration, placeholder: "DURATION", help: "only notifications newer than DURATION (e.g. 24h)")],
                    examples: ["tetra alerts history --since 24h", "tetra alerts history --org acme --json"], json: true,
                    handler: { inv, env in
                        let since = try inv.duration("since").map { env.core.now().addingTimeInterval(-$0) }
                        let (result, corrupt) = try service(env).history(org: env.options.org, since: since)
                        let rows = result.entries.map { e in
                            [e.time, e.alert, e.org ?? "-", e.service ?? e.domain ?? "-", e.status.rawValue, e.value ?? "-", e.result.rawValue,
                             e.deliveries.map { "\($0.notifier): \($0.result.rawValue)" + ($0.error.map { " (\($0))" } ?? "") }.joined(separator: ", ")]
                        }
                        let text = rows.isEmpty ? "no notifications\n"
                            : env.table(["time", "alert", "org", "subject", "status", "value", "result", "deliveries"], rows, statusColumn: 6)
                        return CommandOutput(json: result, text: text, notes: corrupt.map { "warning: " + $0 })
                    })
    }

    static var test: CommandSpec {
        CommandSpec("test", summary: "Send a test notification through the notifiers of rule NAME",
                    discussion: "Exit 1 when a notifier did not get it (after its retries); the history records it as `test`.",
                    arguments: [ArgSpec("NAME", help: "the rule's name", completion: .dynamic(.alerts))],
                    examples: ["tetra alerts test api-hot", "tetra alerts test cert-expiring --org acme --json"], json: true,
                    handler: { inv, env in
                        let entry = try service(env).test(inv.required("NAME"), org: env.options.org)
                        var text = ""
                        for d in entry.deliveries {
                            text += "\(d.notifier): \(d.result.rawValue)" + (d.attempts > 1 ? " after \(d.attempts) attempts" : "")
                                + (d.error.map { " (\($0))" } ?? "") + "\n"
                        }
                        return CommandOutput(exitCode: entry.result == .delivered ? .success : .failure, json: entry, text: text)
                    })
    }

    static var check: CommandSpec {
        CommandSpec("check", summary: "Evaluate certificate rules and services without a supervisor (for cron)",
                    discussion: """
                    Evaluates cert_days_left rules against the certificate store, and service rules for services
                    no supervisor watches (stopped, failed, never started). Sends what changed. Exit 1 when an
                    alert it evaluates is firing, 0 otherwise.
                    """,
                    examples: ["tetra alerts check", "*/5 * * * * tetra alerts check --quiet"], json: true,
                    handler: { _, env in
                        try env.ensureStateRoot()
                        let (result, warnings) = try service(env).check(org: env.options.org)
                        let rows = result.alerts.map { a in
                            [a.alert, a.org ?? "*", a.service ?? a.domain ?? "-", a.status.rawValue, a.value ?? "-",
                             a.sent.map { "\($0.rawValue): \(a.result?.rawValue ?? "-")" } ?? "-"]
                        }
                        let text = (rows.isEmpty ? "" : env.table(["alert", "org", "subject", "status", "value", "sent"], rows, statusColumn: 3))
                            + "\(result.evaluated) evaluated, \(result.firing) firing\n"
                        return CommandOutput(exitCode: result.firing > 0 ? .failure : .success, json: result, text: text,
                                             notes: warnings.map { "warning: " + $0 })
                    })
    }
}
