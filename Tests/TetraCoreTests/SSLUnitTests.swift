import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class SSLUnitTests: XCTestCase {
    func testBase64URLRoundTripAndAlphabet() {
        let data = Data([0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f])
        let s = Base64URL.encode(data)
        XCTAssertEqual(s, "-__-AD4_")
        XCTAssertFalse(s.contains("="))
        XCTAssertEqual(Base64URL.decode(s), data)
        XCTAssertEqual(Base64URL.encode("{\"a\":1}"), "eyJhIjoxfQ")
        XCTAssertEqual(Base64URL.decode("eyJhIjoxfQ"), Data("{\"a\":1}".utf8))
        XCTAssertNil(Base64URL.decode("ab+c"))
    }

    func testECDSADERToRawPadsAndStripsLeadingZeros() throws {
        // r has a leading 0x00 (high bit set), s is short (31 bytes) and must be left-padded.
        let r: [UInt8] = [0x00] + [UInt8](repeating: 0x81, count: 32)
        let s: [UInt8] = [UInt8](repeating: 0x11, count: 31)
        let der: [UInt8] = [0x30, UInt8(2 + r.count + 2 + s.count), 0x02, UInt8(r.count)] + r + [0x02, UInt8(s.count)] + s
        let raw = try ECDSASignature.rawFromDER(der)
        XCTAssertEqual(raw.count, 64)
        XCTAssertEqual(Array(raw.prefix(32)), [UInt8](repeating: 0x81, count: 32))
        XCTAssertEqual(Array(raw.suffix(32)), [0x00] + [UInt8](repeating: 0x11, count: 31))
        XCTAssertThrowsError(try ECDSASignature.rawFromDER([0x30, 0x03, 0x02, 0x01]))
    }

    func testProblemParsingAndSummary() throws {
        let body = Data("""
        {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order","status":400,
         "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"bad name","identifier":{"type":"dns","value":"x.test"}}]}
        """.utf8)
        let p = try XCTUnwrap(ACMEProblem.parse(body))
        XCTAssertEqual(p.shortType, "rejectedIdentifier")
        XCTAssertEqual(p.status, 400)
        XCTAssertTrue(p.summary.hasPrefix("urn:ietf:params:acme:error:rejectedIdentifier: Error creating new order"))
        XCTAssertTrue(p.summary.contains("x.test: urn:ietf:params:acme:error:malformed bad name"))
        XCTAssertNil(ACMEProblem.parse(Data("{}".utf8)))
        XCTAssertNil(ACMEProblem.parse(Data("not json".utf8)))
        let e = SSLError.acme(context: "the new order", problem: p, status: 400)
        XCTAssertEqual(e.exitCode, .failure)
        XCTAssertTrue(e.message.contains("rejectedIdentifier"))
    }

    func testCurlOutputParsing() throws {
        let raw = Data("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation: https://x/acct/1\r\nLink: <a>\r\nLink: <b>\r\n\r\n{\"status\":\"valid\"}".utf8)
        let r = try CurlTransport.parse(raw)
        XCTAssertEqual(r.status, 201)
        XCTAssertEqual(r.header("Replay-Nonce"), "abc")
        XCTAssertEqual(r.header("location"), "https://x/acct/1")
        XCTAssertEqual(r.header("link"), "<a>, <b>")
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "{\"status\":\"valid\"}")
        let head = try CurlTransport.parse(Data("HTTP/1.1 200 OK\r\nReplay-Nonce: n1\r\nDate: x\r\n\r\n".utf8))
        XCTAssertEqual(head.header("replay-nonce"), "n1")
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertThrowsError(try CurlTransport.parse(Data("garbage".utf8)))
    }

    func testCurlArgvCarriesCABundleAndNoBodyInArgv() {
        let t = CurlTransport(runner: FakeProcessRunner(), caBundle: "/ca.pem")
        let args = t.arguments(method: "POST", url: "https://acme/x", hasBody: true, contentType: "application/jose+json", accept: nil)
        XCTAssertTrue(args.contains("--cacert"))
        XCTAssertEqual(args[args.firstIndex(of: "--cacert")! + 1], "/ca.pem")
        XCTAssertTrue(args.contains("@-"))
        XCTAssertEqual(args.suffix(2), ["--", "https://acme/x"])
        let noCA = CurlTransport(runner: FakeProcessRunner(), caBundle: nil)
        XCTAssertFalse(noCA.arguments(method: "GET", url: "u", hasBody: false, contentType: nil, accept: nil).contains("--cacert"))
    }

    /// A JWS signed with an EC key through a fake openssl: header members, the jwk, and the
    /// DER signature converted to 64 raw bytes.
    func testJWSWithFakeOpenSSL() throws {
        let fake = FakeProcessRunner()
        // SubjectPublicKeyInfo of a P-256 key with x = 0x01.., y = 0x02..
        let point: [UInt8] = [0x04] + [UInt8](repeating: 1, count: 32) + [UInt8](repeating: 2, count: 32)
        let alg: [UInt8] = [0x30, 0x13, 0x06, 0x07] + PublicKeyJWK.ecPublicKeyOID + [0x06, 0x08] + PublicKeyJWK.p256OID
        let bitString: [UInt8] = [0x03, 0x42, 0x00] + point
        let spki: [UInt8] = [0x30, UInt8(alg.count + bitString.count)] + alg + bitString
        fake.expect("openssl", ["pkey", "-in", "/k.pem", "-pubout", "-outform", "DER"], result: ProcessResult(status: 0, stdout: Data(spki)))
        let sigDER: [UInt8] = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]
        fake.expect("openssl", ["dgst", "-sha256", "-sign", "/k.pem", "-binary"], result: ProcessResult(status: 0, stdout: Data(sigDER)))
        let signer = try JWSSigner(keyPath: "/k.pem", openssl: OpenSSL(runner: fake))
        XCTAssertEqual(signer.algorithm, "ES256")
        let body = try signer.sign(url: "https://acme/new-acct", nonce: "N1", payload: Data("{}".utf8), kid: nil)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? [String: String])
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Base64URL.decode(json["protected"]!)!) as? [String: Any])
        XCTAssertEqual(header["alg"] as? String, "ES256")
        XCTAssertEqual(header["nonce"] as? String, "N1")
        XCTAssertEqual(header["url"] as? String, "https://acme/new-acct")
        let jwk = try XCTUnwrap(header["jwk"] as? [String: String])
        XCTAssertEqual(jwk["crv"], "P-256")
        XCTAssertEqual(Base64URL.decode(jwk["x"]!), Data([UInt8](repeating: 1, count: 32)))
        XCTAssertEqual(json["payload"], "e30")
        let sig = try XCTUnwrap(Base64URL.decode(json["signature"]!))
        XCTAssertEqual(sig.count, 64)
        XCTAssertEqual(sig[31], 5)
        XCTAssertEqual(sig[63], 7)
        // POST-as-GET with a kid: empty payload, no jwk.
        fake.expect("openssl", ["dgst", "-sha256", "-sign", "/k.pem", "-binary"], result: ProcessResult(status: 0, stdout: Data(sigDER)))
        let get = try signer.sign(url: "https://acme/order/1", nonce: "N2", payload: nil, kid: "https://acme/acct/9")
        let getJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: get) as? [String: String])
        XCTAssertEqual(getJSON["payload"], "")
        let h2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Base64URL.decode(getJSON["protected"]!)!) as? [String: Any])
        XCTAssertEqual(h2["kid"] as? String, "https://acme/acct/9")
        XCTAssertNil(h2["jwk"])
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        // RFC 7638 thumbprint input: members sorted, no spaces.
        XCTAssertTrue(signer.jwk.canonicalJSON.hasPrefix("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":"))
        XCTAssertEqual(signer.keyAuthorization(token: "tok"), "tok." + signer.jwk.thumbprint)
    }

    func testCertificateInfoParsing() throws {
        let text = """
        subject=CN=a.test
        issuer=CN=Pebble Intermediate CA 0a1b2c
        notBefore=Nov  1 20:12:36 2026 GMT
        notAfter=Jan 30 20:12:35 2027 GMT
        serial=0E44
        sha256 Fingerprint=AA:BB
        X509v3 Subject Alternative Name:\u{20}
            DNS:a.test, DNS:B.test, IP Address:127.0.0.1
        """
        let info = try CertificateInfo.parse(text)
        XCTAssertEqual(info.names, ["a.test", "b.test"])
        XCTAssertEqual(info.issuer, "CN=Pebble Intermediate CA 0a1b2c")
        XCTAssertEqual(Timestamps.iso8601(info.notBefore), "2026-11-01T20:12:36Z")
        XCTAssertEqual(Timestamps.iso8601(info.notAfter), "2027-01-30T20:12:35Z")
        XCTAssertEqual(info.fingerprint, "AA:BB")
        XCTAssertThrowsError(try CertificateInfo.parse("subject=CN=x\n"))
    }

    func testMetaTOMLRoundTrip() throws {
        let info = CertificateInfo(subject: "CN=a.test", issuer: "CN=\"odd\" issuer", notBefore: Date(timeIntervalSince1970: 1_800_000_000),
                                   notAfter: Date(timeIntervalSince1970: 1_807_776_000), serial: "01", fingerprint: "AA", names: ["a.test", "*.b.test"])
        var m = CertificateMeta(domain: "a.test", info: info, source: .acme, keyType: "ec256", created: Date(timeIntervalSince1970: 1_800_000_100))
        m.acme_server = "https://acme/dir"
        m.http_port = 5002
        let back = try CertificateMeta.parse(Data(m.toml.utf8), file: "meta.toml")
        XCTAssertEqual(back, m)
        // The fast reader and the full TOML decoder agree on what tetra writes.
        XCTAssertEqual(MetaFastReader.read(Array(m.toml.utf8)), m)
        let doc = try TOMLDocument(bytes: Array(m.toml.utf8), fileName: "meta.toml")
        XCTAssertEqual(try TOMLDecoder().decode(CertificateMeta.self, from: doc).0, m)
        // Hand-edited TOML the fast reader does not handle falls back to the full decoder.
        let edited = m.toml.replacingOccurrences(of: "serial = \"01\"", with: "serial = '01'  # literal string")
        XCTAssertNil(MetaFastReader.read(Array(edited.utf8)))
        XCTAssertEqual(try CertificateMeta.parse(Data(edited.utf8), file: "meta.toml"), m)
        // Broken files are config errors with a position.
        XCTAssertThrowsError(try CertificateMeta.parse(Data("domain = \"x\"\nnames = [\n".utf8), file: "meta.toml")) { e in
            XCTAssertEqual((e as? any TetraError)?.exitCode, .invalidConfig)
        }
    }

    func testISO8601IsUTCWholeSeconds() {
        let cases: [(Double, String)] = [(0, "1970-01-01T00:00:00Z"), (1_807_776_059.9, "2027-04-15T08:00:59Z"),
                                         (4_102_444_800, "2100-01-01T00:00:00Z"), (951_782_400, "2000-02-29T00:00:00Z")]
        for (t, text) in cases {
            XCTAssertEqual(Timestamps.iso8601(Date(timeIntervalSince1970: t)), text)
            XCTAssertEqual(Timestamps.parseISO8601(text), Date(timeIntervalSince1970: t.rounded(.down)))
        }
    }

    func testDomainDirectoryNamesAndValidation() throws {
        XCTAssertEqual(SSLService.directoryName(for: "*.example.com"), "_.example.com")
        XCTAssertEqual(SSLService.domain(forDirectory: "_.example.com"), "*.example.com")
        XCTAssertEqual(try SSLService.validateDomain("WWW.Example.com"), "www.example.com")
        for bad in ["../etc", "a/b", "", "accounts", "-a.com", "a..b", "*.com"] {
            XCTAssertThrowsError(try SSLService.validateDomain(bad), bad)
        }
    }
}
