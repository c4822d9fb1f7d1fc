import FoundationEssentials

/// `tetra svc top`: every service of an org with its state and its newest measurements
/// (docs/metrics.md). Process services are measured by their supervisors (top reads their
/// rings, it samples nothing itself); a docker service, which has no tetra supervisor, is read
/// from its cgroup v2 files (memory at once, CPU from the second frame of `--watch` on).
public struct ServiceTop {
    public struct Row: Sendable, Encodable {
        public var service: String
        public var host: String?
        public var runtime: ServiceDefinition.Runtime
        public var state: ServiceStateName
        public var health: ServiceHealthName
        public var cpu_percent: Double?
        public var memory_bytes: UInt64?
        public var threads: Int?
        public var open_files: Int?
        public var restarts: Int
        public var started_at: Date?
        public var uptime_seconds: Int?
        public var probe_latency_p50_ms: Double?
        public var probe_latency_p95_ms: Double?
        /// When the measurements were taken.
        public var sampled_at: Date?

    }

    public let manager: ServiceManager
    /// Docker services' cgroup samplers, kept between frames (CPU needs two readings).
    var cgroups: [String: CgroupSampler] = [:]

    public init(manager: ServiceManager) { self.manager = manager }

    /// One frame: a row per service, with the warnings of rings that could not be read.
    public mutating func rows() throws -> (rows: [Row], warnings: [String]) {
        let cat = try manager.catalog()
        var warnings: [String] = []
        let rows = manager.list(cat).map { s -> Row in
            var row = Row(service: s.name, runtime: s.runtime, state: s.state, health: s.health, restarts: s.restarts,
                          started_at: s.started_at, uptime_seconds: s.uptime_seconds)
            if s.runtime == .docker {
                measureContainer(&row, pid: s.pid)
                return row
            }
            let store = MetricsStore(paths: manager.core.paths, org: manager.org, service: s.name)
            do {
                guard let (last, latencies) = try store.latest(now: manager.core.now()) else { return row }
                row.probe_latency_p50_ms = MetricsStore.percentile(latencies, 50)
                row.probe_latency_p95_ms = MetricsStore.percentile(latencies, 95)
                // Measurements of a process that runs now (not of an earlier run).
                guard s.pid != nil, last.time >= (s.started_at ?? .distantPast) else { return row }
                row.sampled_at = last.time
                row.cpu_percent = last.stat(.cpu).map { MetricPoint.rounded($0.avg, .cpu) }
                row.memory_bytes = last.stat(.memory).map { UInt64(MetricPoint.rounded($0.avg, .memory)) }
                row.threads = last.stat(.threads).map { Int($0.avg) }
                row.open_files = last.stat(.openFiles).map { Int($0.avg) }
            } catch {
                warnings.append("\(error)")
            }
            return row
        }
        return (rows, warnings)
    }

    mutating func measureContainer(_ row: inout Row, pid: Int32?) {
        guard let pid else { cgroups[row.service] = nil; return }
        if cgroups[row.service] == nil, let dir = CgroupSampler.directory(ofPid: pid) {
            cgroups[row.service] = CgroupSampler(directory: dir)
        }
        guard let usage = cgroups[row.service]?.sample(monotonic: Monotonic.now()) else { return }
        row.sampled_at = manager.core.now()
        row.cpu_percent = usage.cpuPercent.map { ($0 * 1000).rounded() / 1000 }
        row.memory_bytes = usage.memoryBytes
        row.threads = usage.threads
    }
}
