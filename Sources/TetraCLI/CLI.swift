import FoundationEssentials
import Glibc
import TetraCore

public enum TetraVersion {
    public static let string = "0.1.0"
}

/// The command-line entry: parse, run, render, report errors once. Returns the exit code;
/// only `main.swift` exits.
public struct CLI: Sendable {
    public let table: CommandSpec

    public init(table: CommandSpec = CommandTable.root) { self.table = table }

    public func run(_ argv: [String], context: CLIContext) -> Int32 {
        let jsonRequested = argv.prefix { $0 != "--" }.contains("--json")
        let colorFlag = Self.colorFlag(argv)
        let errStyle = Style(enabled: Self.colorEnabled(flag: colorFlag, isTerminal: context.stderrIsTerminal, env: context.environment))

        let outcome: ParseOutcome
        do {
            outcome = try ArgumentParser(root: table).parse(argv)
        } catch let error as any TetraError {
            report(error, json: jsonRequested, context: context, style: errStyle)
            return error.exitCode.rawValue
        } catch {
            context.stderr.write("tetra: error: \(error)\n")
            return ExitCode.failure.rawValue
        }

        switch outcome {
        case .version:
            context.stdout.write("tetra \(TetraVersion.string)\n")
            return 0
        case .help(let path):
            let spec = Self.node(at: path, in: table)
            context.stdout.write(HelpRenderer.render(spec, path: path, version: TetraVersion.string))
            return 0
        case .run(let invocation):
            return execute(invocation, context: context, errStyle: errStyle)
        }
    }

    /// Runs a parsed invocation (the MCP server builds one from a tool call's arguments).
    func execute(_ invocation: Invocation, context: CLIContext, errStyle: Style) -> Int32 {
        let started = Date()
        var options: GlobalOptions
        do {
            options = try GlobalOptions(invocation)
        } catch let error as any TetraError {
            report(error, json: invocation.has("json"), context: context, style: errStyle)
            return error.exitCode.rawValue
        } catch {
            return ExitCode.failure.rawValue
        }
        if options.json && !invocation.spec.supportsJSON {
            let error = UsageError("'tetra \(invocation.commandName)' does not support --json", commandPath: invocation.path)
            report(error, json: true, context: context, style: errStyle)
            return error.exitCode.rawValue
        }

        let outStyle = Style(enabled: Self.colorEnabled(flag: options.color, isTerminal: context.stdoutIsTerminal, env: context.environment))
        let progress = ProgressRenderer(sink: context.stderr,
                                        mode: ProgressRenderer.mode(stderrIsTerminal: context.stderrIsTerminal, quiet: options.quiet,
                                                                    verbose: options.verbose, environment: context.environment),
                                        style: errStyle, columns: context.stderrColumns)
        progress.startTicker()
        context.interrupt.beforeExit { progress.finish() }
        let stateRoot = CoreContext.resolveStateRoot(flag: options.dir, environment: context.environment,
                                                     workingDirectory: context.workingDirectory)
        let redactedArgv = invocation.argv.map { Redactor().redact($0) }
        var core = CoreContext(environment: context.environment, workingDirectory: context.workingDirectory,
                               stateRoot: stateRoot, now: context.now,
                               runner: options.verbose ? VerboseRunner(base: context.runner, sink: context.stderr) : context.runner,
                               progress: context.progressTap ?? progress,
                               interrupt: context.interrupt, commandLine: ["tetra"] + redactedArgv,
                               executablePath: context.executablePath, lockWait: options.lockWait)
        core.commandName = invocation.commandName
        let env = CommandEnvironment(cli: context, options: options, core: core, style: outStyle, invocation: invocation)

        var exitCode: ExitCode = .success
        var failure: (any TetraError)? = nil
        context.interrupt.unwindsGracefully = invocation.spec.mutates
        defer { context.interrupt.unwindsGracefully = false }
        do {
            guard let handler = invocation.spec.handler else {
                throw UsageError("'tetra \(invocation.commandName)' needs a subcommand", commandPath: invocation.path)
            }
            let output = try handler(invocation, env)
            progress.finish()
            if !options.quiet {
                for note in output.notes { context.stderr.write("tetra: \(note)\n") }
            }
            if options.json, let jsonStream = output.jsonStream {
                jsonStream(context.stdout)
            } else if options.json, let raw = output.rawJSON {
                context.stdout.write(raw + "\n")
            } else if options.json, let json = output.json {
                context.stdout.write(try JSONOutput.encode(json) + "\n")
            } else if !options.json {
                if let stream = output.stream { stream(context.stdout) } else { context.stdout.write(output.text) }
            }
            exitCode = output.exitCode
        } catch let error as any TetraError {
            progress.finish()
            failure = error
            exitCode = error.exitCode
        } catch {
            progress.finish()
            let wrapped = CoreError.failed("\(error)")
            failure = wrapped
            exitCode = .failure
        }
        if let failure {
            report(failure, json: options.json, context: context, style: errStyle)
        }
        if (invocation.spec.mutates && !options.dryRun) || context.auditVia != nil {
            recordAudit(invocation, core: core, options: options, exitCode: exitCode, started: started, progress: progress, context: context)
        }
        return exitCode.rawValue
    }

    /// One line per mutating command in state/audit.jsonl (not for dry runs, and not when
    /// there is no state root to record into); one per command of any kind run for a client
    /// (`via`: the MCP server audits every tool call).
    private func recordAudit(_ inv: Invocation, core: CoreContext, options: GlobalOptions, exitCode: ExitCode,
                             started: Date, progress: any ProgressReporter, context: CLIContext) {
        let paths = core.paths
        guard FileManager.default.fileExists(atPath: paths.state) else { return }
        var entry = AuditEntry(
            time: core.now(), user: core.userName, host: core.hostName,
            command: inv.commandName, argv: core.commandLine,
            org: inv.argument("ORG") ?? options.org ?? Self.impliedOrg(inv, core: core),
            env: inv.argument("ENV") ?? inv.argument("TO") ?? inv.flag("env"),
            result: exitCode == .success ? "ok" : (exitCode == .interrupted ? "interrupted" : "error"),
            exitCode: Int(exitCode.rawValue),
            durationMs: Int(core.now().timeIntervalSince(started) * 1000))
        entry.pid = getpid()
        entry.via = context.auditVia
        do {
            try AuditLog(path: paths.auditLog).append(entry)
            if inv.spec.mutates { ChangeJournal(paths: paths).finish() }
        } catch {
            progress.warn("could not write the audit log: \(error)")
        }
    }

    /// The current org ($TETRA_ORG, then default_org) for commands that act on it without
    /// naming it (`env ...`, `org set`), for the audit log.
    static func impliedOrg(_ inv: Invocation, core: CoreContext) -> String? {
        guard inv.path.first == "env" || inv.path.first == "secret" || inv.path == ["org", "set"] || inv.flag("env") != nil else { return nil }
        if let org = core.environment["TETRA_ORG"], !org.isEmpty { return org }
        return (try? GlobalSettings.load(core.paths))?.defaultOrg
    }

    /// Prints an error once: `tetra: error: MESSAGE` and `  hint: ...`, or JSON under --json.
    func report(_ error: any TetraError, json: Bool, context: CLIContext, style: Style) {
        if json {
            context.stderr.write(JSONOutput.error(error) + "\n")
            return
        }
        var text = "\(style.red("tetra: error:")) \(error.message)\n"
        if let hint = error.hint, !hint.isEmpty {
            text += "  hint: \(hint)\n"
        }
        context.stderr.write(text)
    }

    static func node(at path: [String], in root: CommandSpec) -> CommandSpec {
        var node = root
        for name in path {
            guard let child = node.subcommand(name) else { break }
            node = child
        }
        return node
    }

    static func colorFlag(_ argv: [String]) -> String {
        var value = "auto"
        var i = 0
        while i < argv.count, argv[i] != "--" {
            if argv[i] == "--color", i + 1 < argv.count { value = argv[i + 1] }
            if argv[i].hasPrefix("--color=") { value = String(argv[i].dropFirst(8)) }
            i += 1
        }
        return value
    }

    /// Colour only on a terminal without NO_COLOR, unless --color always/never.
    static func colorEnabled(flag: String, isTerminal: Bool, env: [String: String]) -> Bool {
        switch flag {
        case "always": return true
        case "never": return false
        default:
            if let noColor = env["NO_COLOR"], !noColor.isEmpty { return false }
            if env["TERM"] == "dumb" { return false }
            return isTerminal
        }
    }
}
