import FoundationEssentials

/// Where notifications go: `AlertDispatcher` (a background thread, for supervisors) or
/// `AlertDelivery` itself (synchronous: `alerts check`, tests).
public protocol AlertDispatching: Sendable {
    func send(_ event: AlertEvent)
}

/// Evaluates the rules of services at each of their samples (docs/alerts.md). Made once by a
/// supervisor with the rules loaded once; `observe` is cheap: no process, no file read after
/// the first sample of a service, a file written only when a rule's state changes, and
/// notifications handed to the dispatcher (which delivers them on its own thread).
public final class AlertEngine: @unchecked Sendable {
    let rules: AlertRuleSet
    let paths: StatePaths
    let dispatcher: any AlertDispatching
    let lock = Lock()
    /// Warnings (a corrupt state file), for the supervisor's events log.
    let warn: @Sendable (String) -> Void

    final class Subject {
        let rules: [AlertRule]
        var file: AlertSubjectFile
        let path: String
        /// The counter at the previous sample, and the restarts seen since (time, how many)
        /// within the longest window, for `restarts > N in W`: an entry per change only.
        var lastRestarts: Int? = nil
        var restarts: [(Date, Int)] = []
        let window: TimeInterval
        init(rules: [AlertRule], file: AlertSubjectFile, path: String) {
            self.rules = rules
            self.file = file
            self.path = path
            window = rules.compactMap(\.condition.window).max() ?? 0
        }
    }
    var subjects: [String: Subject] = [:]

    public init(rules: AlertRuleSet, paths: StatePaths, dispatcher: any AlertDispatching,
                warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.rules = rules
        self.paths = paths
        self.dispatcher = dispatcher
        self.warn = warn
    }

    /// Evaluates every rule about `service` of `org` against `sample`; sends what changed.
    public func observe(sample: MetricSample, org: String, service: String, host: String) {
        let events: [AlertEvent] = lock.withLock {
            let subject = self.subject(org: org, service: service)
            guard !subject.rules.isEmpty else { return [] }
            if subject.window > 0 { Self.remember(sample, in: subject) }
            var changed = false
            var out: [AlertEvent] = []
            for rule in subject.rules {
                let measured = Self.measure(rule.condition, sample: sample, restarts: subject.restarts)
                let holds = Self.holds(rule.condition, measured)
                let before = subject.file.rules[rule.id]
                let (after, send) = AlertStateMachine.step(before, holds: holds, value: Self.text(rule.condition, measured),
                                                           now: sample.time, rule: rule)
                if before.map({ $0 != after }) ?? (after.status != .inactive) {
                    subject.file.rules[rule.id] = after
                    changed = true
                }
                if let send {
                    out.append(Self.event(rule, send, state: after, previous: before, subject: .service(org: org, name: service),
                                          host: host, value: Self.text(rule.condition, measured), now: sample.time))
                }
            }
            if changed {
                do { try subject.file.write(subject.path) } catch { warn("alerts: cannot record state: \((error as? any TetraError)?.message ?? "\(error)")") }
            }
            return out
        }
        for event in events { dispatcher.send(event) }
    }

    func subject(org: String, service: String) -> Subject {
        let key = org + "/" + service
        if let s = subjects[key] { return s }
        let rules = self.rules.rules(org: org, service: service)
        let path = AlertSubjectFile.path(paths, subject: .service(org: org, name: service))
        var file = AlertSubjectFile()
        if !rules.isEmpty {
            let loaded = AlertSubjectFile.load(path)
            file = loaded.0
            if let problem = loaded.problem { warn("alerts: " + problem) }
        }
        let s = Subject(rules: rules, file: file, path: path)
        subjects[key] = s
        return s
    }

    static func remember(_ sample: MetricSample, in subject: Subject) {
        if let last = subject.lastRestarts, sample.restarts != last {
            // A counter that went down is a new `svc start`: it counts from 0.
            subject.restarts.append((sample.time, sample.restarts > last ? sample.restarts - last : sample.restarts))
        }
        subject.lastRestarts = sample.restarts
        let horizon = sample.time.addingTimeInterval(-subject.window)
        if let first = subject.restarts.first, first.0 <= horizon { subject.restarts.removeAll { $0.0 <= horizon } }
    }

    /// The event for a transition (`startsAt` from the state, `endsAt` when resolved).
    static func event(_ rule: AlertRule, _ status: AlertEventStatus, state: AlertRuleState, previous: AlertRuleState?,
                      subject: AlertSubject, host: String, value: String?, now: Date) -> AlertEvent {
        let starts = (status == .resolved ? previous?.starts_at : state.starts_at).flatMap(Timestamps.parseISO8601) ?? now
        return AlertEvent(rule: rule, status: status, subject: subject, host: host, value: value, startsAt: starts,
                          endsAt: status == .resolved ? now : nil, time: now)
    }

    /// A measure as taken from a sample: a number (nil: not taken) or a word.
    enum Measured {
        case number(Double?)
        case word(String)
    }

    static func measure(_ condition: AlertCondition, sample: MetricSample, restarts: [(Date, Int)]) -> Measured {
        switch condition.measure {
        case .cpu: return .number(sample.cpuPercent)
        case .memory: return .number(sample.memoryBytes.map { Double($0) })
        case .threads: return .number(sample.threads.map { Double($0) })
        case .open_files: return .number(sample.openFiles.map { Double($0) })
        case .probe_latency: return .number(sample.probeLatencyMs)
        case .restarts:
            guard let window = condition.window else { return .number(Double(sample.restarts)) }
            return .number(Double(restartsIn(window, before: sample.time, restarts)))
        case .health: return .word(sample.health.rawValue)
        case .state: return .word(sample.state.rawValue)
        case .cert_days_left: return .number(nil)
        }
    }

    static func holds(_ condition: AlertCondition, _ measured: Measured) -> Bool {
        switch measured {
        case .number(let v): return condition.holds(number: v)
        case .word(let w): return condition.holds(word: w)
        }
    }

    /// The measured value in the rule's unit (`93.5%`), nil when not taken.
    static func text(_ condition: AlertCondition, _ measured: Measured) -> String? {
        switch measured {
        case .number(let v): return v.map(condition.format)
        case .word(let w): return w
        }
    }

    /// Whether `condition` holds for `sample`, and the measured value as text (nil when the
    /// measure was not taken: then it does not hold). `restarts`: the recent restarts (time
    /// seen, how many), for a windowed restarts rule.
    public static func evaluate(_ condition: AlertCondition, sample: MetricSample, restarts: [(Date, Int)] = []) -> (Bool, String?) {
        let measured = measure(condition, sample: sample, restarts: restarts)
        return (holds(condition, measured), text(condition, measured))
    }

    /// Restarts seen in the `window` before `now`.
    static func restartsIn(_ window: TimeInterval, before now: Date, _ seen: [(Date, Int)]) -> Int {
        let horizon = now.addingTimeInterval(-window)
        return seen.reduce(0) { $1.0 > horizon ? $0 + $1.1 : $0 }
    }
}

extension AlertEngine {
    /// The engine of a supervisor of `service` of `org`: the rules of org.toml and
    /// config/alerts.toml loaded once, notifications delivered on a background thread. nil
    /// when no rule is about the service (then sampling costs nothing for alerts). Rules that
    /// do not validate are reported through `warn` and none is evaluated (`org validate`
    /// names every problem).
    public static func forService(core: CoreContext, org: String, service: String,
                                  warn: @escaping @Sendable (String) -> Void) -> AlertEngine? {
        let rules: AlertRuleSet
        do {
            rules = try AlertRuleSet.load(paths: core.paths, orgs: [org])
        } catch {
            warn("alerts: rules not evaluated: " + ((error as? any TetraError)?.message ?? "\(error)"))
            return nil
        }
        guard !rules.rules(org: org, service: service).isEmpty else { return nil }
        let dispatcher = AlertDispatcher(delivery: AlertDelivery(core: core, rules: rules))
        return AlertEngine(rules: rules, paths: core.paths, dispatcher: dispatcher, warn: warn)
    }

    /// Waits up to `timeout` for notifications still being delivered (a supervisor that
    /// stops calls it, so that a `resolved` is not lost); true when none is left.
    @discardableResult
    public func drain(timeout: TimeInterval) -> Bool {
        (dispatcher as? AlertDispatcher)?.drain(timeout: timeout) ?? true
    }
}
