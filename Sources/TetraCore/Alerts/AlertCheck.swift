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
            let now = core.now()
            let host = core.hostName
            let delivery = AlertDelivery(core: core, rules: set)
            var rows: [CheckRow] = []
            var warnings: [String] = []
            var evaluated = 0
            func run(_ subject: AlertSubject, _ rules: [AlertRule], _ evaluate: (AlertRule) -> (Bool, String?)) {
                guard !rules.isEmpty else { return }
                let path = AlertSubjectFile.path(paths, subject: subject)
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
                        let event = AlertEngine.event(rule, send, state: after, previous: before, subject: subject, host: host, value: value, now: now)
                        result = delivery.deliver(event).result
                    }
                    guard after.status != .inactive || send != nil else { continue }
                    var row = CheckRow(alert: rule.name, org: nil, service: nil, domain: nil, status: after.status, value: value,
                                       changed_at: after.since, starts_at: after.status == .firing ? after.starts_at : nil, sent: send, result: result)
                    switch subject {
                    case .service(let o, let s): row.org = o; row.service = s
                    case .certificate(let d): row.org = rule.org; row.domain = d
                    }
                    rows.append(row)
                }
                if changed {
                    do { try file.write(path) } catch { warnings.append("cannot record \(path): \((error as? any TetraError)?.message ?? "\(error)")") }
                }
            }
            // Certificates.
            let certRules = set.rules.filter { $0.condition.measure == .cert_days_left }
            if !certRules.isEmpty {
                for cert in try SSLService(core: core).list() {
                    let rules = certRules.filter { $0.applies(domain: cert.domain) }
                    run(.certificate(domain: cert.domain), rules) { rule in
                        (rule.condition.holds(number: Double(cert.days_left)), rule.condition.format(Double(cert.days_left)))
                    }
                }
            }
            // Services without a supervisor.
            let orgs = org.map { [$0] } ?? OrgStore(paths: paths).names()
            for o in orgs where set.rules.contains(where: { $0.condition.measure.isServiceMeasure && ($0.org == nil || $0.org == o) }) {
                let manager = ServiceManager(core: core, org: o)
                let catalog: ServiceCatalog
                do { catalog = try manager.catalog() } catch {
                    warnings.append("org \(o): services not evaluated: \((error as? any TetraError)?.message ?? "\(error)")")
                    continue
                }
                for status in manager.list(catalog) where status.supervisor_pid == nil {
                    let rules = set.rules(org: o, service: status.name)
                    let record = ServiceRecord.read(catalog.servicePaths(status.name).stateFile)
                    let sample = MetricSample(time: now, state: status.state, health: status.health, restarts: status.restarts)
                    run(.service(org: o, name: status.name), rules) { rule in
                        if let window = rule.condition.window {
                            // Without samples, the restarts the supervisor recorded in its window.
                            let n = (record?.restart_times ?? []).filter { now.timeIntervalSince($0) <= window }.count
                            return (rule.condition.holds(number: Double(n)), "\(n)")
                        }
                        return AlertEngine.evaluate(rule.condition, sample: sample)
                    }
                }
            }
            rows.sort { ($0.org ?? "", $0.alert, $0.service ?? $0.domain ?? "") < ($1.org ?? "", $1.alert, $1.service ?? $1.domain ?? "") }
            return (CheckResult(time: Timestamps.iso8601(now), evaluated: evaluated, firing: rows.filter { $0.status == .firing }.count,
                                alerts: rows), warnings)
        }
    }
}
