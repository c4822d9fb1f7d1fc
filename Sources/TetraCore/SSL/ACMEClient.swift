import FoundationEssentials
import Glibc

/// Signs ACME requests as flattened JWS (RFC 7515 §7.2.2, RFC 8555 §6.2) with an account key
/// file: ES256 for P-256 keys (openssl's DER signature converted to raw r||s), RS256 for RSA.
public struct JWSSigner: Sendable {
    public let keyPath: String
    public let jwk: PublicKeyJWK
    let openssl: OpenSSL

    public init(keyPath: String, openssl: OpenSSL) throws {
        self.keyPath = keyPath
        self.openssl = openssl
        jwk = try PublicKeyJWK(spki: Array(try openssl.publicKeyDER(privateKey: keyPath)))
    }

    public var algorithm: String { jwk.keyType.jwsAlgorithm }

    /// The protected header: `jwk` for newAccount (no account URL yet), `kid` otherwise.
    public func protectedHeader(url: String, nonce: String, kid: String?) -> String {
        var h = "{\"alg\":\(TOMLJSON.string(algorithm)),"
        if let kid { h += "\"kid\":\(TOMLJSON.string(kid)),"} else { h += "\"jwk\":\(jwk.canonicalJSON)," }
        h += "\"nonce\":\(TOMLJSON.string(nonce)),\"url\":\(TOMLJSON.string(url))}"
        return h
    }

    /// The request body. `payload` nil means POST-as-GET (an empty payload string).
    public func sign(url: String, nonce: String, payload: Data?, kid: String?) throws -> Data {
        let protected64 = Base64URL.encode(protectedHeader(url: url, nonce: nonce, kid: kid))
        let payload64 = payload.map { Base64URL.encode($0) } ?? ""
        let input = protected64 + "." + payload64
        var signature = try openssl.sign(Data(input.utf8), privateKey: keyPath)
        if case .ec256 = jwk { signature = try ECDSASignature.rawFromDER(Array(signature)) }
        let body = "{\"protected\":\(TOMLJSON.string(protected64)),\"payload\":\(TOMLJSON.string(payload64)),\"signature\":\(TOMLJSON.string(Base64URL.encode(signature)))}"
        return Data(body.utf8)
    }

    /// `token.thumbprint`: what an HTTP-01 challenge serves.
    public func keyAuthorization(token: String) -> String { token + "." + jwk.thumbprint }
}

public struct ACMEDirectory: Sendable, Decodable {
    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
}

public struct ACMEIdentifier: Sendable, Codable, Equatable {
    public var type: String
    public var value: String
}

public struct ACMEOrder: Sendable, Decodable {
    public var status: String
    public var identifiers: [ACMEIdentifier]?
    public var authorizations: [String]
    public var finalize: String
    public var certificate: String?
    public var error: ACMEProblem?
}

public struct ACMEChallenge: Sendable, Decodable {
    public var type: String
    public var url: String
    public var status: String?
    public var token: String?
    public var error: ACMEProblem?
}

public struct ACMEAuthorization: Sendable, Decodable {
    public var status: String
    public var identifier: ACMEIdentifier
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?
}

/// An RFC 8555 client: directory, nonces (a `badNonce` is retried with the fresh nonce the
/// error carries), account, orders, authorizations, challenges, finalize, download.
public final class ACMEClient: @unchecked Sendable {
    public let directoryURL: String
    public let transport: any ACMETransport
    public let signer: JWSSigner
    /// Sleeps between polls (injected so unit tests do not wait).
    let sleep: @Sendable (TimeInterval) -> Void
    let interrupt: InterruptFlag?
    public var pollTimeout: TimeInterval = 180

    private var directory: ACMEDirectory?
    private var nonce: String?
    public private(set) var accountURL: String?

    public init(directoryURL: String, transport: any ACMETransport, signer: JWSSigner, interrupt: InterruptFlag? = nil,
                sleep: @escaping @Sendable (TimeInterval) -> Void = { Threads.sleep($0) }) {
        self.directoryURL = directoryURL
        self.transport = transport
        self.signer = signer
        self.interrupt = interrupt
        self.sleep = sleep
    }

    static let joseType = "application/jose+json"

    func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: response.body)
        } catch {
            throw SSLError.protocolError("cannot read the \(what) (HTTP \(response.status)): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
    }

    func failure(_ response: HTTPResponse, _ context: String) -> SSLError {
        let problem = ACMEProblem.parse(response.body)
            ?? ACMEProblem(type: nil, detail: String(decoding: response.body.prefix(300), as: UTF8.self))
        return .acme(context: context, problem: problem, status: response.status)
    }

    public func getDirectory() throws -> ACMEDirectory {
        if let directory { return directory }
        let response = try transport.request(method: "GET", url: directoryURL, body: nil, contentType: nil, accept: "application/json")
        guard response.status == 200 else { throw failure(response, "the directory request") }
        let d = try decode(ACMEDirectory.self, response, "ACME directory at \(directoryURL)")
        directory = d
        return d
    }

    func freshNonce() throws -> String {
        let d = try getDirectory()
        let response = try transport.request(method: "HEAD", url: d.newNonce, body: nil, contentType: nil, accept: nil)
        guard response.status < 400, let n = response.header("replay-nonce"), !n.isEmpty else {
            throw failure(response, "a new nonce")
        }
        return n
    }

    /// A signed POST; `payload` nil is POST-as-GET. Retries a `badNonce` up to 5 times.
    public func post(_ url: String, payload: Data?, context: String, useJWK: Bool = false, accept: String? = nil) throws -> HTTPResponse {
        var attempt = 0
        while true {
            try interrupt?.check()
            let n: String
            if let saved = nonce { n = saved } else { n = try freshNonce() }
            nonce = nil
            let kid: String? = useJWK ? nil : accountURL
            if !useJWK && kid == nil { throw SSLError.protocolError("no account yet for \(context)") }
            let body = try signer.sign(url: url, nonce: n, payload: payload, kid: kid)
            let response = try transport.request(method: "POST", url: url, body: body, contentType: Self.joseType, accept: accept)
            if let next = response.header("replay-nonce"), !next.isEmpty { nonce = next }
            if response.status >= 400 {
                let problem = ACMEProblem.parse(response.body)
                if problem?.shortType == "badNonce", attempt < 5 {
                    attempt += 1
                    continue
                }
                throw failure(response, context)
            }
            return response
        }
    }

    /// Registers the account key (or finds the account already registered with it:
    /// newAccount with a known key answers 200 and the same URL). Returns whether it was new.
    @discardableResult
    public func account(email: String?) throws -> (url: String, created: Bool) {
        let d = try getDirectory()
        var payload = "{\"termsOfServiceAgreed\":true"
        if let email, !email.isEmpty { payload += ",\"contact\":[\(TOMLJSON.string("mailto:" + email))]" }
        payload += "}"
        let response = try post(d.newAccount, payload: Data(payload.utf8), context: "the account registration", useJWK: true)
        guard let location = response.header("location"), !location.isEmpty else {
            throw SSLError.protocolError("newAccount answered without a Location header")
        }
        accountURL = location
        return (location, response.status == 201)
    }

    public func useAccount(_ url: String) { accountURL = url }

    public func newOrder(names: [String]) throws -> (url: String, order: ACMEOrder) {
        let d = try getDirectory()
        let ids = names.map { "{\"type\":\"dns\",\"value\":\(TOMLJSON.string($0))}" }.joined(separator: ",")
        let response = try post(d.newOrder, payload: Data("{\"identifiers\":[\(ids)]}".utf8), context: "the new order")
        guard let location = response.header("location") else { throw SSLError.protocolError("newOrder answered without a Location header") }
        return (location, try decode(ACMEOrder.self, response, "order"))
    }

    public func authorization(_ url: String) throws -> ACMEAuthorization {
        try decode(ACMEAuthorization.self, try post(url, payload: nil, context: "the authorization request"), "authorization")
    }

    public func order(_ url: String) throws -> (ACMEOrder, HTTPResponse) {
        let r = try post(url, payload: nil, context: "the order request")
        return (try decode(ACMEOrder.self, r, "order"), r)
    }

    /// Tells the server the challenge is ready to be checked.
    public func respond(toChallenge url: String) throws {
        _ = try post(url, payload: Data("{}".utf8), context: "the challenge response")
    }

    /// Polls the authorization until it is no longer pending/processing.
    public func waitForAuthorization(_ url: String) throws -> ACMEAuthorization {
        try poll(what: "authorization") {
            let r = try post(url, payload: nil, context: "the authorization request")
            let a = try decode(ACMEAuthorization.self, r, "authorization")
            return (a.status == "pending" || a.status == "processing") ? (nil, r) : (a, r)
        }
    }

    /// Polls the order until it leaves `pending`/`processing` (or reaches one of `until`).
    public func waitForOrder(_ url: String) throws -> ACMEOrder {
        try poll(what: "order") {
            let (o, r) = try order(url)
            return (o.status == "pending" || o.status == "processing") ? (nil, r) : (o, r)
        }
    }

    public func finalize(_ order: ACMEOrder, csrDER: Data) throws -> ACMEOrder {
        let payload = "{\"csr\":\(TOMLJSON.string(Base64URL.encode(csrDER)))}"
        let r = try post(order.finalize, payload: Data(payload.utf8), context: "the finalize request")
        return try decode(ACMEOrder.self, r, "order")
    }

    /// The certificate chain (PEM, leaf first).
    public func downloadCertificate(_ url: String) throws -> String {
        let r = try post(url, payload: nil, context: "the certificate download", accept: "application/pem-certificate-chain")
        return String(decoding: r.body, as: UTF8.self)
    }

    /// Repeats `step` until it returns a value, sleeping per Retry-After (clamped to
    /// 0.1-10 s) or else a backoff from 0.1 s doubling to 2 s; gives up after `pollTimeout`.
    func poll<T>(what: String, _ step: () throws -> (T?, HTTPResponse)) throws -> T {
        var delay = 0.1
        var waited = 0.0
        while true {
            let (value, response) = try step()
            if let value { return value }
            if waited >= pollTimeout {
                throw SSLError.protocolError("the \(what) is still pending after \(Int(pollTimeout))s")
            }
            var pause = delay
            if let ra = response.header("retry-after").flatMap(Self.retryAfterSeconds) { pause = min(max(ra, 0.1), 10) }
            try interrupt?.check()
            sleep(pause)
            waited += pause
            delay = min(delay * 2, 2)
        }
    }

    /// Retry-After as seconds: an integer, or an HTTP date.
    static func retryAfterSeconds(_ value: String) -> TimeInterval? {
        if let s = Double(value.trimming(.whitespaces)) { return s }
        return httpDate(value).map { $0.timeIntervalSinceNow }
    }

    /// An HTTP date, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
    static func httpDate(_ value: String) -> Date? {
        let f = value.trimming(.whitespaces).split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let hms = f.count == 6 ? f[4].split(separator: ":") : []
        guard f.count == 6, f[0].hasSuffix(","), f[5] == "GMT", let day = Int32(f[1]), let month = months.firstIndex(of: String(f[2])),
              let year = Int32(f[3]), hms.count == 3, let h = Int32(hms[0]), let m = Int32(hms[1]), let s = Int32(hms[2]) else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = Int32(month)
        t.tm_mday = day
        t.tm_hour = h
        t.tm_min = m
        t.tm_sec = s
        return Date(timeIntervalSince1970: TimeInterval(timegm(&t)))
    }
}
