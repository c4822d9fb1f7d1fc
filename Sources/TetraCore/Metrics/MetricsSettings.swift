import FoundationEssentials

/// `[metrics] interval = "10s"` in a service definition or in org.toml (the service's wins):
/// how often the supervisor samples (docs/metrics.md).
public enum MetricsSettings {
    public static let defaultInterval: TimeInterval = 10
    public static let allowed: ClosedRange<TimeInterval> = 1...60

    /// The interval written as `text`, or why it is refused.
    public static func interval(_ text: String) -> Result<TimeInterval, IntervalProblem> {
        guard let v = try? DurationParser.parse(text) else {
            return .failure(IntervalProblem(message: "invalid duration '\(Names.printable(text))' (e.g. 5s, 30s, 1m)"))
        }
        guard allowed.contains(v) else { return .failure(IntervalProblem(message: "must be between 1s and 60s, found \(Names.printable(text))")) }
        return .success(v)
    }

    public struct IntervalProblem: Error, Sendable { public var message: String }

    /// org.toml's `[metrics]`: a problem with `path:line:column` when its interval is refused.
    public static func problems(_ config: MetricsConfig?, document: TOMLDocument, file: String) -> [ConfigProblem] {
        guard let text = config?.interval, case .failure(let p) = interval(text) else { return [] }
        return [ConfigProblem(file: file, position: document.position(of: ["metrics", "interval"]),
                              keyPath: "metrics.interval", message: p.message)]
    }

    /// The interval a service is sampled at: its own, else its org's, else 10 s.
    public static func effective(service: TimeInterval?, org: MetricsConfig?) -> TimeInterval {
        if let service { return service }
        if let text = org?.interval, case .success(let v) = interval(text) { return v }
        return defaultInterval
    }
}

/// `[metrics]` of org.toml.
public struct MetricsConfig: Sendable, Decodable, Equatable {
    public var interval: String?
    public init(interval: String? = nil) { self.interval = interval }
}
