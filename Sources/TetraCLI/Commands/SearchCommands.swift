import TetraCore

/// `tetra search QUERY...`: one grammar over every kind of resource (docs/search.md).
enum SearchCommands {
    static var spec: CommandSpec {
        CommandSpec("search", summary: "Find orgs, envs, hosts, services, ports, certificates, volumes, templates and releases",
                    discussion: """
                    Every term must match. A word matches part of a name or description (any case);
                    "a phrase" the same with spaces; KEY:VALUE filters: kind: (org, env, host, svc,
                    port, cert, volume, template, release), tag:, org:, env:, host:, state:, commit:
                    (a prefix); expires<30d (also <=, >, >=) finds certificates by time left; a term
                    with '-' in front must not match. Exit 1 when nothing matches, 2 for a malformed
                    query (the message points at the column). The dashboard's '/' and the MCP search
                    tool read the same grammar.
                    """,
                    arguments: [ArgSpec("QUERY", help: "words and filters (several arguments are joined with spaces)", variadic: true)],
                    examples: ["tetra search api", "tetra search kind:svc state:running", "tetra search tag:team:pay",
                               "tetra search kind:cert expires<30d", "tetra search env:prod -kind:host"],
                    json: true,
                    handler: { inv, env in
                        let text = inv.arguments("QUERY").joined(separator: " ")
                        let result = try SearchService(core: env.core).search(text)
                        let rows = result.results.map { r in
                            [r.kind.rawValue, r.name, [r.org, r.env].compactMap { $0 }.joined(separator: "/"), r.state ?? "",
                             r.detail ?? "", (r.tags ?? []).joined(separator: ",")]
                        }
                        let out = rows.isEmpty ? "nothing matches '\(text)'\n"
                            : env.table(["kind", "name", "where", "state", "detail", "tags"], rows)
                        return CommandOutput(exitCode: rows.isEmpty ? .failure : .success, json: result, text: out)
                    })
    }
}
