import FoundationEssentials

/// One external program invocation: always an argv array, never a shell string.
public struct ProcessRequest: Sendable, Equatable {
    /// A program name looked up on PATH by tetra, or an absolute path.
    public var executable: String
    public var arguments: [String]
    /// Extra environment variables, merged over the context's environment.
    public var environment: [String: String]
    /// Replace the environment entirely instead of merging (rarely needed).
    public var replaceEnvironment: Bool
    public var workingDirectory: String?
    /// Bytes written to the child's stdin, then closed. nil: /dev/null.
    public var input: Data?
    /// Kill the child (SIGTERM, then SIGKILL after `killGrace`) after this many seconds.
    public var timeout: TimeInterval?
    public var killGrace: TimeInterval
    /// Keep at most this many bytes of each stream (the tail is kept for stderr, the head for stdout).
    public var outputLimit: Int
    /// Strings that must never appear in anything printed (argv in errors, stderr tails).
    public var secrets: [String]
    /// A file the child reads as its stdin (streamed by the kernel, not held in memory);
    /// takes precedence over `input`. "-" is our own standard input.
    public var inputFile: String? = nil
    /// A file the child writes its stdout to (streamed, not held in memory; the result's
    /// `stdout` is then empty). It is created with mode 0600 or truncated. "-" is our own
    /// standard output.
    public var outputFile: String? = nil
    /// An open descriptor the child reads as its stdin, sharing its file offset with the
    /// caller, who keeps (and closes) it: the caller can watch how far the child has read.
    /// Takes precedence over `inputFile` and `input`.
    public var inputDescriptor: Int32? = nil

    public init(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String] = [:],
        replaceEnvironment: Bool = false,
        workingDirectory: String? = nil,
        input: Data? = nil,
        timeout: TimeInterval? = nil,
        killGrace: TimeInterval = 2,
        outputLimit: Int = 64 << 20,
        secrets: [String] = []
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.replaceEnvironment = replaceEnvironment
        self.workingDirectory = workingDirectory
        self.input = input
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputLimit = outputLimit
        self.secrets = secrets
    }

    /// The argv for messages, with secrets and URL credentials redacted.
    public var displayArgv: [String] {
        ([executable] + arguments).map { Redactor(secrets: secrets).redact($0) }
    }
}

public struct ProcessResult: Sendable, Equatable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var timedOut: Bool
    public var duration: TimeInterval

    public init(status: Int32, stdout: Data = Data(), stderr: Data = Data(), stdoutTruncated: Bool = false,
                stderrTruncated: Bool = false, timedOut: Bool = false, duration: TimeInterval = 0) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.timedOut = timedOut
        self.duration = duration
    }

    public var stdoutString: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrString: String { String(decoding: stderr, as: UTF8.self) }
    public var succeeded: Bool { status == 0 && !timedOut }
}

/// Runs external programs. The real implementation is `SystemProcessRunner`; unit tests use
/// `FakeProcessRunner`, which fails on any call it was not told to expect.
public protocol ProcessRunning: Sendable {
    /// Runs the request to completion. Throws `ToolError.notInstalled` when the executable
    /// is not found; a non-zero exit is returned, not thrown (see `runChecked`).
    func run(_ request: ProcessRequest) throws -> ProcessResult
    /// Like `run`, and delivers the output while the program runs (for progress displays).
    func run(_ request: ProcessRequest, onOutput: @escaping @Sendable (OutputChunk) -> Void) throws -> ProcessResult
    /// Resolves a program name on PATH (nil when absent).
    func which(_ executable: String) -> String?
}

extension ProcessRunning {
    /// For runners that cannot stream (fakes): the output is delivered once the program ended.
    public func run(_ request: ProcessRequest, onOutput: @escaping @Sendable (OutputChunk) -> Void) throws -> ProcessResult {
        let result = try run(request)
        if !result.stdout.isEmpty { onOutput(OutputChunk(stream: .stdout, data: result.stdout)) }
        if !result.stderr.isEmpty { onOutput(OutputChunk(stream: .stderr, data: result.stderr)) }
        return result
    }

    /// Runs and throws `ToolError.failed` (argv redacted, stderr tail) on a non-zero exit
    /// and `ToolError.timedOut` on a timeout.
    @discardableResult
    public func runChecked(_ request: ProcessRequest) throws -> ProcessResult {
        try run(request).checked(request)
    }

    /// `runChecked` that delivers the output while the program runs.
    @discardableResult
    public func runChecked(_ request: ProcessRequest, onOutput: @escaping @Sendable (OutputChunk) -> Void) throws -> ProcessResult {
        try run(request, onOutput: onOutput).checked(request)
    }
}

extension ProcessResult {
    /// Itself, or `ToolError.failed` (argv redacted, stderr tail) on a non-zero exit and
    /// `ToolError.timedOut` on a timeout.
    @discardableResult
    public func checked(_ request: ProcessRequest) throws -> ProcessResult {
        let result = self
        if result.timedOut {
            throw ToolError.timedOut(argv: request.displayArgv, seconds: request.timeout ?? 0)
        }
        if result.status != 0 {
            let redactor = Redactor(secrets: request.secrets)
            throw ToolError.failed(argv: request.displayArgv, status: result.status,
                                   stderrTail: redactor.redact(ToolError.tail(of: result.stderrString)))
        }
        return result
    }
}

/// An external tool is missing or failed (exit 6).
public enum ToolError: TetraError, Equatable {
    case notInstalled(tool: String, hint: String?)
    case failed(argv: [String], status: Int32, stderrTail: String)
    case timedOut(argv: [String], seconds: TimeInterval)
    case launchFailed(tool: String, reason: String)

    public var exitCode: ExitCode { .toolFailed }
    public var kind: String {
        switch self {
        case .notInstalled: return "tool_missing"
        case .failed: return "tool_failed"
        case .timedOut: return "tool_timeout"
        case .launchFailed: return "tool_failed"
        }
    }

    public var message: String {
        switch self {
        case .notInstalled(let tool, _):
            return "\(tool) is not installed (not found on PATH)"
        case .failed(let argv, let status, let tail):
            let cmd = argv.joined(separator: " ")
            let t = tail.trimming(.whitespacesAndNewlines)
            return t.isEmpty ? "\(cmd) failed with exit status \(status)"
                             : "\(cmd) failed with exit status \(status): \(t)"
        case .timedOut(let argv, let seconds):
            return "\(argv.joined(separator: " ")) timed out after \(Self.formatSeconds(seconds))"
        case .launchFailed(let tool, let reason):
            return "could not start \(tool): \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .notInstalled(let tool, let hint):
            return hint ?? "install \(tool) (Debian: apt-get install \(ToolError.debianPackage(for: tool))) or add it to PATH"
        default: return nil
        }
    }

    static func debianPackage(for tool: String) -> String {
        switch tool {
        case "ssh": return "openssh-client"
        case "docker": return "docker.io"
        default: return tool
        }
    }

    /// The last few lines of a stream, for error messages.
    public static func tail(of text: String, lines: Int = 5, maxChars: Int = 800) -> String {
        let all = text.split(separator: "\n", omittingEmptySubsequences: true)
        var out = all.suffix(lines).joined(separator: "\n")
        if out.count > maxChars { out = "…" + String(out.suffix(maxChars)) }
        return out
    }

    static func formatSeconds(_ s: TimeInterval) -> String {
        s == s.rounded() ? "\(Int(s))s" : NumberText.fixed(s, digits: 1) + "s"
    }
}

/// Removes secrets from anything that may be printed or logged: the given secret values,
/// and credentials embedded in URLs (`https://user:token@host` → `https://user:***@host`).
public struct Redactor: Sendable {
    public var secrets: [String]
    public init(secrets: [String] = []) { self.secrets = secrets.filter { $0.count >= 3 } }

    public static let mask = "***"

    public func redact(_ text: String) -> String {
        var out = text
        for secret in secrets.sorted(by: { $0.count > $1.count }) {
            out = out.replacingAll(secret, with: Self.mask)
        }
        return Self.redactURLCredentials(out)
    }

    /// `scheme://user:password@host` → `scheme://user:***@host`; `scheme://token@host`
    /// for http(s) → `scheme://***@host`.
    public static func redactURLCredentials(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let schemeRange = rest.firstRange(ofLiteral: "://") {
            let schemeStart = rest[..<schemeRange.lowerBound].lastIndex(where: { !($0.isLetter || $0.isNumber || "+.-".contains($0)) })
                .map { rest.index(after: $0) } ?? rest.startIndex
            let scheme = rest[schemeStart..<schemeRange.lowerBound].lowercased()
            result += rest[..<schemeRange.upperBound]
            rest = rest[schemeRange.upperBound...]
            // The authority ends at the first '/', '?', '#' or whitespace.
            let authorityEnd = rest.firstIndex(where: { "/?# \t\n\"'".contains($0) }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    result += userinfo[..<colon] + ":" + mask
                } else if scheme == "http" || scheme == "https" {
                    result += mask
                } else {
                    result += userinfo // ssh://deploy@host: a user name, not a secret
                }
                result += authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }
}
