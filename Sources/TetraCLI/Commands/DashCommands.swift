import FoundationEssentials
import Glibc
import TetraCore

/// `tetra dash`: the live full-screen dashboard (docs/dash.md). Without a terminal on stdin
/// and stdout, or with `--once`, one frame as plain text; `--json`, the frame's data.
enum DashCommands {
    static var spec: CommandSpec {
        CommandSpec("dash", summary: "Live full-screen dashboard: services, environments, alerts, certificates, port problems",
                    discussion: """
                    Services of the org with state, health, CPU, memory, a CPU sparkline from the
                    metrics rings, restarts, uptime and port; environments (current release, age and
                    who, from this machine's history; drift unknown); firing alerts; certificates
                    expiring within 21 days; port problems. Keys: j/k or arrows, Tab, Enter (logs),
                    r/s/S restart/stop/start (y/N; on a protected --env the name must be typed),
                    / filter, o org, e env, ? help, q quit. Without a terminal or with --once, one
                    frame as plain text.
                    """,
                    flags: [FlagSpec("env", value: .string, placeholder: "ENV",
                                     help: "the environment shown as current; when protected, actions need the service name typed",
                                     completion: .dynamic(.envs)),
                            FlagSpec("interval", value: .duration, placeholder: "DURATION", help: "refresh interval (default 1s, at least 100ms)"),
                            FlagSpec("read-only", help: "show and allow no action"),
                            FlagSpec("once", help: "print one frame as plain text and exit")],
                    examples: ["tetra dash", "tetra dash --org acme --env prod", "tetra dash --once", "tetra dash --json",
                               "tetra dash --read-only --interval 5s"],
                    json: true,
                    handler: { inv, env in
                        let org = try SvcCommands.org(env, inv)
                        let interval = try inv.duration("interval") ?? 1
                        guard interval >= 0.1, interval <= 3600 else {
                            throw UsageError("--interval must be between 100ms and 1h", usage: "tetra dash --interval 1s", commandPath: inv.path)
                        }
                        let envName = inv.flag("env")
                        if let envName { try Names.validate(envName, what: "environment") }
                        let builder = DashFrameBuilder(core: env.core, org: org, env: envName)
                        if let envName, try OrgStore(paths: env.paths).load(org).config.environments[envName] == nil {
                            throw CoreError.notFound(what: "environment", name: envName, hint: "list them with `tetra env list --org \(org)`")
                        }
                        let frame = try builder.frame()
                        let notes = (frame.warnings ?? []).map { "warning: \($0)" }
                        if env.options.json { return CommandOutput(json: frame, text: "", notes: notes) }
                        if inv.has("once") || !env.cli.stdoutIsTerminal || !env.cli.stdinIsTerminal {
                            let width = env.cli.stdoutIsTerminal ? env.cli.terminalWidth ?? 80 : 80
                            return CommandOutput(json: frame, text: DashRenderer.plain(frame, width: width))
                        }
                        let session = DashSession(env: env, builder: builder, interval: interval, readOnly: inv.has("read-only"))
                        try session.run()
                        return CommandOutput()
                    })
    }
}
