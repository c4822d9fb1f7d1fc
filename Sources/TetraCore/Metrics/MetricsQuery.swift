import FoundationEssentials

/// `tetra metrics SERVICE`: the series of one service from its rings (docs/metrics.md).
public struct MetricsSeries: Sendable, Encodable {
    public var org: String
    public var service: String
    /// Which ring answered: `sample`, `minute` or `hour` (the finest covering `--since`).
    public var resolution: MetricsStore.Resolution
    public var since_seconds: Int
    /// The width of a point: the ring's own step, or `--step` (absent: one sample each).
    public var step_seconds: Int?
    public var points: [MetricPoint]
    /// Rings that could not be read (named, not fatal).
    public var warnings: [String]?
}

/// One point of a series: a sample, or the min/avg/max of the samples of its step.
public struct MetricPoint: Sendable, Encodable {
    public var record: MetricRecord
    /// False for a single sample: the measure alone, no `_min`/`_max`.
    public var aggregated: Bool

    public init(record: MetricRecord, aggregated: Bool) {
        self.record = record
        self.aggregated = aggregated
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Three decimals at most (the rings keep 32-bit floats).
    public static func rounded(_ v: Float, _ m: MetricMeasure) -> Double {
        m == .memory ? Double(v).rounded() : (Double(v) * 1000).rounded() / 1000
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(Timestamps.iso8601(record.time), forKey: Key("time"))
        try c.encode(record.state, forKey: Key("state"))
        try c.encode(record.health, forKey: Key("health"))
        try c.encode(record.restarts, forKey: Key("restarts"))
        if aggregated { try c.encode(record.samples, forKey: Key("samples")) }
        for m in MetricMeasure.allCases {
            guard let s = record.stat(m) else { continue }
            try c.encode(Self.rounded(s.avg, m), forKey: Key(m.key))
            if aggregated {
                try c.encode(Self.rounded(s.min, m), forKey: Key(m.key + "_min"))
                try c.encode(Self.rounded(s.max, m), forKey: Key(m.key + "_max"))
            }
        }
    }
}

extension MetricsStore {
    /// The series of the last `since` seconds before `now`, at the finest ring covering it,
    /// merged into `step` buckets when a step coarser than the ring's is asked. A corrupt ring
    /// answers nothing and is named in `warnings`.
    public func series(org: String, service: String, since: TimeInterval, step: TimeInterval?, now: Date) -> MetricsSeries {
        let resolution = Self.resolution(for: since)
        let ringStep = ring(resolution).stepSeconds
        var warnings: [String] = []
        var records: [MetricRecord]
        do { records = try self.records(resolution, from: now.addingTimeInterval(-since)) } catch {
            warnings.append("\(error)")
            records = []
        }
        var stepSeconds: Int? = ringStep > 0 ? ringStep : nil
        if let step, step > Double(ringStep) {
            records = Self.aggregate(records, step: step)
            stepSeconds = Int(step)
        }
        return MetricsSeries(org: org, service: service, resolution: resolution, since_seconds: Int(since), step_seconds: stepSeconds,
                             points: records.map { MetricPoint(record: $0, aggregated: stepSeconds != nil) },
                             warnings: warnings.isEmpty ? nil : warnings)
    }

    /// The newest sample and the probe latencies of the `window` seconds before `now`.
    public func latest(window: TimeInterval = 300, now: Date) throws -> (sample: MetricRecord, latencies: [Double])? {
        let records = try ring(.sample).read()
        guard let last = records.last else { return nil }
        let from = MetricRecord.milliseconds(now) - Int64(window * 1000)
        let latencies = records.filter { $0.timeMs > from }.compactMap { $0.stat(.probeLatency).map { Double($0.avg) } }
        return (last, latencies)
    }
}

extension MetricsStore {
    /// The value below which `p` percent of `values` lie (nearest rank); nil when empty.
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
