import FoundationEssentials
import TetraCore

/// `tetra metrics SERVICE` and `tetra svc top`: what the supervisors measured
/// (docs/metrics.md).
enum MetricsCommands {
    static var metrics: CommandSpec {
        CommandSpec("metrics", summary: "Show a service's measurements: CPU, memory, threads, descriptors, probe latency",
                    discussion: """
                    Each supervisor samples its service every metrics.interval (default 10s) and keeps
                    every sample for an hour, minute min/avg/max for 7 days and hour min/avg/max for
                    90 days under state/metrics/<org>/<service>/. The finest ring that covers --since
                    answers; --step merges its points into wider ones. On a terminal, a sparkline per
                    measure; otherwise one line per point.
                    """,
                    arguments: [SvcCommands.nameArg],
                    flags: [FlagSpec("since", value: .duration, placeholder: "DURATION", help: "how far back (default 1h, at most 90d)"),
                            FlagSpec("step", value: .duration, placeholder: "DURATION", help: "merge points into buckets of DURATION (e.g. 1m, 1h)")]
                        + SvcFleetCommands.flags,
                    examples: ["tetra metrics api", "tetra metrics api --since 7d --step 1h", "tetra metrics api --since 10m --json",
                               "tetra metrics api --env prod --since 1h --step 5m"],
                    json: true,
                    handler: { inv, env in
                        let name = try Names.validated(inv.required("NAME"), what: "service")
                        let since = try inv.duration("since") ?? 3600
                        guard since > 0, since <= 90 * 86400 else {
                            throw UsageError("--since must be between 1s and 90d", usage: "tetra metrics NAME --since 1h", commandPath: inv.path)
                        }
                        let step = try inv.duration("step")
                        if let step, step < 1 {
                            throw UsageError("--step must be at least 1s", usage: "tetra metrics NAME --step 1m", commandPath: inv.path)
                        }
                        if let out = try fleetSeries(inv, env, name: name) { return out }
                        let m = try SvcCommands.manager(env, inv)
                        _ = try m.single(name)
                        let store = MetricsStore(paths: env.paths, org: m.org, service: name)
                        let series = store.series(org: m.org, service: name, since: since, step: step, now: env.core.now())
                        let notes = (series.warnings ?? []).map { "warning: \($0)" }
                            + (store.exists ? [] : ["note: \(name) has not been measured yet (its supervisor samples it while it runs)"])
                            + (store.exists && series.points.isEmpty && series.warnings == nil
                                ? ["note: no samples of \(name) in the last \(DurationParser.format(since))"] : [])
                        let text = env.cli.stdoutIsTerminal ? sparklines(series, env: env) : lines(series)
                        var output = CommandOutput(json: series, text: text, notes: notes)
                        if env.options.json { output.rawJSON = series.jsonText() }
                        return output
                    })
    }

    static var top: CommandSpec {
        CommandSpec("top", summary: "Every service with its state, CPU, memory, restarts, uptime and probe latency",
                    discussion: """
                    CPU and memory are the newest sample of each service's supervisor (its whole
                    process group); probe latency p50/p95 over the last 5 minutes. A docker service is
                    read from its cgroup. --watch redraws every 2s until Ctrl-C.
                    """,
                    flags: [FlagSpec("watch", short: "w", help: "redraw every 2s until interrupted")] + SvcFleetCommands.flags,
                    examples: ["tetra svc top", "tetra svc top --watch", "tetra svc top --json", "tetra svc top --env prod --watch"], json: true,
                    handler: { inv, env in
                        if inv.has("watch") && env.options.json { throw UsageError("--watch does not support --json", commandPath: inv.path) }
                        if inv.flag("env") != nil {
                            guard inv.has("watch") else { return try SvcFleetCommands.handle(inv, env, verb: "top")! }
                            try watch(env) { try SvcFleetCommands.handle(inv, env, verb: "top")!.text }
                            return CommandOutput()
                        }
                        var top = ServiceTop(manager: try SvcCommands.manager(env, inv))
                        if inv.has("watch") {
                            try watch(env) { table(try top.rows().rows, env: env) }
                            return CommandOutput()
                        }
                        let frame = try top.rows()
                        struct Result: Encodable { let org: String; let services: [ServiceTop.Row] }
                        let text = frame.rows.isEmpty ? "no services in org \(top.manager.org)\n" : table(frame.rows, env: env)
                        return CommandOutput(json: Result(org: top.manager.org, services: frame.rows), text: text,
                                             notes: frame.warnings.map { "warning: \($0)" })
                    })
    }

    /// Clears the screen (on a terminal) and prints a frame every 2 s until Ctrl-C.
    static func watch(_ env: CommandEnvironment, frame: () throws -> String) throws {
        while !env.core.interrupt.isRaised {
            let text = try frame()
            let clear = env.cli.stdoutIsTerminal ? "\u{1B}[H\u{1B}[2J" : ""
            env.cli.stdout.write(clear + Timestamps.iso8601(env.core.now()) + "\n" + text)
            Threads.sleep(2)
        }
    }

    /// `svc top --env`: the columns of a host's rows.
    static var fleetColumns: [(String, (HostJSON) -> String)] {
        func number(_ r: HostJSON, _ k: String) -> Double? { r[k]?.text.flatMap(Double.init) }
        func ms(_ v: Double?) -> String { v.map { NumberText.fixed($0, digits: 0) + "ms" } ?? "-" }
        return [("service", { $0["service"]?.text ?? "-" }), ("state", { $0["state"]?.text ?? "-" }),
                ("health", { $0["health"]?.text ?? "-" }),
                ("cpu", { r in number(r, "cpu_percent").map { NumberText.fixed($0, digits: 1) + "%" } ?? "-" }),
                ("memory", { r in number(r, "memory_bytes").map { ProgressFormat.bytes(Int64($0)) } ?? "-" }),
                ("restarts", { $0["restarts"]?.text ?? "-" }),
                ("uptime", { r in SvcCommands.uptime(r["uptime_seconds"]?.text.flatMap { Int($0) }) }),
                ("probe p50/p95", { r in
                    number(r, "probe_latency_p50_ms") == nil ? "-"
                        : "\(ms(number(r, "probe_latency_p50_ms")))/\(ms(number(r, "probe_latency_p95_ms")))" })]
    }

    /// `metrics NAME --env ENV`: each host's series (its tetra answers from its own rings).
    static func fleetSeries(_ inv: Invocation, _ env: CommandEnvironment, name: String) throws -> CommandOutput? {
        guard let envName = inv.flag("env") else {
            if inv.flag("hosts") != nil {
                throw UsageError("--hosts needs --env ENV", usage: "tetra metrics NAME --env ENV --hosts LIST", commandPath: inv.path)
            }
            return nil
        }
        try Names.validate(envName, what: "env")
        let fleet = try FleetServices(context: env.core, org: try SvcCommands.org(env, inv), env: envName,
                                      hosts: try inv.flag("hosts").map(HostSelector.parse))
        var arguments = [name]
        for flag in ["since", "step"] { if let v = inv.flag(flag) { arguments += ["--" + flag, v] } }
        let report = try fleet.run(arguments, group: "metrics")
        struct Document: Encodable {
            let org: String, env: String, service: String
            let series: [HostJSON]
            let hosts: [FleetServices.HostReport]
            let host_count: Int, failed_count: Int
        }
        let doc = Document(org: report.org, env: report.env, service: name, series: report.services ?? [], hosts: report.hosts,
                           host_count: report.host_count, failed_count: report.failed_count)
        var text = ""
        for h in report.hosts {
            guard let series = report.services?.first(where: { $0["host"]?.text == h.host }) else {
                text += "\(h.host): \(h.result.rawValue)\(h.error.map { ": " + $0 } ?? "")\n"
                continue
            }
            let points = series["points"]?.array ?? []
            text += "\(h.host): \(points.count) points\n"
            for (m, label) in measures {
                let values = points.map { $0[m.key]?.text.flatMap(Double.init) }
                guard let last = values.compactMap({ $0 }).last else { continue }
                let lo = points.compactMap { ($0[m.key + "_min"] ?? $0[m.key])?.text.flatMap(Double.init) }.min() ?? last
                let hi = points.compactMap { ($0[m.key + "_max"] ?? $0[m.key])?.text.flatMap(Double.init) }.max() ?? last
                let spark = env.cli.stdoutIsTerminal ? Sparkline.render(values, width: 40) + "  " : ""
                text += "  " + label.padded(to: 11) + spark + "now \(format(last, m))  min \(format(lo, m))  max \(format(hi, m))\n"
            }
        }
        return CommandOutput(exitCode: report.exitCode, json: doc, text: text)
    }

    static func table(_ rows: [ServiceTop.Row], env: CommandEnvironment) -> String {
        func ms(_ v: Double?) -> String { v.map { NumberText.fixed($0, digits: 0) + "ms" } ?? "-" }
        let cells = rows.map { r in
            [r.service, r.host ?? "local", r.state.rawValue, r.health.rawValue,
             r.cpu_percent.map { NumberText.fixed($0, digits: 1) + "%" } ?? "-",
             r.memory_bytes.map { ProgressFormat.bytes(Int64(clamping: $0)) } ?? "-",
             String(r.restarts), SvcCommands.uptime(r.uptime_seconds),
             r.probe_latency_p50_ms == nil ? "-" : "\(ms(r.probe_latency_p50_ms))/\(ms(r.probe_latency_p95_ms))"]
        }
        return env.table(["service", "host", "state", "health", "cpu", "memory", "restarts", "uptime", "probe p50/p95"], cells,
                         statusColumn: 2)
    }

    // MARK: - Series as text

    static let measures: [(MetricMeasure, String)] = [
        (.cpu, "cpu %"), (.memory, "memory"), (.threads, "threads"), (.openFiles, "open files"), (.probeLatency, "probe ms"),
    ]

    static func format(_ v: Double, _ m: MetricMeasure) -> String {
        switch m {
        case .memory: return ProgressFormat.bytes(Int64(v))
        case .threads, .openFiles: return NumberText.fixed(v, digits: v == v.rounded() ? 0 : 1)
        case .cpu, .probeLatency: return NumberText.fixed(v, digits: 1)
        }
    }

    static func header(_ s: MetricsSeries) -> String {
        let width = s.step_seconds.map { "\(DurationParser.format(Double($0))) points" } ?? "every sample"
        return "\(s.service) (org \(s.org)): last \(DurationParser.format(Double(s.since_seconds))), \(s.points.count) points, \(width)\n"
    }

    /// One line per measure: a sparkline of its averages, then now/min/max.
    static func sparklines(_ s: MetricsSeries, env: CommandEnvironment) -> String {
        guard !s.points.isEmpty else { return header(s) }
        let width = max(10, min(60, (env.cli.terminalWidth ?? 80) - 44))
        var out = header(s)
        for (m, label) in measures {
            let values = s.points.map { $0.record.stat(m).map { Double($0.avg) } }
            let present = values.compactMap { $0 }
            guard let last = present.last else { continue }
            let lo = s.points.compactMap { $0.record.stat(m).map { Double($0.min) } }.min() ?? 0
            let hi = s.points.compactMap { $0.record.stat(m).map { Double($0.max) } }.max() ?? 0
            out += label.padded(to: 11) + Sparkline.render(values, width: width)
                + "  now \(format(last, m))  min \(format(lo, m))  max \(format(hi, m))\n"
        }
        if let restarts = s.points.last?.record.restarts { out += "restarts".padded(to: 11) + "\(restarts)\n" }
        return out
    }

    /// One line per point (not a terminal).
    static func lines(_ s: MetricsSeries) -> String {
        s.points.map { p in
            var line = "\(Timestamps.iso8601(p.record.time)) \(p.record.state.rawValue) \(p.record.health.rawValue)"
            for (m, _) in measures {
                if let v = p.record.stat(m) {
                    let x = MetricPoint.rounded(v.avg, m)
                    line += " \(m.key)=" + (x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x))
                }
            }
            return line + " restarts=\(p.record.restarts)\n"
        }.joined()
    }
}

/// `▁▂▃▄▅▆▇█` for a series of values (a gap for a missing one), squeezed to `width` columns by
/// averaging neighbours.
enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    static func render(_ values: [Double?], width: Int) -> String {
        guard !values.isEmpty, width > 0 else { return "" }
        let columns = min(width, values.count)
        var cells: [Double?] = []
        for c in 0..<columns {
            let from = c * values.count / columns, to = max(from + 1, (c + 1) * values.count / columns)
            let part = values[from..<to].compactMap { $0 }
            cells.append(part.isEmpty ? nil : part.reduce(0, +) / Double(part.count))
        }
        let present = cells.compactMap { $0 }
        let lo = present.min() ?? 0, hi = present.max() ?? 0
        return String(cells.map { v -> Character in
            guard let v else { return " " }
            guard hi > lo else { return blocks[0] }
            return blocks[min(7, Int((v - lo) / (hi - lo) * 7.999))]
        })
    }
}
