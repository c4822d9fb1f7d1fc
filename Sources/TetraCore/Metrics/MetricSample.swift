import FoundationEssentials

/// One measurement of one service, taken by its supervisor every `metrics.interval`
/// (docs/metrics.md). The metrics rings store it; the alert rules of the service are
/// evaluated against it at the moment it is taken. A measure that could not be taken (the
/// process is gone, no health check, a docker service's cgroup not found) is nil: it is
/// missing from the series, never a zero.
public struct MetricSample: Sendable, Equatable {
    /// When it was taken.
    public var time: Date
    /// The service's state when it was taken.
    public var state: ServiceStateName
    /// Its health when it was taken (`none` without a check).
    public var health: ServiceHealthName
    /// CPU used by the whole process group (children included) since the previous sample,
    /// in percent of one core (a process using two cores fully is 200).
    public var cpuPercent: Double?
    /// Resident memory of the whole process group, in bytes.
    public var memoryBytes: UInt64?
    /// Threads of every process of the group.
    public var threads: Int?
    /// Open file descriptors of every process of the group.
    public var openFiles: Int?
    /// The latency of the last health probe finished since the previous sample, in ms.
    public var probeLatencyMs: Double?
    /// Restarts since `svc start` (a counter: the difference of two samples is the restarts
    /// between them).
    public var restarts: Int

    public init(time: Date, state: ServiceStateName, health: ServiceHealthName, cpuPercent: Double? = nil,
                memoryBytes: UInt64? = nil, threads: Int? = nil, openFiles: Int? = nil,
                probeLatencyMs: Double? = nil, restarts: Int = 0) {
        self.time = time
        self.state = state
        self.health = health
        self.cpuPercent = cpuPercent
        self.memoryBytes = memoryBytes
        self.threads = threads
        self.openFiles = openFiles
        self.probeLatencyMs = probeLatencyMs
        self.restarts = restarts
    }
}
