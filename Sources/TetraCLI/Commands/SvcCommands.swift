import FoundationEssentials
import Glibc
import TetraCore

/// The `svc` group: services of the current org (`orgs/<org>/services/<name>.toml`), each
/// owned by a detached supervisor (runtime "process") or by docker (runtime "docker").
enum SvcCommands {
    static func org(_ env: CommandEnvironment, _ inv: Invocation) throws -> String {
        guard let org = try env.resolvedOrg() else {
            throw UsageError("no org selected", suggestion: nil,
                             usage: "give --org NAME, set TETRA_ORG, or run `tetra org use NAME`", commandPath: inv.path)
        }
        return org
    }

    static func manager(_ env: CommandEnvironment, _ inv: Invocation) throws -> ServiceManager {
        ServiceManager(core: env.core, org: try org(env, inv))
    }

    /// Warnings of the definitions (unknown keys, with positions) as notes for stderr.
    static func warnings(_ cat: ServiceCatalog) -> [String] {
        cat.warnings.map { "warning: \($0.description)" }
    }

    static func mutate<T>(_ env: CommandEnvironment, _ m: ServiceManager, _ body: () throws -> T) throws -> T {
        try env.ensureStateRoot()
        return try env.core.withLock("svc.\(m.org)", body)
    }

    static func names(_ inv: Invocation, verb: String) throws -> (names: [String], all: Bool) {
        let names = inv.arguments("NAME")
        let all = inv.has("all")
        if all && !names.isEmpty {
            throw UsageError("give service names or --all, not both", usage: "tetra svc \(verb) NAME...|--all", commandPath: inv.path)
        }
        if !all && names.isEmpty {
            throw UsageError("svc \(verb) needs a service NAME or --all", usage: "tetra svc \(verb) NAME...|--all", commandPath: inv.path)
        }
        for n in names { try Names.validate(n, what: "service") }
        return (names, all)
    }

    static var spec: CommandSpec {
        CommandSpec("svc", summary: "Services of the current org: supervised processes or docker containers",
                    discussion: """
                    A service is orgs/<org>/services/<name>.toml. `start` hands it to a small detached
                    supervisor (tetra itself, in a new session) that restarts it by policy, probes
                    its health, rotates its logs and records its state under
                    state/services/<org>/<name>/. `runtime = "docker"` services run through docker.
                    With --env ENV, status, start, stop, restart, health and logs act on the hosts of
                    ENV instead (the services a push started there), in parallel, one row per host.
                    """,
                    subcommands: [list, status, MetricsCommands.top, start, stop, restart, logs, health, create, remove, boot, supervise])
    }

    static let nameArg = ArgSpec("NAME", help: "service name", completion: .dynamic(.services))

    static func uptime(_ s: Int?) -> String {
        guard let s else { return "-" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }

    static func rows(_ list: [ServiceManager.Status]) -> [[String]] {
        list.map { s in
            [s.name, s.runtime.rawValue, s.state.rawValue, s.health.rawValue, s.pid.map(String.init) ?? "-", uptime(s.uptime_seconds), String(s.restarts),
             s.port.map { p in s.port_name.map { "\(p) (\($0))" } ?? String(p) } ?? "-"]
        }
    }
    static let headers = ["name", "runtime", "state", "health", "pid", "uptime", "restarts", "port"]

    static var list: CommandSpec {
        CommandSpec("list", summary: "List the services of the org with their state",
                    examples: ["tetra svc list", "tetra svc list --org acme --json"], json: true,
                    handler: { inv, env in
                        let m = try manager(env, inv)
                        let cat = try m.catalog()
                        let all = m.list(cat)
                        struct Result: Encodable { let org: String; let services: [ServiceManager.Status] }
                        let text = all.isEmpty ? "no services in org \(m.org)\n" : env.table(headers, rows(all), statusColumn: 2)
                        return CommandOutput(json: Result(org: m.org, services: all), text: text, notes: warnings(cat))
                    })
    }

    static var status: CommandSpec {
        CommandSpec("status", summary: "Show the state of one service (or all): pid, uptime, restarts, port, last health result",
                    discussion: "States: stopped, starting, running, unhealthy, crashloop, failed.",
                    arguments: [ArgSpec("NAME", help: "service name (default: every service)", optional: true, completion: .dynamic(.services))],
                    flags: SvcFleetCommands.flags,
                    examples: ["tetra svc status", "tetra svc status api --json", "tetra svc status --env prod --hosts web1"], json: true,
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "status") { return out }
                        let m = try manager(env, inv)
                        guard let name = inv.argument("NAME") else {
                            let cat = try m.catalog()
                            let all = m.list(cat)
                            struct Result: Encodable { let org: String; let services: [ServiceManager.Status] }
                            let text = all.isEmpty ? "no services in org \(m.org)\n" : env.table(headers, rows(all), statusColumn: 2)
                            return CommandOutput(json: Result(org: m.org, services: all), text: text, notes: warnings(cat))
                        }
                        let (cat, def) = try m.single(name)
                        let s = try m.status(def, cat)
                        var lines: [(String, String)] = [
                            ("service", "\(s.name) (org \(s.org), runtime \(s.runtime.rawValue)\(s.enabled ? ", enabled" : ""))"),
                            ("state", s.state.rawValue), ("health", s.health.rawValue),
                            ("pid", s.pid.map(String.init) ?? "-"),
                        ]
                        if let sup = s.supervisor_pid { lines.append(("supervisor", "pid \(sup)")) }
                        if let c = s.container { lines.append(("container", c)) }
                        lines.append(("uptime", uptime(s.uptime_seconds)))
                        lines.append(("restarts", String(s.restarts)))
                        lines.append(("port", s.port.map { p in s.port_name.map { "\(p) (\($0))" } ?? String(p) } ?? "-"))
                        if let h = s.last_health {
                            lines.append(("last health", "\(h.ok ? "ok" : "failed") at \(Timestamps.iso8601(h.at)): \(h.message) (\(h.duration_ms)ms)"))
                        }
                        if let e = s.last_exit { lines.append(("last exit", "\(e.reason) at \(Timestamps.iso8601(e.at))")) }
                        if let msg = s.message { lines.append(("message", msg)) }
                        let text = lines.map { "\($0.0.padded(to: 12)) \($0.1)\n" }.joined()
                        return CommandOutput(json: s, text: text, notes: warnings(cat))
                    })
    }

    static var start: CommandSpec {
        CommandSpec("start", summary: "Start services (and what they depend on) under a supervisor",
                    discussion: """
                    Dependencies start first. Starting a running service changes nothing (exit 0). A port
                    already bound by another process is refused (exit 5, naming its pid).
                    """,
                    arguments: [ArgSpec("NAME", help: "service names", optional: true, variadic: true, completion: .dynamic(.services))],
                    flags: [FlagSpec("all", help: "every service of the org")] + SvcFleetCommands.flags,
                    examples: ["tetra svc start api", "tetra svc start --all", "tetra svc start --all --env prod"], mutates: true, json: true,
                    usage: "NAME...|--all",
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "start") { return out }
                        let (names, all) = try Self.names(inv, verb: "start")
                        let m = try manager(env, inv)
                        if env.options.dryRun {
                            let cat = try m.catalog()
                            for n in names { _ = try cat.definition(n) }
                            let order = try cat.startOrder(all ? cat.definitions.map(\.name) : names)
                            struct Dry: Encodable { let would_start: [String]; let dry_run = true }
                            return CommandOutput(json: Dry(would_start: order), text: order.map { "would start \($0)\n" }.joined())
                        }
                        let results = try mutate(env, m) { try m.start(names, all: all) }
                        struct Result: Encodable { let org: String; let services: [ServiceManager.StartResult] }
                        let text = results.map { r -> String in
                            if r.action == .alreadyRunning { return "\(r.name) is already running (pid \(r.pid.map(String.init) ?? "-"))\n" }
                            return "started \(r.name)" + (r.pid.map { " (pid \($0))" } ?? "") + (r.port.map { " on port \($0)" } ?? "") + "\n"
                        }.joined()
                        return CommandOutput(json: Result(org: m.org, services: results), text: text,
                                             notes: (try? m.catalog()).map(warnings) ?? [])
                    })
    }

    static var stop: CommandSpec {
        CommandSpec("stop", summary: "Stop services: SIGTERM to the process group, SIGKILL after stop_timeout",
                    discussion: "--all stops in reverse dependency order. No process of the service is left behind.",
                    arguments: [ArgSpec("NAME", help: "service names", optional: true, variadic: true, completion: .dynamic(.services))],
                    flags: [FlagSpec("all", help: "every service of the org")] + SvcFleetCommands.flags,
                    examples: ["tetra svc stop api", "tetra svc stop --all", "tetra svc stop --all --env prod"], mutates: true, json: true,
                    usage: "NAME...|--all",
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "stop") { return out }
                        let (names, all) = try Self.names(inv, verb: "stop")
                        let m = try manager(env, inv)
                        if env.options.dryRun {
                            let cat = try m.catalog()
                            for n in names { _ = try cat.definition(n) }
                            let order: [String] = all ? try cat.startOrder(cat.definitions.map(\.name)).reversed() : names
                            struct Dry: Encodable { let would_stop: [String]; let dry_run = true }
                            return CommandOutput(json: Dry(would_stop: order), text: order.map { "would stop \($0)\n" }.joined())
                        }
                        let results = try mutate(env, m) { try m.stop(names, all: all) }
                        struct Result: Encodable { let org: String; let services: [ServiceManager.StopResult] }
                        let text = results.map { r in
                            r.action == .stopped ? "stopped \(r.name)\(r.killed ? " (killed)" : "")\n" : "\(r.name) is not running\n"
                        }.joined()
                        return CommandOutput(json: Result(org: m.org, services: results), text: text)
                    })
    }

    static var restart: CommandSpec {
        CommandSpec("restart", summary: "Stop then start a service",
                    arguments: [nameArg], flags: SvcFleetCommands.flags,
                    examples: ["tetra svc restart api", "tetra svc restart api --env prod --hosts web1"], mutates: true, json: true,
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "restart") { return out }
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let m = try manager(env, inv)
                        if env.options.dryRun {
                            _ = try m.catalog().definition(name)
                            struct Dry: Encodable { let would_restart: String; let dry_run = true }
                            return CommandOutput(json: Dry(would_restart: name), text: "would restart \(name)\n")
                        }
                        let r = try mutate(env, m) { try m.restart(name) }
                        return CommandOutput(json: r, text: "restarted \(r.name)" + (r.pid.map { " (pid \($0))" } ?? "") + "\n")
                    })
    }

    static var logs: CommandSpec {
        CommandSpec("logs", summary: "Show a service's stdout (or --stderr) log, each line with its arrival time",
                    arguments: [nameArg],
                    flags: [FlagSpec("follow", short: "f", help: "keep printing new lines until interrupted"),
                            FlagSpec("lines", short: "n", value: .integer(min: 0, max: 10_000_000), placeholder: "N", help: "only the last N lines"),
                            FlagSpec("stderr", help: "the stderr log instead of stdout"),
                            FlagSpec("since", value: .duration, placeholder: "DURATION", help: "only lines of the last DURATION (e.g. 10m)")]
                        + SvcFleetCommands.flags,
                    examples: ["tetra svc logs api -n 50", "tetra svc logs api --stderr --since 10m", "tetra svc logs api -f",
                               "tetra svc logs api -f --env prod"],
                    json: true,
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "logs") { return out }
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let m = try manager(env, inv)
                        let since = try inv.duration("since").map { env.core.now().addingTimeInterval(-$0) }
                        let stderr = inv.has("stderr")
                        func render(_ l: LogLine) -> String {
                            (l.time.map { ServiceRecord.formatDate($0) + " " } ?? "") + l.line + "\n"
                        }
                        if inv.has("follow") {
                            if env.options.json { throw UsageError("--follow does not support --json", commandPath: inv.path) }
                            let path = try m.logPath(name, stderr: stderr)
                            let follower = LogFollower(path: path, stream: stderr ? "stderr" : "stdout")
                            let initial = try m.logs(name, stderr: stderr, since: since, limit: inv.int("lines") ?? 10)
                            env.cli.stdout.write(initial.map(render).joined())
                            while !env.core.interrupt.isRaised {
                                let lines = follower.poll()
                                if !lines.isEmpty { env.cli.stdout.write(lines.map(render).joined()) }
                                usleep(200_000)
                            }
                            return CommandOutput()
                        }
                        let lines = try m.logs(name, stderr: stderr, since: since, limit: inv.int("lines"))
                        struct Result: Encodable { let name: String; let stream: String; let lines: [LogLine] }
                        return CommandOutput(json: Result(name: name, stream: stderr ? "stderr" : "stdout", lines: lines),
                                             text: lines.map(render).joined())
                    })
    }

    static var health: CommandSpec {
        CommandSpec("health", summary: "Run the service's health check now; exit 1 when it fails",
                    arguments: [nameArg], flags: SvcFleetCommands.flags,
                    examples: ["tetra svc health api", "tetra svc health api --env prod"], json: true,
                    handler: { inv, env in
                        if let out = try SvcFleetCommands.handle(inv, env, verb: "health") { return out }
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let r = try manager(env, inv).health(name)
                        struct Result: Encodable { let name: String; let healthy: Bool; let result: HealthResult }
                        return CommandOutput(exitCode: r.ok ? .success : .failure, json: Result(name: name, healthy: r.ok, result: r),
                                             text: "\(name): \(r.ok ? "healthy" : "unhealthy"): \(r.message) (\(r.duration_ms)ms)\n")
                    })
    }

    static var create: CommandSpec {
        CommandSpec("create", summary: "Create services/NAME.toml for a command",
                    discussion: """
                    --command is split into words like a shell would (quotes and backslashes), without
                    any expansion; the result is stored as an argv array and never run through a shell.
                    `{port}` in it is replaced by the service's port at start.
                    """,
                    arguments: [ArgSpec("NAME", help: "service name")],
                    flags: [FlagSpec("command", value: .string, placeholder: "COMMAND", help: "the command line, e.g. \"python3 -m http.server {port}\" (required)"),
                            FlagSpec("port", value: .string, placeholder: "PORT", help: "a registered port name, or a number", completion: .dynamic(.ports)),
                            FlagSpec("health-http", value: .string, placeholder: "URL", help: "an HTTP health check, e.g. http://127.0.0.1:{port}/"),
                            FlagSpec("enabled", help: "start it with `svc boot`")],
                    examples: ["tetra svc create web --command \"python3 -m http.server {port}\" --port web --health-http http://127.0.0.1:{port}/"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        guard let commandLine = inv.flag("command") else {
                            throw UsageError("svc create needs --command", usage: "tetra svc create NAME --command COMMAND [--port P]", commandPath: inv.path)
                        }
                        let argv = try CommandWords.split(commandLine)
                        let m = try manager(env, inv)
                        let body = {
                            try m.create(name, command: argv, port: inv.flag("port"), enabled: inv.has("enabled"),
                                         healthHTTP: inv.flag("health-http"), dryRun: env.options.dryRun)
                        }
                        let r = env.options.dryRun ? try body() : try mutate(env, m, body)
                        return CommandOutput(json: r, text: "\(r.dry_run ? "would create" : "created") service \(name) (\(r.file))\n")
                    })
    }

    static var remove: CommandSpec {
        CommandSpec("remove", summary: "Stop a service and delete its definition, state and logs",
                    arguments: [nameArg], examples: ["tetra svc remove api --yes"], mutates: true, json: true,
                    handler: { inv, env in
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let m = try manager(env, inv)
                        if env.options.dryRun {
                            let r = try m.remove(name, dryRun: true)
                            return CommandOutput(json: r, text: "would stop and remove \(name) (\(r.file))\n")
                        }
                        _ = try m.catalog().definition(name)
                        try env.confirm("remove service \(name) with its state and logs")
                        let r = try mutate(env, m) { try m.remove(name) }
                        return CommandOutput(json: r, text: "\(r.stopped ? "stopped and " : "")removed \(name)\n")
                    })
    }

    static var boot: CommandSpec {
        CommandSpec("boot", summary: "Start every service marked enabled = true (for systemd or cron @reboot)",
                    flags: [FlagSpec("print-unit", help: "print a systemd unit that runs `svc boot` at start-up, change nothing")],
                    examples: ["tetra svc boot", "tetra svc boot --print-unit > /etc/systemd/system/tetra-acme.service"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let m = try manager(env, inv)
                        if inv.has("print-unit") {
                            let unit = m.systemdUnit()
                            return CommandOutput(json: ["unit": unit], text: unit)
                        }
                        if env.options.dryRun {
                            let cat = try m.catalog()
                            let order = try cat.startOrder(cat.definitions.filter(\.enabled).map(\.name))
                            struct Dry: Encodable { let would_start: [String]; let dry_run = true }
                            return CommandOutput(json: Dry(would_start: order), text: order.map { "would start \($0)\n" }.joined())
                        }
                        let r = try mutate(env, m) { try m.boot() }
                        var text = r.started.map { "\($0.action == .started ? "started" : "already running:") \($0.name)\n" }.joined()
                        text += r.failed.map { "failed \($0.name): \($0.error)\n" }.joined()
                        if r.started.isEmpty && r.failed.isEmpty { text = "no enabled services in org \(m.org)\n" }
                        return CommandOutput(exitCode: r.failed.isEmpty ? .success : .failure, json: r, text: text)
                    })
    }

    /// The supervisor itself (started by `svc start`; not for people).
    static var supervise: CommandSpec {
        CommandSpec("__supervise", summary: "Run the supervisor of a service (internal)", arguments: [nameArg],
                    flags: [FlagSpec("token", value: .string, help: "the start request this supervisor answers")],
                    hidden: true,
                    handler: { inv, env in
                        // SIGTERM (svc stop) raises the flag and the loop stops the service;
                        // SIGHUP (a terminal closing) does not concern a supervisor.
                        env.core.interrupt.unwindsGracefully = true
                        signal(SIGHUP, SIG_IGN)
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let token = inv.flag("token") ?? ""
                        let org = try org(env, inv)
                        let sp = ServicePaths(paths: env.paths, org: org, name: name)
                        do {
                            let cat = try ServiceCatalog.load(paths: env.paths, org: org)
                            let def = try cat.definition(name)
                            let port = try cat.resolvePort(def)
                            let supervisor = Supervisor(definition: def, paths: sp, port: port, environment: env.cli.environment,
                                                        token: token, interrupt: env.core.interrupt, now: env.core.now)
                            let orgMetrics = (try? LoadedOrg.load(name: org, directory: env.paths.org(org)))?.config.metrics
                            supervisor.metricsInterval = MetricsSettings.effective(service: def.metricsInterval, org: orgMetrics)
                            // The service's alert rules, evaluated at each sample (nil: none is about it).
                            let progress = env.core.progress
                            let alerts = AlertEngine.forService(core: env.core, org: org, service: name, warn: { progress.warn($0) })
                            let host = env.core.hostName
                            supervisor.onSample = { sample in alerts?.observe(sample: sample, org: org, service: name, host: host) }
                            let code = supervisor.run()
                            _ = alerts?.drain(timeout: 2)
                            return CommandOutput(exitCode: code)
                        } catch let e as any TetraError {
                            var rec = ServiceRecord(org: org, name: name, state: "failed", token: token, now: env.core.now())
                            rec.message = e.message
                            if FileManager.default.fileExists(atPath: sp.stateDirectory) { try? rec.write(to: sp.stateFile) }
                            throw e
                        }
                    })
    }
}

/// Splits a command line into words like a POSIX shell (quotes, backslashes), with no
/// expansion of any kind.
enum CommandWords {
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character? = nil
        var escape = false
        for c in text {
            if escape { current.append(c); escape = false; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil }
                else if c == "\\" && q == "\"" { escape = true }
                else { current.append(c) }
                continue
            }
            switch c {
            case "\\": escape = true; inWord = true
            case "\"", "'": quote = c; inWord = true
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(c); inWord = true
            }
        }
        if quote != nil || escape { throw CoreError.invalidArgument("--command: unterminated quote or escape") }
        if inWord { words.append(current) }
        if words.isEmpty { throw CoreError.invalidArgument("--command must name a program") }
        return words
    }
}
