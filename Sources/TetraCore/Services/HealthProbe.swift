import FoundationEssentials
import Glibc

/// Runs one health check (SPEC §3 "svc" `[health]`):
/// - `http`: an HTTP/1.1 GET over a plain socket; healthy on a 2xx or 3xx status within `timeout`;
/// - `tcp`: a TCP connect within `timeout`;
/// - `command`: the argv exits 0 within `timeout` (killed with its process group after it).
public enum HealthProbe {
    public static func run(_ check: ServiceDefinition.HealthCheck, port: Int?, timeout: TimeInterval,
                           environment: [String: String], cwd: String?, now: () -> Date = { Date() }) -> HealthResult {
        let start = Monotonic.now()
        let at = now()
        let (ok, message): (Bool, String)
        switch check {
        case .http(let url):
            (ok, message) = http(ServiceDefinition.substitute(url, port: port), timeout: timeout)
        case .tcp(let target):
            (ok, message) = tcp(ServiceDefinition.substitute(target, port: port), timeout: timeout)
        case .command(let argv):
            (ok, message) = command(argv.map { ServiceDefinition.substitute($0, port: port) }, timeout: timeout,
                                    environment: environment, cwd: cwd)
        }
        return HealthResult(ok: ok, at: at, message: message, duration_ms: Int((Monotonic.now() - start) * 1000))
    }

    /// `http://host[:port]/path` → parts.
    static func parseURL(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = String(authority)
        var port = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, PortNumber.isValid(port) else { return nil }
        return (host, port, path)
    }

    /// `{port}` (already substituted: "4000"), "HOST:PORT" or "PORT".
    static func parseTarget(_ text: String) -> (host: String, port: Int)? {
        if let p = Int(text), PortNumber.isValid(p) { return ("127.0.0.1", p) }
        guard let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]), PortNumber.isValid(p) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, p)
    }

    /// Connects with a deadline; returns the connected socket or a reason.
    static func connect(host: String, port: Int, deadline: TimeInterval) -> (fd: Int32?, error: String) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            return (nil, "cannot resolve \(host)")
        }
        defer { freeaddrinfo(res) }
        var lastError = "connection refused"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            var ok = false
            defer { if !ok { close(fd) } }
            let r = Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if r != 0 && errno != EINPROGRESS { lastError = String(cString: strerror(errno)); continue }
            if r != 0 {
                let remaining = deadline - Monotonic.now()
                guard remaining > 0 else { return (nil, "timed out connecting to \(host):\(port)") }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let pr = poll(&pfd, 1, Int32(remaining * 1000))
                if pr == 0 { return (nil, "timed out connecting to \(host):\(port)") }
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                if err != 0 { lastError = String(cString: strerror(err)); continue }
            }
            ok = true
            return (fd, "")
        }
        return (nil, "\(host):\(port): \(lastError.lowercased())")
    }

    static func tcp(_ target: String, timeout: TimeInterval) -> (Bool, String) {
        guard let (host, port) = parseTarget(target) else { return (false, "invalid tcp target '\(target)'") }
        let (fd, error) = connect(host: host, port: port, deadline: Monotonic.now() + timeout)
        guard let fd else { return (false, error) }
        close(fd)
        return (true, "tcp \(host):\(port) accepted the connection")
    }

    static func http(_ url: String, timeout: TimeInterval) -> (Bool, String) {
        guard let (host, port, path) = parseURL(url) else { return (false, "invalid http URL '\(url)'") }
        let deadline = Monotonic.now() + timeout
        let (maybeFD, error) = connect(host: host, port: port, deadline: deadline)
        guard let fd = maybeFD else { return (false, "GET \(url): \(error)") }
        defer { close(fd) }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: tetra-health\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let remaining = deadline - Monotonic.now()
            if remaining <= 0 || poll(&pfd, 1, Int32(remaining * 1000)) <= 0 { return (false, "GET \(url): timed out after \(DurationParser.format(timeout))") }
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EAGAIN || errno == EINTR { continue }; return (false, "GET \(url): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !response.contains(0x0A) && response.count < 8192 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let remaining = deadline - Monotonic.now()
            if remaining <= 0 || poll(&pfd, 1, Int32(remaining * 1000)) <= 0 { return (false, "GET \(url): timed out after \(DurationParser.format(timeout))") }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { if errno == EAGAIN || errno == EINTR { continue }; return (false, "GET \(url): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            response += buffer[0..<n]
        }
        let statusLine = String(decoding: response.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            return (false, "GET \(url): not an HTTP response")
        }
        return ((200..<400).contains(code), "GET \(url): \(code)")
    }

    static func command(_ argv: [String], timeout: TimeInterval, environment: [String: String], cwd: String?) -> (Bool, String) {
        if let cwd, !Spawn.isCurrentDirectory(cwd) {
            // From the CLI (`svc health`), elsewhere than the service's directory.
            let runner = SystemProcessRunner(environment: environment)
            let request = ProcessRequest(argv[0], Array(argv.dropFirst()), environment: environment, replaceEnvironment: true,
                                         workingDirectory: cwd, timeout: timeout, killGrace: 0.2, outputLimit: 1 << 16)
            do {
                let r = try runner.run(request)
                if r.timedOut { return (false, "\(argv[0]) timed out after \(DurationParser.format(timeout))") }
                return (r.status == 0, "\(argv[0]) exited \(r.status)")
            } catch {
                return (false, (error as? any TetraError)?.message ?? "\(error)")
            }
        }
        let pid: pid_t
        do {
            pid = try Spawn.spawn(Spawn.Options(executable: argv[0], argv: argv, environment: environment))
        } catch {
            return (false, "\(error)")
        }
        let deadline = Monotonic.now() + timeout
        while Monotonic.now() < deadline {
            if let status = Spawn.reap(pid) {
                return (status == 0, "\(argv[0]) exited \(status)")
            }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (false, "\(argv[0]) timed out after \(DurationParser.format(timeout))")
    }
}
