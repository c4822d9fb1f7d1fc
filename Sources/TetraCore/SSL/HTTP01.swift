import Dispatch
import FoundationEssentials
import Glibc

/// Serves HTTP-01 key authorizations at `/.well-known/acme-challenge/TOKEN`.
public protocol HTTP01Responder: AnyObject, Sendable {
    func provision(token: String, keyAuthorization: String) throws
    func remove(token: String)
    func stop()
}

public enum HTTP01 {
    public static let pathPrefix = "/.well-known/acme-challenge/"

    /// Tokens are base64url; anything else is refused before it becomes a path.
    static func validate(_ token: String) throws {
        guard !token.isEmpty, token.count <= 256,
              token.unicodeScalars.allSatisfy({ ($0.value >= 0x30 && $0.value <= 0x39) || ($0.value >= 0x41 && $0.value <= 0x5A)
                  || ($0.value >= 0x61 && $0.value <= 0x7A) || $0 == "-" || $0 == "_" }) else {
            throw SSLError.protocolError("challenge token is not base64url")
        }
    }
}

/// Writes the key authorization as a file under `<webroot>/.well-known/acme-challenge/` for a
/// web server that already serves the webroot; removes it (and the directories it created)
/// afterwards.
public final class WebrootResponder: HTTP01Responder, @unchecked Sendable {
    public let webroot: String
    private let lock = Lock()
    private var created: [String] = []

    public init(webroot: String) throws {
        var isDir = false
        guard FileManager.default.fileExists(atPath: webroot, isDirectory: &isDir), isDir else {
            throw CoreError.notFound(what: "webroot directory", name: webroot)
        }
        self.webroot = webroot
    }

    var challengeDirectory: String { webroot + "/.well-known/acme-challenge" }

    public func provision(token: String, keyAuthorization: String) throws {
        try HTTP01.validate(token)
        lock.lock(); defer { lock.unlock() }
        for dir in [webroot + "/.well-known", challengeDirectory] where !FileManager.default.fileExists(atPath: dir) {
            try AtomicFile.ensureDirectory(dir, mode: 0o755)
            created.append(dir)
        }
        try AtomicFile.write(string: keyAuthorization, to: challengeDirectory + "/" + token, mode: 0o644)
    }

    public func remove(token: String) {
        guard (try? HTTP01.validate(token)) != nil else { return }
        unlink(challengeDirectory + "/" + token)
    }

    public func stop() {
        lock.lock(); defer { lock.unlock() }
        for dir in created.reversed() { rmdir(dir) } // only when empty
        created = []
    }
}

/// A small in-process HTTP server for HTTP-01: listens on `port` (all addresses, IPv6
/// dual-stack when available), answers `GET /.well-known/acme-challenge/TOKEN` with the key
/// authorization and everything else with 404. One accept thread; each request is read with
/// a 5 s timeout and answered with `Connection: close`.
public final class HTTP01Listener: HTTP01Responder, @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let lock = Lock()
    private var tokens: [String: String] = [:]
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    /// Requests answered (for the progress display and tests).
    public private(set) var served = 0

    public init(port: Int) throws {
        self.port = port
        var socketFD = Self.bindSocket(port: port, ipv6: true)
        if socketFD.fd < 0 { socketFD = Self.bindSocket(port: port, ipv6: false) }
        guard socketFD.fd >= 0 else {
            let reason = String(cString: strerror(socketFD.err))
            let hint: String
            if socketFD.err == EACCES {
                hint = "ports below 1024 need root (or CAP_NET_BIND_SERVICE); use --webroot DIR with the web server that owns port \(port), or --http-port"
            } else if socketFD.err == EADDRINUSE {
                hint = "another program listens on port \(port): use --webroot DIR with the web server that serves it"
            } else { hint = "choose another --http-port or use --webroot" }
            throw CoreError.conflict("cannot listen on port \(port) for the HTTP-01 challenge: \(reason)", hint: hint)
        }
        fd = socketFD.fd
        Threads.start(name: "tetra-http01") { [self] in self.acceptLoop() }
    }

    deinit { stop() }

    static func bindSocket(port: Int, ipv6: Bool) -> (fd: Int32, err: Int32) {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return (-1, errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var rc: Int32
        if ipv6 {
            var zero: Int32 = 0
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            addr.sin6_addr = in6addr_any
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = INADDR_ANY
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if rc != 0 || listen(fd, 64) != 0 {
            let e = errno
            close(fd)
            return (-1, e)
        }
        return (fd, 0)
    }

    public func provision(token: String, keyAuthorization: String) throws {
        try HTTP01.validate(token)
        lock.lock(); tokens[token] = keyAuthorization; lock.unlock()
    }

    public func remove(token: String) {
        lock.lock(); tokens[token] = nil; lock.unlock()
    }

    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        finished.wait() // the accept loop closes the socket when it sees `stopped`
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func acceptLoop() {
        while !isStopped {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 100)
            if r <= 0 { continue }
            let client = accept(fd, nil, nil)
            if client < 0 { continue }
            handle(client)
            close(client)
        }
        close(fd)
        finished.signal()
    }

    private func handle(_ client: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] || request.suffix(2) == [10, 10] { break }
        }
        let firstLine = String(decoding: request.prefix(while: { $0 != 10 && $0 != 13 }), as: UTF8.self)
        let parts = firstLine.split(separator: " ")
        var status = "404 Not Found"
        var body = "not found\n"
        if parts.count >= 2, parts[0] == "GET" || parts[0] == "HEAD" {
            var path = String(parts[1])
            if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
            if path.hasPrefix(HTTP01.pathPrefix) {
                let token = String(path.dropFirst(HTTP01.pathPrefix.count))
                lock.lock()
                let value = tokens[token]
                if value != nil { served += 1 }
                lock.unlock()
                if let value { status = "200 OK"; body = value }
            }
        } else {
            status = "405 Method Not Allowed"
            body = "method not allowed\n"
        }
        let head = parts.first == "HEAD"
        let response = "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + (head ? "" : body)
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}
