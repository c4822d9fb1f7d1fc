import FoundationEssentials

/// Delivers notifications on its own thread, in order, so that the thread that evaluates
/// rules (a supervisor's sampling) never waits for a webhook or its retries. The queue is
/// bounded: beyond `limit` waiting notifications the newest is recorded as failed.
public final class AlertDispatcher: AlertDispatching, @unchecked Sendable {
    let delivery: AlertDelivery
    let limit: Int
    let lock = Lock()
    var queue: [AlertEvent] = []
    var running = false

    public init(delivery: AlertDelivery, limit: Int = 256) {
        self.delivery = delivery
        self.limit = limit
    }

    public func send(_ event: AlertEvent) {
        // nil: the queue is full; else whether a delivery thread must be started.
        let start: Bool? = lock.withLock {
            if queue.count >= limit { return nil }
            queue.append(event)
            if running { return false }
            running = true
            return true
        }
        switch start {
        case nil:
            // Not sent, and the history says so.
            delivery.record(AlertHistoryEntry(time: Timestamps.iso8601(event.time), alert: event.rule.name, org: event.org,
                                              service: event.service, domain: event.domain, host: event.host, status: event.status,
                                              value: event.value, result: .failed,
                                              deliveries: event.rule.notify.map {
                                                  AlertDeliveryRecord(notifier: $0, kind: nil, result: .failed, attempts: 0,
                                                                      error: "not sent: \(limit) notifications were waiting")
                                              }))
        case true?:
            Threads.start(name: "tetra-alerts") { [self] in run() }
        case false?:
            break
        }
    }

    func run() {
        while true {
            let next: AlertEvent? = lock.withLock {
                if queue.isEmpty { running = false; return nil }
                return queue.removeFirst()
            }
            guard let next else { return }
            delivery.deliver(next)
        }
    }

    /// Waits until every queued notification was delivered (or `timeout` passed); true when
    /// the queue is empty. For a supervisor that stops, and tests.
    @discardableResult
    public func drain(timeout: TimeInterval) -> Bool {
        let deadline = Monotonic.now() + timeout
        while Monotonic.now() < deadline {
            if lock.withLock({ queue.isEmpty && !running }) { return true }
            Threads.sleep(0.02)
        }
        return lock.withLock { queue.isEmpty && !running }
    }
}
