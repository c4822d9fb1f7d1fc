import FoundationEssentials

/// A supervisor's sampling (docs/metrics.md): every `interval` it measures the service's
/// process group, records the sample in the service's rings and hands it to `onSample`.
/// Between samples nothing runs: the supervisor's loop sleeps until the next one is due.
final class SupervisorMetrics {
    let interval: TimeInterval
    let recorder: MetricsRecorder
    let sampler = ProcessGroupSampler()
    /// Monotonic time of the next sample.
    var nextAt: TimeInterval
    /// The health result already reported (a probe's latency is reported once).
    var reportedProbe: Date? = nil
    /// The process whose group the sampler has a first reading of.
    var primed: Int32? = nil

    init(interval: TimeInterval, recorder: MetricsRecorder, start: TimeInterval) {
        self.interval = interval
        self.recorder = recorder
        nextAt = start + interval
    }
}

extension Supervisor {
    /// Opens the service's rings; a ring that cannot be opened turns metrics off (recorded in
    /// events.log), never the service.
    func startMetrics() {
        let store = MetricsStore(paths: sp.paths, org: sp.org, service: sp.name)
        do {
            let recorder = try MetricsRecorder(store) { event($0) }
            metrics = SupervisorMetrics(interval: metricsInterval, recorder: recorder, start: Monotonic.now())
        } catch {
            event("metrics off: \(error)")
        }
    }

    /// Takes a sample when one is due.
    func sampleIfDue() {
        guard let m = metrics else { return }
        let mono = Monotonic.now()
        // A first reading of a new process group, taken while the supervisor is awake anyway
        // (it just spawned it): the first sample then has a CPU percentage.
        if let pid = child, m.primed != pid {
            _ = m.sampler.sample(pgid: pid, monotonic: mono)
            m.primed = pid
        }
        guard mono >= m.nextAt else { return }
        m.nextAt += m.interval
        if m.nextAt <= mono { m.nextAt = mono + m.interval }
        var s = MetricSample(time: now(), state: ServiceStateName(recorded: record.state),
                             health: ServiceHealthName(recorded: record.health), restarts: record.restarts)
        if let pid = child, let usage = m.sampler.sample(pgid: pid, monotonic: mono) {
            s.cpuPercent = usage.cpuPercent
            s.memoryBytes = usage.memoryBytes
            s.threads = usage.threads
            s.openFiles = usage.openFiles
        }
        if let h = record.last_health, h.at != m.reportedProbe {
            if m.reportedProbe != nil || h.at >= record.started_at ?? .distantPast { s.probeLatencyMs = Double(h.duration_ms) }
            m.reportedProbe = h.at
        }
        m.recorder.record(s)
        onSample?(s)
    }
}
