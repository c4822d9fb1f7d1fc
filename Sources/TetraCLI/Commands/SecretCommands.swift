import FoundationEssentials
import Glibc
import TetraCore

/// The `secret` group (SPEC §9, docs/secrets.md): the current org's secrets, encrypted at
/// rest with age. Values never appear in argv, output (except `get --reveal`), JSON or errors.
enum SecretCommands {
    static func service(_ env: CommandEnvironment, _ inv: Invocation) throws -> SecretService {
        try SecretService(context: env.core, org: try SvcCommands.org(env, inv))
    }

    static func mutate<T>(_ env: CommandEnvironment, _ body: () throws -> T) throws -> T {
        if !env.options.dryRun { try env.ensureStateRoot() }
        return try body()
    }

    static let envFlag = FlagSpec("env", value: .string, placeholder: "ENV",
                                  help: "the environment's own file, secrets.ENV.env.age (its values override the org-wide ones)",
                                  completion: .dynamic(.envs))
    static let nameArg = ArgSpec("NAME", help: "secret name (an environment variable name: [A-Za-z_][A-Za-z0-9_]*)")

    static var spec: CommandSpec {
        CommandSpec("secret", summary: "The org's secrets, encrypted at rest with age (secrets.env.age)",
                    discussion: """
                    Secrets live in orgs/<org>/secrets.env.age (every environment) and
                    secrets.<env>.env.age (one environment; its values win), encrypted with age to the
                    recipients of org.toml ([secrets] recipients, and an environment's
                    secret_recipients). They are decrypted in memory when a push renders
                    {{ secrets.NAME }} or a service that lists them starts. The identity is
                    $TETRA_AGE_IDENTITY, else $XDG_CONFIG_HOME/tetra/identity.txt, else ~/.ssh/id_ed25519
                    or ~/.ssh/id_rsa. A plaintext secrets.env still works; `secret encrypt` migrates it.
                    See docs/secrets.md.
                    """,
                    subcommands: [list, get, set, unset, importCommand, edit, encrypt, recipients, keygen])
    }

    static func changeText(_ c: SecretService.Change) -> String {
        let prefix = c.dry_run == true ? "would " : ""
        var out = ""
        for item in c.secrets {
            switch item.action {
            case .added: out += "\(prefix)\(prefix.isEmpty ? "added" : "add") \(item.name) to \(c.file)\n"
            case .updated: out += "\(prefix)\(prefix.isEmpty ? "updated" : "update") \(item.name) in \(c.file)\n"
            case .removed: out += "\(prefix)\(prefix.isEmpty ? "removed" : "remove") \(item.name) from \(c.file)\n"
            case .unchanged: out += "\(item.name) is unchanged in \(c.file)\n"
            }
        }
        return out.isEmpty ? "no change to \(c.file)\n" : out
    }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List secret names and the file each comes from (never values)",
                    flags: [FlagSpec("env", value: .string, placeholder: "ENV", help: "only what environment ENV renders with, overridden ones marked",
                                     completion: .dynamic(.envs))],
                    examples: ["tetra secret list", "tetra secret list --env prod --json"], json: true,
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let entries = try s.list(env: inv.flag("env"))
                        struct Result: Encodable { let org: String; let env: String?; let secrets: [OrgSecrets.Entry] }
                        let rows = entries.map { [$0.name, $0.file, $0.encrypted ? "encrypted" : "plaintext", $0.overridden == true ? "overridden" : ""] }
                        let text = entries.isEmpty ? "no secrets in org \(s.org)\n" : env.table(["name", "file", "storage", "note"], rows)
                        return CommandOutput(json: Result(org: s.org, env: inv.flag("env"), secrets: entries), text: text)
                    })
    }

    static var get: CommandSpec {
        CommandSpec("get", summary: "Say whether NAME is set and where; print its value only with --reveal",
                    arguments: [nameArg],
                    flags: [envFlag.with(help: "as environment ENV renders it"),
                            FlagSpec("reveal", help: "print the value alone on stdout (not with --json)")],
                    examples: ["tetra secret get DATABASE_URL", "tetra secret get DATABASE_URL --env prod --reveal"], json: true,
                    handler: { inv, env in
                        if inv.has("reveal") && env.options.json {
                            throw UsageError("--reveal prints the value alone; it is not available with --json", commandPath: inv.path)
                        }
                        let s = try service(env, inv)
                        let (entry, value) = try s.get(inv.required("NAME"), env: inv.flag("env"))
                        if inv.has("reveal") { return CommandOutput(json: entry, text: value + "\n") }
                        struct Result: Encodable { let org: String; let name: String; let set: Bool; let file: String; let encrypted: Bool; let env: String? }
                        let result = Result(org: s.org, name: entry.name, set: true, file: entry.file, encrypted: entry.encrypted, env: entry.env)
                        return CommandOutput(json: result, text: "\(entry.name) is set (\(entry.file)); show it with --reveal\n")
                    })
    }

    static var set: CommandSpec {
        var spec = CommandSpec("set", summary: "Set NAME from standard input or a prompt without echo (never from the command line)",
                               discussion: """
                               The value is read from standard input (one trailing newline removed) or, on a
                               terminal, typed at a prompt that does not echo. A value given as an argument is
                               refused (exit 2) and nothing is written: argv is visible to every user of the
                               machine and lands in shell history.
                               """,
                               arguments: [nameArg], flags: [envFlag],
                               examples: ["tetra secret set DATABASE_URL", "printf %s \"$TOKEN\" | tetra secret set API_TOKEN --env prod"],
                               mutates: true, json: true,
                               handler: { inv, env in
                                   let name = inv.required("NAME")
                                   try SecretService.validateName(name)
                                   let s = try service(env, inv)
                                   let value = try readValue(env, name: name)
                                   let change = try mutate(env) { try s.set([(name, value)], env: inv.flag("env"), dryRun: env.options.dryRun) }
                                   return CommandOutput(json: change, text: changeText(change), notes: shadowNotes(s, [name]))
                               })
        spec.refusesExtraArgumentsUnseen = true
        return spec
    }

    static func shadowNotes(_ s: SecretService, _ names: [String]) -> [String] {
        let shadowed = s.plaintextShadows(names)
        return shadowed.isEmpty ? [] : ["note: \(shadowed.joined(separator: ", ")) also in the plaintext secrets.env (the encrypted value wins); migrate it with 'tetra secret encrypt'"]
    }

    /// The value of `secret set`: standard input, or a prompt without echo on a terminal.
    static func readValue(_ env: CommandEnvironment, name: String) throws -> String {
        var value: String
        if env.cli.stdinIsTerminal {
            value = try SecretPrompt.read(env, prompt: "value of \(name): ")
        } else {
            let data = try env.cli.readStdin(InputFile.configLimit)
            guard let text = String(data: data, encoding: .utf8) else {
                throw CoreError.invalidArgument("the value on standard input is not UTF-8 text")
            }
            value = text
            if value.hasSuffix("\n") { value.removeLast() }
        }
        if value.isEmpty {
            throw CoreError.invalidArgument("empty value for \(name)", hint: "to remove a secret: tetra secret unset \(name)")
        }
        return value
    }

    static var unset: CommandSpec {
        CommandSpec("unset", summary: "Remove NAME from the org's (or --env's) encrypted file",
                    arguments: [nameArg], flags: [envFlag],
                    examples: ["tetra secret unset OLD_TOKEN", "tetra secret unset API_TOKEN --env prod"], mutates: true, json: true,
                    handler: { inv, env in
                        let name = inv.required("NAME")
                        try SecretService.validateName(name)
                        let s = try service(env, inv)
                        let change = try mutate(env) { try s.unset(name, env: inv.flag("env"), dryRun: env.options.dryRun) }
                        return CommandOutput(json: change, text: changeText(change), notes: shadowNotes(s, [name]))
                    })
    }

    static var importCommand: CommandSpec {
        CommandSpec("import", summary: "Set every KEY=VALUE of FILE (a dotenv file; - for standard input)",
                    discussion: "FILE is read once, as a stream: -, /dev/stdin and <(...) work.",
                    arguments: [ArgSpec("FILE", help: "a KEY=VALUE file, - for standard input", completion: .file)], flags: [envFlag],
                    examples: ["tetra secret import old.env", "tetra secret import --env prod <(pass show prod.env)"], mutates: true, json: true,
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let (name, data) = try env.readInput(inv.required("FILE"))
                        guard let text = String(data: data, encoding: .utf8) else {
                            throw ConfigError([ConfigProblem(file: name, message: "is not UTF-8 text")])
                        }
                        let parsed = try SecretsFile.parse(text, file: name)
                        let entries = parsed.names.map { ($0, parsed.values[$0]!) }
                        let change = try mutate(env) { try s.set(entries, env: inv.flag("env"), dryRun: env.options.dryRun) }
                        return CommandOutput(json: change, text: changeText(change), notes: shadowNotes(s, parsed.names))
                    })
    }

    static var edit: CommandSpec {
        CommandSpec("edit", summary: "Edit the decrypted file in $VISUAL/$EDITOR, then encrypt it again",
                    discussion: """
                    The decrypted text is a 0600 file in a private 0700 directory on /dev/shm (memory)
                    when it exists, else under state/tmp. It is removed when the editor exits, when it
                    fails, and on Ctrl-C; only a successful edit is encrypted and written.
                    """,
                    flags: [envFlag],
                    examples: ["tetra secret edit", "EDITOR=nano tetra secret edit --env prod"], mutates: true, json: true,
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let change = try mutate(env) { try s.edit(env: inv.flag("env"), dryRun: env.options.dryRun) }
                        return CommandOutput(json: change, text: changeText(change))
                    })
    }

    static var encrypt: CommandSpec {
        CommandSpec("encrypt", summary: "Migrate the plaintext secrets.env into secrets.env.age",
                    discussion: """
                    Encrypts every value of secrets.env to the org's recipients, decrypts the result
                    and compares it with the plaintext, and only then removes secrets.env. Values
                    already in secrets.env.age are kept (they are the ones pushes render with).
                    """,
                    examples: ["tetra secret encrypt"], mutates: true, json: true,
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let m = try mutate(env) { try s.encryptPlaintext(dryRun: env.options.dryRun) }
                        let text = m.dry_run == true
                            ? "would encrypt \(m.secrets.count) secrets of \(m.from) into \(m.to) and remove \(m.from)\n"
                            : "encrypted \(m.secrets.count) secrets of \(m.from) into \(m.to) (round trip verified); removed \(m.from)\n"
                        return CommandOutput(json: m, text: text)
                    })
    }

    static var recipients: CommandSpec {
        CommandSpec("recipients", summary: "List who can decrypt the org's secrets", flags: [],
                    examples: ["tetra secret recipients", "tetra secret recipients --json"], json: true,
                    subcommands: [recipientChange(add: true), recipientChange(add: false)],
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let all = try s.listRecipients()
                        struct Result: Encodable { let org: String; let recipients: [SecretService.Recipient] }
                        let rows = all.map { [$0.env ?? "(all)", $0.key] }
                        let text = all.isEmpty ? "no recipients: add one with 'tetra secret recipients add KEY'\n" : env.table(["env", "key"], rows)
                        return CommandOutput(json: Result(org: s.org, recipients: all), text: text)
                    })
    }

    static func recipientChange(add: Bool) -> CommandSpec {
        CommandSpec(add ? "add" : "remove",
                    summary: add ? "Add a recipient (age1... or an ssh public key) and re-encrypt the files it may read"
                                 : "Remove a recipient and re-encrypt every file without it",
                    arguments: [ArgSpec("KEY", help: "age1... or 'ssh-ed25519 AAAA...' (quoted)")],
                    flags: [FlagSpec("env", value: .string, placeholder: "ENV", help: "the environment's secret_recipients instead of [secrets] recipients",
                                     completion: .dynamic(.envs))],
                    examples: add ? ["tetra secret recipients add age1...", "tetra secret recipients add \"$(cat ~/.ssh/id_ed25519.pub)\""]
                                  : ["tetra secret recipients remove age1..."],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let s = try service(env, inv)
                        let c = try mutate(env) { try s.changeRecipient(inv.required("KEY"), add: add, env: inv.flag("env"), dryRun: env.options.dryRun) }
                        let verb = c.dry_run == true ? "would " + (add ? "add" : "remove") : (add ? "added" : "removed")
                        var text = c.action == .unchanged ? "\(SecretRecipients.key(c.key)) is already a recipient\n" : "\(verb) recipient \(SecretRecipients.key(c.key))\n"
                        if !c.reencrypted.isEmpty { text += "re-encrypted: \(c.reencrypted.joined(separator: ", "))\n" }
                        return CommandOutput(json: c, text: text)
                    })
    }

    static var keygen: CommandSpec {
        CommandSpec("keygen", summary: "Create your age identity (age-keygen) where tetra looks for it; never overwrites",
                    discussion: """
                    Writes $TETRA_AGE_IDENTITY when set, else $XDG_CONFIG_HOME/tetra/identity.txt
                    (~/.config by default), mode 0600, and prints its public key: give that key to
                    `tetra secret recipients add`.
                    """,
                    examples: ["tetra secret keygen"], mutates: true, json: true,
                    handler: { _, env in
                        let k = try SecretService.keygen(context: env.core, dryRun: env.options.dryRun)
                        let text = k.dry_run == true ? "would create \(k.identity)\n"
                            : "created \(k.identity)\npublic key: \(k.recipient ?? "")\nadd it: tetra secret recipients add \(k.recipient ?? "")\n"
                        return CommandOutput(json: k, text: text)
                    })
    }
}

extension FlagSpec {
    /// The same flag with another help text.
    func with(help: String) -> FlagSpec {
        var copy = self
        copy.help = help
        return copy
    }
}

/// A prompt on the terminal that does not echo what is typed (termios ECHO off, restored
/// whatever happens).
enum SecretPrompt {
    static func read(_ env: CommandEnvironment, prompt: String) throws -> String {
        env.cli.stderr.write(prompt)
        var saved = termios()
        let haveTerm = tcgetattr(0, &saved) == 0
        if haveTerm {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(0, TCSAFLUSH, &quiet)
        }
        defer {
            if haveTerm { _ = tcsetattr(0, TCSAFLUSH, &saved) }
            env.cli.stderr.write("\n")
        }
        return try env.cli.readLine() ?? ""
    }
}
