import FoundationEssentials

/// One HTTP response of the ACME server.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Header names lower-cased; the last value wins (ACME uses Location, Replay-Nonce,
    /// Retry-After, Content-Type once each; Link may repeat and is kept joined).
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// How tetra talks HTTP to the ACME server.
public protocol ACMETransport: Sendable {
    func request(method: String, url: String, body: Data?, contentType: String?, accept: String?) throws -> HTTPResponse
}

/// The transport: the `curl` command (argv, body on stdin), for every ACME request.
///
/// Why curl and not URLSession: Foundation's URLSession on Linux trusts only the system
/// store, so a private or test CA (`--acme-ca`, `TETRA_ACME_CA_BUNDLE`) could not be
/// honoured; one transport for all servers keeps behaviour identical with and without a
/// private CA, and the static tetra binary needs no libcurl linked in. `--cacert FILE` is
/// passed when a CA bundle is given (trusting only it, for the ACME requests only).
public struct CurlTransport: ACMETransport {
    public let runner: any ProcessRunning
    public let caBundle: String?
    public let timeout: TimeInterval

    public init(runner: any ProcessRunning, caBundle: String?, timeout: TimeInterval = 30) {
        self.runner = runner
        self.caBundle = caBundle
        self.timeout = timeout
    }

    /// The curl argv for one request (exposed for tests).
    public func arguments(method: String, url: String, hasBody: Bool, contentType: String?, accept: String?) -> [String] {
        var args = ["--silent", "--show-error", "--include", "--http1.1", "--max-time", String(Int(timeout)),
                    "--proto", "=https,http", "--user-agent", "tetra-acme/1"]
        if let caBundle { args += ["--cacert", caBundle] }
        if method == "HEAD" { args += ["--head"] } else if method != "GET" { args += ["--request", method] }
        if let contentType { args += ["--header", "Content-Type: \(contentType)"] }
        if let accept { args += ["--header", "Accept: \(accept)"] }
        if hasBody { args += ["--data-binary", "@-"] }
        args += ["--", url]
        return args
    }

    public func request(method: String, url: String, body: Data?, contentType: String?, accept: String?) throws -> HTTPResponse {
        let args = arguments(method: method, url: url, hasBody: body != nil, contentType: contentType, accept: accept)
        let result = try runner.run(ProcessRequest("curl", args, input: body, timeout: timeout + 5, outputLimit: 16 << 20))
        if result.timedOut {
            throw SSLError.unreachable(url: url, reason: "no answer within \(Int(timeout))s", hint: nil)
        }
        guard result.status == 0 else {
            let reason = ToolError.tail(of: result.stderrString, lines: 2).trimming(.whitespacesAndNewlines)
            let hint: String?
            switch result.status {
            case 60, 77, 35:
                hint = "the server's TLS certificate is not trusted: give its CA with --acme-ca FILE or TETRA_ACME_CA_BUNDLE"
            case 6, 7, 28:
                hint = "check --acme-server (the directory URL) and the network"
            default: hint = nil
            }
            throw SSLError.unreachable(url: url, reason: reason.isEmpty ? "curl exit status \(result.status)" : reason, hint: hint)
        }
        return try Self.parse(result.stdout)
    }

    /// Splits `curl --include` output into status, headers and body (skipping interim
    /// `100 Continue` blocks).
    public static func parse(_ raw: Data) throws -> HTTPResponse {
        var bytes = raw[...]
        while true {
            guard let end = headerEnd(bytes) else { throw SSLError.protocolError("no HTTP header in the answer") }
            // Split on LF bytes: in Swift strings "\r\n" is one Character, so splitting text on
            // "\n" would not separate CRLF lines.
            var lines = bytes[bytes.startIndex..<end.start].split(separator: 0x0A, omittingEmptySubsequences: false).map {
                String(decoding: $0.last == 0x0D ? $0.dropLast() : $0, as: UTF8.self)
            }
            bytes = bytes[end.end...]
            guard !lines.isEmpty else { throw SSLError.protocolError("empty HTTP header") }
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/"), let status = Int(statusLine[1]) else {
                throw SSLError.protocolError("bad HTTP status line")
            }
            if status >= 100 && status < 200 { continue }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimming(.whitespaces)
                if let existing = headers[name], name == "link" { headers[name] = existing + ", " + value } else { headers[name] = value }
            }
            return HTTPResponse(status: status, headers: headers, body: Data(bytes))
        }
    }

    static func headerEnd(_ bytes: Data.SubSequence) -> (start: Data.Index, end: Data.Index)? {
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 0x0A {
                let next = bytes.index(after: i)
                if next < bytes.endIndex, bytes[next] == 0x0A { return (i, bytes.index(after: next)) }
                if next < bytes.endIndex, bytes[next] == 0x0D {
                    let n2 = bytes.index(after: next)
                    if n2 < bytes.endIndex, bytes[n2] == 0x0A { return (i, bytes.index(after: n2)) }
                }
            }
            i = bytes.index(after: i)
        }
        return nil
    }
}
