import FoundationEssentials
import Glibc

/// A process named by pid and start time (clock ticks since boot, /proc/<pid>/stat field
/// 22): a recycled pid never passes for it.
public struct ProcessRef: Codable, Sendable, Equatable {
    public var pid: Int32
    public var start_time: UInt64

    public init(pid: Int32, start_time: UInt64) {
        self.pid = pid
        self.start_time = start_time
    }

    /// The process now running with this pid, if it is still the same process.
    public static func current(_ pid: Int32) -> ProcessRef? {
        ProcessIdentity.startTime(pid: pid).map { ProcessRef(pid: pid, start_time: $0) }
    }

    /// True while this very process exists (and is not a zombie).
    public var isAlive: Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
        let fields = ProcessIdentity.statFields(String(decoding: data, as: UTF8.self))
        guard fields.startTime == start_time else { return false }
        return fields.state != UInt8(ascii: "Z") && fields.state != UInt8(ascii: "X")
    }
}

/// One health probe's outcome.
public struct HealthResult: Codable, Sendable, Equatable {
    public var ok: Bool
    public var at: Date
    public var message: String
    public var duration_ms: Int

    public init(ok: Bool, at: Date, message: String, duration_ms: Int) {
        self.ok = ok
        self.at = at
        self.message = message
        self.duration_ms = duration_ms
    }

    /// An event's moment is `time` (state files written before 2026-12-05 said `at`).
    enum CodingKeys: String, CodingKey { case ok, at = "time", message, duration_ms }
    enum LegacyKeys: String, CodingKey { case at }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ok = try c.decode(Bool.self, forKey: .ok)
        at = try c.decodeIfPresent(Date.self, forKey: .at)
            ?? decoder.container(keyedBy: LegacyKeys.self).decode(Date.self, forKey: .at)
        message = try c.decode(String.self, forKey: .message)
        duration_ms = try c.decode(Int.self, forKey: .duration_ms)
    }
}

/// How the last process ended.
public struct ExitRecord: Codable, Sendable, Equatable {
    /// The exit status as a shell reports it (128 + signal for a signal).
    public var status: Int32
    public var at: Date
    public var reason: String

    /// An event's moment is `time` (state files written before 2026-12-05 said `at`).
    enum CodingKeys: String, CodingKey { case status, at = "time", reason }

    public init(status: Int32, at: Date, reason: String) {
        self.status = status
        self.at = at
        self.reason = reason
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(Int32.self, forKey: .status)
        at = try c.decodeIfPresent(Date.self, forKey: .at)
            ?? decoder.container(keyedBy: HealthResult.LegacyKeys.self).decode(Date.self, forKey: .at)
        reason = try c.decode(String.self, forKey: .reason)
    }
}

/// A service's state as tetra reports it (`svc list`, `svc status`, start results;
/// docs/json.md lists the set): the record's state, or `unknown` when it cannot be told
/// (the Docker daemon does not answer, a corrupt state file, a Docker state tetra does not
/// map).
public enum ServiceStateName: String, Sendable, Equatable, Encodable {
    case stopped, starting, running, unhealthy, crashloop, failed, unknown

    /// From a state file's (or Docker's) word; anything else is `unknown`.
    public init(recorded: String) { self = Self(rawValue: recorded) ?? .unknown }
}

/// A service's health as tetra reports it: `unknown` until probed, `none` without a check.
public enum ServiceHealthName: String, Sendable, Equatable, Encodable {
    case healthy, unhealthy, unknown, none

    public init(recorded: String) { self = Self(rawValue: recorded) ?? .unknown }
}

/// `state/services/<org>/<name>/state.json`, written atomically by the supervisor (and by
/// `svc stop`). Holds no secret: names of the environment are not recorded, values never.
public struct ServiceRecord: Codable, Sendable, Equatable {
    public static let states = ["stopped", "starting", "running", "unhealthy", "crashloop", "failed"]
    public static let activeStates: Set<String> = ["starting", "running", "unhealthy"]

    public var org: String
    public var name: String
    /// stopped, starting, running, unhealthy, crashloop, failed
    public var state: String
    /// "healthy", "unhealthy", "unknown" (not probed yet) or "none" (no check defined).
    public var health: String
    /// The supervisor while it runs.
    public var supervisor: ProcessRef?
    /// The service's process (its process group has the same id) while it runs.
    public var process: ProcessRef?
    public var port: Int?
    /// When the current process was started.
    public var started_at: Date?
    /// Restarts since `svc start`.
    public var restarts: Int
    /// Restarts inside the current window (crash-loop detection).
    public var restart_times: [Date]
    public var last_exit: ExitRecord?
    /// Why the supervisor last restarted the service ("exited with status 1", "unhealthy: ...").
    public var last_restart_reason: String?
    public var last_health: HealthResult?
    public var consecutive_failures: Int
    public var message: String?
    /// Identifies one `svc start` (the CLI waits for the supervisor it launched).
    public var token: String
    public var updated_at: Date

    public init(org: String, name: String, state: String, health: String = "none", token: String = "", now: Date) {
        self.org = org
        self.name = name
        self.state = state
        self.health = health
        self.restarts = 0
        self.restart_times = []
        self.consecutive_failures = 0
        self.token = token
        self.updated_at = now
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(ServiceRecord.formatDate(date))
        }
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { dec in
            let s = try dec.singleValueContainer().decode(String.self)
            guard let date = Timestamps.parseISO8601(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: dec.codingPath, debugDescription: "bad date \(s)"))
            }
            return date
        }
        return d
    }()

    /// `2026-11-21T20:15:03.123Z`
    public static func formatDate(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        let ms = min(999, Int((t - t.rounded(.down)) * 1000))
        func pad(_ v: some BinaryInteger, _ width: Int = 2) -> String { NumberText.zeroPadded(v, width: width) }
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1))-\(pad(tmv.tm_mday))T\(pad(tmv.tm_hour)):\(pad(tmv.tm_min)):\(pad(tmv.tm_sec)).\(pad(ms, 3))Z"
    }

    public func encoded() throws -> Data { try Self.encoder.encode(self) }

    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path, mode: 0o600)
    }

    /// The record at `path`: nil when there is none; a file that is not a record (garbage,
    /// truncated, a wrong type) is an error naming the path.
    public static func load(_ path: String) throws -> ServiceRecord? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }

    static func decode(_ data: Data, path: String) throws -> ServiceRecord {
        do {
            return try decoder.decode(ServiceRecord.self, from: data)
        } catch {
            throw CoreError.failed("state file \(path) is corrupt (\(problem(error)))",
                                   hint: "`tetra svc stop` still finds the supervisor through its lock file; the next start rewrites the state")
        }
    }

    /// What is wrong with a record's JSON, in a few words.
    static func problem(_ error: Error) -> String {
        func at(_ path: [any CodingKey]) -> String { path.isEmpty ? "" : " at " + path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let key, let c): return "no \(key.stringValue)\(at(c.codingPath))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): return "wrong type\(at(c.codingPath))"
        case DecodingError.dataCorrupted(let c) where !c.codingPath.isEmpty: return "bad value\(at(c.codingPath))"
        default: return "not JSON"
        }
    }

    /// The record at `path`, nil when there is none or it is corrupt (for callers that only
    /// look: the ports owner lookup, doctor).
    public static func read(_ path: String) -> ServiceRecord? { try? load(path) }

    /// True when the supervisor recorded here is alive.
    public var supervisorAlive: Bool { supervisor?.isAlive ?? false }
}
