import FoundationEssentials

/// The context an org's `files/**/*.tmpl` are rendered with for one environment (SPEC §2
/// "Rendering context"):
/// - every key of `[vars]`, overridden by the environment's `vars` (key by key: an
///   environment's `vars.db = {...}` replaces the whole `db` table), at top level;
/// - `org`: the `[org]` table (`{{ org.name }}`);
/// - `env`: the environment's table with `name` added (`{{ env.name }}`, `{{ env.target }}`);
/// - `ports`: the port registry, name → number (`{{ ports.api }}`);
/// - `secrets`: `secrets.env`, KEY → value (`{{ secrets.DATABASE_URL }}`).
/// - `host` (environments of many hosts, rendered per host): `{{ host.name }}`,
///   `{{ host.vars.node }}`, `{{ host.tags }}`, `{{ host.target }}`.
/// `org`, `env`, `ports` and `secrets` are reserved: a variable of that name is an error; so
/// is `host` in an environment of many hosts.
public enum OrgRenderContext {
    public static let reserved = ["org", "env", "ports", "secrets"]

    /// Builds the context of environment `environment` of a parsed `org.toml`.
    /// Throws `ConfigError` (exit 3) for an unknown environment, malformed tables or a
    /// reserved variable name (every problem at once).
    public static func build(org document: TOMLTable, environment: String, ports: [String: Int],
                             secrets: [String: String], file: String? = nil, host: TOMLTable? = nil) throws -> TOMLTable {
        var problems: [ConfigProblem] = []
        func problem(_ key: String, _ message: String) { problems.append(ConfigProblem(file: file, keyPath: key, message: message)) }

        let orgTable: TOMLTable
        switch document["org"] {
        case .table(let t)?: orgTable = t
        case nil: orgTable = TOMLTable(); problem("org", "missing [org] table")
        case let other?: orgTable = TOMLTable(); problem("org", "must be a table, not \(other.typeName)")
        }
        var vars = TOMLTable()
        switch document["vars"] {
        case .table(let t)?: vars = t
        case nil: break
        case let other?: problem("vars", "must be a table, not \(other.typeName)")
        }
        var envTable = TOMLTable()
        switch document[path: ["environments", environment]] {
        case .table(let t)?: envTable = t
        case nil:
            let known = document["environments"]?.tableValue?.keys ?? []
            problem("environments", "no environment '\(environment)'" + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))"))
        case let other?: problem("environments.\(environment)", "must be a table, not \(other.typeName)")
        }
        switch envTable["vars"] {
        case .table(let overrides)?:
            for (key, value) in overrides { vars[key] = value }
        case nil: break
        case let other?: problem("environments.\(environment).vars", "must be a table, not \(other.typeName)")
        }
        for name in reserved where vars[name] != nil {
            problem("vars.\(name)", "'\(name)' is reserved in templates ({{ \(name).… }}); rename the variable")
        }
        if host != nil, vars["host"] != nil {
            problem("vars.host", "'host' is reserved in templates of an environment with hosts ({{ host.name }}); rename the variable")
        }
        if !problems.isEmpty { throw ConfigError(problems) }

        var context = vars
        if let host { context["host"] = .table(host) }
        context["org"] = .table(orgTable)
        var env = TOMLTable([("name", .string(environment))])
        for (key, value) in envTable where key != "name" { env[key] = value }
        context["env"] = .table(env)
        context["ports"] = .table(TOMLTable(ports.sorted { $0.key < $1.key }.map { ($0.key, .integer(Int64($0.value))) }))
        context["secrets"] = .table(TOMLTable(secrets.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        return context
    }
}
