import FoundationEssentials

/// The JSON a notifier receives: the shape of Alertmanager's webhook payload, version 4, so
/// that receivers written for Alertmanager (chat bridges, pagers) take it as is. Its keys are
/// Alertmanager's (camelCase), not tetra's snake_case: it is an external format.
/// One alert per notification; the group is the rule (`groupLabels.alertname`).
public struct AlertPayload: Encodable, Sendable, Equatable {
    public struct Alert: Encodable, Sendable, Equatable {
        /// `firing` or `resolved` (a test is sent as `firing`, with the label `test="true"`).
        public var status: String
        public var labels: [String: String]
        public var annotations: [String: String]
        public var startsAt: String
        /// `0001-01-01T00:00:00Z` while firing, as Alertmanager sends it.
        public var endsAt: String
        public var generatorURL: String
        public var fingerprint: String
    }

    public var version = "4"
    public var groupKey: String
    public var truncatedAlerts = 0
    public var status: String
    public var receiver: String
    public var groupLabels: [String: String]
    public var commonLabels: [String: String]
    public var commonAnnotations: [String: String]
    public var externalURL: String
    public var alerts: [Alert]

    /// Alertmanager's zero time, the `endsAt` of an alert that is firing.
    public static let zeroTime = "0001-01-01T00:00:00Z"

    /// The payload of `event` for the notifier `receiver`.
    public init(_ event: AlertEvent, receiver: String) {
        let labels = Self.labels(event)
        let annotations = Self.annotations(event)
        let status = event.status == .resolved ? "resolved" : "firing"
        let alert = Alert(status: status, labels: labels, annotations: annotations,
                          startsAt: Timestamps.iso8601(event.startsAt),
                          endsAt: event.endsAt.map(Timestamps.iso8601) ?? Self.zeroTime,
                          generatorURL: "", fingerprint: Self.fingerprint(labels))
        self.groupKey = "{}:{alertname=\"\(event.rule.name)\"}"
        self.status = status
        self.receiver = receiver
        self.groupLabels = ["alertname": event.rule.name]
        self.commonLabels = labels
        self.commonAnnotations = annotations
        self.externalURL = ""
        self.alerts = [alert]
    }

    /// `alertname`, `severity`, `host`, and `org`, `service` or `domain` when the alert is
    /// about one; `test` for `alerts test`.
    static func labels(_ event: AlertEvent) -> [String: String] {
        var labels = ["alertname": event.rule.name, "severity": event.rule.severity, "host": event.host]
        if let org = event.org { labels["org"] = org }
        if let service = event.service { labels["service"] = service }
        if let domain = event.domain { labels["domain"] = domain }
        if event.status == .test { labels["test"] = "true" }
        return labels
    }

    /// `summary` (one line) and `description` (with the measured value), `condition`, `value`.
    static func annotations(_ event: AlertEvent) -> [String: String] {
        let rule = event.rule
        let what = event.service.map { "service \($0)" + (event.org.map { " of \($0)" } ?? "") }
            ?? event.domain.map { "certificate \($0)" } ?? "tetra"
        var annotations = ["condition": rule.condition.description]
        switch event.status {
        case .test:
            annotations["summary"] = "\(rule.name): test notification"
            annotations["description"] = "A test of rule \(rule.name) (\(rule.condition)) sent by `tetra alerts test` on \(event.host); nothing is wrong."
        case .firing:
            annotations["summary"] = "\(rule.name): \(rule.condition) on \(what)"
            annotations["description"] = "\(rule.condition.measure.rawValue) is \(event.value ?? "unknown") on \(what) at \(event.host) (rule: \(rule.condition))."
        case .resolved:
            annotations["summary"] = "\(rule.name) resolved on \(what)"
            annotations["description"] = "\(rule.condition.measure.rawValue) is \(event.value ?? "unknown") on \(what) at \(event.host); \(rule.condition) no longer holds."
        }
        if let value = event.value { annotations["value"] = value }
        return annotations
    }

    /// Prometheus's label-set fingerprint: FNV-1a (64 bits) over the labels sorted by name,
    /// each name and value followed by the byte 0xff, as 16 hex digits.
    public static func fingerprint(_ labels: [String: String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for name in labels.keys.sorted() {
            for b in name.utf8 { add(b) }
            add(0xff)
            for b in labels[name]!.utf8 { add(b) }
            add(0xff)
        }
        return NumberText.hex(hash, width: 16)
    }

    /// The JSON body (keys sorted, compact).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}
