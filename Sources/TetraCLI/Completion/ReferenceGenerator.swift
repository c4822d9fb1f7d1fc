import TetraCore

/// The command reference (docs/commands.md), generated from the command table. A test keeps
/// the page's generated section equal to this output.
public enum ReferenceGenerator {
    public static let beginMarker = "<!-- BEGIN COMMAND REFERENCE (generated from the command table; do not edit) -->"
    public static let endMarker = "<!-- END COMMAND REFERENCE -->"

    public static func markdown(root: CommandSpec = CommandTable.root) -> String {
        var out = ""
        func walk(_ spec: CommandSpec, _ path: [String]) {
            if spec.handler != nil, !path.isEmpty {
                out += "#### `\(HelpRenderer.usageLine(spec, path: path))`\n\n"
                out += spec.summary + "."
                var tags: [String] = []
                if spec.supportsJSON { tags.append("`--json`") }
                if spec.mutates { tags.append("mutating (lock, audit, `--dry-run`)") }
                if !tags.isEmpty { out += " " + tags.joined(separator: ", ") + "." }
                out += "\n"
                let flags = spec.flags.filter { !$0.hidden }
                if !spec.arguments.isEmpty || !flags.isEmpty {
                    out += "\n"
                    for a in spec.arguments { out += "- `\(a.usage)`: \(a.help)\n" }
                    for f in flags { out += "- `\(f.synopsis)`: \(HelpRenderer.flagHelp(f))\n" }
                }
                out += "\n"
            } else if !path.isEmpty {
                out += "### \(path.joined(separator: " ")) — \(spec.summary)\n\n"
            }
            for child in spec.subcommands where !child.hidden { walk(child, path + [child.name]) }
        }
        walk(root, [])
        out += "### Global flags\n\n"
        for f in GlobalFlags.all + [GlobalFlags.dryRun, GlobalFlags.version] {
            out += "- `\(f.synopsis)`: \(HelpRenderer.flagHelp(f))\n"
        }
        return out
    }

    /// Replaces the generated section of a page's text.
    public static func splice(into page: String, root: CommandSpec = CommandTable.root) -> String? {
        guard let begin = page.firstRange(ofLiteral: beginMarker), let end = page.firstRange(ofLiteral: endMarker),
              begin.upperBound <= end.lowerBound else { return nil }
        return String(page[..<begin.upperBound]) + "\n\n" + markdown(root: root) + "\n" + String(page[end.lowerBound...])
    }
}
