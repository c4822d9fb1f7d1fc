import TetraCore

/// One MCP tool: a command of the table that has `--json`, named by its path joined with `_`.
struct MCPTool: Sendable {
    enum Kind: String, Sendable {
        /// Changes nothing (`readOnlyHint`): always listed.
        case read
        /// Changes state: listed with `--allow-write`.
        case write
        /// Needs `--yes` or `--approve` on the command line (`destructiveHint`): listed with
        /// `--allow-write --allow-destructive`, and every call asks the person to confirm.
        case destructive
    }

    var name: String
    var path: [String]
    var spec: CommandSpec
    var kind: Kind
    var idempotent: Bool
    /// Flags a call may set (the command's own, `dry-run` when it mutates, `org`, `lock-wait`).
    var flags: [FlagSpec]

    var mutates: Bool { kind != .read }

    /// The property of a positional argument: `KEY.PATH` → `key_path`.
    static func propertyName(argument: String) -> String {
        argument.lowercased().replacingAll(".", with: "_").replacingAll("-", with: "_")
    }

    /// The property of a flag: `lock-wait` → `lock_wait`.
    static func propertyName(flag: String) -> String { flag.replacingAll("-", with: "_") }
}

/// The tools, generated from the command table (see docs/mcp.md for the rules).
enum MCPToolCatalog {
    /// Commands that need `--yes` (they call `confirm`): the table has no field for it, and a
    /// test checks this list against the confirmations in Sources/TetraCLI/Commands.
    static let needsYes: Set<String> = ["org delete", "svc remove", "volume delete", "volume prune", "ssl delete"]
    /// Not tools: the server itself, and the demo (it starts a service that outlives the call).
    static let excludedCommands: Set<String> = ["mcp", "quickstart"]
    /// Flags that are never a tool argument: output and process settings the server decides,
    /// the state root (fixed for the server), the confirmations (added by the server after a
    /// confirmed elicitation only), interactive ones, and `reveal` (a secret's value never
    /// leaves through the server).
    static let serverFlags: Set<String> = ["help", "json", "quiet", "verbose", "color", "dir", "yes", "approve", "follow", "version",
                                           "reveal"]
    /// Global flags a call may set.
    static let callGlobals: Set<String> = ["org", "lock-wait"]
    /// The verbs whose second call with the same arguments changes nothing more.
    static let idempotentVerbs: Set<String> = ["set", "use", "ensure", "start", "stop", "init", "delete", "remove", "validate"]

    /// Every tool of the table, in the table's order.
    static func all(_ root: CommandSpec = CommandTable.root) -> [MCPTool] {
        var tools: [MCPTool] = []
        func walk(_ spec: CommandSpec, _ path: [String]) {
            if spec.handler != nil, spec.supportsJSON, !path.isEmpty, !excludedCommands.contains(path.joined(separator: " ")) {
                tools.append(tool(spec, path))
            }
            for child in spec.subcommands where !child.hidden && !child.name.hasPrefix("__") {
                walk(child, path + [child.name])
            }
        }
        walk(root, [])
        return tools
    }

    static func tool(_ spec: CommandSpec, _ path: [String]) -> MCPTool {
        let command = path.joined(separator: " ")
        let kind: MCPTool.Kind
        if !spec.mutates {
            kind = .read
        } else if needsYes.contains(command) || spec.flags.contains(where: { $0.name == "approve" }) {
            kind = .destructive
        } else {
            kind = .write
        }
        let flags = ArgumentParser.flags(for: spec).filter { flag in
            !flag.hidden && !serverFlags.contains(flag.name)
                && (spec.flags.contains { $0.name == flag.name } || flag.name == "dry-run" || callGlobals.contains(flag.name))
        }
        return MCPTool(name: path.joined(separator: "_"), path: path, spec: spec, kind: kind,
                       idempotent: kind == .read || idempotentVerbs.contains(path.last ?? ""), flags: flags)
    }

    /// The tools a server with these permissions lists (and lets run).
    static func visible(_ tools: [MCPTool], allowWrite: Bool, allowDestructive: Bool) -> [MCPTool] {
        tools.filter { allowed($0, allowWrite: allowWrite, allowDestructive: allowDestructive) }
    }

    static func allowed(_ tool: MCPTool, allowWrite: Bool, allowDestructive: Bool) -> Bool {
        switch tool.kind {
        case .read: return true
        case .write: return allowWrite
        case .destructive: return allowWrite && allowDestructive
        }
    }

    // MARK: - the tools/list entry

    static func entry(_ tool: MCPTool) -> JSONValue {
        var annotations: [(String, JSONValue)] = [("title", .string("tetra " + tool.path.joined(separator: " ")))]
        annotations.append(("readOnlyHint", .bool(tool.kind == .read)))
        if tool.kind != .read {
            annotations.append(("destructiveHint", .bool(tool.kind == .destructive)))
            annotations.append(("idempotentHint", .bool(tool.idempotent)))
        } else {
            annotations.append(("idempotentHint", .bool(true)))
        }
        return .object([
            ("name", .string(tool.name)),
            ("title", .string("tetra " + tool.path.joined(separator: " "))),
            ("description", .string(description(tool))),
            ("inputSchema", inputSchema(tool)),
            ("annotations", .object(annotations)),
        ])
    }

    static func description(_ tool: MCPTool) -> String {
        var text = tool.spec.summary
        if let discussion = tool.spec.discussion {
            text += ".\n\n" + discussion.split(separator: "\n").map { $0.trimming(.whitespaces) }.joined(separator: " ")
        }
        switch tool.kind {
        case .read: break
        case .write: text += "\n\nChanges state (audited); dry_run shows what would change."
        case .destructive:
            text += "\n\nDestructive: the person is asked to type the name of what it acts on before it runs (dry_run needs no confirmation)."
        }
        return text
    }

    static func inputSchema(_ tool: MCPTool) -> JSONValue {
        var properties: [(String, JSONValue)] = []
        var required: [JSONValue] = []
        for arg in tool.spec.arguments {
            let name = MCPTool.propertyName(argument: arg.name)
            var item: [(String, JSONValue)] = [("type", .string("string"))]
            if case .choices(let words) = arg.completion { item.append(("enum", .array(words.map(JSONValue.string)))) }
            if arg.variadic {
                properties.append((name, .object([("type", .string("array")), ("items", .object(item)),
                                                  ("description", .string(arg.help))])))
            } else {
                properties.append((name, .object(item + [("description", .string(arg.help))])))
            }
            if !arg.optional { required.append(.string(name)) }
        }
        for flag in tool.flags {
            var item = valueSchema(flag)
            if flag.repeatable, flag.value != nil {
                item = [("type", .string("array")), ("items", .object(item))]
            }
            item.append(("description", .string(flag.help)))
            properties.append((MCPTool.propertyName(flag: flag.name), .object(item)))
        }
        var schema: [(String, JSONValue)] = [("type", .string("object")), ("properties", .object(properties))]
        if !required.isEmpty { schema.append(("required", .array(required))) }
        schema.append(("additionalProperties", .bool(false)))
        return .object(schema)
    }

    static func valueSchema(_ flag: FlagSpec) -> [(String, JSONValue)] {
        guard let value = flag.value else { return [("type", .string("boolean"))] }
        switch value {
        case .integer(let min, let max):
            var item: [(String, JSONValue)] = [("type", .string("integer")), ("minimum", .int(min)), ("maximum", .int(max))]
            if let d = flag.defaultValue, let n = Int(d) { item.append(("default", .int(n))) }
            return item
        case .choice(let words):
            var item: [(String, JSONValue)] = [("type", .string("string")), ("enum", .array(words.map(JSONValue.string)))]
            if let d = flag.defaultValue { item.append(("default", .string(d))) }
            return item
        case .duration:
            var item: [(String, JSONValue)] = [("type", .string("string"))]
            if let d = flag.defaultValue { item.append(("default", .string(d))) }
            return item
        case .keyValue:
            return [("type", .string("string")), ("pattern", .string("^[^=]+=.*$"))]
        case .string, .path:
            var item: [(String, JSONValue)] = [("type", .string("string"))]
            if let d = flag.defaultValue { item.append(("default", .string(d))) }
            return item
        }
    }
}
