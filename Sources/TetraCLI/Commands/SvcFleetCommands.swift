import FoundationEssentials
import TetraCore

/// `svc status|start|stop|restart|health|logs --env ENV [--hosts LIST]`: the verb run on the
/// environment's hosts in parallel (see `FleetServices`), one row per host and service.
/// Without `--env`, `svc` acts on this machine (`SvcCommands`).
enum SvcFleetCommands {
    static let envFlag = FlagSpec("env", value: .string, placeholder: "ENV",
                                  help: "act on the services of every host of ENV (pushed with services) instead of this machine",
                                  completion: .dynamic(.envs))
    static let flags = [envFlag, FleetCommandSupport.hostsFlag]

    /// The fleet form of `verb` when `--env` is given; nil for this machine.
    static func handle(_ inv: Invocation, _ env: CommandEnvironment, verb: String) throws -> CommandOutput? {
        guard let envName = inv.flag("env") else {
            if inv.flag("hosts") != nil {
                throw UsageError("--hosts needs --env ENV", usage: "tetra svc \(verb) ... --env ENV --hosts LIST", commandPath: inv.path)
            }
            return nil
        }
        try Names.validate(envName, what: "env")
        let arguments = try self.arguments(inv, verb: verb)
        let fleet = try FleetServices(context: env.core, org: try SvcCommands.org(env, inv), env: envName,
                                      hosts: try inv.flag("hosts").map(HostSelector.parse))
        if env.options.dryRun, ["start", "stop", "restart"].contains(verb) { return dryRun(fleet, verb: verb, arguments: arguments) }
        if verb == "logs", inv.has("follow") {
            if env.options.json { throw UsageError("--follow does not support --json", commandPath: inv.path) }
            env.core.interrupt.unwindsGracefully = true
            let sink = env.cli.stdout
            let report = fleet.follow(arguments + ["--follow"], service: arguments[1], emit: { sink.write($0 + "\n") },
                                      note: { line in env.cli.stderr.write(line + "\n") })
            return CommandOutput(exitCode: env.core.interrupt.isRaised ? .success : report.exitCode)
        }
        let report = try fleet.run(arguments)
        return CommandOutput(exitCode: report.exitCode, json: report, text: text(report, verb: verb, env: env))
    }

    /// `tetra svc VERB ...` as the hosts run it (names checked here first).
    static func arguments(_ inv: Invocation, verb: String) throws -> [String] {
        switch verb {
        case "start", "stop":
            let (names, all) = try SvcCommands.names(inv, verb: verb)
            return [verb] + names + (all ? ["--all"] : [])
        case "top":
            return [verb]
        case "status":
            return [verb] + (try inv.argument("NAME").map { [try Names.validated($0, what: "service")] } ?? [])
        case "logs":
            var out = [verb, try Names.validated(inv.required("NAME"), what: "service")]
            if let n = inv.flag("lines") { out += ["--lines", n] }
            if let since = inv.flag("since") { out += ["--since", since] }
            if inv.has("stderr") { out.append("--stderr") }
            return out
        default:
            return [verb, try Names.validated(inv.required("NAME"), what: "service")]
        }
    }

    static func dryRun(_ fleet: FleetServices, verb: String, arguments: [String]) -> CommandOutput {
        struct Host: Encodable { let host: String; let target: String }
        struct Dry: Encodable {
            let org: String, env: String
            let would_start: [String]?, would_stop: [String]?, would_restart: String?
            let all: Bool?
            let hosts: [Host]
            let dry_run = true
        }
        let names = arguments.dropFirst().filter { !$0.hasPrefix("-") }
        let all = arguments.contains("--all")
        let doc = Dry(org: fleet.org, env: fleet.envName, would_start: verb == "start" ? names : nil,
                      would_stop: verb == "stop" ? names : nil, would_restart: verb == "restart" ? names.first : nil, all: all ? true : nil,
                      hosts: fleet.hosts.map { Host(host: $0.name, target: $0.target) })
        let hostList = fleet.hosts.map(\.name).joined(separator: ", ")
        return CommandOutput(json: doc, text: "would \(verb) \(all ? "every service" : names.joined(separator: " ")) on \(hostList)\n")
    }

    /// The columns of each verb's table: a header and the cell of a record.
    static func columns(_ verb: String) -> [(String, (HostJSON) -> String)] {
        func key(_ k: String) -> (HostJSON) -> String { { $0[k]?.text ?? "-" } }
        let port: (HostJSON) -> String = { r in
            guard let p = r["port"]?.text else { return "-" }
            return r["port_name"]?.text.map { "\(p) (\($0))" } ?? p
        }
        switch verb {
        case "status":
            return [("name", key("name")), ("state", key("state")), ("health", key("health")), ("pid", key("pid")),
                    ("uptime", { r in SvcCommands.uptime(r["uptime_seconds"]?.text.flatMap { Int($0) }) }),
                    ("restarts", key("restarts")), ("port", port)]
        case "start": return [("name", key("name")), ("action", key("action")), ("state", key("state")), ("pid", key("pid")), ("port", port)]
        case "stop": return [("name", key("name")), ("action", key("action"))]
        case "top": return MetricsCommands.fleetColumns
        case "restart": return [("name", key("name")), ("state", key("state")), ("pid", key("pid")), ("port", port)]
        default:
            return [("name", key("name")), ("health", { r in r["healthy"] == .bool(true) ? "healthy" : "unhealthy" }),
                    ("message", { r in r["result"]?["message"]?.text ?? "-" })]
        }
    }

    /// One row per host and service (a host that answered nothing: one row with its error);
    /// `logs`: every line prefixed `host/service`.
    static func text(_ r: FleetServices.Report, verb: String, env: CommandEnvironment) -> String {
        if verb == "logs" {
            let name = r.name ?? ""
            var text = (r.lines ?? []).map { l in
                "\(l["host"]?.text ?? "")/\(name) " + (l["time"]?.text.map { $0 + " " } ?? "") + (l["line"]?.text ?? "") + "\n"
            }.joined()
            for h in r.hosts where h.result != .ok { text += "\(h.host): \(h.result.rawValue): \(h.error ?? "")\n" }
            return text
        }
        let cols = columns(verb)
        var rows: [[String]] = []
        for h in r.hosts {
            let records = (r.services ?? []).filter { $0["host"]?.text == h.host }
            if records.isEmpty { rows.append([h.host] + cols.map { _ in "-" } + [h.result.rawValue + (h.error.map { ": " + $0 } ?? "")]) }
            for record in records { rows.append([h.host] + cols.map { $0.1(record) } + [h.error ?? ""]) }
        }
        let ok = r.host_count - r.failed_count
        let head = "\(verb) \(r.org) services on \(r.env): \(ok) of \(FleetCommandSupport.plural(r.host_count, "host")) ok\n"
        return head + env.table(["host"] + cols.map(\.0) + ["error"], rows, statusColumn: verb == "status" ? 2 : nil)
    }
}
