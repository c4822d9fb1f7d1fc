import FoundationEssentials

/// The documented exit codes (SPEC §1). Only `main.swift` turns one into a process exit.
public enum ExitCode: Int32, Sendable, Codable, CaseIterable {
    case success = 0
    /// The operation failed; for check/diff/verify commands: differences or problems found.
    case failure = 1
    case usage = 2
    case invalidConfig = 3
    case notFound = 4
    case conflict = 5
    case toolFailed = 6
    case refused = 7
    case interrupted = 130

    public var meaning: String {
        switch self {
        case .success: return "success; for check/diff/verify commands: clean"
        case .failure: return "the operation failed; for check/diff/verify commands: differences or problems found"
        case .usage: return "usage error (unknown command or flag, missing or malformed argument)"
        case .invalidConfig: return "invalid configuration (parse or validation error)"
        case .notFound: return "not found (org, env, service, port name, certificate, volume, release)"
        case .conflict: return "conflict (port taken, lock held, name exists, volume in use)"
        case .toolFailed: return "an external tool is missing or failed (git, docker, ssh, rsync, openssl)"
        case .refused: return "refused: needs --yes, or --approve for a protected environment"
        case .interrupted: return "interrupted; state is as it was before the command"
        }
    }
}

/// Every error tetra reports carries an exit code, a machine-readable kind, a one-line
/// message and, where a fix is known, a hint. The CLI prints it once, at the top level.
public protocol TetraError: Error, Sendable, CustomStringConvertible {
    var exitCode: ExitCode { get }
    /// Stable machine-readable kind, e.g. "usage", "config", "not_found", "lock_held".
    var kind: String { get }
    var message: String { get }
    var hint: String? { get }
}

extension TetraError {
    public var description: String { message }
}

/// A position in a source file, 1-based.
public struct SourcePosition: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// One problem in a configuration file: `path:line:column: message`.
public struct ConfigProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String?
    public var position: SourcePosition?
    /// Dotted key path inside the document, when known (`ports.api`).
    public var keyPath: String?
    public var message: String
    enum CodingKeys: String, CodingKey { case file, position, keyPath = "key_path", message }

    public init(file: String? = nil, position: SourcePosition? = nil, keyPath: String? = nil, message: String) {
        self.file = file
        self.position = position
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var prefix = ""
        if let file { prefix += file + ":" }
        if let position { prefix += "\(position.line):\(position.column):" }
        if !prefix.isEmpty { prefix += " " }
        if let keyPath, !keyPath.isEmpty { prefix += keyPath + ": " }
        return prefix + message
    }
}

/// Invalid configuration (exit 3). Validation collects every problem before failing.
public struct ConfigError: TetraError, Equatable {
    public var problems: [ConfigProblem]
    public var hint: String?

    public init(_ problems: [ConfigProblem], hint: String? = nil) {
        self.problems = problems
        self.hint = hint
    }
    public init(_ problem: ConfigProblem, hint: String? = nil) {
        self.init([problem], hint: hint)
    }

    public var exitCode: ExitCode { .invalidConfig }
    public var kind: String { "config" }
    public var message: String {
        if problems.count == 1 { return problems[0].description }
        return "\(problems.count) problems:\n" + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}

/// Errors about the user's request and the state it acts on.
public enum CoreError: TetraError, Equatable {
    /// A malformed argument: bad name, bad port, bad duration (exit 2).
    case invalidArgument(String, hint: String? = nil)
    /// Something named does not exist (exit 4). `what` is "org", "port", "release", ...
    case notFound(what: String, name: String, hint: String? = nil)
    /// A conflict with existing state (exit 5).
    case conflict(String, hint: String? = nil)
    /// A lock is held by someone else (exit 5).
    case lockHeld(resource: String, holder: String, hint: String? = nil)
    /// Refused: needs --yes or --approve (exit 7).
    case refused(String, hint: String? = nil)
    /// The operation failed (exit 1).
    case failed(String, hint: String? = nil)
    /// Interrupted by a signal (exit 130).
    case interrupted

    public var exitCode: ExitCode {
        switch self {
        case .invalidArgument: return .usage
        case .notFound: return .notFound
        case .conflict, .lockHeld: return .conflict
        case .refused: return .refused
        case .failed: return .failure
        case .interrupted: return .interrupted
        }
    }

    public var kind: String {
        switch self {
        case .invalidArgument: return "usage"
        case .notFound: return "not_found"
        case .conflict: return "conflict"
        case .lockHeld: return "lock_held"
        case .refused: return "refused"
        case .failed: return "failed"
        case .interrupted: return "interrupted"
        }
    }

    public var message: String {
        switch self {
        case .invalidArgument(let m, _): return m
        case .notFound(let what, let name, _): return "\(what) '\(name)' not found"
        case .conflict(let m, _): return m
        case .lockHeld(let resource, let holder, _): return "\(resource) is locked by \(holder)"
        case .refused(let m, _): return m
        case .failed(let m, _): return m
        case .interrupted: return "interrupted"
        }
    }

    public var hint: String? {
        switch self {
        case .invalidArgument(_, let h), .notFound(_, _, let h), .conflict(_, let h),
             .lockHeld(_, _, let h), .refused(_, let h), .failed(_, let h):
            return h
        case .interrupted: return "nothing was changed"
        }
    }
}
