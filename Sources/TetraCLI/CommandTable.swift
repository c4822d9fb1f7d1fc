import TetraCore

/// The command table: one tree of data that drives parsing, help, "did you mean",
/// completion scripts and the command reference check (docs/commands.md). Each group lives in its own file
/// under Commands/.
public enum CommandTable {
    public static let root = CommandSpec(
        "tetra",
        summary: "run a small fleet's configuration across environments",
        discussion: """
        Organizations of config files pushed to dev, staging and prod with atomic releases,
        a registry of named ports, supervised services, certificates, Docker volumes and a
        git-backed template library.
        """,
        examples: ["tetra init", "tetra doctor", "tetra help audit"],
        subcommands: [
            HelpCommands.spec,
            SetupCommands.initCommand,
            QuickstartCommand.spec,
            SetupCommands.doctor,
            AuditCommands.spec,
            ConfigCommands.spec,
            PortsCommands.spec,
            OrgCommands.spec,
            EnvCommands.spec,
            SvcCommands.spec,
            MetricsCommands.metrics,
            DashCommands.spec,
            SecretCommands.spec,
            FleetExecCommands.exec,
            FleetExecCommands.export,
            TemplateCommands.spec,
            LibraryCommands.spec,
            VolumeCommands.spec,
            SSLCommands.spec,
            AlertsCommands.spec,
            SearchCommands.spec,
            TagCommands.spec,
            CompletionCommands.completion,
            CompletionCommands.complete,
            HostCommands.spec,
            MCPCommand.spec,
        ])

    /// Every runnable command path, visible ones only ("ports allocate", ...).
    public static var commandPaths: [String] {
        var out: [String] = []
        func walk(_ spec: CommandSpec, _ path: [String]) {
            if spec.handler != nil, !path.isEmpty { out.append(path.joined(separator: " ")) }
            for child in spec.subcommands where !child.hidden { walk(child, path + [child.name]) }
        }
        walk(root, [])
        return out
    }
}
