import FoundationEssentials
import TetraCore

/// The confirmation of a destructive call: the person is asked, through the client
/// (`elicitation/create`), to type the name of what the call acts on. Anything but that
/// exact name, accepted, is a refusal (exit 7) and nothing runs.
struct MCPConfirmation {
    let server: MCPServer
    let call: ActiveCall
    let tool: MCPTool
    let invocation: Invocation

    /// What the person types: the environment of a push, promote, rollback or exec; the name
    /// of the volume, service or certificate deleted; the org deleted or pruned.
    static func target(_ tool: MCPTool, _ inv: Invocation, orgFallback: () -> String?) -> (what: String, name: String)? {
        let nouns = ["volume": "volume", "svc": "service", "ssl": "certificate", "ports": "port", "org": "org"]
        let order: [(String, String)] = [("ENV", "environment"), ("TO", "environment"), ("DOMAIN", "certificate"),
                                         ("NAME", nouns[tool.path.first ?? ""] ?? "resource"), ("ORG", "org")]
        for (arg, what) in order {
            if let name = inv.argument(arg), !name.isEmpty { return (what, name) }
        }
        if tool.path == ["volume", "prune"] {
            if inv.has("all") { return ("unused volumes of the whole engine (type: all)", "all") }
            if let org = inv.flag("org") ?? orgFallback() { return ("org whose unused volumes go", org) }
        }
        return nil
    }

    /// nil when confirmed; else the refusal.
    func ask() -> CoreError? {
        let command = "tetra " + tool.path.joined(separator: " ")
        guard server.canElicit else {
            return .refused("\(command) needs the person's confirmation and this client cannot ask for it (no elicitation capability)",
                            hint: "use a client that supports elicitation, or run the command in a terminal")
        }
        guard let target = Self.target(tool, invocation, orgFallback: orgFallback) else {
            return .refused("\(command): nothing named to confirm", hint: "name the org with the org argument")
        }
        let message = "\(command) is destructive (\(tool.spec.summary)). To let it run on the \(target.what) '\(target.name)', type its name."
        var params: [(String, JSONValue)] = []
        if server.protocolVersion != "2025-06-18" { params.append(("mode", .string("form"))) }
        params.append(("message", .string(message)))
        params.append(("requestedSchema", .object([
            ("type", .string("object")),
            ("properties", .object([("name", .object([
                ("type", .string("string")),
                ("title", .string("Name of the \(target.what)")),
                ("description", .string("type the name exactly to confirm \(command)")),
            ]))])),
            ("required", .array([.string("name")])),
        ])))
        guard let reply = server.ask("elicitation/create", .object(params), for: call) else {
            return .refused("\(command): the call was cancelled before it was confirmed")
        }
        if let error = reply.error {
            return .refused("\(command): the client could not ask for confirmation (\(error["message"]?.string ?? "error"))")
        }
        switch reply.result?["action"]?.string {
        case "accept":
            guard let typed = reply.result?["content"]?["name"]?.string,
                  typed.trimming(.whitespaces) == target.name else {
                return .refused("\(command): the name typed is not '\(target.name)'; nothing was changed")
            }
            server.log("\(tool.name): confirmed by the person for '\(target.name)'")
            return nil
        case "decline":
            return .refused("\(command): the person declined; nothing was changed")
        default:
            return .refused("\(command): the confirmation was cancelled; nothing was changed")
        }
    }

    private func orgFallback() -> String? {
        if let org = server.base.environment["TETRA_ORG"], !org.isEmpty { return org }
        return (try? GlobalSettings.load(server.paths))?.defaultOrg
    }
}

/// The core's progress as `notifications/progress` for the call's progress token: one at
/// each phase, and while work advances at most five a second. `progress` counts events so it
/// always increases; the message names the phase and its counts.
final class MCPProgress: ProgressReporter, @unchecked Sendable {
    private let token: JSONValue
    private let server: MCPServer
    private let redactor: Redactor
    private let lock = Lock()
    private var sent = 0
    private var phaseName = ""
    private var files = 0
    private var bytes: Int64 = 0
    private var totalFiles: Int?
    private var totalBytes: Int64?
    private var lastSent = 0.0

    init(token: JSONValue, server: MCPServer, redactor: Redactor) {
        self.token = token
        self.server = server
        self.redactor = redactor
    }

    func phase(_ name: String, files: Int?, bytes: Int64?) {
        lock.withLock {
            phaseName = name
            self.files = 0
            self.bytes = 0
            totalFiles = files
            totalBytes = bytes
        }
        notify(force: true)
    }

    func expect(files: Int?, bytes: Int64?) {
        lock.withLock {
            if let files { totalFiles = files }
            if let bytes { totalBytes = bytes }
        }
    }

    func advance(files: Int, bytes: Int64) {
        lock.withLock {
            self.files += files
            self.bytes += bytes
        }
        notify(force: false)
    }

    func warn(_ message: String) { server.log("warning: \(redactor.redact(message))") }

    private func notify(force: Bool) {
        let params: JSONValue? = lock.withLock {
            let now = Monotonic.now()
            guard force || now - lastSent >= 0.2 else { return nil }
            lastSent = now
            sent += 1
            var counts: [String] = []
            if files > 0 || totalFiles != nil { counts.append("\(files)\(totalFiles.map { "/\($0)" } ?? "") files") }
            if bytes > 0 || totalBytes != nil {
                counts.append(ProgressFormat.bytes(bytes) + (totalBytes.map { " of " + ProgressFormat.bytes($0) } ?? ""))
            }
            let message = phaseName + (counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")")
            return .object([("progressToken", token), ("progress", .int(sent)), ("message", .string(redactor.redact(message)))])
        }
        if let params { server.send(JSONRPC.notification(method: "notifications/progress", params: params)) }
    }
}
