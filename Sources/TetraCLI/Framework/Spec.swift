import TetraCore

/// What a shell completion should offer for an argument or flag value.
public enum CompletionKind: Sendable, Equatable {
    case none
    case file
    case directory
    /// A fixed set of words, known statically.
    case choices([String])
    /// Names known only at run time, asked from `tetra __complete` (orgs, envs, ports, ...).
    case dynamic(DynamicNames)
}

/// Groups of names completed at run time by `tetra __complete`.
public enum DynamicNames: String, Sendable, CaseIterable {
    case commands, orgs, envs, ports, portRanges = "port-ranges", templates, services, domains, volumes, releases, snapshots, alerts
}

/// The type of a flag's value; checked at parse time so a bad value is a usage error.
public enum ValueType: Sendable, Equatable {
    case string
    case integer(min: Int, max: Int)
    case duration
    case choice([String])
    case path
    case keyValue // k=v

    var placeholderDefault: String {
        switch self {
        case .string, .choice: return "VALUE"
        case .integer: return "N"
        case .duration: return "DURATION"
        case .path: return "PATH"
        case .keyValue: return "KEY=VALUE"
        }
    }
}

public struct FlagSpec: Sendable, Equatable {
    public var name: String            // long name without dashes
    public var short: Character?
    /// nil: a boolean switch. Otherwise the flag takes a value of this type.
    public var value: ValueType?
    public var placeholder: String?
    public var repeatable: Bool
    public var defaultValue: String?
    public var help: String
    public var completion: CompletionKind
    public var hidden: Bool

    public init(_ name: String, short: Character? = nil, value: ValueType? = nil, placeholder: String? = nil,
                repeatable: Bool = false, default defaultValue: String? = nil, help: String,
                completion: CompletionKind? = nil, hidden: Bool = false) {
        self.name = name
        self.short = short
        self.value = value
        self.placeholder = placeholder
        self.repeatable = repeatable
        self.defaultValue = defaultValue
        self.help = help
        if let completion {
            self.completion = completion
        } else if case .choice(let c)? = value {
            self.completion = .choices(c)
        } else if value == .path {
            self.completion = .file
        } else {
            self.completion = .none
        }
        self.hidden = hidden
    }

    public var takesValue: Bool { value != nil }
    public var displayPlaceholder: String { placeholder ?? value?.placeholderDefault ?? "" }

    /// `-q, --quiet` or `--range RANGE`.
    public var synopsis: String {
        var s = ""
        if let short { s += "-\(short), " }
        s += "--\(name)"
        if takesValue { s += " " + displayPlaceholder }
        return s
    }
}

public struct ArgSpec: Sendable, Equatable {
    public var name: String   // shown upper-case in usage: NAME
    public var help: String
    public var optional: Bool
    public var variadic: Bool
    public var completion: CompletionKind

    public init(_ name: String, help: String, optional: Bool = false, variadic: Bool = false,
                completion: CompletionKind = .none) {
        self.name = name
        self.help = help
        self.optional = optional
        self.variadic = variadic
        self.completion = completion
    }

    var usage: String {
        var s = name
        if variadic { s += "..." }
        return optional ? "[\(s)]" : s
    }
}

/// What a command handler returns: a JSON document for `--json` and human text.
public struct CommandOutput: @unchecked Sendable {
    public var exitCode: ExitCode
    /// The one JSON document printed under --json (required when the command supports it).
    public var json: (any Encodable)?
    /// A JSON document already rendered (printed as is under --json, instead of `json`).
    public var rawJSON: String?
    /// Human output for stdout (already rendered: tables, lines). May be empty.
    public var text: String
    /// Messages for stderr (warnings, notes), printed unless --quiet.
    public var notes: [String]
    /// Human output written straight to stdout in pieces, instead of `text` (large
    /// documents: `config decode` streams its JSON without holding it in memory).
    public var stream: ((OutputSink) -> Void)?
    /// The --json document written straight to stdout (with its final newline), instead of
    /// `rawJSON` or `json`: `ssl list` hands over its bytes without a String copy.
    public var jsonStream: ((OutputSink) -> Void)? = nil

    public init(exitCode: ExitCode = .success, json: (any Encodable)? = nil, rawJSON: String? = nil, text: String = "",
                notes: [String] = [], stream: ((OutputSink) -> Void)? = nil) {
        self.stream = stream
        self.exitCode = exitCode
        self.json = json
        self.rawJSON = rawJSON
        self.text = text
        self.notes = notes
    }
}

public typealias CommandHandler = @Sendable (Invocation, CommandEnvironment) throws -> CommandOutput

/// One node of the command table: a group (with subcommands), a command (with a handler),
/// or both (`ports ranges` lists, `ports ranges set` sets).
public struct CommandSpec: Sendable {
    public var name: String
    public var summary: String
    public var discussion: String?
    public var arguments: [ArgSpec]
    public var flags: [FlagSpec]
    public var examples: [String]
    /// Mutating commands take locks, accept -n/--dry-run and are written to the audit log.
    public var mutates: Bool
    public var supportsJSON: Bool
    public var hidden: Bool
    public var subcommands: [CommandSpec]
    public var handler: CommandHandler?
    /// Extra usage text after the name, when the argument list alone does not say it
    /// (e.g. mutually exclusive flags).
    public var usageOverride: String?
    /// Every word after this command is a positional argument, even `-x` (`__complete`).
    public var rawArguments: Bool
    /// An argument beyond the declared ones may be a secret typed by mistake (`secret set
    /// NAME VALUE`): it is refused without being repeated in the message.
    public var refusesExtraArgumentsUnseen = false

    public init(_ name: String, summary: String, discussion: String? = nil, arguments: [ArgSpec] = [],
                flags: [FlagSpec] = [], examples: [String] = [], mutates: Bool = false, json: Bool = false,
                hidden: Bool = false, usage: String? = nil, rawArguments: Bool = false, subcommands: [CommandSpec] = [],
                handler: CommandHandler? = nil) {
        self.name = name
        self.summary = summary
        self.discussion = discussion
        self.arguments = arguments
        self.flags = flags
        self.examples = examples
        self.mutates = mutates
        self.supportsJSON = json
        self.hidden = hidden
        self.usageOverride = usage
        self.rawArguments = rawArguments
        self.subcommands = subcommands
        self.handler = handler
    }

    public func subcommand(_ name: String) -> CommandSpec? {
        subcommands.first { $0.name == name }
    }

    public var visibleSubcommands: [CommandSpec] { subcommands.filter { !$0.hidden } }
}

/// The global flags of SPEC §1, accepted by every command. `-n/--dry-run` is added to
/// mutating commands only.
public enum GlobalFlags {
    public static let all: [FlagSpec] = [
        FlagSpec("dir", value: .path, placeholder: "PATH", help: "state root (default: $TETRA_DIR, $XDG_DATA_HOME/tetra, ~/.local/share/tetra)", completion: .directory),
        FlagSpec("org", value: .string, placeholder: "NAME", help: "organization to act on (default: $TETRA_ORG, then default_org in config/tetra.toml)", completion: .dynamic(.orgs)),
        FlagSpec("json", help: "print one JSON document on stdout (errors as JSON on stderr)"),
        FlagSpec("quiet", short: "q", help: "print only results and errors"),
        FlagSpec("verbose", short: "v", help: "print more detail (external commands run, timings)"),
        FlagSpec("color", value: .choice(["auto", "always", "never"]), placeholder: "WHEN", default: "auto", help: "colour output: auto, always, never"),
        FlagSpec("yes", short: "y", help: "confirm destructive actions without prompting"),
        FlagSpec("lock-wait", value: .duration, placeholder: "DURATION", default: "10s", help: "wait up to DURATION for a held lock, then exit 5 naming the holder (0: fail at once)"),
        FlagSpec("help", short: "h", help: "show help for this command"),
    ]
    public static let dryRun = FlagSpec("dry-run", short: "n", help: "show what would change, change nothing")
    public static let version = FlagSpec("version", help: "print the version and exit")
}
