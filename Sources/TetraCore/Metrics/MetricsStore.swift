import FoundationEssentials
import Glibc

/// The rings of one service, `state/metrics/<org>/<service>/` (docs/metrics.md): kept apart
/// from `state/services/` so a stop, a start or a `svc remove` of the state directory does not
/// lose the history.
///
/// | file | records | each | span |
/// |---|---|---|---|
/// | `samples.ring` | 3600 | one sample | 1 h at 1 s, 10 h at 10 s |
/// | `minutes.ring` | 10080 | min/avg/max of a minute | 7 days |
/// | `hours.ring` | 2160 | min/avg/max of an hour | 90 days |
///
/// Bytes per service: 3 × 64 + (3600 + 10080 + 2160) × 96 = 1,520,832 (1.45 MiB), fixed when
/// the rings are created.
public struct MetricsStore: Sendable {
    public enum Resolution: String, Sendable, Encodable, CaseIterable {
        case sample, minute, hour
    }

    public static let sampleCapacity = 3600
    public static let minuteCapacity = 7 * 24 * 60
    public static let hourCapacity = 90 * 24
    /// What each ring is read for: the finest whose span covers `--since`.
    public static let spans: [(Resolution, TimeInterval)] = [(.sample, 3600), (.minute, 7 * 86400), (.hour, 90 * 86400)]
    public static var bytesPerService: Int {
        [sampleCapacity, minuteCapacity, hourCapacity].map(MetricRing.fileSize(capacity:)).reduce(0, +)
    }

    public var directory: String

    public init(directory: String) { self.directory = directory }
    public init(paths: StatePaths, org: String, service: String) {
        directory = paths.state + "/metrics/\(org)/\(service)"
    }

    public func ring(_ r: Resolution) -> MetricRing {
        switch r {
        case .sample: return MetricRing(path: directory + "/samples.ring", capacity: Self.sampleCapacity, stepSeconds: 0)
        case .minute: return MetricRing(path: directory + "/minutes.ring", capacity: Self.minuteCapacity, stepSeconds: 60)
        case .hour: return MetricRing(path: directory + "/hours.ring", capacity: Self.hourCapacity, stepSeconds: 3600)
        }
    }

    /// True when the service has ever been measured here.
    public var exists: Bool { LocalFiles.exists(directory + "/samples.ring") }

    /// The finest resolution whose ring spans `since` seconds.
    public static func resolution(for since: TimeInterval) -> Resolution {
        spans.first { since <= $0.1 }?.0 ?? .hour
    }

    /// The records of `resolution` newer than `from` (oldest first).
    public func records(_ resolution: Resolution, from: Date) throws -> [MetricRecord] {
        let ms = MetricRecord.milliseconds(from)
        let ring = ring(resolution)
        let stepMs = Int64(ring.stepSeconds) * 1000
        // An aggregate covers [time, time + step): it counts when its bucket ends after `from`.
        return try ring.read().filter { $0.timeMs + stepMs > ms || ($0.timeMs >= ms) }
    }

    /// Records merged into buckets of `step` seconds (aligned on the epoch).
    public static func aggregate(_ records: [MetricRecord], step: TimeInterval) -> [MetricRecord] {
        let stepMs = Int64(step * 1000)
        guard stepMs > 0 else { return records }
        var out: [MetricRecord] = []
        for r in records {
            let bucket = r.timeMs - ((r.timeMs % stepMs) + stepMs) % stepMs
            if var lastRecord = out.last, lastRecord.timeMs == bucket {
                lastRecord.merge(r)
                out[out.count - 1] = lastRecord
            } else {
                var first = r
                first.timeMs = bucket
                first.seq = UInt32(out.count + 1)
                out.append(first)
            }
        }
        return out
    }
}

/// Writes the samples of one service into its rings: each sample to `samples.ring`, and
/// folded into the record of its minute and of its hour, which are rewritten in place until
/// the next minute (hour) begins. Three pwrites of 96 bytes per sample, nothing else.
public final class MetricsRecorder {
    let samples: MetricRingWriter
    let minutes: MetricRingWriter
    let hours: MetricRingWriter

    /// Opens (or creates) the rings; a corrupt ring is moved aside and named through `warn`.
    public init(_ store: MetricsStore, warn: (String) -> Void) throws {
        try AtomicFile.ensureDirectory(store.directory)
        samples = try MetricRingWriter(store.ring(.sample), warn: warn)
        minutes = try MetricRingWriter(store.ring(.minute), warn: warn)
        hours = try MetricRingWriter(store.ring(.hour), warn: warn)
    }

    public func record(_ s: MetricSample) {
        samples.write(MetricRecord(seq: (samples.last?.seq ?? 0) &+ 1, sample: s))
        fold(s, into: minutes)
        fold(s, into: hours)
    }

    func fold(_ s: MetricSample, into w: MetricRingWriter) {
        let stepMs = Int64(w.ring.stepSeconds) * 1000
        let t = MetricRecord.milliseconds(s.time)
        let bucket = t - ((t % stepMs) + stepMs) % stepMs
        if var current = w.last, current.timeMs == bucket {
            current.fold(s)
            w.write(current)
        } else {
            var r = MetricRecord(seq: (w.last?.seq ?? 0) &+ 1, timeMs: bucket)
            r.fold(s)
            w.write(r)
        }
    }
}
