import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// The ACME client's protocol handling with a scripted transport and a fake openssl.
final class ACMEClientTests: XCTestCase {
    /// Answers requests from a script, recording each one.
    final class ScriptedTransport: ACMETransport, @unchecked Sendable {
        private let lock = NSLock()
        private var script: [(method: String, url: String, response: HTTPResponse)]
        private(set) var requests: [(method: String, url: String, body: Data?)] = []
        init(_ script: [(String, String, HTTPResponse)]) { self.script = script.map { ($0.0, $0.1, $0.2) } }
        func request(method: String, url: String, body: Data?, contentType: String?, accept: String?) throws -> HTTPResponse {
            lock.lock(); defer { lock.unlock() }
            requests.append((method, url, body))
            guard !script.isEmpty else { throw SSLError.protocolError("unexpected request \(method) \(url)") }
            let next = script.removeFirst()
            guard next.method == method, next.url == url else {
                throw SSLError.protocolError("expected \(next.method) \(next.url), got \(method) \(url)")
            }
            return next.response
        }
        var remaining: Int { lock.lock(); defer { lock.unlock() }; return script.count }
        /// The nonce in the protected header of request `i`.
        func nonce(_ i: Int) throws -> String? {
            let body = try XCTUnwrap(requests[i].body)
            let jws = try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? [String: String])
            let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Base64URL.decode(jws["protected"]!)!) as? [String: Any])
            return header["nonce"] as? String
        }
    }

    static func response(_ status: Int, _ headers: [String: String] = [:], _ body: String = "") -> HTTPResponse {
        HTTPResponse(status: status, headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) }),
                     body: Data(body.utf8))
    }

    let dir = "https://acme.test/dir"
    let directoryJSON = #"{"newNonce":"https://acme.test/nonce","newAccount":"https://acme.test/acct","newOrder":"https://acme.test/order"}"#

    func signer() throws -> (JWSSigner, FakeProcessRunner) {
        let fake = FakeProcessRunner()
        let point: [UInt8] = [0x04] + [UInt8](repeating: 1, count: 32) + [UInt8](repeating: 2, count: 32)
        let alg: [UInt8] = [0x30, 0x13, 0x06, 0x07] + PublicKeyJWK.ecPublicKeyOID + [0x06, 0x08] + PublicKeyJWK.p256OID
        let spki: [UInt8] = [0x30, UInt8(alg.count + 68)] + alg + [0x03, 0x42, 0x00] + point
        fake.expect("openssl", ["pkey", "-in", "/acct.pem", "-pubout", "-outform", "DER"], result: ProcessResult(status: 0, stdout: Data(spki)))
        let sig: [UInt8] = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]
        fake.expect("openssl", ["dgst", "-sha256", "-sign", "/acct.pem", "-binary"], result: ProcessResult(status: 0, stdout: Data(sig)), times: 20)
        return (try JWSSigner(keyPath: "/acct.pem", openssl: OpenSSL(runner: fake)), fake)
    }

    func testBadNonceIsRetriedWithTheNonceFromTheError() throws {
        let transport = ScriptedTransport([
            ("GET", dir, Self.response(200, [:], directoryJSON)),
            ("HEAD", "https://acme.test/nonce", Self.response(200, ["Replay-Nonce": "n1"])),
            ("POST", "https://acme.test/acct", Self.response(400, ["Replay-Nonce": "n2", "Content-Type": "application/problem+json"],
                                                             #"{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce"}"#)),
            ("POST", "https://acme.test/acct", Self.response(201, ["Replay-Nonce": "n3", "Location": "https://acme.test/acct/7"], #"{"status":"valid"}"#)),
        ])
        let (signer, _) = try signer()
        let client = ACMEClient(directoryURL: dir, transport: transport, signer: signer, sleep: { _ in })
        let account = try client.account(email: "ops@example.com")
        XCTAssertEqual(account.url, "https://acme.test/acct/7")
        XCTAssertTrue(account.created)
        XCTAssertEqual(try transport.nonce(2), "n1")
        XCTAssertEqual(try transport.nonce(3), "n2", "the retry uses the nonce the error carried")
        XCTAssertEqual(transport.remaining, 0)
        // The payload carries the contact and the terms agreement.
        let jws = try XCTUnwrap(JSONSerialization.jsonObject(with: transport.requests[3].body!) as? [String: String])
        let payload = try XCTUnwrap(JSONSerialization.jsonObject(with: Base64URL.decode(jws["payload"]!)!) as? [String: Any])
        XCTAssertEqual(payload["contact"] as? [String], ["mailto:ops@example.com"])
        XCTAssertEqual(payload["termsOfServiceAgreed"] as? Bool, true)
    }

    func testServerProblemIsReportedWithTypeAndDetail() throws {
        let transport = ScriptedTransport([
            ("GET", dir, Self.response(200, [:], directoryJSON)),
            ("HEAD", "https://acme.test/nonce", Self.response(200, ["Replay-Nonce": "n1"])),
            ("POST", "https://acme.test/acct", Self.response(403, ["Replay-Nonce": "n2"],
                                                             #"{"type":"urn:ietf:params:acme:error:unauthorized","detail":"account is deactivated"}"#)),
        ])
        let (signer, _) = try signer()
        let client = ACMEClient(directoryURL: dir, transport: transport, signer: signer, sleep: { _ in })
        XCTAssertThrowsError(try client.account(email: nil)) { error in
            let e = error as? SSLError
            XCTAssertEqual(e?.exitCode, .failure)
            XCTAssertEqual(e?.message, "ACME server refused the account registration (HTTP 403): urn:ietf:params:acme:error:unauthorized: account is deactivated")
        }
    }

    func testPollingHonoursRetryAfter() throws {
        let order = #"{"status":"%@","authorizations":[],"finalize":"https://acme.test/fin"%@}"#
        let transport = ScriptedTransport([
            ("GET", dir, Self.response(200, [:], directoryJSON)),
            ("HEAD", "https://acme.test/nonce", Self.response(200, ["Replay-Nonce": "n1"])),
            ("POST", "https://acme.test/order/1", Self.response(200, ["Replay-Nonce": "n2", "Retry-After": "3"], String(format: order, "processing", ""))),
            ("POST", "https://acme.test/order/1", Self.response(200, ["Replay-Nonce": "n3"], String(format: order, "processing", ""))),
            ("POST", "https://acme.test/order/1", Self.response(200, ["Replay-Nonce": "n4"],
                                                                String(format: order, "valid", #","certificate":"https://acme.test/cert/1""#))),
        ])
        let (signer, _) = try signer()
        let slept = SleepLog()
        let client = ACMEClient(directoryURL: dir, transport: transport, signer: signer, sleep: { slept.add($0) })
        client.useAccount("https://acme.test/acct/7")
        let done = try client.waitForOrder("https://acme.test/order/1")
        XCTAssertEqual(done.status, "valid")
        XCTAssertEqual(done.certificate, "https://acme.test/cert/1")
        XCTAssertEqual(slept.values, [3, 0.2], "Retry-After first, then the backoff")
    }

    final class SleepLog: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [TimeInterval] = []
        func add(_ v: TimeInterval) { lock.lock(); storage.append(v); lock.unlock() }
        var values: [TimeInterval] { lock.lock(); defer { lock.unlock() }; return storage }
    }
}
