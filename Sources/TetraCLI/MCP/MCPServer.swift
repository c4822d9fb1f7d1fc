import Dispatch
import FoundationEssentials
import Glibc
import TetraCore

/// `tetra mcp`: a Model Context Protocol server over stdio (see docs/mcp.md). The reading
/// loop answers lifecycle and listing requests itself; tool calls run one at a time on a
/// queue of their own, so that while one runs the loop still reads cancellations and the
/// client's answers to confirmation requests.
final class MCPServer: @unchecked Sendable {
    struct Settings: Sendable {
        var allowWrite = false
        var allowDestructive = false
        /// The state root every call uses (the server's own `--dir`), when one was given.
        var dir: String? = nil
    }

    /// Protocol versions of the initialize handshake this server speaks, oldest first.
    static let protocolVersions = ["2025-06-18", "2025-11-25"]
    static var latestVersion: String { protocolVersions[protocolVersions.count - 1] }

    let settings: Settings
    let tools: [MCPTool]
    let listed: [MCPTool]
    private let byName: [String: MCPTool]
    /// The tools/list result, rendered once.
    private let listResult: JSONValue
    let base: CLIContext
    let paths: StatePaths
    private let makeRunner: @Sendable (InterruptFlag) -> any ProcessRunning
    private let out: OutputSink
    private let logSink: OutputSink

    private let lock = Lock()
    private var initialized = false
    private var clientCanElicit = false
    private var negotiated = MCPServer.latestVersion
    private var running: [String: ActiveCall] = [:]
    private var waiting: [String: Answer] = [:]
    private var nextRequestID = 0
    private var closing = false

    private let calls = DispatchQueue(label: "tetra-mcp-calls")
    private let audits = DispatchQueue(label: "tetra-mcp-audit")
    private let group = DispatchGroup()

    init(settings: Settings, base: CLIContext, paths: StatePaths, out: OutputSink, log: OutputSink,
         table: CommandSpec = CommandTable.root,
         makeRunner: @escaping @Sendable (InterruptFlag) -> any ProcessRunning) {
        self.settings = settings
        self.base = base
        self.paths = paths
        self.out = out
        self.logSink = log
        self.makeRunner = makeRunner
        tools = MCPToolCatalog.all(table)
        listed = MCPToolCatalog.visible(tools, allowWrite: settings.allowWrite, allowDestructive: settings.allowDestructive)
        byName = Dictionary(tools.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        listResult = .raw(JSONValue.object([("tools", .array(listed.map(MCPToolCatalog.entry)))]).serialized)
    }

    /// Serves until end of input, then waits for the calls asked for and returns 0.
    func run(_ source: LineSource) -> Int32 {
        log("serving \(listed.count) tools (\(settings.allowWrite ? "writes allowed" : "read-only")\(settings.allowDestructive ? ", destructive with confirmation" : ""))")
        reading: while true {
            switch source.next() {
            case .eof: break reading
            case .tooLong:
                send(JSONRPC.error(id: .null, code: JSONRPC.Code.parseError.rawValue,
                                   message: "parse error: a message longer than \(LineReader.defaultLimit >> 20) MiB was skipped"))
            case .text(let line):
                if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
                handle(line)
            }
        }
        shutDown()
        return 0
    }

    func handle(_ line: String) {
        switch JSONRPC.decode(line) {
        case .failure(let failure): send(JSONRPC.error(failure))
        case .success(.request(let id, let method, let params)): request(id, method, params)
        case .success(.notification(let method, let params)): notification(method, params)
        case .success(.response(let id, let result, let error)): answer(id, result: result, error: error)
        }
    }

    // MARK: - requests

    private func request(_ id: JSONValue, _ method: String, _ params: JSONValue?) {
        if let params, !params.isObject {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidParams.rawValue, message: "invalid params: an object is expected"))
        }
        switch method {
        case "initialize": initialize(id, params)
        case "ping": send(JSONRPC.result(id: id, .object([])))
        case "tools/list", "tools/call":
            guard lock.withLock({ initialized }) else {
                return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidRequest.rawValue, message: "invalid request: initialize first"))
            }
            if method == "tools/list" { send(JSONRPC.result(id: id, listResult)) } else { call(id, params) }
        default:
            send(JSONRPC.error(id: id, code: JSONRPC.Code.methodNotFound.rawValue, message: "method not found: \(method)"))
        }
    }

    private func initialize(_ id: JSONValue, _ params: JSONValue?) {
        guard let asked = params?["protocolVersion"]?.string else {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidParams.rawValue,
                                      message: "invalid params: initialize needs protocolVersion (a string)"))
        }
        let version = Self.protocolVersions.contains(asked) ? asked : Self.latestVersion
        let elicitation = params?["capabilities"]?["elicitation"]
        // Form mode is what we ask for: an empty capability (2025-06-18) means form.
        let canElicit = elicitation.map { $0.isObject && ($0.object!.isEmpty || $0["form"] != nil) } ?? false
        lock.withLock {
            initialized = true
            negotiated = version
            clientCanElicit = canElicit
        }
        if version != asked { log("the client asked for protocol \(asked); answering \(version)") }
        send(JSONRPC.result(id: id, .object([
            ("protocolVersion", .string(version)),
            ("capabilities", .object([("tools", .object([("listChanged", .bool(false))]))])),
            ("serverInfo", .object([("name", .string("tetra")), ("title", .string("tetra")), ("version", .string(TetraVersion.string))])),
            ("instructions", .string(Self.instructions(settings))),
        ])))
    }

    static func instructions(_ settings: Settings) -> String {
        var text = "tetra manages orgs of config files, releases, services, ports, certificates and volumes. "
        text += "Every tool is a tetra command run with --json; its result is the command's JSON document."
        if !settings.allowWrite { text += " This server is read-only." }
        if settings.allowDestructive { text += " Destructive tools ask the person to type the name of what they act on." }
        return text
    }

    private func call(_ id: JSONValue, _ params: JSONValue?) {
        guard let name = params?["name"]?.string else {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidParams.rawValue, message: "invalid params: tools/call needs name (a string)"))
        }
        let arguments = params?["arguments"] ?? .object([])
        guard let pairs = (arguments == .null ? [] : arguments.object) else {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidParams.rawValue, message: "invalid params: arguments must be an object"))
        }
        guard let tool = byName[name] else {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidParams.rawValue, message: "unknown tool: \(name)"))
        }
        let token = params?["_meta"]?["progressToken"].flatMap { $0.string != nil || $0.isNumber ? $0 : nil }
        let active = ActiveCall(id: id)
        let duplicate: Bool = lock.withLock {
            if running[active.key] != nil { return true }
            running[active.key] = active
            return false
        }
        if duplicate {
            return send(JSONRPC.error(id: id, code: JSONRPC.Code.invalidRequest.rawValue, message: "invalid request: id already in use"))
        }
        group.enter()
        calls.async {
            defer { self.group.leave() }
            let result = active.interrupt.isRaised ? nil : self.perform(active, tool, pairs, token: token)
            let cancelled: Bool = self.lock.withLock {
                self.running[active.key] = nil
                return active.cancelled
            }
            if let result, !cancelled { self.send(JSONRPC.result(id: id, result)) }
        }
    }

    /// Runs one call: permission, arguments, confirmation, the command, its result.
    private func perform(_ call: ActiveCall, _ tool: MCPTool, _ arguments: [(String, JSONValue)], token: JSONValue?) -> JSONValue {
        let started = Date()
        guard MCPToolCatalog.allowed(tool, allowWrite: settings.allowWrite, allowDestructive: settings.allowDestructive) else {
            let flag = tool.kind == .destructive ? "--allow-write --allow-destructive" : "--allow-write"
            let error = CoreError.refused("tool \(tool.name) changes state and this server does not allow it",
                                          hint: "start the server as tetra mcp \(flag)")
            audit(tool, argv: tool.path, exitCode: error.exitCode.rawValue, started: started)
            return MCPCall.failure(error)
        }
        var inv: Invocation
        do {
            inv = try MCPCall.invocation(tool, arguments: arguments, dir: settings.dir)
        } catch let error as any TetraError {
            audit(tool, argv: tool.path, exitCode: error.exitCode.rawValue, started: started)
            return MCPCall.failure(error)
        } catch {
            return MCPCall.failure(code: 1, kind: "failed", message: "\(error)", hint: nil)
        }
        if tool.kind == .destructive, !inv.has("dry-run") {
            if let refusal = MCPConfirmation(server: self, call: call, tool: tool, invocation: inv).ask() {
                audit(tool, argv: inv.argv, exitCode: refusal.exitCode.rawValue, started: started)
                return MCPCall.failure(refusal)
            }
            inv = MCPCall.confirmed(inv)
        }
        let redactor = Redactor(secrets: MCPCall.secretValues(paths))
        inv.argv = inv.argv.map(redactor.redact) // the command line the audit log and lock holders record
        let progress = token.map { MCPProgress(token: $0, server: self, redactor: redactor) }
        // A change is audited by the command itself before the answer (as on the command
        // line); a read is audited by the server, its line written while the answer goes out.
        let outcome = MCPCall.run(inv, base: base, interrupt: call.interrupt, runner: makeRunner(call.interrupt),
                                  progress: progress, audit: tool.mutates)
        if !tool.mutates {
            audit(tool, argv: inv.argv, exitCode: outcome.status, started: started,
                  org: inv.argument("ORG") ?? inv.flag("org"), env: inv.argument("ENV") ?? inv.argument("TO") ?? inv.flag("env"))
        }
        for line in outcome.stderr.split(separator: "\n") where !line.hasPrefix("{\"error\"") {
            log("\(tool.name): \(redactor.redact(String(line)))")
        }
        return MCPCall.result(outcome, redactor: redactor)
    }

    /// The audit line of a read or of a call refused before it ran (exit 7, or 2 for bad
    /// arguments): written on a queue of its own, in order, while the answer goes out (its
    /// fsync is not in the call's time); the end of input waits for it.
    private func audit(_ tool: MCPTool, argv: [String], exitCode: Int32, started: Date, org: String? = nil, env: String? = nil) {
        guard FileManager.default.fileExists(atPath: paths.state) else { return }
        let core = CoreContext(environment: base.environment, workingDirectory: base.workingDirectory, stateRoot: paths.root,
                               runner: base.runner)
        let result = exitCode == 0 ? "ok" : (exitCode == ExitCode.interrupted.rawValue ? "interrupted" : "error")
        var entry = AuditEntry(time: base.now(), user: core.userName, host: core.hostName, command: tool.path.joined(separator: " "),
                               argv: ["tetra"] + argv, org: org, env: env, result: result, exitCode: Int(exitCode),
                               durationMs: Int(base.now().timeIntervalSince(started) * 1000))
        entry.pid = getpid()
        entry.via = "mcp"
        let log = AuditLog(path: paths.auditLog), line = entry
        group.enter()
        audits.async {
            defer { self.group.leave() }
            do { try log.append(line) } catch { self.log("could not write the audit log: \(error)") }
        }
    }

    // MARK: - notifications and answers

    private func notification(_ method: String, _ params: JSONValue?) {
        switch method {
        case "notifications/cancelled":
            guard let id = params?["requestId"] else { return }
            let active: ActiveCall? = lock.withLock {
                let call = running[id.serialized]
                call?.cancelled = true
                return call
            }
            if let active {
                log("call \(id.serialized) cancelled by the client")
                active.interrupt.raise()
            }
        default:
            return // notifications/initialized and the rest need no answer
        }
    }

    /// Sends a request to the client and waits for its answer; nil when the call was
    /// cancelled or the input ended first.
    func ask(_ method: String, _ params: JSONValue, for call: ActiveCall) -> (result: JSONValue?, error: JSONValue?)? {
        let answer = Answer()
        let id: JSONValue = lock.withLock {
            nextRequestID += 1
            let id = JSONValue.string("tetra-\(nextRequestID)")
            waiting[id.serialized] = answer
            return id
        }
        defer { _ = lock.withLock { waiting.removeValue(forKey: id.serialized) } }
        if lock.withLock({ closing }) { return nil }
        send(JSONRPC.request(id: id, method: method, params: params))
        call.interrupt.onRaise { answer.semaphore.signal() }
        answer.semaphore.wait()
        if call.interrupt.isRaised { return nil }
        return lock.withLock { answer.value }
    }

    private func answer(_ id: JSONValue, result: JSONValue?, error: JSONValue?) {
        let waiter: Answer? = lock.withLock {
            guard let w = waiting[id.serialized] else { return nil }
            w.value = (result, error)
            return w
        }
        if let waiter { waiter.semaphore.signal() } else { log("an answer to no request of ours: \(id.serialized)") }
    }

    var canElicit: Bool { lock.withLock { clientCanElicit } }
    var protocolVersion: String { lock.withLock { negotiated } }

    /// At the end of input the calls already asked for still run and are answered (a client
    /// that piped its requests gets every answer); a confirmation can no longer come, so a
    /// call waiting for one is refused.
    private func shutDown() {
        let answers: [Answer] = lock.withLock {
            closing = true
            return Array(waiting.values)
        }
        for answer in answers { answer.semaphore.signal() }
        group.wait()
    }

    // MARK: - output

    /// One message, one line, whole (the sink holds a lock per write).
    func send(_ message: String) {
        out.write(message + "\n")
    }

    func log(_ text: String) {
        logSink.write("tetra mcp: \(text)\n")
    }
}

/// A tools/call in progress.
final class ActiveCall: @unchecked Sendable {
    let id: JSONValue
    let key: String
    let interrupt = InterruptFlag()
    /// Set under the server's lock: the client cancelled, no response is sent.
    var cancelled = false
    init(id: JSONValue) {
        self.id = id
        self.key = id.serialized
    }
}

/// The client's answer to one request of ours.
final class Answer: @unchecked Sendable {
    let semaphore = DispatchSemaphore(value: 0)
    var value: (result: JSONValue?, error: JSONValue?)? = nil
}
