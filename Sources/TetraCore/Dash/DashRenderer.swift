import FoundationEssentials

/// The panes of the dashboard, in Tab order.
public enum DashPane: String, Sendable, CaseIterable {
    case services, environments, alerts, certificates, ports, logs

    public var title: String {
        switch self {
        case .services: return "SERVICES"
        case .environments: return "ENVIRONMENTS"
        case .alerts: return "ALERTS FIRING"
        case .certificates: return "CERTIFICATES EXPIRING (21d)"
        case .ports: return "PORT PROBLEMS"
        case .logs: return "LOGS"
        }
    }
}

/// What the terminal shows besides the frame's data: selection, focus, filter, log lines,
/// the status line. `--once` renders with the defaults and no height limit.
public struct DashViewState: Sendable {
    public var selected = 0
    public var focus: DashPane = .services
    public var filter = ""
    public var logLines: [LogLine] = []
    public var logService: String?
    public var status = ""
    public var help = false
    public var readOnly = false
    public init() {}
}

/// Renders a frame as lines of at most `width` characters (`height` lines when given, else as
/// many as the data needs). With `color`, SGR codes colour states and highlight the selection;
/// without it the text holds no escape code (`--once`, NO_COLOR, not a terminal).
public struct DashRenderer {
    public var width: Int
    public var height: Int?
    public var color: Bool

    public init(width: Int, height: Int? = nil, color: Bool = false) {
        self.width = max(20, width)
        self.height = height
        self.color = color
    }

    // MARK: - Styling

    func sgr(_ code: String, _ text: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    func stateColor(_ s: ServiceStateName) -> String {
        switch s {
        case .running: return "32"
        case .starting: return "33"
        case .unhealthy, .crashloop, .failed: return "31"
        case .stopped, .unknown: return "2"
        }
    }

    /// `text` cut or padded to exactly `n` characters.
    static func fit(_ text: String, _ n: Int) -> String {
        guard n > 0 else { return "" }
        if text.count > n { return n == 1 ? String(text.prefix(1)) : String(text.prefix(n - 1)) + "~" }
        return text.padded(to: n)
    }

    static func fitRight(_ text: String, _ n: Int) -> String {
        text.count >= n ? fit(text, n) : String(repeating: " ", count: n - text.count) + text
    }

    // MARK: - Values

    public static func sparkline(_ points: [Double], width: Int) -> String {
        guard !points.isEmpty, width > 0 else { return "" }
        let bars = Array("▁▂▃▄▅▆▇█")
        let shown = points.suffix(width)
        let top = shown.max() ?? 0
        guard top > 0 else { return String(repeating: bars[0], count: shown.count) }
        return String(shown.map { bars[min(bars.count - 1, max(0, Int(($0 / top) * Double(bars.count - 1) + 0.5)))] })
    }

    public static func bytes(_ b: UInt64?) -> String {
        guard let b else { return "-" }
        let units = ["B", "K", "M", "G", "T"]
        var v = Double(b), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(b)B" : NumberText.fixed(v, digits: v < 10 ? 1 : 0) + units[i]
    }

    public static func duration(_ s: Int?) -> String {
        guard let s else { return "-" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }

    // MARK: - Service table

    struct Column { var title: String; var width: Int; var right: Bool; var value: (DashService) -> String }

    /// The columns that fit: at 80 and more every column; narrower drops the sparkline, then
    /// health, port, restarts and uptime; the name column takes what is left.
    func columns() -> [Column] {
        var cols: [Column] = [
            Column(title: "STATE", width: 9, right: false) { $0.state.rawValue },
            Column(title: "HEALTH", width: 8, right: false) { $0.health.rawValue },
            Column(title: "CPU%", width: 5, right: true) { $0.cpu_percent.map { NumberText.fixed($0, digits: 1) } ?? "-" },
            Column(title: "MEM", width: 6, right: true) { Self.bytes($0.memory_bytes) },
            Column(title: "CPU HIST", width: 10, right: false) { Self.sparkline($0.cpu_points ?? [], width: 10) },
            Column(title: "RST", width: 3, right: true) { String($0.restarts) },
            Column(title: "UPTIME", width: 7, right: true) { Self.duration($0.uptime_seconds) },
            Column(title: "PORT", width: 5, right: true) { $0.port.map(String.init) ?? "-" },
        ]
        let dropOrder = ["CPU HIST", "HEALTH", "PORT", "RST", "UPTIME", "MEM"]
        var i = 0
        while 2 + 12 + cols.reduce(0, { $0 + $1.width + 1 }) > width, i < dropOrder.count {
            cols.removeAll { $0.title == dropOrder[i] }
            i += 1
        }
        return cols
    }

    func serviceHeader(_ cols: [Column]) -> String {
        let nameWidth = width - 2 - cols.reduce(0) { $0 + $1.width + 1 }
        return "  " + Self.fit("NAME", nameWidth) + cols.map { " " + ($0.right ? Self.fitRight($0.title, $0.width) : Self.fit($0.title, $0.width)) }.joined()
    }

    func serviceLine(_ s: DashService, _ cols: [Column], selected: Bool) -> String {
        let nameWidth = width - 2 - cols.reduce(0) { $0 + $1.width + 1 }
        let name = Self.fit(s.host.map { "\(s.name)@\($0)" } ?? s.name, nameWidth)
        // The selected row is one reverse-video span (no inner colour that would reset it).
        var line = (selected ? "> " : "  ") + name
        for c in cols {
            let v = c.right ? Self.fitRight(c.value(s), c.width) : Self.fit(c.value(s), c.width)
            line += " " + (c.title == "STATE" && !selected ? sgr(stateColor(s.state), v) : v)
        }
        return selected && color ? "\u{1B}[7m" + line + "\u{1B}[0m" : line
    }

    // MARK: - Panes

    func heading(_ pane: DashPane, _ count: Int?, focused: Bool) -> String {
        let text = pane.title + (count.map { " (\($0))" } ?? "")
        return focused && color ? sgr("1;4", text) : (focused && !color && height != nil ? "[\(text)]" : text)
    }

    func environmentLines(_ f: DashFrame, now: Date) -> [String] {
        f.environments.map { e in
            let where_ = e.target ?? e.hosts.map { "\($0) hosts" } ?? "-"
            let rel = e.release.map { "\($0) \(Self.duration(e.age_seconds)) ago by \(e.by ?? "?")" } ?? "never pushed from here"
            let mark = (e.name == f.env ? "*" : " ") + (e.protected ? "!" : " ")
            return Self.fit("\(mark)\(Self.fit(e.name, 10)) \(rel)  drift \(e.drift.rawValue)  \(where_)", width)
        }
    }

    func alertLines(_ f: DashFrame) -> [String] {
        f.alerts.map { a in
            let subject = a.service ?? a.domain ?? "-"
            return sgr("31", Self.fit("  \(a.alert) [\(a.severity)] \(subject)" + (a.value.map { " = \($0)" } ?? "") + (a.since.map { " since \($0)" } ?? ""), width))
        }
    }

    func certificateLines(_ f: DashFrame) -> [String] {
        f.certificates.map { c in
            let text = Self.fit("  \(c.domain)  \(c.days_left)d left  expires \(c.expires_at)", width)
            return c.days_left <= 7 ? sgr("31", text) : sgr("33", text)
        }
    }

    func portLines(_ f: DashFrame) -> [String] {
        f.port_problems.map { p in Self.fit("  \(p.kind.rawValue)  \(p.name ?? "-")\(p.port.map { ":\($0)" } ?? "")  \(p.message)", width) }
    }

    static func isErrorLine(_ line: String) -> Bool {
        line.contains("error") || line.contains("ERROR") || line.contains("Error") || line.contains("panic") || line.contains("FATAL")
    }

    func logLines(_ v: DashViewState) -> [String] {
        v.logLines.map { l in
            let text = Self.fit((l.stream == "stderr" ? "! " : "  ") + l.line, width)
            return Self.isErrorLine(l.line) ? sgr("1;31", text) : text
        }
    }

    // MARK: - Frame

    public func title(_ f: DashFrame) -> String {
        var t = "tetra dash  org \(f.org)"
        if let env = f.env { t += "  env \(env)\(f.protected ? " (protected)" : "")" }
        t += "  " + Timestamps.iso8601(f.time)
        return Self.fit(t, width)
    }

    public func keyHint(_ v: DashViewState) -> String {
        let actions = v.readOnly ? "read-only" : "r/s/S restart/stop/start"
        return Self.fit("q:quit ?:help j/k Tab Enter:logs \(actions) /:filter o:org e:env", width)
    }

    public static func helpLines(readOnly: Bool) -> [String] {
        var lines = ["KEYS",
                     "  up/down, j/k   select a service",
                     "  Tab            next pane (services, environments, alerts, certificates, ports)",
                     "  Enter          logs of the selected service (stdout and stderr, errors in red)"]
        if !readOnly {
            lines += ["  r / s / S      restart / stop / start the selected service (asks y/N;",
                      "                 on a protected env the service name must be typed)"]
        }
        lines += ["  /              filter: words, state:, host:, tag:, -TERM (docs/search.md)",
                  "  o / e          choose the org / the environment",
                  "  ?              this help        q, Ctrl-C   quit",
                  "", "Press any key to go back."]
        return lines
    }

    /// The whole frame as lines (no trailing newline on each).
    public func render(_ f: DashFrame, _ v: DashViewState, services shown: [DashService]) -> [String] {
        var top = [title(f)]
        if v.help { return fitHeight(top + Self.helpLines(readOnly: v.readOnly).map { Self.fit($0, width) }, v) }
        let cols = columns()
        let filterNote = v.filter.isEmpty ? "" : "  filter: \(v.filter)"
        top.append(heading(.services, shown.count, focused: v.focus == .services) + filterNote)
        top.append(sgr("2", serviceHeader(cols)))
        let rows = shown.enumerated().map { serviceLine($1, cols, selected: height != nil && $0 == v.selected) }
        var lower: [String] = []
        if v.focus == .logs {
            lower.append(heading(.logs, nil, focused: true) + " " + (v.logService ?? ""))
            lower += logLines(v)
        } else {
            func pane(_ p: DashPane, _ lines: [String], emptyText: String) {
                lower.append(heading(p, lines.count, focused: v.focus == p))
                lower += lines.isEmpty ? ["  " + emptyText] : lines
            }
            pane(.environments, environmentLines(f, now: f.time), emptyText: "none")
            pane(.alerts, alertLines(f), emptyText: "none firing")
            pane(.certificates, certificateLines(f), emptyText: "none expiring within 21 days")
            pane(.ports, portLines(f), emptyText: "none")
        }
        guard let height else {
            return top + (rows.isEmpty ? ["  no services" + (v.filter.isEmpty ? "" : " match")] : rows) + lower
                + (f.warnings ?? []).map { Self.fit("warning: \($0)", width) }
        }
        // Terminal: title, services (scrolled to the selection), lower panes, status line.
        let bottom = 1
        let lowerBudget = max(0, min(lower.count, (height - top.count - bottom) / 2))
        let serviceBudget = max(1, height - top.count - bottom - lowerBudget)
        var visible = rows.isEmpty ? ["  no services" + (v.filter.isEmpty ? "" : " match")] : rows
        if visible.count > serviceBudget {
            let start = min(max(0, v.selected - serviceBudget + 1), visible.count - serviceBudget)
            visible = Array(visible[start..<(start + serviceBudget)])
        }
        let lowerShown: [String]
        if v.focus == .logs { lowerShown = [lower[0]] + Array(lower.dropFirst().suffix(max(0, height - top.count - bottom - visible.count - 1))) }
        else { lowerShown = Array(lower.prefix(max(0, height - top.count - bottom - visible.count))) }
        var lines = top + visible + lowerShown
        while lines.count < height - bottom { lines.append("") }
        lines.append(v.status.isEmpty ? sgr("2", keyHint(v)) : sgr("1", Self.fit(v.status, width)))
        return Array(lines.prefix(height))
    }

    func fitHeight(_ lines: [String], _ v: DashViewState) -> [String] {
        guard let height else { return lines }
        var out = Array(lines.prefix(height - 1))
        while out.count < height - 1 { out.append("") }
        return out + [Self.fit(v.status, width)]
    }

    /// `--once`: the frame as plain text.
    public static func plain(_ f: DashFrame, width: Int) -> String {
        DashRenderer(width: width).render(f, DashViewState(), services: f.services).map { line in
            var l = line
            while l.hasSuffix(" ") { l.removeLast() }
            return l + "\n"
        }.joined()
    }
}
