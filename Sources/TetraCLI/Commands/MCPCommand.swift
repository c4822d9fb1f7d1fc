import TetraCore

/// `tetra mcp`: the MCP server for assistants (Sources/TetraCLI/MCP, docs/mcp.md).
enum MCPCommand {
    static var spec: CommandSpec {
        CommandSpec("mcp", summary: "Serve tetra's commands to an assistant over MCP (stdio); read-only unless allowed",
                    discussion: """
                    A Model Context Protocol server on standard input and output (JSON-RPC 2.0, one
                    message per line; logs on stderr). Every command with --json is a tool, named by
                    its path (ports_list, org_push). Without flags only the tools that change nothing
                    are listed and run; --allow-write adds those that change state; --allow-destructive
                    adds those that need --yes or --approve, and each call of one asks the person,
                    through the client, to type the name of what it acts on. Every call is audited
                    with "via": "mcp". Ends at the end of its input.
                    """,
                    flags: [FlagSpec("allow-write", help: "list and run the tools that change state"),
                            FlagSpec("allow-destructive", help: "also the destructive ones (with --allow-write), each confirmed by the person")],
                    examples: ["tetra mcp", "tetra mcp --allow-write", "tetra mcp --allow-write --allow-destructive --dir /srv/tetra"],
                    handler: { inv, env in
            if inv.has("allow-destructive") && !inv.has("allow-write") {
                throw UsageError("--allow-destructive needs --allow-write", usage: "tetra mcp [--allow-write [--allow-destructive]]",
                                 commandPath: inv.path)
            }
            let settings = MCPServer.Settings(allowWrite: inv.has("allow-write"), allowDestructive: inv.has("allow-destructive"),
                                              dir: env.options.dir == nil ? nil : env.core.stateRoot)
            let server = MCPServer(settings: settings, base: env.cli, paths: env.paths, out: env.cli.stdout, log: env.cli.stderr,
                                   makeRunner: runnerMaker(env.cli))
            let status = server.run(LineReader(fd: 0))
            return CommandOutput(exitCode: ExitCode(rawValue: status) ?? .failure)
        })
    }

    /// Each call gets a process runner that stops its children when that call is cancelled.
    static func runnerMaker(_ cli: CLIContext) -> @Sendable (InterruptFlag) -> any ProcessRunning {
        guard cli.runner is SystemProcessRunner else { return { _ in cli.runner } }
        let environment = cli.environment, exe = cli.executablePath
        return { flag in SystemProcessRunner(environment: environment, interrupt: flag, parentDeathWrapper: exe) }
    }
}
