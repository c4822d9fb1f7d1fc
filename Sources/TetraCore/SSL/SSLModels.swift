import FoundationEssentials
import Glibc

/// What `openssl x509 -noout -subject -issuer -startdate -enddate -serial -fingerprint -sha256
/// -ext subjectAltName -nameopt RFC2253` says about a certificate.
public struct CertificateInfo: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    public var notBefore: Date
    public var notAfter: Date
    public var serial: String
    public var fingerprint: String
    /// DNS names of the subjectAltName extension, in order.
    public var names: [String]

    public static func parse(_ text: String) throws -> CertificateInfo {
        var values: [String: String] = [:]
        var names: [String] = []
        var inSAN = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimming(.whitespaces)
            if line.hasPrefix("X509v3 Subject Alternative Name") { inSAN = true; continue }
            if inSAN {
                for part in line.split(separator: ",") {
                    let p = part.trimming(.whitespaces)
                    if p.hasPrefix("DNS:") { names.append(String(p.dropFirst(4)).lowercased()) }
                }
                inSAN = false
                continue
            }
            if let eq = line.firstIndex(of: "=") {
                let key = line[..<eq].trimming(.whitespaces)
                let value = line[line.index(after: eq)...].trimming(.whitespaces)
                if key.hasSuffix("Fingerprint") { values["fingerprint"] = value } else if values[key] == nil { values[key] = value }
            }
        }
        guard let nb = values["notBefore"].flatMap(Self.parseDate), let na = values["notAfter"].flatMap(Self.parseDate) else {
            throw DERError("no validity dates in the certificate")
        }
        let subject = values["subject"] ?? ""
        if names.isEmpty, let cn = subject.split(separator: ",").first(where: { $0.hasPrefix("CN=") }) {
            names = [String(cn.dropFirst(3)).lowercased()]
        }
        return CertificateInfo(subject: subject, issuer: values["issuer"] ?? "", notBefore: nb, notAfter: na,
                               serial: values["serial"] ?? "", fingerprint: values["fingerprint"] ?? "", names: names)
    }

    /// "Nov 21 20:12:36 2026 GMT" (also with a space-padded day).
    static func parseDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count >= 4 else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(parts[0])), let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let hms = parts[2].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        // UTC by timegm(3): no time zone database is linked into tetra.
        var t = tm()
        t.tm_year = Int32(year - 1900); t.tm_mon = Int32(month); t.tm_mday = Int32(day)
        t.tm_hour = Int32(hms[0]); t.tm_min = Int32(hms[1]); t.tm_sec = Int32(hms[2])
        let epoch = timegm(&t)
        guard t.tm_mday == Int32(day) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(epoch))
    }
}

/// Where a stored certificate came from: `origin` in JSON, `source` in meta.toml (the file
/// format keeps its key).
public enum CertificateOrigin: String, Sendable, Codable {
    case acme
    case selfSigned = "self-signed"
    case imported
}

/// What `ssl generate`, `ensure`, `renew` and `import` did to a certificate (under `--dry-run`:
/// what they would do, with `dry_run` true).
public enum CertificateAction: String, Sendable, Encodable {
    case issued, renewed, imported, unchanged, skipped, failed
}

/// `ssl/<domain>/meta.toml`: everything `ssl list` shows, read once when the certificate is
/// written, plus what a renewal needs to repeat the issuance.
public struct CertificateMeta: Sendable, Equatable, Codable {
    public var domain: String
    public var names: [String]
    public var subject: String
    public var issuer: String
    public var not_before: Date
    public var not_after: Date
    public var serial: String
    public var fingerprint_sha256: String
    public var source: CertificateOrigin
    /// ec256, rsa2048 (issued here), or what an imported key is (rsa4096, ...).
    public var key_type: String
    public var created: Date
    // Issuance parameters, reused by renew/ensure unless flags override them.
    public var acme_server: String?
    public var acme_ca: String?
    public var email: String?
    public var http_port: Int?
    public var webroot: String?
    public var days: Int?
    /// `ssl generate|import --tag T` (docs/search.md).
    public var tags: [String]?

    public init(domain: String, info: CertificateInfo, source: CertificateOrigin, keyType: String, created: Date) {
        self.domain = domain
        names = info.names
        subject = info.subject
        issuer = info.issuer
        not_before = info.notBefore
        not_after = info.notAfter
        serial = info.serial
        fingerprint_sha256 = info.fingerprint
        self.source = source
        key_type = keyType
        self.created = created
    }

    /// The TOML text (keys in a fixed order; optional keys only when set).
    public var toml: String {
        func s(_ v: String) -> String { TOMLText.string(v) }
        func d(_ v: Date) -> String { Timestamps.iso8601(v) }
        var out = "# written by tetra when the certificate was stored; read by 'tetra ssl list'\n"
        out += "domain = \(s(domain))\n"
        out += "names = [\(names.map(s).joined(separator: ", "))]\n"
        out += "subject = \(s(subject))\n"
        out += "issuer = \(s(issuer))\n"
        out += "not_before = \(d(not_before))\n"
        out += "not_after = \(d(not_after))\n"
        out += "serial = \(s(serial))\n"
        out += "fingerprint_sha256 = \(s(fingerprint_sha256))\n"
        out += "source = \(s(source.rawValue))\n"
        out += "key_type = \(s(key_type))\n"
        out += "created = \(d(created))\n"
        if let acme_server { out += "acme_server = \(s(acme_server))\n" }
        if let acme_ca { out += "acme_ca = \(s(acme_ca))\n" }
        if let email { out += "email = \(s(email))\n" }
        if let http_port { out += "http_port = \(http_port)\n" }
        if let webroot { out += "webroot = \(s(webroot))\n" }
        if let days { out += "days = \(days)\n" }
        if let tags, !tags.isEmpty { out += "tags = [\(tags.map(s).joined(separator: ", "))]\n" }
        return out
    }

    public static func parse(_ data: Data, file: String) throws -> CertificateMeta {
        try parse(Array(data), file: file)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> CertificateMeta {
        if let fast = MetaFastReader.read(bytes) { return fast }
        let document = try TOMLDocument(bytes: bytes, fileName: file)
        return try TOMLDecoder().decode(CertificateMeta.self, from: document).0
    }
}

/// TOML basic strings for hand-written files.
enum TOMLText {
    static func string(_ v: String) -> String {
        var out = ""
        TOMLSerializer.appendBasicString(v, to: &out)
        return out
    }
}

/// An ACME problem document (RFC 8555 §6.7, RFC 7807).
public struct ACMEProblem: Sendable, Equatable, Decodable {
    public struct Identifier: Sendable, Equatable, Decodable { public var type: String?; public var value: String? }
    public struct Sub: Sendable, Equatable, Decodable {
        public var type: String?
        public var detail: String?
        public var identifier: Identifier?
    }
    public var type: String?
    public var detail: String?
    public var status: Int?
    public var subproblems: [Sub]?

    public init(type: String?, detail: String?, status: Int? = nil, subproblems: [Sub]? = nil) {
        self.type = type; self.detail = detail; self.status = status; self.subproblems = subproblems
    }

    /// "urn:ietf:params:acme:error:connection: detail (a.example.com: ...)"
    public var summary: String {
        var s = (type ?? "unknown problem type") + ": " + (detail ?? "no detail")
        for sub in subproblems ?? [] {
            s += "; " + (sub.identifier?.value.map { $0 + ": " } ?? "") + (sub.type ?? "") + " " + (sub.detail ?? "")
        }
        return s
    }

    /// The short type name ("badNonce" for "urn:ietf:params:acme:error:badNonce").
    public var shortType: String { (type ?? "").split(separator: ":").last.map(String.init) ?? "" }

    public static func parse(_ body: Data) -> ACMEProblem? {
        guard let p = try? JSONDecoder().decode(ACMEProblem.self, from: body), p.type != nil || p.detail != nil else { return nil }
        return p
    }
}

/// Errors of certificate work: ACME server problems (exit 1), a key that does not match its
/// certificate (exit 3).
public enum SSLError: TetraError, Equatable {
    /// The ACME server answered with a problem document.
    case acme(context: String, problem: ACMEProblem, status: Int)
    /// The ACME server answered something we cannot use.
    case protocolError(String)
    /// A challenge or an order ended invalid.
    case validationFailed(name: String, problem: ACMEProblem?)
    case keyMismatch(String)
    case badCertificate(String)
    case unreachable(url: String, reason: String, hint: String?)
    case hookFailed(command: String, status: Int32, output: String)

    public var exitCode: ExitCode {
        switch self {
        case .keyMismatch, .badCertificate: return .invalidConfig
        default: return .failure
        }
    }

    public var kind: String {
        switch self {
        case .acme, .protocolError: return "acme"
        case .validationFailed: return "acme_validation"
        case .keyMismatch: return "key_mismatch"
        case .badCertificate: return "config"
        case .unreachable: return "acme_unreachable"
        case .hookFailed: return "hook_failed"
        }
    }

    public var message: String {
        switch self {
        case .acme(let context, let problem, let status):
            return "ACME server refused \(context) (HTTP \(status)): \(problem.summary)"
        case .protocolError(let m): return "unexpected ACME server answer: \(m)"
        case .validationFailed(let name, let problem):
            return "the ACME server could not validate \(name): " + (problem?.summary ?? "authorization is invalid")
        case .keyMismatch(let m), .badCertificate(let m): return m
        case .unreachable(let url, let reason, _): return "cannot reach the ACME server at \(url): \(reason)"
        case .hookFailed(let command, let status, let output):
            let t = output.trimming(.whitespacesAndNewlines)
            return "deploy hook '\(command)' failed with exit status \(status)" + (t.isEmpty ? "" : ": \(t)")
        }
    }

    public var hint: String? {
        switch self {
        case .validationFailed:
            return "the HTTP-01 check fetches http://NAME/.well-known/acme-challenge/...: the name must resolve to this host and port 80 (or --http-port) must reach tetra's listener or the --webroot's web server"
        case .keyMismatch: return "give the private key that belongs to this certificate"
        case .unreachable(_, _, let h): return h
        case .hookFailed: return "the new certificate is stored; fix the hook and re-run it by hand"
        default: return nil
        }
    }
}

/// A reader for meta.toml as tetra writes it (`key = "string" | integer | date-time |
/// ["string", ...]`, comments, blank lines), ~10x faster than the general TOML engine: it keeps
/// `ssl list` fast with thousands of certificates. Anything else (a hand-edited file with
/// other TOML syntax, an unknown or repeated key) returns nil, and the full TOML decoder
/// reads the file with its `path:line:column` errors.
enum MetaFastReader {
    static func read(_ b: [UInt8]) -> CertificateMeta? {
        var i = 0
        let n = b.count
        var domain: String?, names: [String]?, subject: String?, issuer: String?, serial: String?, fingerprint: String?
        var source: CertificateOrigin?, keyType: String?, notBefore: Date?, notAfter: Date?, created: Date?
        var acmeServer: String?, acmeCA: String?, email: String?, webroot: String?, httpPort: Int?, days: Int?, tags: [String]?
        func skipSpaces() { while i < n, b[i] == 0x20 || b[i] == 0x09 { i += 1 } }
        func basicString() -> String? {
            guard i < n, b[i] == 0x22 else { return nil }
            i += 1
            let start = i
            while i < n, b[i] != 0x22, b[i] != 0x5C, b[i] != 0x0A { i += 1 }
            guard i < n else { return nil }
            if b[i] == 0x22 {
                let s = String(decoding: b[start..<i], as: UTF8.self)
                i += 1
                return s
            }
            guard b[i] == 0x5C else { return nil }
            var out = Array(b[start..<i])
            while i < n {
                let c = b[i]
                if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
                if c == 0x0A || c == 0x0D { return nil }
                if c == 0x5C {
                    guard i + 1 < n else { return nil }
                    switch b[i + 1] {
                    case 0x22: out.append(0x22)
                    case 0x5C: out.append(0x5C)
                    case 0x6E: out.append(0x0A)
                    case 0x74: out.append(0x09)
                    case 0x72: out.append(0x0D)
                    default: return nil // \u and others: leave to the full parser
                    }
                    i += 2
                    continue
                }
                out.append(c)
                i += 1
            }
            return nil
        }
        func bare() -> String {
            let start = i
            while i < n, b[i] != 0x0A, b[i] != 0x0D, b[i] != 0x20, b[i] != 0x09, b[i] != 0x23 { i += 1 }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        func date() -> Date? {
            let text = bare()
            return text.utf8.count >= 20 ? Timestamps.parseISO8601(text) : nil
        }
        func int() -> Int? {
            let text = bare()
            guard let v = Int(text), text.first != "+", !(text.count > 1 && text.first == "0") else { return nil }
            return v
        }
        func strings() -> [String]? {
            guard i < n, b[i] == 0x5B else { return nil }
            i += 1
            var items: [String] = []
            while true {
                skipSpaces()
                guard i < n else { return nil }
                if b[i] == 0x5D { i += 1; return items }
                guard let s = basicString() else { return nil }
                items.append(s)
                skipSpaces()
                guard i < n else { return nil }
                if b[i] == 0x2C { i += 1; continue }
                guard b[i] == 0x5D else { return nil }
                i += 1
                return items
            }
        }
        /// Sets a value once: a repeated key (invalid TOML) goes to the full parser.
        func set<T>(_ slot: inout T?, _ value: T?) -> Bool {
            guard slot == nil, let value else { return false }
            slot = value
            return true
        }
        while i < n {
            skipSpaces()
            if i >= n { break }
            if b[i] == 0x0A { i += 1; continue }
            if b[i] == 0x23 { while i < n, b[i] != 0x0A { i += 1 }; continue }
            let keyStart = i
            while i < n, (b[i] >= 0x61 && b[i] <= 0x7A) || (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x5F { i += 1 }
            guard i > keyStart else { return nil }
            let key = String(decoding: b[keyStart..<i], as: UTF8.self)
            skipSpaces()
            guard i < n, b[i] == 0x3D else { return nil }
            i += 1
            skipSpaces()
            guard i < n else { return nil }
            let ok: Bool
            switch key {
            case "domain": ok = set(&domain, basicString())
            case "names": ok = set(&names, strings())
            case "subject": ok = set(&subject, basicString())
            case "issuer": ok = set(&issuer, basicString())
            case "serial": ok = set(&serial, basicString())
            case "fingerprint_sha256": ok = set(&fingerprint, basicString())
            case "source": ok = set(&source, basicString().flatMap(CertificateOrigin.init))
            case "key_type": ok = set(&keyType, basicString())
            case "not_before": ok = set(&notBefore, date())
            case "not_after": ok = set(&notAfter, date())
            case "created": ok = set(&created, date())
            case "acme_server": ok = set(&acmeServer, basicString())
            case "acme_ca": ok = set(&acmeCA, basicString())
            case "email": ok = set(&email, basicString())
            case "webroot": ok = set(&webroot, basicString())
            case "http_port": ok = set(&httpPort, int())
            case "days": ok = set(&days, int())
            case "tags": ok = set(&tags, strings())
            default: ok = false
            }
            guard ok else { return nil }
            skipSpaces()
            if i < n, b[i] == 0x23 { while i < n, b[i] != 0x0A { i += 1 } }
            if i < n, b[i] == 0x0D { i += 1; guard i < n, b[i] == 0x0A else { return nil } }
            guard i >= n || b[i] == 0x0A else { return nil }
            i += 1
        }
        guard let domain, let names, let subject, let issuer, let notBefore, let notAfter, let serial, let fingerprint,
              let source, let keyType, let created else { return nil }
        var m = CertificateMeta(domain: domain, info: CertificateInfo(subject: subject, issuer: issuer, notBefore: notBefore,
                                                                      notAfter: notAfter, serial: serial, fingerprint: fingerprint,
                                                                      names: names),
                                source: source, keyType: keyType, created: created)
        m.acme_server = acmeServer
        m.acme_ca = acmeCA
        m.email = email
        m.webroot = webroot
        m.http_port = httpPort
        m.days = days
        m.tags = tags
        return m
    }
}
