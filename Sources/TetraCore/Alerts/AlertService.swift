import FoundationEssentials

/// `tetra alerts list | history | test | check` (docs/alerts.md).
public struct AlertService: Sendable {
    public let core: CoreContext
    public init(core: CoreContext) { self.core = core }

    var paths: StatePaths { core.paths }

    /// The rules of `org` (nil: every org) and config/alerts.toml.
    public func rules(org: String?) throws -> AlertRuleSet {
        if let org {
            try Names.validate(org, what: "org")
            guard OrgStore(paths: paths).exists(org) else {
                throw CoreError.notFound(what: "org", name: org, hint: Suggest.didYouMean(org, in: OrgStore(paths: paths).names()) ?? "see 'tetra org list'")
            }
        }
        return try AlertRuleSet.load(paths: paths, orgs: org.map { [$0] })
    }

    // MARK: - list

    /// One subject of a rule that is not inactive (or was, and is recorded).
    public struct SubjectState: Encodable, Sendable {
        public var org: String?
        public var service: String?
        public var domain: String?
        public var status: AlertStatus
        /// When it entered `status`.
        public var changed_at: String
        /// When the firing began.
        public var starts_at: String?
        public var value: String?
    }

    /// One rule with its state (the worst of its subjects: firing, pending, inactive).
    public struct RuleState: Encodable, Sendable {
        public var alert: String
        /// Absent for a rule of config/alerts.toml (every org).
        public var org: String?
        /// `service` or `domain` as written (a name or `*`).
        public var service: String?
        public var domain: String?
        public var when: String
        public var `for`: String
        public var `repeat`: String?
        public var severity: String
        public var notify: [String]
        public var status: AlertStatus
        /// When the rule entered `status` (its latest subject's change); absent when inactive
        /// and never evaluated.
        public var changed_at: String?
        public var subjects: [SubjectState]
    }

    public struct ListResult: Encodable, Sendable {
        public var alerts: [RuleState]
    }

    public func list(org: String?) throws -> (ListResult, warnings: [String]) {
        let set = try rules(org: org)
        let (states, warnings) = recordedStates()
        let rows = set.rules.map { rule -> RuleState in
            let subjects = (states[rule.id] ?? []).filter { org == nil || $0.org == nil || $0.org == org }
                .sorted { ($0.org ?? "", $0.service ?? $0.domain ?? "") < ($1.org ?? "", $1.service ?? $1.domain ?? "") }
            let worst = subjects.max { ($0.status.rank, $0.changed_at) < ($1.status.rank, $1.changed_at) }
            let isCert = rule.condition.measure == .cert_days_left
            return RuleState(alert: rule.name, org: rule.org, service: isCert ? nil : rule.target, domain: isCert ? rule.target : nil,
                             when: rule.condition.description, for: DurationValue.format(rule.forSeconds),
                             repeat: rule.repeatSeconds.map(DurationValue.format), severity: rule.severity, notify: rule.notify,
                             status: worst?.status ?? .inactive, changed_at: worst?.changed_at, subjects: subjects)
        }
        return (ListResult(alerts: rows.sorted { ($0.org ?? "", $0.alert) < ($1.org ?? "", $1.alert) }), warnings)
    }

    /// Every recorded state under `state/alerts/`, by rule id.
    func recordedStates() -> ([String: [SubjectState]], [String]) {
        let root = AlertSubjectFile.directory(paths)
        var out: [String: [SubjectState]] = [:]
        var warnings: [String] = []
        for dir in ((try? LocalFiles.list(root)) ?? nil ?? []).sorted() where dir == "_certs" || Names.isValid(dir) {
            guard let files = (try? LocalFiles.list(root + "/" + dir)) ?? nil else { continue }
            for file in files.sorted() where file.hasSuffix(".json") && !file.hasPrefix(".") {
                let name = String(file.dropLast(5))
                let (loaded, problem) = AlertSubjectFile.load(root + "/" + dir + "/" + file)
                if let problem { warnings.append(problem) }
                for (id, s) in loaded.rules {
                    let isCert = dir == "_certs"
                    out[id, default: []].append(SubjectState(org: isCert ? nil : dir, service: isCert ? nil : name,
                                                             domain: isCert ? SSLService.domain(forDirectory: name) : nil,
                                                             status: s.status, changed_at: s.since, starts_at: s.status == .firing ? s.starts_at : nil,
                                                             value: s.value))
                }
            }
        }
        return (out, warnings)
    }

    // MARK: - test

    /// Sends a test notification through the notifiers of the rule `name` (of `org`, or of
    /// config/alerts.toml). Not found: exit 4; the same name in several orgs: exit 2.
    public func test(_ name: String, org: String?) throws -> AlertHistoryEntry {
        let set = try rules(org: org)
        let matches = set.rules.filter { $0.name == name }
        guard !matches.isEmpty else {
            throw CoreError.notFound(what: "alert", name: name,
                                     hint: Suggest.didYouMean(name, in: set.rules.map(\.name)) ?? "see 'tetra alerts list'")
        }
        let rule: AlertRule
        if matches.count == 1 { rule = matches[0] } else if let own = matches.first(where: { $0.org == org && org != nil }) {
            rule = own
        } else {
            throw CoreError.invalidArgument("alert '\(name)' is defined in " + matches.map { $0.org ?? "config/alerts.toml" }.joined(separator: ", "),
                                            hint: "choose one with --org")
        }
        let now = core.now()
        var subject: AlertSubject? = nil
        if rule.target != "*" {
            if rule.condition.measure == .cert_days_left { subject = .certificate(domain: rule.target) }
            else if let org = rule.org { subject = .service(org: org, name: rule.target) }
        }
        let event = AlertEvent(rule: rule, status: .test, subject: subject, host: core.hostName, value: nil, startsAt: now, time: now)
        return AlertDelivery(core: core, rules: set).deliver(event)
    }

    // MARK: - history

    public struct HistoryResult: Encodable, Sendable {
        public var entries: [AlertHistoryEntry]
    }

    /// The notifications sent (oldest first), with the lines that do not decode named.
    public func history(org: String?, since: Date?) throws -> (HistoryResult, corrupt: [String]) {
        if let org { try Names.validate(org, what: "org") }
        let path = AlertHistoryEntry.path(paths)
        guard let data = try AtomicFile.readIfExists(path) else { return (HistoryResult(entries: []), []) }
        let (all, corrupt) = JSONLines.decode(AlertHistoryEntry.self, data, path: path)
        let entries = all.filter { e in
            (org.map { e.org == $0 } ?? true) && (since.map { (Timestamps.parseISO8601(e.time) ?? .distantPast) >= $0 } ?? true)
        }
        return (HistoryResult(entries: entries), corrupt)
    }
}
