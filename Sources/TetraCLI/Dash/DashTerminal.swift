import FoundationEssentials
import Glibc
import TetraCore

/// The terminal of `tetra dash`: raw mode (termios, saved and restored), the alternate screen,
/// the hidden cursor, the window size, and a wake pipe that SIGWINCH and the interrupt flag
/// (SIGTERM, SIGHUP) write to so that one `poll()` waits for keys, signals and the refresh.
/// `restore()` is idempotent and safe from any thread: the session calls it on every path out
/// (quit, error, interrupt) and the CLI's exit handler calls it when a second signal ends the
/// process at once.
final class DashTerminal: @unchecked Sendable {
    let input: Int32
    let output: Int32
    private let lock = Lock()
    private var saved = termios()
    private var active = false
    private var previousWinch = sigaction()
    /// [read, write] ends of the wake pipe.
    let wake: [Int32]

    /// The write end of the wake pipe for the SIGWINCH handler (a C function cannot capture):
    /// set once when the first terminal session starts; one dashboard runs per process.
    nonisolated(unsafe) static var winchFd: Int32 = -1

    init(input: Int32 = 0, output: Int32 = 1) throws {
        self.input = input
        self.output = output
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw CoreError.failed("cannot create a pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wake = fds
    }

    deinit {
        restore()
        close(wake[0])
        close(wake[1])
    }

    /// Raw mode (no echo, no line buffering, no signals from keys: Ctrl-C is read as 0x03;
    /// output processing kept), alternate screen, hidden cursor, SIGWINCH wakes `poll`.
    func enter() throws {
        lock.lock()
        defer { lock.unlock() }
        guard tcgetattr(input, &saved) == 0 else {
            throw CoreError.failed("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
        var raw = saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        guard tcsetattr(input, TCSAFLUSH, &raw) == 0 else {
            throw CoreError.failed("cannot put the terminal in raw mode: \(String(cString: strerror(errno)))")
        }
        active = true
        Self.winchFd = wake[1]
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var byte: UInt8 = 0x57 // "W"
            _ = Glibc.write(DashTerminal.winchFd, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGWINCH, &action, &previousWinch)
        writeAll("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
    }

    /// Leaves the alternate screen, shows the cursor, restores the saved settings.
    func restore() {
        lock.lock()
        defer { lock.unlock() }
        guard active else { return }
        active = false
        sigaction(SIGWINCH, &previousWinch, nil)
        writeAll("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        _ = tcsetattr(input, TCSAFLUSH, &saved)
    }

    /// Wakes a `poll` in `waitForInput` (from the interrupt flag's observer).
    func wakeUp() {
        var byte: UInt8 = 0x49 // "I"
        _ = Glibc.write(wake[1], &byte, 1)
    }

    /// Columns and rows (80x24 when the size cannot be read).
    func size() -> (columns: Int, rows: Int) {
        var ws = winsize()
        if ioctl(output, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 { return (Int(ws.ws_col), Int(ws.ws_row)) }
        return (80, 24)
    }

    /// Writes everything (one `write` for a frame unless the kernel takes less).
    func writeAll(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(output, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { var p = pollfd(fd: output, events: Int16(POLLOUT), revents: 0); _ = poll(&p, 1, 100); continue }
            guard n > 0 else { return }
            done += n
        }
    }

    struct Wakeup { var keys: [UInt8] = []; var woken = false; var inputClosed = false }

    /// Waits up to `timeoutMs` for keys or a wake-up (resize, interrupt); no busy loop.
    func wait(timeoutMs: Int32) -> Wakeup {
        var fds = [pollfd(fd: input, events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        var out = Wakeup()
        let n = poll(&fds, 2, max(0, timeoutMs))
        guard n > 0 else { return out }
        if fds[1].revents != 0 {
            var buf = [UInt8](repeating: 0, count: 64)
            while read(wake[0], &buf, buf.count) > 0 {}
            out.woken = true
        }
        if fds[0].revents & Int16(POLLIN) != 0 {
            var buf = [UInt8](repeating: 0, count: 256)
            let r = read(input, &buf, buf.count)
            if r > 0 { out.keys = Array(buf[0..<r]) } else if r == 0 { out.inputClosed = true }
        } else if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
            out.inputClosed = true
        }
        return out
    }
}

/// A key read from the terminal.
enum DashKey: Equatable {
    case char(Character), up, down, tab, enter, escape, backspace, ctrlC, other

    /// Splits raw input into keys (arrow keys arrive as ESC [ A / ESC O A).
    static func parse(_ bytes: [UInt8]) -> [DashKey] {
        var keys: [DashKey] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x1B:
                if i + 2 < bytes.count, bytes[i + 1] == 0x5B || bytes[i + 1] == 0x4F {
                    switch bytes[i + 2] {
                    case 0x41: keys.append(.up)
                    case 0x42: keys.append(.down)
                    default: keys.append(.other)
                    }
                    i += 3
                    // Longer sequences (ESC [ 1 ; 5 A ...): skip to their final byte.
                    while i < bytes.count, bytes[i - 1] < 0x40 || bytes[i - 1] > 0x7E { i += 1 }
                    continue
                }
                keys.append(.escape)
            case 0x03: keys.append(.ctrlC)
            case 0x09: keys.append(.tab)
            case 0x0D, 0x0A: keys.append(.enter)
            case 0x7F, 0x08: keys.append(.backspace)
            case 0x20...0x7E: keys.append(.char(Character(UnicodeScalar(b))))
            default: keys.append(.other)
            }
            i += 1
        }
        return keys
    }
}
