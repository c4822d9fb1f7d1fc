import FoundationEssentials
import Glibc
import TetraCore

/// Everything the CLI needs from the process, injected so any command can run in-process
/// in a test: sinks, environment, terminal facts, clock, process runner.
public struct CLIContext: Sendable {
    public var stdout: OutputSink
    public var stderr: OutputSink
    /// Reads all of standard input (for `-` arguments), up to the byte limit given.
    public var readStdin: @Sendable (Int) throws -> Data
    /// Reads one line from the terminal for a confirmation prompt (nil at EOF); throws
    /// `interrupted` on Ctrl-C.
    public var readLine: @Sendable () throws -> String?
    public var environment: [String: String]
    public var workingDirectory: String
    public var stdinIsTerminal: Bool
    public var stdoutIsTerminal: Bool
    public var stderrIsTerminal: Bool
    /// Columns of the terminal on stdout, when it is one.
    public var terminalWidth: Int?
    /// Columns of the terminal on stderr now (the live progress line fits them; nil: unknown).
    public var stderrColumns: @Sendable () -> Int? = { nil }
    public var now: @Sendable () -> Date
    public var runner: any ProcessRunning
    public var interrupt: InterruptFlag
    public var executablePath: String
    /// Receives the core's progress instead of the stderr renderer (the MCP server turns it
    /// into progress notifications).
    public var progressTap: (any ProgressReporter)? = nil
    /// Who asked, recorded in the audit line (`mcp`); when set, every command is audited.
    public var auditVia: String? = nil

    public init(stdout: OutputSink, stderr: OutputSink, readStdin: @escaping @Sendable (Int) throws -> Data = { _ in Data() },
                readLine: @escaping @Sendable () throws -> String? = { nil },
                environment: [String: String], workingDirectory: String, stdinIsTerminal: Bool = false,
                stdoutIsTerminal: Bool = false, stderrIsTerminal: Bool = false, terminalWidth: Int? = nil,
                now: @escaping @Sendable () -> Date = { Date() }, runner: any ProcessRunning,
                interrupt: InterruptFlag = InterruptFlag(), executablePath: String = "tetra") {
        self.stdout = stdout
        self.stderr = stderr
        self.readStdin = readStdin
        self.readLine = readLine
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdinIsTerminal = stdinIsTerminal
        self.stdoutIsTerminal = stdoutIsTerminal
        self.stderrIsTerminal = stderrIsTerminal
        self.terminalWidth = terminalWidth
        self.now = now
        self.runner = runner
        self.interrupt = interrupt
        self.executablePath = executablePath
    }

    /// The real process context: file descriptors 0/1/2, the real environment and runner.
    public static func system(interrupt: InterruptFlag) -> CLIContext {
        let env = ProcessInfo.processInfo.environment
        var width: Int? = nil
        if isatty(1) == 1 {
            var ws = winsize()
            if ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { width = Int(ws.ws_col) }
            else if let cols = env["COLUMNS"].flatMap(Int.init) { width = cols }
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "tetra"
        var context = CLIContext(
            stdout: OutputSink(fileDescriptor: 1),
            stderr: OutputSink(fileDescriptor: 2),
            readStdin: { try InputFile.read(fd: 0, display: "<stdin>", limit: $0, interrupt: interrupt) },
            readLine: { try InputFile.readLine(fd: 0, interrupt: interrupt) },
            environment: env,
            workingDirectory: FileManager.default.currentDirectoryPath,
            stdinIsTerminal: isatty(0) == 1,
            stdoutIsTerminal: isatty(1) == 1,
            stderrIsTerminal: isatty(2) == 1,
            terminalWidth: width,
            runner: SystemProcessRunner(environment: env, interrupt: interrupt, parentDeathWrapper: exe),
            interrupt: interrupt,
            executablePath: exe)
        context.stderrColumns = {
            var ws = winsize()
            return ioctl(2, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 ? Int(ws.ws_col) : nil
        }
        return context
    }
}

/// The resolved global flags (SPEC §1).
public struct GlobalOptions: Sendable {
    public var dir: String?
    public var org: String?
    public var json: Bool
    public var quiet: Bool
    public var verbose: Bool
    public var color: String
    public var yes: Bool
    public var dryRun: Bool
    public var lockWait: TimeInterval

    init(_ inv: Invocation) throws {
        dir = inv.flag("dir")
        org = inv.flag("org")
        json = inv.has("json")
        quiet = inv.has("quiet")
        verbose = inv.has("verbose")
        color = inv.flag("color") ?? "auto"
        yes = inv.has("yes")
        dryRun = inv.has("dry-run")
        lockWait = try inv.duration("lock-wait") ?? 10
    }
}

/// What a command handler gets: the CLI context, the parsed global options, the core context.
public struct CommandEnvironment: Sendable {
    public var cli: CLIContext
    public var options: GlobalOptions
    public var core: CoreContext
    public var style: Style
    public var invocation: Invocation

    public var paths: StatePaths { core.paths }

    /// Renders a table for stdout (truncated to the terminal width on a terminal).
    public func table(_ headers: [String], _ rows: [[String]], statusColumn: Int? = nil) -> String {
        let renderer = TableRenderer(headers: headers, rows: rows)
        let width = cli.stdoutIsTerminal ? cli.terminalWidth : nil
        return renderer.render(width: width, style: style, colorize: statusColumn.map { col in
            { i, cell in i == col ? style.status(cell) : cell }
        })
    }

    /// Refuses a destructive action unless --yes was given or the operator confirms at a
    /// terminal. Never prompts without a terminal (exit 7 naming the flag).
    public func confirm(_ action: String) throws {
        if options.yes { return }
        guard cli.stdinIsTerminal, cli.stderrIsTerminal, !options.json else {
            throw CoreError.refused("\(action) needs confirmation", hint: "re-run with --yes (-y) to confirm")
        }
        cli.stderr.write("\(action)? [y/N] ")
        let answer = try cli.readLine()?.trimming(.whitespaces).lowercased() ?? ""
        guard answer == "y" || answer == "yes" else {
            throw CoreError.refused("\(action): not confirmed", hint: "re-run with --yes (-y) to confirm")
        }
    }

    /// Ensures the state root exists (mode 0700), creating it on first use.
    public func ensureStateRoot() throws {
        try StateRoot.ensure(core.paths, flagGiven: options.dir != nil)
    }

    /// The org to act on: --org > $TETRA_ORG > `default_org` in config/tetra.toml > nil.
    /// A malformed tetra.toml is exit 3 with its position.
    public func resolvedOrg() throws -> String? {
        let name: String?
        if let flag = options.org, !flag.isEmpty {
            name = flag
        } else if let fromEnv = cli.environment["TETRA_ORG"], !fromEnv.isEmpty {
            name = fromEnv
        } else {
            name = try GlobalSettings.load(paths).defaultOrg
        }
        if let name { try Names.validate(name, what: "org") }
        return name
    }

    /// Reads a FILE argument once, as a stream (`-` is standard input; `/dev/stdin`,
    /// `/dev/fd/N` and `<(...)` work), refusing more than `limit` bytes (exit 3).
    public func readInput(_ path: String, limit: Int = InputFile.configLimit) throws -> (name: String, data: Data) {
        if path == "-" {
            let data = try cli.readStdin(limit)
            if data.count > limit { throw InputFile.tooLarge("<stdin>", limit: limit) }
            return ("<stdin>", data)
        }
        return (path, try InputFile.read(core.absolutePath(path), display: path, limit: limit, interrupt: core.interrupt))
    }
}
