import FoundationEssentials
import Glibc

/// Receives progress from long-running core operations as events; it never prints. The CLI
/// decides how to show them: one live line on a terminal, plain step lines otherwise,
/// nothing under --quiet (see docs/progress.md). Core code reports phases, totals and
/// increments through `CoreContext.progress`; it never threads a reporter through parameters.
public protocol ProgressReporter: Sendable {
    /// Starts a phase of the work ("sending to /srv/app"), ending the one before. Totals are
    /// nil when not known (yet).
    func phase(_ name: String, files: Int?, bytes: Int64?)
    /// Sets the totals of the current phase once they are known (nil leaves one as it was).
    func expect(files: Int?, bytes: Int64?)
    /// Work done in the current phase since the last call (increments, not running totals).
    func advance(files: Int, bytes: Int64)
    /// A warning for stderr (never stdout); shown even under --quiet.
    func warn(_ message: String)
    /// Whether counts are shown at all (the live line): when not, work that costs something
    /// only to count (asking rsync for its progress output) is skipped.
    var showsCounts: Bool { get }
}

extension ProgressReporter {
    /// A phase without counts ("locking /srv/app", "ACME: finalizing").
    public func step(_ message: String) { phase(message, files: nil, bytes: nil) }
    public var showsCounts: Bool { true }
}

/// A reporter that drops everything (tests, library use).
public struct SilentProgress: ProgressReporter {
    public init() {}
    public func phase(_ name: String, files: Int?, bytes: Int64?) {}
    public func expect(files: Int?, bytes: Int64?) {}
    public func advance(files: Int, bytes: Int64) {}
    public func warn(_ message: String) {}
    public var showsCounts: Bool { false }
}

/// Set by the signal handler in the CLI when SIGINT/SIGTERM arrives; long operations check
/// it between steps and unwind (throwing `CoreError.interrupted`) so state stays consistent.
public final class InterruptFlag: @unchecked Sendable {
    private let lock = Lock()
    private var raised = false
    private var graceful = false
    public init() {}
    /// True while a mutating command runs that checks the flag and unwinds by itself; when
    /// false, an interrupt ends the process at once (read-only commands have nothing to undo).
    public var unwindsGracefully: Bool {
        get { lock.lock(); defer { lock.unlock() }; return graceful }
        set { lock.lock(); graceful = newValue; lock.unlock() }
    }
    public var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }
    public func raise() {
        lock.lock()
        raised = true
        let observers = onRaiseObservers
        onRaiseObservers = []
        lock.unlock()
        for body in observers { body() }
    }
    private var onRaiseObservers: [@Sendable () -> Void] = []
    /// Runs `body` once when the flag is raised (at once when it already is): wakes a loop
    /// that blocks (the service supervisor) instead of checking the flag on a timer.
    public func onRaise(_ body: @escaping @Sendable () -> Void) {
        lock.lock()
        let already = raised
        if !already { onRaiseObservers.append(body) }
        lock.unlock()
        if already { body() }
    }
    public func check() throws { if isRaised { throw CoreError.interrupted } }

    private var exitHandlers: [@Sendable () -> Void] = []
    /// Runs `body` when the process is about to end at once on a signal (a read-only command,
    /// or a second Ctrl-C): the CLI erases its live progress line so the terminal is clean.
    public func beforeExit(_ body: @escaping @Sendable () -> Void) {
        lock.lock(); exitHandlers.append(body); lock.unlock()
    }
    /// Called by the entry point just before it exits on a signal.
    public func runExitHandlers() {
        lock.lock()
        let handlers = exitHandlers
        exitHandlers = []
        lock.unlock()
        for body in handlers { body() }
    }
}

/// Everything the core needs from the outside world, injected: no globals.
public struct CoreContext: Sendable {
    /// The process environment (PATH, HOME, TETRA_DIR, ...).
    public var environment: [String: String]
    /// The working directory used to resolve relative paths.
    public var workingDirectory: String
    /// The state root after precedence (flag > TETRA_DIR > XDG_DATA_HOME > ~/.local/share).
    public var stateRoot: String
    /// Wall clock.
    public var now: @Sendable () -> Date
    /// Runs external programs.
    public var runner: any ProcessRunning
    /// Progress and warnings sink.
    public var progress: any ProgressReporter
    public var interrupt: InterruptFlag
    /// The command line being run (redacted), recorded in lock holders and the audit log.
    public var commandLine: [String]
    /// Absolute path of the running tetra executable (supervisors re-execute it).
    public var executablePath: String
    /// How long to wait for a held lock before failing (0: fail at once).
    public var lockWait: TimeInterval
    /// The command path being run ("org push"), for the audit lines of recovered changes.
    public var commandName: String = ""

    public init(
        environment: [String: String],
        workingDirectory: String,
        stateRoot: String,
        now: @escaping @Sendable () -> Date = { Date() },
        runner: any ProcessRunning,
        progress: any ProgressReporter = SilentProgress(),
        interrupt: InterruptFlag = InterruptFlag(),
        commandLine: [String] = [],
        executablePath: String = "tetra",
        lockWait: TimeInterval = 0
    ) {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stateRoot = stateRoot
        self.now = now
        self.runner = runner
        self.progress = progress
        self.interrupt = interrupt
        self.commandLine = commandLine
        self.executablePath = executablePath
        self.lockWait = lockWait
    }

    /// The state root layout (SPEC §2).
    public var paths: StatePaths { StatePaths(root: stateRoot) }

    public var userName: String {
        if let user = environment["USER"] ?? environment["LOGNAME"], !user.isEmpty { return user }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid\(getuid())"
    }

    public var hostName: String { ProcessIdentity.hostName }

    /// Resolves a user-supplied path against the working directory.
    public func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return Self.standardized(path) }
        if path == "~" || path.hasPrefix("~/") {
            let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
            return (home + path.dropFirst()).replacingAll("//", with: "/")
        }
        return Self.standardized(workingDirectory + "/" + path)
    }

    /// An absolute path with symlinks, `.`, `..` and repeated slashes resolved: realpath(3)
    /// when the path exists (one system call, and none of Foundation's path and URL code,
    /// about 1 MB of pages, in a command such as `config decode FILE`), else `PathText.standardized`,
    /// which gives the same for what exists and keeps the rest.
    static func standardized(_ absolute: String) -> String {
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return PathText.standardized(absolute)
    }

    /// Resolves the state root by SPEC precedence: flag > $TETRA_DIR > $XDG_DATA_HOME/tetra >
    /// ~/.local/share/tetra.
    public static func resolveStateRoot(flag: String?, environment: [String: String], workingDirectory: String) -> String {
        func abs(_ p: String) -> String { standardized(p.hasPrefix("/") ? p : workingDirectory + "/" + p) }
        if let flag, !flag.isEmpty { return abs(flag) }
        if let dir = environment["TETRA_DIR"], !dir.isEmpty { return abs(dir) }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return abs(xdg) + "/tetra" }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return abs(home) + "/.local/share/tetra"
    }
}

/// Paths inside the state root (SPEC §2).
public struct StatePaths: Sendable, Equatable {
    public var root: String
    public init(root: String) { self.root = root }

    public var config: String { root + "/config" }
    public var globalConfig: String { config + "/tetra.toml" }
    public var portsFile: String { config + "/ports.toml" }
    public var orgs: String { root + "/orgs" }
    public func org(_ name: String) -> String { orgs + "/" + name }
    public var ssl: String { root + "/ssl" }
    public var library: String { root + "/library" }
    public var state: String { root + "/state" }
    public var locks: String { state + "/locks" }
    public var auditLog: String { state + "/audit.jsonl" }
    public var services: String { state + "/services" }
    public var snapshots: String { state + "/snapshots" }
    public var history: String { state + "/history" }
}
