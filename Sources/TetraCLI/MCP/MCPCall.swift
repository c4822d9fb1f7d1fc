import FoundationEssentials
import TetraCore

/// A tool call turned into the command it stands for, and the command's outcome turned into
/// a tool result.
enum MCPCall {
    /// Builds the invocation of `tool` from a call's arguments: each property is checked as
    /// the command line's parser checks it (types, ranges, closed sets, required arguments);
    /// an unknown property (`yes`, `approve` included) is a usage error. Nothing is parsed
    /// from a word, so no value can turn into a flag.
    static func invocation(_ tool: MCPTool, arguments: [(String, JSONValue)], dir: String?) throws -> Invocation {
        let usage = HelpRenderer.usageLine(tool.spec, path: tool.path)
        func fail(_ message: String) -> UsageError { UsageError(message, usage: usage, commandPath: tool.path) }
        var known: [String: Bool] = [:]
        for arg in tool.spec.arguments { known[MCPTool.propertyName(argument: arg.name)] = true }
        for flag in tool.flags { known[MCPTool.propertyName(flag: flag.name)] = true }
        var given: [String: JSONValue] = [:]
        for (key, value) in arguments {
            guard known[key] != nil else {
                throw fail("unknown argument '\(Names.printable(key))' for tool \(tool.name)")
            }
            if case .null = value { continue }
            given[key] = value
        }

        var positional: [String: [String]] = [:]
        var words: [String] = []
        for arg in tool.spec.arguments {
            let key = MCPTool.propertyName(argument: arg.name)
            guard let value = given[key] else {
                if !arg.optional { throw fail("missing argument \(key)") }
                continue
            }
            let values = try texts(value, many: arg.variadic, key: key, fail: fail)
            for v in values where isFileArgument(arg.name, arg.completion) { try refuseStdio(v, key: key, fail: fail) }
            if case .choices(let choices) = arg.completion, let bad = values.first(where: { !choices.contains($0) }) {
                throw fail("invalid value '\(Names.printable(bad))' for \(key): expected one of \(choices.joined(separator: ", "))")
            }
            if values.isEmpty, !arg.optional { throw fail("missing argument \(key)") }
            if !values.isEmpty { positional[arg.name] = values }
            if arg.variadic { words.append("--") }
            words += values
        }

        var flags: [String: [String]] = ["json": ["true"]]
        var flagWords: [String] = ["--json"]
        if let dir { flags["dir"] = [dir]; flagWords.append("--dir=\(dir)") }
        for flag in tool.flags {
            let key = MCPTool.propertyName(flag: flag.name)
            guard let value = given[key] else { continue }
            guard let type = flag.value else {
                guard let on = value.bool else { throw fail("\(key) must be true or false") }
                if on { flags[flag.name] = ["true"]; flagWords.append("--" + flag.name) }
                continue
            }
            let values = try texts(value, many: flag.repeatable, key: key, fail: fail)
            for v in values {
                if type == .path { try refuseStdio(v, key: key, fail: fail) }
                try ArgumentParser.check(v, type: type, flag: key, usage: usage, path: tool.path)
                flagWords.append("--\(flag.name)=\(v)")
            }
            if !values.isEmpty { flags[flag.name] = values }
        }
        let argv = tool.path + flagWords + words
        return Invocation(path: tool.path, spec: tool.spec, arguments: positional, flags: flags, argv: argv)
    }

    /// The value(s) of a property as command-line text: strings, integers written as numbers
    /// or strings, and lists of them where the argument repeats.
    static func texts(_ value: JSONValue, many: Bool, key: String, fail: (String) -> UsageError) throws -> [String] {
        func one(_ v: JSONValue) throws -> String {
            if let s = v.string { return s }
            if case .number(let n) = v { return n }
            throw fail("\(key) must be a string")
        }
        if let items = value.array {
            guard many else { throw fail("\(key) takes one value, not a list") }
            return try items.map(one)
        }
        return [try one(value)]
    }

    static func isFileArgument(_ name: String, _ completion: CompletionKind) -> Bool {
        completion == .file || completion == .directory || name.contains("FILE")
    }

    /// Standard input and output carry the protocol: `-` and their device paths are refused.
    static func refuseStdio(_ value: String, key: String, fail: (String) -> UsageError) throws {
        let stdio = ["/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/", "/dev/tty"]
        if value == "-" || stdio.contains(where: { value.hasPrefix($0) }) {
            throw fail("\(key): '\(value)' is the server's protocol channel; give a file path")
        }
    }

    /// Adds the confirmations after the person confirmed: `--yes`, and `--approve` where the
    /// command has it.
    static func confirmed(_ inv: Invocation) -> Invocation {
        var inv = inv
        inv.flags["yes"] = ["true"]
        inv.argv.insert("--yes", at: inv.path.count)
        if inv.spec.flags.contains(where: { $0.name == "approve" }) {
            inv.flags["approve"] = ["true"]
            inv.argv.insert("--approve", at: inv.path.count)
        }
        return inv
    }

    // MARK: - running

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the invocation in this process with `--json` semantics: captured output, no
    /// terminal, no standard input, its own interrupt flag and process runner.
    /// With `audit`, the command writes its own audit line (`via` mcp) before it returns, as
    /// on the command line; the server audits the others itself.
    static func run(_ inv: Invocation, base: CLIContext, interrupt: InterruptFlag, runner: any ProcessRunning,
                    progress: (any ProgressReporter)?, audit: Bool) -> Outcome {
        let out = OutputSink(), err = OutputSink()
        var context = CLIContext(
            stdout: out, stderr: err,
            readStdin: { _ in throw CoreError.invalidArgument("standard input carries the MCP protocol: give a file path") },
            readLine: { nil }, environment: base.environment, workingDirectory: base.workingDirectory,
            now: base.now, runner: runner, interrupt: interrupt, executablePath: base.executablePath)
        context.progressTap = progress
        context.auditVia = audit ? "mcp" : nil
        let status = CLI().execute(inv, context: context, errStyle: Style(enabled: false))
        return Outcome(status: status, stdout: out.captured, stderr: err.captured)
    }

    // MARK: - results

    /// The tools/call result: the command's JSON document as structured content and as text;
    /// a failure as a tool error carrying `{code, kind, message, hint}`. Every string passes
    /// through the redactor.
    static func result(_ outcome: Outcome, redactor: Redactor) -> JSONValue {
        let doc = outcome.stdout.trimming(.whitespacesAndNewlines)
        if !doc.isEmpty, let value = try? JSONValue.parse(doc), value.isObject {
            return toolResult(redact(value, redactor), isError: false, exitCode: outcome.status)
        }
        let errorLine = outcome.stderr.split(separator: "\n").last { $0.hasPrefix("{\"error\"") }
        if let errorLine, let parsed = try? JSONValue.parse(String(errorLine)), let body = parsed["error"], body.isObject {
            return toolResult(redact(body, redactor), isError: true, exitCode: outcome.status)
        }
        let message = outcome.stderr.split(separator: "\n").last.map(String.init) ?? "the command printed no JSON document"
        return failure(code: outcome.status == 0 ? 1 : outcome.status, kind: "failed", message: redactor.redact(message), hint: nil)
    }

    /// A tool error made by the server (a refusal, a bad argument).
    static func failure(code: Int32, kind: String, message: String, hint: String?) -> JSONValue {
        var body: [(String, JSONValue)] = [("code", .int(Int(code))), ("kind", .string(kind)), ("message", .string(message))]
        if let hint { body.append(("hint", .string(hint))) }
        return toolResult(.object(body), isError: true, exitCode: code)
    }

    static func failure(_ error: any TetraError) -> JSONValue {
        failure(code: error.exitCode.rawValue, kind: error.kind, message: error.message, hint: error.hint)
    }

    static func toolResult(_ structured: JSONValue, isError: Bool, exitCode: Int32) -> JSONValue {
        let text = structured.serialized // rendered once: the text item and the structured content
        return .object([
            ("content", .array([.object([("type", .string("text")), ("text", .string(text))])])),
            ("structuredContent", .raw(text)),
            ("isError", .bool(isError)),
            ("_meta", .object([("dev.tetra/exit_code", .int(Int(exitCode)))])),
        ])
    }

    /// Every string (keys too) with the known secret values masked.
    static func redact(_ value: JSONValue, _ redactor: Redactor) -> JSONValue {
        if redactor.secrets.isEmpty { return value }
        switch value {
        case .string(let s): return .string(redactor.redact(s))
        case .array(let items): return .array(items.map { redact($0, redactor) })
        case .object(let pairs): return .object(pairs.map { (redactor.redact($0.0), redact($0.1, redactor)) })
        case .raw(let r): return .raw(redactor.redact(r))
        default: return value
        }
    }

    /// The values of every org's plaintext secrets files (`secrets.env`, `secrets.ENV.env`):
    /// names only ever leave the server.
    static func secretValues(_ paths: StatePaths) -> [String] {
        var values: [String] = []
        for org in OrgStore(paths: paths).names() {
            let dir = paths.org(org)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files where file.hasPrefix("secrets") && file.hasSuffix(".env") {
                if let secrets = try? SecretsFile.load(dir + "/" + file) { values += secrets.values.values }
            }
            // Encrypted ones too, when this user can decrypt them (else no command can show them).
            let encrypted = OrgSecrets(paths: paths, org: org, age: .system())
            for scope in encrypted.encryptedScopes() {
                if let secrets = try? encrypted.read(scope) { values += secrets.values.values }
            }
        }
        return values
    }
}
