import FoundationEssentials

/// One line of `state/audit.jsonl`.
/// JSON keys: time (ISO 8601 UTC), user, host, command, argv, org, env, result, exit_code,
/// duration_ms. `org`/`env` are omitted when nil.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var time: Date
    public var user: String
    public var host: String
    /// The command path, e.g. "ports allocate".
    public var command: String
    /// The full argv, secrets redacted.
    public var argv: [String]
    public var org: String?
    public var env: String?
    /// "ok", "error" or "interrupted".
    public var result: String
    public var exitCode: Int
    public var durationMs: Int
    /// The pid of the tetra that ran the command (tells its own line from a recovered one).
    public var pid: Int32?
    /// How the command came: "mcp" for a tool call of `tetra mcp` (absent: the command line).
    public var via: String?

    public init(time: Date, user: String, host: String, command: String, argv: [String],
                org: String? = nil, env: String? = nil, result: String, exitCode: Int, durationMs: Int) {
        self.time = time
        self.user = user
        self.host = host
        self.command = command
        self.argv = argv
        self.org = org
        self.env = env
        self.result = result
        self.exitCode = exitCode
        self.durationMs = durationMs
    }

    enum CodingKeys: String, CodingKey {
        case time, user, host, command, argv, org, env, result
        case exitCode = "exit_code"
        case durationMs = "duration_ms"
        case pid, via
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let timeText = try c.decode(String.self, forKey: .time)
        guard let t = Timestamps.parseISO8601(timeText) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "not an ISO 8601 time")
        }
        time = t
        user = try c.decode(String.self, forKey: .user)
        host = try c.decode(String.self, forKey: .host)
        command = try c.decode(String.self, forKey: .command)
        argv = try c.decode([String].self, forKey: .argv)
        org = try c.decodeIfPresent(String.self, forKey: .org)
        env = try c.decodeIfPresent(String.self, forKey: .env)
        result = try c.decode(String.self, forKey: .result)
        exitCode = try c.decode(Int.self, forKey: .exitCode)
        durationMs = try c.decode(Int.self, forKey: .durationMs)
        pid = try c.decodeIfPresent(Int32.self, forKey: .pid)
        via = try c.decodeIfPresent(String.self, forKey: .via)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Timestamps.iso8601(time), forKey: .time)
        try c.encode(user, forKey: .user)
        try c.encode(host, forKey: .host)
        try c.encode(command, forKey: .command)
        try c.encode(argv, forKey: .argv)
        try c.encodeIfPresent(org, forKey: .org)
        try c.encodeIfPresent(env, forKey: .env)
        try c.encode(result, forKey: .result)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encodeIfPresent(pid, forKey: .pid)
        try c.encodeIfPresent(via, forKey: .via)
    }
}

/// The append-only audit log (SPEC §1): one JSON line per mutating command, file mode 0600.
public struct AuditLog: Sendable {
    public let path: String
    /// Applied to argv again on append (URL credentials and known secret values).
    public let redactor: Redactor

    public init(path: String, redactor: Redactor = Redactor()) {
        self.path = path
        self.redactor = redactor
    }

    /// Appends one entry as a single line (atomic with respect to concurrent tetra processes).
    public func append(_ entry: AuditEntry) throws {
        var entry = entry
        entry.argv = entry.argv.map { redactor.redact($0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(entry)
        // JSONEncoder escapes control characters, so the line contains no raw '\n'.
        try AtomicFile.appendLine(String(decoding: data, as: UTF8.self), to: path, mode: 0o600)
    }

    /// Entries in file order, optionally only those at or after `since` and of `org`. A
    /// missing file is an empty log. Lines that do not decode (a torn last line after a
    /// crash, garbage) are skipped.
    public func read(since: Date? = nil, org: String? = nil) throws -> [AuditEntry] {
        guard let data = try AtomicFile.readIfExists(path) else { return [] }
        let decoder = JSONDecoder()
        var entries: [AuditEntry] = []
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
            guard let entry = try? decoder.decode(AuditEntry.self, from: Data(line)) else { continue }
            if let since, entry.time < since { continue }
            if let org, entry.org != org { continue }
            entries.append(entry)
        }
        return entries
    }
}
