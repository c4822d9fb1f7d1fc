import TetraCore

/// `tetra help [COMMAND...]`.
enum HelpCommands {
    static var spec: CommandSpec {
        CommandSpec("help", summary: "Show help for tetra or one of its commands",
                    arguments: [ArgSpec("COMMAND", help: "a command path, e.g. 'ports allocate'", optional: true,
                                        variadic: true, completion: .dynamic(.commands))],
                    examples: ["tetra help", "tetra help ports allocate"],
                    handler: { inv, env in
                        let words = inv.arguments("COMMAND")
                        var node = CommandTable.root
                        var path: [String] = []
                        for word in words {
                            guard let child = node.subcommand(word) else {
                                let names = node.visibleSubcommands.map(\.name)
                                throw UsageError("unknown command '\((path + [word]).joined(separator: " "))'",
                                                 suggestion: Suggest.closest(to: word, in: names).map { (path + [$0]).joined(separator: " ") },
                                                 commandPath: path)
                            }
                            node = child
                            path.append(word)
                        }
                        return CommandOutput(text: HelpRenderer.render(node, path: path, version: TetraVersion.string))
                    })
    }
}
