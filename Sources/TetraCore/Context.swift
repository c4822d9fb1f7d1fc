import FoundationEssentials
import Glibc

/// Receives progress from long-running core operations. The CLI decides how to show it
/// (a live bar on a terminal, plain step lines otherwise, nothing under --quiet).
public protocol ProgressSink: Sendable {
    /// A discrete step ("rendering 120 files").
    func step(_ message: String)
    /// Progress of a counted task. `total` may be nil when unknown.
    func progress(_ label: String, done: Int, total: Int?)
    /// A warning for stderr (never stdout).
    func warn(_ message: String)
}

/// A reporter that drops everything (tests, --quiet).
public struct SilentProgress: ProgressSink {
    public init() {}
    public func step(_ message: String) {}
    public func progress(_ label: String, done: Int, total: Int?) {}
    public func warn(_ message: String) {}
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
    public var progress: any ProgressSink
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
        progress: any ProgressSink = SilentProgress(),
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
