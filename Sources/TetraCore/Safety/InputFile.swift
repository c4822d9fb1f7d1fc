import FoundationEssentials
import Glibc

/// The one reader of FILE arguments: `-` is standard input, and `/dev/stdin`, `/dev/fd/N`
/// and process substitution `<(...)` work, because the file is opened once and read once as
/// a stream (never re-opened, never seeked). A fifo nobody writes does not hang the command:
/// the open does not block and every wait is a short poll that checks the interrupt flag, so
/// SIGTERM or Ctrl-C ends the read (`CoreError.interrupted`, exit 130).
///
/// Size limits: a regular file over `limit` bytes is refused (exit 3) before anything is
/// read; a stream is refused as soon as it goes over the limit.
public enum InputFile {
    /// Config files (TOML: org.toml, ports.toml, settings, service definitions, template
    /// variables and any FILE given to `config`): 16 MiB. Real ones are kilobytes.
    public static let configLimit = 16 << 20
    /// PEM inputs (certificates, keys, CA bundles): 1 MiB.
    public static let pemLimit = 1 << 20

    /// Reads `path` (absolute, or `-` for standard input). `display` names it in errors.
    public static func read(_ path: String, display: String, limit: Int, interrupt: InterruptFlag?) throws -> Data {
        if path == "-" { return try read(fd: 0, display: display, limit: limit, interrupt: interrupt) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { throw CoreError.notFound(what: "file", name: display) }
            throw IOError("read", path: display, errno: err)
        }
        defer { close(fd) }
        // Blocking again for the reads (they only happen after poll says there is data);
        // this is our own open file description, nobody else's.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return try read(fd: fd, display: display, limit: limit, interrupt: interrupt)
    }

    /// Reads an open descriptor to its end (it is not closed).
    public static func read(fd: Int32, display: String, limit: Int, interrupt: InterruptFlag?) throws -> Data {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOError("read", path: display, errno: errno) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw CoreError.invalidArgument("\(display) is a directory, not a file") }
        if (st.st_mode & S_IFMT) == S_IFREG && Int(st.st_size) > limit { throw tooLarge(display, limit: limit) }
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            try waitReadable(fd: fd, display: display, interrupt: interrupt)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw IOError("read", path: display, errno: errno)
            }
            if n == 0 { return out }
            if out.count + n > limit { throw tooLarge(display, limit: limit) }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// One line from `fd` (a terminal for a `[y/N]` prompt), without the newline; nil at
    /// end of file. Throws `interrupted` when the interrupt flag goes up while waiting.
    public static func readLine(fd: Int32, interrupt: InterruptFlag?) throws -> String? {
        var bytes: [UInt8] = []
        while true {
            try waitReadable(fd: fd, display: "standard input", interrupt: interrupt)
            var byte: UInt8 = 0
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw IOError("read", path: "standard input", errno: errno)
            }
            if n == 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            if bytes.count < 4096 { bytes.append(byte) }
        }
    }

    /// A path a tool (curl, openssl) can open as often as it likes: a regular file is
    /// returned as it is; anything else (stdin, a fifo, `/dev/fd/N`, `<(...)`) is read once
    /// and kept as a private 0600 copy in `directory`, named by its content hash (so a
    /// setting that records the path keeps working).
    public static func realFile(_ path: String, display: String, limit: Int, directory: String,
                                interrupt: InterruptFlag?) throws -> String {
        var st = stat()
        if path != "-", stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { return path }
        let data = try read(path, display: display, limit: limit, interrupt: interrupt)
        var hash = SHA256()
        data.withUnsafeBytes { hash.update($0) }
        try AtomicFile.ensureDirectory(directory, mode: 0o700)
        let copy = directory + "/" + String(hash.finalizeHex().prefix(32))
        try AtomicFile.write(data, to: copy, mode: 0o600)
        return copy
    }

    /// The size error (exit 3), before the file is read whole.
    public static func tooLarge(_ display: String, limit: Int) -> ConfigError {
        ConfigError(ConfigProblem(file: display, message: "file is larger than the limit of \(limit >> 20) MiB; refused without reading it"))
    }

    /// Waits until `fd` has data or its end, in short polls that check the interrupt flag.
    static func waitReadable(fd: Int32, display: String, interrupt: InterruptFlag?) throws {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            try interrupt?.check()
            let r = poll(&p, 1, 200)
            if r > 0 { return }
            if r < 0 && errno != EINTR && errno != EAGAIN { throw IOError("read", path: display, errno: errno) }
        }
    }
}
