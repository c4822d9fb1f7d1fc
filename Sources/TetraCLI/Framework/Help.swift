import TetraCore

/// Renders help text from the command table: the same data drives parsing, help,
/// completion and the command reference check (docs/commands.md).
public enum HelpRenderer {
    public static func usageLine(_ spec: CommandSpec, path: [String]) -> String {
        var parts = ["tetra"] + path
        if let override = spec.usageOverride {
            parts.append(override)
        } else {
            if !spec.subcommands.isEmpty && spec.handler == nil {
                parts.append("COMMAND")
            } else {
                parts += spec.arguments.map(\.usage)
            }
            if !spec.flags.filter({ !$0.hidden }).isEmpty || spec.mutates || spec.supportsJSON {
                parts.append("[flags]")
            }
        }
        return parts.joined(separator: " ")
    }

    public static func render(_ spec: CommandSpec, path: [String], version: String) -> String {
        var out = ""
        let title = path.isEmpty ? "tetra \(version)" : "tetra " + path.joined(separator: " ")
        out += "\(title) — \(spec.summary)\n"
        if let discussion = spec.discussion {
            out += "\n" + discussion + "\n"
        }
        out += "\nUsage:\n  \(usageLine(spec, path: path))\n"
        if !spec.subcommands.isEmpty && spec.handler != nil {
            out += "  tetra \(path.joined(separator: " ")) COMMAND [flags]\n"
        }

        let subs = spec.visibleSubcommands
        if !subs.isEmpty {
            out += "\nCommands:\n"
            out += columns(subs.map { ($0.name, $0.summary) })
        }
        if !spec.arguments.isEmpty {
            out += "\nArguments:\n"
            out += columns(spec.arguments.map { ($0.usage, $0.help) })
        }
        let own = spec.flags.filter { !$0.hidden } + (spec.mutates && !spec.flags.contains { $0.name == "dry-run" } ? [GlobalFlags.dryRun] : [])
        if !own.isEmpty {
            out += "\nFlags:\n"
            out += columns(own.map { ($0.synopsis, flagHelp($0)) })
        }
        let globals = GlobalFlags.all.filter { g in !own.contains { $0.name == g.name } }
            + (path.isEmpty ? [GlobalFlags.version] : [])
        out += "\nGlobal flags:\n"
        out += columns(globals.map { ($0.synopsis, flagHelp($0)) })
        if !spec.examples.isEmpty {
            out += "\nExamples:\n"
            out += spec.examples.map { "  " + $0 + "\n" }.joined()
        }
        var notes: [String] = []
        if spec.supportsJSON { notes.append("Supports --json.") }
        if spec.mutates { notes.append("Changes state: takes a lock and is recorded in the audit log.") }
        if !notes.isEmpty { out += "\n" + notes.joined(separator: " ") + "\n" }
        if !subs.isEmpty {
            let p = (["tetra"] + path).joined(separator: " ")
            out += "\nRun '\(p) COMMAND --help' for more about a command.\n"
        }
        return out
    }

    static func flagHelp(_ f: FlagSpec) -> String {
        var h = f.help
        if f.repeatable { h += " (repeatable)" }
        if let d = f.defaultValue, !h.contains("default") { h += " (default: \(d))" }
        return h
    }

    /// Two aligned columns with a two-space indent.
    static func columns(_ rows: [(String, String)]) -> String {
        let width = min(28, rows.map { $0.0.count }.max() ?? 0)
        var out = ""
        for (left, right) in rows {
            if left.count > width {
                out += "  \(left)\n" + String(repeating: " ", count: width + 4) + right + "\n"
            } else {
                out += "  " + left.padded(to: width) + "  " + right + "\n"
            }
        }
        return out
    }
}
