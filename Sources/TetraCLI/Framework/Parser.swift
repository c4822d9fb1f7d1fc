import TetraCore

/// A usage error (exit 2): unknown command or flag, missing or malformed argument.
/// Carries the usage line of the command it concerns.
public struct UsageError: TetraError, Equatable {
    public var message: String
    public var suggestion: String?
    public var usage: String?
    public var commandPath: [String]

    public init(_ message: String, suggestion: String? = nil, usage: String? = nil, commandPath: [String] = []) {
        self.message = message
        self.suggestion = suggestion
        self.usage = usage
        self.commandPath = commandPath
    }

    public var exitCode: ExitCode { .usage }
    public var kind: String { "usage" }
    public var hint: String? {
        let helpCmd = (["tetra"] + commandPath + ["--help"]).joined(separator: " ")
        let usageText = usage.map { "usage: \($0); see '\(helpCmd)'" } ?? "see '\(helpCmd)'"
        if let suggestion { return "did you mean '\(suggestion)'? (\(usageText))" }
        return usageText
    }
}

/// The result of parsing argv against the command table.
public struct Invocation: Sendable {
    public var path: [String]
    public var spec: CommandSpec
    /// Positional values by argument name; variadic arguments hold every value.
    public var arguments: [String: [String]]
    /// Flag values by long name, in order; switches hold "true".
    public var flags: [String: [String]]
    /// The original argv (without the program name).
    public var argv: [String]

    public func argument(_ name: String) -> String? { arguments[name]?.first }
    public func arguments(_ name: String) -> [String] { arguments[name] ?? [] }
    public func has(_ flag: String) -> Bool { flags[flag] != nil }
    public func flag(_ name: String) -> String? { flags[name]?.last }
    public func flagValues(_ name: String) -> [String] { flags[name] ?? [] }

    /// Required positional: the parser already checked presence.
    public func required(_ name: String) -> String { arguments[name]?.first ?? "" }

    public func int(_ name: String) -> Int? { flag(name).flatMap { Int($0) } }
    public func duration(_ name: String) throws -> Double? {
        guard let raw = flag(name) else { return nil }
        return try DurationParser.parse(raw)
    }

    public var commandName: String { path.joined(separator: " ") }
}

public enum ParseOutcome: Sendable {
    case run(Invocation)
    /// Help was asked for (`-h`, `--help`, or a group run without a subcommand is an error instead).
    case help(path: [String])
    case version
}

/// Parses argv against the command table. No prefix matching: names match exactly.
public struct ArgumentParser: Sendable {
    public let root: CommandSpec

    public init(root: CommandSpec) { self.root = root }

    public func parse(_ argv: [String]) throws -> ParseOutcome {
        var node = root
        var path: [String] = []
        var positionals: [String] = []
        var flags: [String: [String]] = [:]
        var afterDoubleDash = false
        var wantsHelp = false
        var wantsVersion = false
        var index = 0

        func usageLine() -> String { HelpRenderer.usageLine(node, path: path) }
        func allowedFlags() -> [FlagSpec] { Self.flags(for: node) }

        func record(_ spec: FlagSpec, _ value: String?, as written: String) throws {
            if spec.name == "help" { wantsHelp = true; return }
            if spec.name == "version" { wantsVersion = true; return }
            let stored: String
            if let type = spec.value {
                guard let value else {
                    throw UsageError("flag \(written) needs a value (\(spec.displayPlaceholder))",
                                     usage: usageLine(), commandPath: path)
                }
                try Self.check(value, type: type, flag: written, usage: usageLine(), path: path)
                stored = value
            } else {
                if let value {
                    throw UsageError("flag \(written) does not take a value (got '\(value)')", usage: usageLine(), commandPath: path)
                }
                stored = "true"
            }
            if flags[spec.name] != nil, !spec.repeatable, spec.value != nil {
                throw UsageError("flag --\(spec.name) given more than once", usage: usageLine(), commandPath: path)
            }
            flags[spec.name, default: []].append(stored)
        }

        while index < argv.count {
            let word = argv[index]
            index += 1

            if afterDoubleDash || node.rawArguments {
                positionals.append(word)
                continue
            }
            if word == "--" {
                afterDoubleDash = true
                continue
            }
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                let name: String
                var inline: String? = nil
                if let eq = body.firstIndex(of: "=") {
                    name = String(body[..<eq])
                    inline = String(body[body.index(after: eq)...])
                } else {
                    name = String(body)
                }
                guard let spec = allowedFlags().first(where: { $0.name == name }) else {
                    if name == "help" { wantsHelp = true; continue }
                    if name == "version", path.isEmpty, inline == nil { wantsVersion = true; continue }
                    // A flag of a subcommand not yet reached is still unknown here: exact
                    // command structure, no guessing.
                    let candidates = allowedFlags().filter { !$0.hidden }.map { "--" + $0.name }
                    throw UsageError("unknown flag --\(name)" + (path.isEmpty ? "" : " for 'tetra \(path.joined(separator: " "))'"),
                                     suggestion: Suggest.closest(to: "--" + name, in: candidates),
                                     usage: usageLine(), commandPath: path)
                }
                var value = inline
                if spec.takesValue, value == nil {
                    if index < argv.count {
                        value = argv[index]
                        index += 1
                    }
                }
                try record(spec, value, as: "--" + name)
                continue
            }
            if word.hasPrefix("-"), word.count > 1 {
                // Short flags: -q, -qy (bundled switches), -n5 or -n 5 (value).
                var chars = Array(word.dropFirst())
                while !chars.isEmpty {
                    let c = chars.removeFirst()
                    guard let spec = allowedFlags().first(where: { $0.short == c }) else {
                        let candidates = allowedFlags().compactMap { $0.short.map { "-\($0)" } }
                        throw UsageError("unknown flag -\(c)" + (path.isEmpty ? "" : " for 'tetra \(path.joined(separator: " "))'"),
                                         suggestion: Suggest.closest(to: "-\(c)", in: candidates),
                                         usage: usageLine(), commandPath: path)
                    }
                    if spec.takesValue {
                        var value: String? = chars.isEmpty ? nil : String(chars)
                        chars.removeAll()
                        if value == nil, index < argv.count {
                            value = argv[index]
                            index += 1
                        }
                        try record(spec, value, as: "-\(c)")
                    } else {
                        try record(spec, nil, as: "-\(c)")
                    }
                }
                continue
            }
            // A word: a subcommand while we are still walking the tree, else a positional.
            if positionals.isEmpty, let child = node.subcommand(word) {
                node = child
                path.append(word)
                continue
            }
            if !node.subcommands.isEmpty, node.handler == nil || node.arguments.isEmpty, positionals.isEmpty {
                if wantsHelp { break }
                let names = node.subcommands.filter { !$0.hidden }.map(\.name)
                let parent = path.isEmpty ? "tetra" : "tetra " + path.joined(separator: " ")
                throw UsageError("unknown command '\(word)' for '\(parent)'",
                                 suggestion: Suggest.closest(to: word, in: names).map { (path + [$0]).joined(separator: " ") },
                                 usage: usageLine(), commandPath: path)
            }
            positionals.append(word)
        }

        if wantsHelp { return .help(path: path) }
        if wantsVersion && path.isEmpty { return .version }

        guard node.handler != nil else {
            if path.isEmpty {
                return .help(path: [])
            }
            let names = node.visibleSubcommands.map(\.name).joined(separator: ", ")
            throw UsageError("'tetra \(path.joined(separator: " "))' needs a subcommand: \(names)",
                             usage: usageLine(), commandPath: path)
        }

        // Assign positionals to declared arguments.
        var arguments: [String: [String]] = [:]
        var remaining = positionals[...]
        for (i, arg) in node.arguments.enumerated() {
            if arg.variadic {
                let rest = Array(remaining)
                remaining = []
                if rest.isEmpty && !arg.optional {
                    throw UsageError("missing argument \(arg.name)", usage: usageLine(), commandPath: path)
                }
                if !rest.isEmpty { arguments[arg.name] = rest }
                _ = i
                break
            }
            if let value = remaining.first {
                remaining = remaining.dropFirst()
                arguments[arg.name] = [value]
            } else if !arg.optional {
                throw UsageError("missing argument \(arg.name)", usage: usageLine(), commandPath: path)
            }
        }
        if let extra = remaining.first {
            if node.refusesExtraArgumentsUnseen {
                throw UsageError("unexpected argument after \(node.arguments.map(\.name).joined(separator: " ")) (not repeated here): a value is never taken from the command line",
                                 usage: usageLine(), commandPath: path)
            }
            throw UsageError("unexpected argument '\(extra)'", usage: usageLine(), commandPath: path)
        }
        return .run(Invocation(path: path, spec: node, arguments: arguments, flags: flags, argv: argv))
    }

    /// The flags a command accepts: its own, the global ones, and -n/--dry-run when it mutates.
    public static func flags(for node: CommandSpec) -> [FlagSpec] {
        var result = node.flags
        if node.mutates, !result.contains(where: { $0.name == "dry-run" }) { result.append(GlobalFlags.dryRun) }
        for g in GlobalFlags.all where !result.contains(where: { $0.name == g.name || ($0.short != nil && $0.short == g.short) }) {
            result.append(g)
        }
        return result
    }

    static func check(_ value: String, type: ValueType, flag: String, usage: String, path: [String]) throws {
        switch type {
        case .string, .path:
            return
        case .integer(let min, let max):
            guard let n = Int(value), n >= min, n <= max else {
                throw UsageError("invalid value '\(value)' for \(flag): expected an integer from \(min) to \(max)",
                                 usage: usage, commandPath: path)
            }
        case .duration:
            do { _ = try DurationParser.parse(value) } catch {
                throw UsageError("invalid duration '\(value)' for \(flag) (expected e.g. 500ms, 30s, 5m, 2h, 7d)",
                                 usage: usage, commandPath: path)
            }
        case .choice(let choices):
            guard choices.contains(value) else {
                throw UsageError("invalid value '\(value)' for \(flag): expected one of \(choices.joined(separator: ", "))",
                                 suggestion: Suggest.closest(to: value, in: choices), usage: usage, commandPath: path)
            }
        case .keyValue:
            guard let eq = value.firstIndex(of: "="), eq != value.startIndex else {
                throw UsageError("invalid value '\(value)' for \(flag): expected KEY=VALUE", usage: usage, commandPath: path)
            }
        }
    }
}

