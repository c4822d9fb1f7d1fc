import FoundationEssentials
import TetraCore

/// `tetra exec ENV -- CMD ARGS...` (a command on every host of an environment) and
/// `tetra export compose ENV` (its services as a Docker Compose file). See docs/fleets.md.
enum FleetExecCommands {
    static var exec: CommandSpec {
        CommandSpec("exec", summary: "Run a command on every host of ENV, in its current release",
                    discussion: """
                    The command is the words after --, run as an argv (never through a shell here;
                    over ssh each word is quoted) in <target>/current of every selected host, up to
                    rollout.parallel hosts at once, with the host's own environment plus TETRA_ORG,
                    TETRA_ENV and TETRA_HOST. No secret is passed. An environment with one target
                    is a fleet of one host. Each host's output is printed as it finishes, every line
                    prefixed with the host's name (stdout here on stdout, stderr on stderr). Exit 1
                    when the command failed on any host (non-zero exit, timeout, or unreachable:
                    each is named), 6 when no host could be reached. A protected environment needs
                    --approve.
                    """,
                    arguments: [EnvCommands.envArg,
                                ArgSpec("CMD", help: "the command and its arguments, after --", variadic: true)],
                    flags: [FleetCommandSupport.hostsFlag,
                            FlagSpec("parallel", value: .integer(min: 1, max: 1000), placeholder: "N",
                                     help: "hosts the command runs on at once, instead of rollout.parallel"),
                            FlagSpec("timeout", value: .duration, placeholder: "DURATION", default: "10m",
                                     help: "stop the command on a host after DURATION (the host then failed)"),
                            OrgCommands.approveFlag],
                    examples: ["tetra exec prod --org acme -- uptime", "tetra exec prod --hosts tag:eu --approve -- ./bin/migrate --check",
                               "tetra exec dev --json -- ls -l"],
                    mutates: true, json: true, usage: "ENV [FLAGS] -- CMD [ARGS...]", handler: { inv, env in
            let argv = try command(inv)
            let org = try EnvCommands.currentOrg(inv, env)
            let json = env.options.json
            let r = try OrgService(context: env.core).exec(
                org: org, env: inv.required("ENV"), argv: argv, hosts: try inv.flag("hosts").map(HostSelector.parse),
                parallel: inv.int("parallel"), timeout: try inv.duration("timeout") ?? 600, approve: inv.has("approve"),
                dryRun: env.options.dryRun, onHost: { output in
                    guard !json else { return }
                    let name = output.report.host + String(repeating: " ", count: max(0, output.nameWidth - output.report.host.count))
                    env.cli.stdout.write(prefixed(output.stdout, name))
                    env.cli.stderr.write(prefixed(output.stderr, name))
                })
            if !json, !r.dry_run, r.failed_count > 0 { env.cli.stderr.write(failures(r)) }
            let text = r.dry_run ? "dry run: would run on \(r.hosts.map(\.host).joined(separator: ", ")) of \(r.env)\n" : ""
            return CommandOutput(exitCode: r.exitCode, json: r, text: text)
        })
    }

    /// The words after `--` (exit 2 when there are none, or when ENV is among them).
    static func command(_ inv: Invocation) throws -> [String] {
        let words = inv.arguments("CMD")
        let argv = inv.argv
        guard !words.isEmpty, argv.count > words.count, Array(argv.suffix(words.count)) == words,
              argv[argv.count - words.count - 1] == "--" else {
            throw UsageError("give the command after --, as in: tetra exec ENV -- CMD ARGS...", commandPath: inv.path)
        }
        return words
    }

    /// Each line of `text` as `NAME | line`.
    static func prefixed(_ text: String, _ name: String) -> String {
        guard !text.isEmpty else { return "" }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map { "\(name) | \($0)\n" }.joined()
    }

    /// Which hosts failed and how, for stderr.
    static func failures(_ r: ExecOutcome) -> String {
        let failed = r.hosts.filter { $0.result != .ok }
        var out = ""
        for h in failed {
            let how = h.result == .unreachable ? "unreachable" : h.exit_code.map { "exit \($0)" } ?? "failed"
            out += "tetra: \(h.host): \(how)" + (h.error.map { ": " + $0 } ?? "") + "\n"
        }
        return out + "tetra: error: the command failed on \(failed.count) of \(r.host_count) host\(r.host_count == 1 ? "" : "s") of \(r.env): "
            + failed.map(\.host).joined(separator: ", ") + "\n"
    }

    static var export: CommandSpec {
        CommandSpec("export", summary: "Export an environment for other tools: compose", subcommands: [compose])
    }

    static var compose: CommandSpec {
        CommandSpec("compose", summary: "Write a Docker Compose file of ENV's services",
                    discussion: """
                    The environment's services (its services list and its hosts' own lists), each
                    definition rendered for the environment as a push renders it. Docker runtime
                    services become Compose services (image, command, environment, ports, volumes,
                    network_mode, restart, healthcheck); process runtime services are noted as
                    comments, not containerised. Secrets are ${NAME} references, never values. Without
                    -o the file is printed on stdout; -o FILE replaces FILE atomically.
                    """,
                    arguments: [EnvCommands.envArg],
                    flags: [FlagSpec("output", short: "o", value: .path, placeholder: "FILE",
                                     help: "write the Compose file to FILE (atomically) instead of stdout")],
                    examples: ["tetra export compose prod --org acme", "tetra export compose prod -o compose.yaml"],
                    json: true, handler: { inv, env in
            var r = try OrgService(context: env.core).exportCompose(org: try EnvCommands.currentOrg(inv, env), env: inv.required("ENV"))
            guard let output = inv.flag("output"), output != "-" else {
                return CommandOutput(json: r, text: r.compose ?? "")
            }
            let file = env.core.absolutePath(output)
            try AtomicFile.write(string: r.compose ?? "", to: file)
            r.file = file
            r.compose = nil
            var text = "wrote \(file): \(r.services.count) service\(r.services.count == 1 ? "" : "s")"
            if !r.skipped.isEmpty { text += "; process services not containerised: " + r.skipped.joined(separator: ", ") }
            return CommandOutput(json: r, text: text + "\n")
        })
    }
}
