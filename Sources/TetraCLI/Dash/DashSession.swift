import FoundationEssentials
import Glibc
import TetraCore

/// The interactive loop of `tetra dash`: one `poll()` per wait (keys, resize, interrupt, the
/// refresh timeout), a new frame every interval, a full redraw written with one `write`.
/// The terminal is restored on every way out: `q`, Ctrl-C (read as a key in raw mode),
/// SIGTERM/SIGHUP (the interrupt flag wakes the loop), an error (defer), and a second signal
/// (the CLI's exit handler).
final class DashSession {
    let env: CommandEnvironment
    let builder: DashFrameBuilder
    let interval: TimeInterval
    var view = DashViewState()
    var frame: DashFrame?
    var shown: [DashService] = []
    var prompt: DashPrompt?
    var followers: [LogFollower] = []
    var quit = false

    init(env: CommandEnvironment, builder: DashFrameBuilder, interval: TimeInterval, readOnly: Bool) {
        self.env = env
        self.builder = builder
        self.interval = interval
        view.readOnly = readOnly
    }

    var color: Bool { env.style.enabled }

    func run() throws {
        let terminal = try DashTerminal()
        let interrupt = env.core.interrupt
        // SIGTERM/SIGHUP raise the flag (the loop then returns and restores the terminal); a
        // second signal exits at once after the exit handler restored it.
        interrupt.unwindsGracefully = true
        interrupt.onRaise { [terminal] in terminal.wakeUp() }
        interrupt.beforeExit { [terminal] in terminal.restore() }
        try terminal.enter()
        defer { terminal.restore() }
        try refresh()
        draw(terminal)
        var next = Monotonic.now() + interval
        while !quit && !interrupt.isRaised {
            let wait = Int32(max(0, min(next - Monotonic.now(), 3600)) * 1000)
            let w = terminal.wait(timeoutMs: wait)
            if interrupt.isRaised || w.inputClosed { break }
            for key in DashKey.parse(w.keys) where !quit { handle(key) }
            if quit { break }
            if Monotonic.now() >= next {
                try refresh()
                next = Monotonic.now() + interval
            }
            draw(terminal)
        }
        // SIGTERM or SIGHUP: exit 130 like every interrupted command (the defer restores first).
        if interrupt.isRaised && !quit { throw CoreError.interrupted }
    }

    // MARK: - Data

    func refresh() throws {
        let f = try builder.frame()
        frame = f
        applyFilter()
        if view.focus == .logs {
            view.logLines += followers.flatMap { $0.poll() }
            if view.logLines.count > 500 { view.logLines.removeFirst(view.logLines.count - 500) }
        }
    }

    func applyFilter() {
        guard let f = frame else { return }
        do {
            shown = try DashFilter.apply(view.filter, to: f.services, org: f.org, now: f.time)
        } catch {
            shown = f.services
            view.status = "filter: " + ((error as? any TetraError)?.message.split(separator: "\n").first.map(String.init) ?? "\(error)")
        }
        view.selected = min(view.selected, max(0, shown.count - 1))
    }

    var selectedService: DashService? { shown.indices.contains(view.selected) ? shown[view.selected] : nil }

    func draw(_ terminal: DashTerminal) {
        guard let f = frame else { return }
        let (cols, rows) = terminal.size()
        var v = view
        if let prompt { v.status = prompt.line }
        let lines = DashRenderer(width: cols, height: rows, color: color).render(f, v, services: shown)
        // Home, then each line overwritten and cleared to its end; below the last, cleared.
        var out = "\u{1B}[H"
        for (i, line) in lines.enumerated() {
            out += line + "\u{1B}[K" + (i < lines.count - 1 ? "\r\n" : "")
        }
        out += "\u{1B}[J"
        terminal.writeAll(out)
    }

    // MARK: - Keys

    func handle(_ key: DashKey) {
        if var p = prompt {
            switch p.feed(key) {
            case .editing: prompt = p
            case .cancelled: prompt = nil; view.status = "cancelled"
            case .done(let text): prompt = nil; finish(p.kind, text)
            }
            return
        }
        if view.help { view.help = false; return }
        view.status = ""
        switch key {
        case .ctrlC, .char("q"): quit = true
        case .up, .char("k"): view.selected = max(0, view.selected - 1); followSelection()
        case .down, .char("j"): view.selected = min(max(0, shown.count - 1), view.selected + 1); followSelection()
        case .tab: nextPane()
        case .enter: openLogs()
        case .escape: if view.focus == .logs { view.focus = .services }
        case .char("?"): view.help = true
        case .char("/"): prompt = DashPrompt(kind: .filter, label: "filter (name state: host: tag:): ", text: view.filter)
        case .char("o"):
            let orgs = OrgStore(paths: env.paths).names()
            prompt = DashPrompt(kind: .org, label: "org (\(orgs.joined(separator: ", "))): ", text: "")
        case .char("e"):
            let envs = frame?.environments.map(\.name) ?? []
            prompt = DashPrompt(kind: .env, label: "env (\(envs.joined(separator: ", ")); empty: none): ", text: "")
        case .char("r"): ask(.restart)
        case .char("s"): ask(.stop)
        case .char("S"): ask(.start)
        default: break
        }
    }

    func nextPane() {
        let order: [DashPane] = [.services, .environments, .alerts, .certificates, .ports]
        let i = order.firstIndex(of: view.focus) ?? -1
        view.focus = order[(i + 1) % order.count]
    }

    func followSelection() {
        if view.focus == .logs { openLogs() }
    }

    /// The log pane follows the selected service: the last lines of stdout and stderr merged
    /// by time, then new lines as they arrive.
    func openLogs() {
        guard let s = selectedService, let f = frame else { return }
        let m = ServiceManager(core: env.core, org: f.org)
        var lines: [LogLine] = []
        followers = []
        for stderr in [false, true] {
            if let path = try? m.logPath(s.name, stderr: stderr) {
                lines += LogReader.read(path, stream: stderr ? "stderr" : "stdout", since: nil, limit: 200)
                followers.append(LogFollower(path: path, stream: stderr ? "stderr" : "stdout"))
            }
        }
        view.logLines = Array(lines.sorted { ($0.time ?? .distantPast) < ($1.time ?? .distantPast) }.suffix(500))
        view.logService = s.name
        view.focus = .logs
    }

    func ask(_ action: DashAction) {
        if view.readOnly { view.status = "read-only: actions are off (started with --read-only)"; return }
        guard let s = selectedService, let f = frame else { view.status = "no service selected"; return }
        if f.protected {
            prompt = DashPrompt(kind: .typed(action, s.name),
                                label: "env \(f.env ?? "") is protected: type \(s.name) to \(action.rawValue) it (Esc cancels): ", text: "")
        } else {
            prompt = DashPrompt(kind: .confirm(action, s.name), label: "\(action.rawValue) \(s.name)? [y/N] ", text: "")
        }
    }

    func finish(_ kind: DashPrompt.Kind, _ text: String) {
        switch kind {
        case .filter:
            view.filter = text
            view.selected = 0
            applyFilter()
        case .org:
            guard !text.isEmpty else { return }
            guard Names.isValid(text), OrgStore(paths: env.paths).exists(text) else { view.status = "no org \(text)"; return }
            builder.select(org: text, env: nil)
            reload()
        case .env:
            if !text.isEmpty, frame?.environments.contains(where: { $0.name == text }) != true {
                view.status = "no environment \(text) in org \(builder.org)"
                return
            }
            builder.select(org: builder.org, env: text.isEmpty ? nil : text)
            reload()
        case .confirm(let action, let name):
            if text.lowercased() == "y" { perform(action, name) } else { view.status = "\(action.rawValue) \(name): not done" }
        case .typed(let action, let name):
            if text == name { perform(action, name) } else { view.status = "\(action.rawValue) \(name): the name did not match, not done" }
        }
    }

    func reload() {
        do { try refresh() } catch { view.status = (error as? any TetraError)?.message ?? "\(error)" }
    }

    /// Runs the action through the same ServiceManager calls and lock as `tetra svc`, and
    /// writes the audit line the CLI writes for `svc restart|stop|start`.
    func perform(_ action: DashAction, _ name: String) {
        let m = ServiceManager(core: env.core, org: builder.org)
        let started = env.core.now()
        var ok = true
        do {
            switch action {
            case .restart:
                let r = try SvcCommands.mutate(env, m) { try m.restart(name) }
                view.status = "restarted \(name)" + (r.pid.map { " (pid \($0))" } ?? "")
            case .stop:
                _ = try SvcCommands.mutate(env, m) { try m.stop([name]) }
                view.status = "stopped \(name)"
            case .start:
                let r = try SvcCommands.mutate(env, m) { try m.start([name]) }
                view.status = "started \(name)" + (r.last?.pid.map { " (pid \($0))" } ?? "")
            }
        } catch {
            ok = false
            view.status = "\(action.rawValue) \(name) failed: " + ((error as? any TetraError)?.message ?? "\(error)")
        }
        audit(action, name, ok: ok, started: started)
        reload()
    }

    func audit(_ action: DashAction, _ name: String, ok: Bool, started: Date) {
        let core = env.core
        var entry = AuditEntry(time: core.now(), user: core.userName, host: core.hostName, command: "svc \(action.rawValue)",
                               argv: core.commandLine + ["--", "svc", action.rawValue, name], org: builder.org, env: builder.env,
                               result: ok ? "ok" : "error", exitCode: ok ? 0 : 1,
                               durationMs: Int(core.now().timeIntervalSince(started) * 1000))
        entry.pid = getpid()
        do { try AuditLog(path: core.paths.auditLog).append(entry) } catch {
            view.status += " (audit log not written: \(error))"
        }
    }
}

enum DashAction: String { case restart, stop, start }

/// A question on the status line: a filter, an org, an env, y/N, or a typed name.
struct DashPrompt {
    enum Kind { case filter, org, env, confirm(DashAction, String), typed(DashAction, String) }
    enum Outcome { case editing, cancelled, done(String) }
    var kind: Kind
    var label: String
    var text: String

    var line: String { label + text + (isConfirm ? "" : "_") }
    var isConfirm: Bool { if case .confirm = kind { return true } else { return false } }

    mutating func feed(_ key: DashKey) -> Outcome {
        if isConfirm {
            // One key answers: y does it, anything else does not.
            if case .char(let c) = key { return .done(String(c)) }
            return .done("")
        }
        switch key {
        case .escape, .ctrlC: return .cancelled
        case .enter: return .done(text)
        case .backspace: if !text.isEmpty { text.removeLast() }
        case .char(let c): text.append(c)
        default: break
        }
        return .editing
    }
}
