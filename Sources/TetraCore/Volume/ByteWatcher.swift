import Dispatch
import FoundationEssentials
import Glibc

/// Reports a growing byte count to the progress reporter while a helper works: the size of
/// the archive a backup writes, the offset up to which a restore read its archive. `measure`
/// is asked five times a second (nil: not known now); what it grew by since is reported.
final class ByteWatcher: @unchecked Sendable {
    let progress: any ProgressReporter
    let name: String
    let measure: @Sendable () -> Int64?
    private let lock = Lock()
    private var stopped = false
    private var reported: Int64 = 0
    private let finished = DispatchSemaphore(value: 0)

    init(progress: any ProgressReporter, name: String, measure: @escaping @Sendable () -> Int64?) {
        self.progress = progress
        self.name = name
        self.measure = measure
    }

    func start() {
        Threads.start(name: name) { [self] in
            defer { finished.signal() }
            while true {
                for _ in 0..<4 {
                    if isStopped { return }
                    usleep(50_000)
                }
                report()
            }
        }
    }

    /// Reports the growth since the last report (under the lock: the watcher thread and
    /// `stop` both report).
    private func report() {
        lock.lock(); defer { lock.unlock() }
        guard let now = measure(), now > reported else { return }
        progress.advance(files: 0, bytes: now - reported)
        reported = now
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// Stops the thread and reports the last growth.
    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if !already {
            finished.wait()
            report()
        }
    }
}
