import FoundationEssentials

/// Where one rule stands for one subject (a service, a certificate): `inactive` (the
/// condition does not hold), `pending` (it holds, `for` has not elapsed), `firing`.
/// Leaving `firing` sends `resolved` and goes back to `inactive`.
public enum AlertStatus: String, Sendable, Equatable, Codable {
    case inactive, pending, firing

    /// Worse is higher: a rule shows its worst subject.
    var rank: Int {
        switch self {
        case .inactive: return 0
        case .pending: return 1
        case .firing: return 2
        }
    }
}

/// What a notification says: `firing`, `resolved`, or `test` (`alerts test`).
public enum AlertEventStatus: String, Sendable, Equatable, Codable {
    case firing, resolved, test
}

/// One rule's state for one subject, as persisted under `state/alerts/`.
public struct AlertRuleState: Codable, Sendable, Equatable {
    public var status: AlertStatus
    /// When it entered `status`.
    public var since: String
    /// When it started firing (kept while firing: the payload's `startsAt`).
    public var starts_at: String?
    /// When the last notification of this firing was sent (for `repeat`).
    public var last_sent_at: String?
    /// The value measured when the state last changed (`93.5%`).
    public var value: String?

    public init(status: AlertStatus, since: Date, value: String? = nil) {
        self.status = status
        self.since = Timestamps.iso8601(since)
        self.value = value
    }

    var sinceDate: Date { Timestamps.parseISO8601(since) ?? Date(timeIntervalSince1970: 0) }
}

/// The states of every rule about one subject: `state/alerts/<org>/<service>.json`, or
/// `state/alerts/_certs/<domain>.json`. Written atomically (0600) when a state changes.
public struct AlertSubjectFile: Codable, Sendable, Equatable {
    /// Rule id (`acme/api-hot`, `*/cert-expiring`) → state.
    public var rules: [String: AlertRuleState]

    public init(rules: [String: AlertRuleState] = [:]) { self.rules = rules }

    public static func path(_ paths: StatePaths, subject: AlertSubject) -> String {
        switch subject {
        case .service(let org, let name): return directory(paths) + "/\(org)/\(name).json"
        case .certificate(let domain): return directory(paths) + "/_certs/\(SSLService.directoryName(for: domain)).json"
        }
    }

    public static func directory(_ paths: StatePaths) -> String { paths.state + "/alerts" }

    /// The file at `path`; none (or unreadable: named in `problem`) is empty.
    public static func load(_ path: String) -> (AlertSubjectFile, problem: String?) {
        guard let data = try? AtomicFile.readIfExists(path) else { return (AlertSubjectFile(), nil) }
        guard let file = try? JSONDecoder().decode(AlertSubjectFile.self, from: data) else {
            return (AlertSubjectFile(), "\(path) is corrupt: its alerts start again as inactive")
        }
        return (file, nil)
    }

    public func write(_ path: String) throws {
        try AtomicFile.ensureDirectory(PathText.parent(path), mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path, mode: 0o600)
    }
}

/// What an alert is about.
public enum AlertSubject: Sendable, Hashable {
    case service(org: String, name: String)
    case certificate(domain: String)
}

/// The state machine of one rule for one subject (pure: the caller gives the time).
public enum AlertStateMachine {
    /// The new state and the notification to send (nil: none) when the condition `holds`
    /// (with the measured `value`) at `now`.
    /// `value` is formatted only when the state changes.
    public static func step(_ state: AlertRuleState?, holds: Bool, value: @autoclosure () -> String?, now: Date,
                            rule: AlertRule) -> (AlertRuleState, AlertEventStatus?) {
        // The common case of a sample: never held, still does not (nothing formatted).
        if state == nil && !holds { return (neverHeld, nil) }
        let current = state ?? AlertRuleState(status: .inactive, since: now)
        switch (current.status, holds) {
        case (.inactive, false):
            return (current, nil)
        case (.inactive, true):
            if rule.forSeconds <= 0 { return (firing(now, value()), .firing) }
            return (AlertRuleState(status: .pending, since: now, value: value()), nil)
        case (.pending, true):
            if now.timeIntervalSince(current.sinceDate) >= rule.forSeconds { return (firing(now, value()), .firing) }
            return (current, nil)
        case (.pending, false):
            return (AlertRuleState(status: .inactive, since: now, value: value()), nil)
        case (.firing, true):
            guard let every = rule.repeatSeconds,
                  let last = current.last_sent_at.flatMap(Timestamps.parseISO8601),
                  now.timeIntervalSince(last) >= every else { return (current, nil) }
            var next = current
            next.last_sent_at = Timestamps.iso8601(now)
            next.value = value()
            return (next, .firing)
        case (.firing, false):
            var next = AlertRuleState(status: .inactive, since: now, value: value())
            next.starts_at = current.starts_at
            return (next, .resolved)
        }
    }

    /// The state of a rule whose condition never held for a subject (not persisted).
    static let neverHeld = AlertRuleState(status: .inactive, since: Date(timeIntervalSince1970: 0))

    static func firing(_ now: Date, _ value: String?) -> AlertRuleState {
        var s = AlertRuleState(status: .firing, since: now, value: value)
        s.starts_at = Timestamps.iso8601(now)
        s.last_sent_at = s.starts_at
        return s
    }
}

/// A notification to send: a rule's state changed for a subject (or `alerts test`).
public struct AlertEvent: Sendable, Equatable {
    public var rule: AlertRule
    public var status: AlertEventStatus
    public var subject: AlertSubject?
    public var host: String
    /// The measured value (`93.5%`), when there is one.
    public var value: String?
    public var startsAt: Date
    /// Set when resolved.
    public var endsAt: Date?
    public var time: Date

    public init(rule: AlertRule, status: AlertEventStatus, subject: AlertSubject?, host: String, value: String?,
                startsAt: Date, endsAt: Date? = nil, time: Date) {
        self.rule = rule
        self.status = status
        self.subject = subject
        self.host = host
        self.value = value
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.time = time
    }

    /// The org the alert is about (the rule's, or the service's for a rule across orgs).
    public var org: String? {
        if case .service(let org, _)? = subject { return org }
        return rule.org
    }

    public var service: String? {
        if case .service(_, let name)? = subject { return name }
        return nil
    }

    public var domain: String? {
        if case .certificate(let d)? = subject { return d }
        return nil
    }
}
