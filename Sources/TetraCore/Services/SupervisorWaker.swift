import FoundationEssentials
import Glibc

/// What a supervisor sleeps on between events, so that an idle service costs no CPU: it
/// blocks in poll(2) on
/// - a wake pipe, written when the service's process exits (a thread blocked in
///   `waitid(WNOWAIT)` on it), when a health probe finishes, and when the interrupt flag is
///   raised (SIGTERM from `svc stop`);
/// - inotify on the service's state directory (`state.json` written by another process) and
///   on its parent (the state directory removed or renamed: a directory whose files are open
///   reports no deletion of its own),
/// with a timeout equal to the next due timer (health check, restart after backoff), or
/// none. Nothing else wakes it: the log pipes are read by blocking reads on their own threads.
final class SupervisorWaker: @unchecked Sendable {
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// -1 when inotify is unavailable (then the state directory and file are checked every
    /// `fallbackCheck` seconds instead).
    private let inotify: Int32
    static let fallbackCheck: TimeInterval = 2


    init(watching directory: String, stateFile: String) throws {
        let p = try Spawn.pipe()
        wakeRead = p.read
        wakeWrite = p.write
        for fd in [p.read, p.write] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let fd = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        let own = UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR)
        let parent = UInt32(IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        let parentDirectory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)])
        if fd >= 0, inotify_add_watch(fd, directory, own) >= 0, inotify_add_watch(fd, parentDirectory, parent) >= 0 {
            inotify = fd
        } else {
            if fd >= 0 { close(fd) }
            inotify = -1
        }
        stateName = String(stateFile.split(separator: "/").last ?? "")
    }

    private let stateName: String

    deinit {
        for fd in [wakeRead, wakeWrite, inotify] where fd >= 0 { close(fd) }
    }

    /// Wakes the waiting supervisor (from any thread; never blocks).
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Wakes the supervisor when `pid` (its child) exits, without reaping it: the supervisor
    /// reaps it itself. The thread ends with the process.
    func watchExit(of pid: pid_t) {
        Threads.start(name: "tetra-exit-watch", stackSize: 1 << 16) { [self] in
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            wake()
        }
    }

    /// Blocks until woken, the state directory changes, or `timeout` seconds pass (nil:
    /// no timeout). True when `state.json` was written meanwhile (closed after writing,
    /// renamed into place; or maybe: inotify overflowed). The caller checks whether its state
    /// directory still exists after every wake.
    func wait(timeout: TimeInterval?) -> Bool {
        var limit = timeout
        if inotify < 0 { limit = min(limit ?? Self.fallbackCheck, Self.fallbackCheck) }
        let ms: Int32 = limit.map { Int32(min(max(0, ($0 * 1000).rounded(.up)), 86_400_000)) } ?? -1
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if inotify >= 0 { fds.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
        let r = poll(&fds, nfds_t(fds.count), ms)
        var stateWritten = inotify < 0
        guard r > 0 else { return stateWritten }
        var buffer = [UInt8](repeating: 0, count: 4096)
        if fds[0].revents != 0 {
            while buffer.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
        }
        if fds.count > 1, fds[1].revents != 0 {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                guard n > 0 else { break }
                if parse(buffer, count: n) { stateWritten = true }
            }
        }
        return stateWritten
    }

    /// Walks the `inotify_event` records (wd, mask, cookie, len, then `len` bytes of name):
    /// true when one says `state.json` was written.
    private func parse(_ buffer: [UInt8], count: Int) -> Bool {
        var stateWritten = false
        let header = MemoryLayout<inotify_event>.size
        var offset = 0
        while offset + header <= count {
            let (mask, len) = buffer.withUnsafeBytes { raw -> (UInt32, Int) in
                (raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                 Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
            }
            let name = String(decoding: buffer[(offset + header)..<min(count, offset + header + len)].prefix { $0 != 0 }, as: UTF8.self)
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { stateWritten = true }
            if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0, name == stateName { stateWritten = true }
            offset += header + len
        }
        return stateWritten
    }
}
