import FoundationEssentials

/// `tetra alerts check` (for cron, and the dashboard): evaluates what no supervisor does —
/// `cert_days_left` rules against the certificate store, and service rules for services with
/// no live supervisor (stopped, failed, never started, or whose supervisor died) from their
/// recorded state. Notifications are delivered before it returns.
extension AlertService {
    /// One subject evaluated by the check.
    public struct CheckRow: Encodable, Sendable {
        public var alert: String
        public var org: String?
        public var service: String?
        public var domain: String?
        public var status: AlertStatus
        public var value: String?
        public var changed_at: String
        public var starts_at: String?
        /// What this run sent (absent: nothing).
        public var sent: AlertEventStatus?
        /// Whether what was sent was delivered.
        public var result: AlertDeliveryResult?
    }

    public struct CheckResult: Encodable, Sendable {
        public var time: String
        /// Subjects evaluated (a rule × a service or certificate).
        public var evaluated: Int
        /// How many of them are firing (the exit status is 1 when any is).
        public var firing: Int
        /// Every subject that is not inactive, or changed in this run.
        public var alerts: [CheckRow]
    }

    public func check(org: String?) throws -> (CheckResult, warnings: [String]) {
        let set = try rules(org: org)
        return try core.withLock("alerts") {
            let run = AlertCheckRun(core: core, rules: set)
            try run.certificates()
            run.services(orgs: org.map { [$0] } ?? OrgStore(paths: paths).names())
            return run.result()
        }
    }
}

/// One run of `alerts check`: subjects evaluated one by one, their files read and written,
/// what changed delivered, the rows collected.
final class AlertCheckRun {
    let core: CoreContext
    let rules: AlertRuleSet
    let now: Date
    let host: String
    let delivery: AlertDelivery
    var rows: [AlertService.CheckRow] = []
    var warnings: [String] = []
    var evaluated = 0

    init(core: CoreContext, rules: AlertRuleSet) {
        self.core = core
        self.rules = rules
        now = core.now()
        host = core.hostName
        delivery = AlertDelivery(core: core, rules: rules)
    }

    /// `cert_days_left` rules against every stored certificate.
    func certificates() throws {
        let certRules = rules.rules.filter { $0.condition.measure == .cert_days_left }
        guard !certRules.isEmpty else { return }
        for cert in try SSLService(core: core).list() {
            let days = Double(cert.days_left)
            run(.certificate(domain: cert.domain), certRules.filter { $0.applies(domain: cert.domain) }) { rule in
                (rule.condition.holds(number: days), rule.condition.format(days))
            }
        }
    }

    /// Service rules for every service of `orgs` that no supervisor watches.
    func services(orgs: [String]) {
        for org in orgs where rules.rules.contains(where: { $0.condition.measure.isServiceMeasure && ($0.org == nil || $0.org == org) }) {
            let manager = ServiceManager(core: core, org: org)
            let catalog: ServiceCatalog
            do { catalog = try manager.catalog() } catch {
                warnings.append("org \(org): services not evaluated: \((error as? any TetraError)?.message ?? "\(error)")")
                continue
            }
            for status in manager.list(catalog) where status.supervisor_pid == nil {
                let record = ServiceRecord.read(catalog.servicePaths(status.name).stateFile)
                let sample = MetricSample(time: now, state: status.state, health: status.health, restarts: status.restarts)
                let now = self.now
                run(.service(org: org, name: status.name), rules.rules(org: org, service: status.name)) { rule in
                    guard let window = rule.condition.window else { return AlertEngine.evaluate(rule.condition, sample: sample) }
                    // No samples: the restarts its supervisor recorded within the window.
                    let n = (record?.restart_times ?? []).filter { now.timeIntervalSince($0) <= window }.count
                    return (rule.condition.holds(number: Double(n)), "\(n)")
                }
            }
        }
    }

    /// Evaluates `rules` for one subject: its state file read once, written when changed.
    func run(_ subject: AlertSubject, _ rules: [AlertRule], _ evaluate: (AlertRule) -> (Bool, String?)) {
        guard !rules.isEmpty else { return }
        let path = AlertSubjectFile.path(core.paths, subject: subject)
        var (file, problem) = AlertSubjectFile.load(path)
        if let problem { warnings.append(problem) }
        var changed = false
        for rule in rules {
            evaluated += 1
            let (holds, value) = evaluate(rule)
            let before = file.rules[rule.id]
            let (after, send) = AlertStateMachine.step(before, holds: holds, value: value, now: now, rule: rule)
            if before.map({ $0 != after }) ?? (after.status != .inactive) {
                file.rules[rule.id] = after
                changed = true
            }
            var result: AlertDeliveryResult? = nil
            if let send {
                result = delivery.deliver(AlertEngine.event(rule, send, state: after, previous: before, subject: subject,
                                                            host: host, value: value, now: now)).result
            }
            if after.status != .inactive || send != nil { rows.append(row(rule, subject, after, value, send, result)) }
        }
        if changed {
            do { try file.write(path) } catch { warnings.append("cannot record \(path): \((error as? any TetraError)?.message ?? "\(error)")") }
        }
    }

    func row(_ rule: AlertRule, _ subject: AlertSubject, _ state: AlertRuleState, _ value: String?, _ sent: AlertEventStatus?,
             _ result: AlertDeliveryResult?) -> AlertService.CheckRow {
        var row = AlertService.CheckRow(alert: rule.name, org: rule.org, service: nil, domain: nil, status: state.status, value: value,
                                        changed_at: state.since, starts_at: state.status == .firing ? state.starts_at : nil,
                                        sent: sent, result: result)
        switch subject {
        case .service(let org, let name): row.org = org; row.service = name
        case .certificate(let domain): row.domain = domain
        }
        return row
    }

    func result() -> (AlertService.CheckResult, warnings: [String]) {
        let sorted = rows.sorted { ($0.org ?? "", $0.alert, $0.service ?? $0.domain ?? "") < ($1.org ?? "", $1.alert, $1.service ?? $1.domain ?? "") }
        return (AlertService.CheckResult(time: Timestamps.iso8601(now), evaluated: evaluated,
                                         firing: sorted.filter { $0.status == .firing }.count, alerts: sorted), warnings)
    }
}
