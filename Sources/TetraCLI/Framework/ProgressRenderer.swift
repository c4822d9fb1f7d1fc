import Dispatch
import FoundationEssentials
import Glibc
import TetraCore

/// Shows the core's progress events on stderr (see docs/progress.md):
/// - `live` (stderr is a terminal): ONE line that is redrawn in place (carriage return and
///   erase-line, never a newline): phase, files and bytes done of total, rate, elapsed time.
///   Redrawn at most every `interval` seconds (phase changes at once), and once a second
///   while nothing happens so the elapsed time moves. Cleared by `finish()`, before a
///   warning (which is then printed on its own line and the live line drawn again below it),
///   and by the interrupt handler before tetra exits on a signal.
/// - `lines` (not a terminal): one plain `tetra: PHASE (totals)` line per phase, never per file.
/// - `quiet` (--quiet): nothing but warnings.
public final class ProgressRenderer: ProgressReporter, @unchecked Sendable {
    public enum Mode: Sendable { case live, lines, quiet }

    private let sink: OutputSink
    private let mode: Mode
    private let style: Style
    private let clock: @Sendable () -> Double
    private let columns: @Sendable () -> Int?
    private let interval: Double
    private let lock = Lock()

    private let started: Double
    private var name: String?
    private var phaseStarted = 0.0
    private var files = 0
    private var bytes: Int64 = 0
    private var totalFiles: Int?
    private var totalBytes: Int64?
    private var visible = false
    private var lastDraw = -Double.infinity
    private var pending = false
    private var closed = false
    private var ticker: (any DispatchSourceTimer)?

    /// - Parameters:
    ///   - clock: monotonic seconds (a fake one in tests).
    ///   - columns: the terminal's width, asked at each redraw (the window may be resized).
    ///   - interval: the shortest time between two redraws of the live line.
    public init(sink: OutputSink, mode: Mode, style: Style = Style(enabled: false),
                clock: @escaping @Sendable () -> Double = { Monotonic.now() },
                columns: @escaping @Sendable () -> Int? = { nil }, interval: Double = 0.1) {
        self.sink = sink
        self.mode = mode
        self.style = style
        self.clock = clock
        self.columns = columns
        self.interval = interval
        self.started = clock()
    }

    /// The mode for a command: live on a terminal (unless NO_COLOR is set or TERM is dumb,
    /// which ask for plain output, or --verbose, whose command lines would break the line).
    public static func mode(stderrIsTerminal: Bool, quiet: Bool, verbose: Bool, environment: [String: String]) -> Mode {
        if quiet { return .quiet }
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty
        if stderrIsTerminal && !noColor && environment["TERM"] != "dumb" && !verbose { return .live }
        return .lines
    }

    // MARK: - events

    public func phase(_ name: String, files: Int?, bytes: Int64?) {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        self.name = name
        phaseStarted = clock()
        self.files = 0
        self.bytes = 0
        totalFiles = files
        totalBytes = bytes
        switch mode {
        case .quiet: return
        case .lines:
            let totals = [files.map { Self.count($0, "file") }, bytes.map { ProgressFormat.bytes($0) }].compactMap { $0 }
            sink.write("tetra: \(name)\(totals.isEmpty ? "" : " (" + totals.joined(separator: ", ") + ")")\n")
        case .live:
            draw(at: phaseStarted)
        }
    }

    public func expect(files: Int?, bytes: Int64?) {
        lock.lock(); defer { lock.unlock() }
        if let files { totalFiles = files }
        if let bytes { totalBytes = bytes }
        redrawIfDue()
    }

    public func advance(files: Int, bytes: Int64) {
        lock.lock(); defer { lock.unlock() }
        self.files += files
        self.bytes += bytes
        redrawIfDue()
    }

    public var showsCounts: Bool { mode == .live }

    public func warn(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        clear()
        sink.write("\(style.yellow("tetra: warning:")) \(message)\n")
        if mode == .live && name != nil && !closed { draw(at: clock()) }
    }

    /// Redraws when the line is stale: an advance held back by the rate limit, or a second
    /// without a redraw (the elapsed time). Called by the ticker; public for tests.
    public func tick() {
        lock.lock(); defer { lock.unlock() }
        guard mode == .live, name != nil, !closed else { return }
        let now = clock()
        if (pending && due(now, interval)) || due(now, 1) { draw(at: now) }
    }

    /// Starts redrawing on a timer (live mode only); `finish()` stops it.
    public func startTicker() {
        guard mode == .live else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tetra.progress"))
        timer.schedule(deadline: .now() + 0.25, repeating: 0.25)
        timer.setEventHandler { [weak self] in self?.tick() }
        lock.lock()
        ticker = timer
        lock.unlock()
        timer.resume()
    }

    /// Leaves the terminal clean: the live line is erased, nothing is drawn after this.
    public func finish() {
        lock.lock()
        closed = true
        clear()
        let timer = ticker
        ticker = nil
        lock.unlock()
        timer?.cancel()
    }

    // MARK: - drawing (under the lock)

    private func redrawIfDue() {
        guard mode == .live, name != nil, !closed else { return }
        let now = clock()
        if due(now, interval) { draw(at: now) } else { pending = true }
    }

    /// Whether `seconds` passed since the last redraw (a microsecond of slack for rounding).
    private func due(_ now: Double, _ seconds: Double) -> Bool { now - lastDraw >= seconds - 1e-6 }

    private func draw(at now: Double) {
        sink.write("\r\u{1B}[2K" + line(at: now))
        visible = true
        lastDraw = now
        pending = false
    }

    private func clear() {
        guard visible else { return }
        sink.write("\r\u{1B}[2K")
        visible = false
    }

    /// The live line at `now`, fitted to the terminal width (the phase is shortened first).
    func line(at now: Double) -> String {
        var parts: [String] = []
        if let totalFiles {
            parts.append("\(files)/\(Self.count(totalFiles, "file"))")
        } else if files > 0 {
            parts.append(Self.count(files, "file"))
        }
        if let totalBytes {
            parts.append(ProgressFormat.bytes(bytes) + "/" + ProgressFormat.bytes(totalBytes))
        } else if bytes > 0 {
            parts.append(ProgressFormat.bytes(bytes))
        }
        let seconds = now - phaseStarted
        if seconds >= 0.5 {
            if bytes > 0 {
                parts.append(ProgressFormat.bytes(Int64(Double(bytes) / seconds)) + "/s")
            } else if files > 0 {
                parts.append("\(Int(Double(files) / seconds)) files/s")
            }
        }
        parts.append(ProgressFormat.elapsed(now - started))
        let tail = "  " + parts.joined(separator: "  ")
        let phase = name ?? ""
        guard let width = columns(), width > 1 else { return phase + tail }
        let room = width - 1 // the last column would wrap on some terminals
        if phase.count + tail.count <= room { return phase + tail }
        let keep = room - tail.count - 1
        if keep >= 8 { return String(phase.prefix(keep)) + "…" + tail }
        return String((phase + tail).prefix(room))
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}
