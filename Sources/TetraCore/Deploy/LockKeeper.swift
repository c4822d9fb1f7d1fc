import Dispatch
import FoundationEssentials
import Glibc

/// Proof, at an ssh target, that the holder of its lock is alive.
///
/// A target lock records who holds it (pid, host, boot id), but a pid means nothing to a
/// machine other than the holder's. So while tetra holds a target lock over ssh it keeps one
/// more ssh session open: `RemoteScripts.keeper`, which holds `flock(1)` on
/// `.tetra/alive.<token>` and reads its standard input until end of file. That standard input
/// is a pipe whose only writer is this object. When the holder ends, however it ends (done,
/// Ctrl-C, `kill -9`, a crash), the kernel closes the pipe, ssh passes the end of file on,
/// the remote `cat` exits and the flock is released. Anyone who then finds the lock, from any
/// machine, sees a lock that names a keeper (`"keeper":true`) whose flock is free, and breaks
/// it at once instead of waiting for the TTL.
///
/// The keeper is started before the lock is taken (the lock script waits for its flock, so
/// a record naming a keeper never exists without one) and stopped after the lock is released.
public final class LockKeeper: @unchecked Sendable {
    private let writeEnd: Int32
    private let readEnd: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let state = Lock()
    private var stopped = false

    /// Starts `request(stdinPath)` on its own thread, its standard input the read end of the
    /// keeper's pipe (`/dev/fd/N`). nil when no pipe can be made (the lock then has no keeper
    /// and its TTL decides, as before).
    init?(runner: any ProcessRunning, request: (String) -> ProcessRequest) {
        guard let fds = try? SystemProcessRunner.makePipe() else { return nil }
        readEnd = fds.read
        writeEnd = fds.write
        let req = request("/dev/fd/\(fds.read)")
        let done = finished
        Threads.start(name: "tetra-lock-keeper") {
            _ = try? runner.run(req)
            done.signal()
        }
    }

    /// Ends the keeper session (closes the pipe) and waits up to `wait` seconds for it to
    /// exit. Idempotent.
    public func stop(wait: TimeInterval = 3) {
        state.lock()
        let first = !stopped
        stopped = true
        state.unlock()
        guard first else { return }
        close(writeEnd)
        // The read end is closed only once the runner has opened its own copy and finished:
        // closed earlier, its number could be reused before the runner opens /dev/fd/N.
        if finished.wait(timeout: .now() + wait) == .success {
            close(readEnd)
        }
    }

    deinit { stop(wait: 1) }
}
