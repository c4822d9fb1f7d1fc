import TetraCore

/// `tetra completion SHELL` and the hidden `tetra __complete WORDS...`.
enum CompletionCommands {
    static var completion: CommandSpec {
        CommandSpec("completion", summary: "Print the shell completion script for bash, zsh or fish",
                    discussion: """
                    The script is generated from the command table. Names known only at run time
                    (orgs, environments, port names, ...) are completed by calling tetra itself.
                    """,
                    arguments: [ArgSpec("SHELL", help: "bash, zsh or fish", completion: .choices(CompletionScripts.shells))],
                    examples: [
                        "tetra completion bash > ~/.local/share/bash-completion/completions/tetra",
                        "tetra completion zsh > \"${fpath[1]}/_tetra\"",
                        "tetra completion fish > ~/.config/fish/completions/tetra.fish",
                    ],
                    handler: { inv, env in
                        // --dir is the state root, which the script does not use: refuse rather
                        // than ignore it (the script's name completion runs 'tetra __complete',
                        // which finds the state root through TETRA_DIR like every command).
                        if let dir = env.options.dir {
                            throw CoreError.invalidArgument(
                                "--dir sets the state root; 'tetra completion' prints a script on stdout and writes no file, so --dir \(Names.printable(dir)) would be ignored",
                                hint: "write the script with a redirect (tetra completion bash > ~/.local/share/bash-completion/completions/tetra); for names from another state root, export TETRA_DIR in your shell")
                        }
                        let shell = inv.required("SHELL")
                        guard let script = CompletionScripts(root: CommandTable.root).script(for: shell) else {
                            throw UsageError("unknown shell '\(shell)' (expected bash, zsh or fish)",
                                             suggestion: Suggest.closest(to: shell, in: CompletionScripts.shells),
                                             usage: "tetra completion bash|zsh|fish", commandPath: ["completion"])
                        }
                        return CommandOutput(text: script)
                    })
    }

    static var complete: CommandSpec {
        CommandSpec("__complete", summary: "Complete WORDS (used by the completion scripts)",
                    arguments: [ArgSpec("WORDS", help: "the words after 'tetra', the last being completed",
                                        optional: true, variadic: true)],
                    hidden: true, rawArguments: true,
                    handler: { inv, env in
                        // Never fails: a completion that errors would print into the user's prompt.
                        var words = inv.arguments("WORDS")
                        if words.isEmpty { words = [""] }
                        let completer = Completer(root: CommandTable.root,
                                                  provider: StateNameProvider(paths: env.paths, runner: env.core.runner,
                                                                              org: (try? env.resolvedOrg()) ?? nil))
                        let lines = completer.complete(words)
                        return CommandOutput(text: lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n")
                    })
    }
}
