import TetraCore

/// `tetra tag add|remove KIND NAME TAG` (docs/search.md).
enum TagCommands {
    static let kinds = ["org", "env", "host", "service", "port", "certificate"]

    static var spec: CommandSpec {
        CommandSpec("tag", summary: "Add or remove a tag on an org, env, host, service, port or certificate",
                    subcommands: [command(add: true), command(add: false)])
    }

    static func command(add: Bool) -> CommandSpec {
        CommandSpec(add ? "add" : "remove", summary: add ? "Add TAG to a resource's tags" : "Remove TAG from a resource's tags",
                    discussion: """
                    Edits the file that holds the tags, keeping its formatting: org.toml for an org
                    ([org] tags), an env ([environments.ENV] tags) and a host (its table in hosts;
                    --env names the env), the service's definition, config/ports.toml ([tags]) and a
                    certificate's meta.toml. Envs, hosts and services belong to the current org
                    (--org). A volume's tags are docker labels fixed when it is created: 'tetra volume
                    create NAME --tag TAG'. Tags use a-z, 0-9, '.', '_', '-' and ':' (team:pay).
                    """,
                    arguments: [ArgSpec("KIND", help: "org, env, host, service, port or certificate", completion: .choices(kinds)),
                                ArgSpec("NAME", help: "the resource's name (a certificate: its domain)"),
                                ArgSpec("TAG", help: "the tag, e.g. critical or team:pay")],
                    flags: [FlagSpec("env", value: .string, placeholder: "ENV", help: "the env of a host", completion: .dynamic(.envs))],
                    examples: add ? ["tetra tag add env prod critical --org shop", "tetra tag add port api team:pay",
                                     "tetra tag add host web1 eu --env prod --org shop"]
                                  : ["tetra tag remove certificate example.com legacy"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let kindText = try inv.required("KIND")
                        guard let kind = SearchKind(rawValue: kindText) ?? SearchQuery.kindNames[kindText] else {
                            throw UsageError("unknown kind '\(kindText)' (kinds: \(kinds.joined(separator: ", ")))", commandPath: inv.path)
                        }
                        let org = [SearchKind.env, .host, .service].contains(kind) ? try EnvCommands.currentOrg(inv, env) : nil
                        let c = try TagService(core: env.core).change(kind: kind, name: inv.required("NAME"), org: org, env: inv.flag("env"),
                                                                      tag: inv.required("TAG"), add: add)
                        let what = c.kind == .org ? "" : [c.org, c.env].compactMap { $0 }.joined(separator: "/")
                        let text = "\(c.kind.rawValue) \(c.name)\(what.isEmpty ? "" : " (\(what))"): \(c.action.rawValue) \(c.tag)"
                            + " — tags: \(c.tags.isEmpty ? "none" : c.tags.joined(separator: ", "))\n"
                        return CommandOutput(json: c, text: text)
                    })
    }
}
