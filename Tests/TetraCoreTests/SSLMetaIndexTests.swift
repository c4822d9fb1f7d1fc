import XCTest
@testable import TetraCore

final class SSLMetaIndexTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "sslindex-\(UUID().uuidString)"
        try AtomicFile.ensureDirectory(root + "/ssl")
        try AtomicFile.ensureDirectory(root + "/state")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func meta(_ domain: String, full: Bool) -> CertificateMeta {
        let info = CertificateInfo(subject: "CN=\(domain)", issuer: "CN=Pebble\tIntermediate\\x", notBefore: Date(timeIntervalSince1970: 1_790_000_000.5),
                                   notAfter: Date(timeIntervalSince1970: 1_797_776_000), serial: "0A1B", fingerprint: "AB:CD",
                                   names: [domain, "www.\(domain)"])
        var m = CertificateMeta(domain: domain, info: info, source: full ? .acme : .selfSigned, keyType: "ec256",
                                created: Date(timeIntervalSince1970: 1_790_000_001))
        if full {
            m.acme_server = "https://127.0.0.1:14000/dir"
            m.acme_ca = "/tmp/ca\nline.pem"
            m.email = "ops@example.com"
            m.http_port = 5002
            m.webroot = ""
            m.days = 90
        }
        return m
    }

    func testEntriesRoundTripExactly() throws {
        let stamp = FileStamp(fields: ["1", "2", "3", "4", "5"])!
        for full in [true, false] {
            let e = SSLMetaIndex.Entry(dir: "example.com", stamp: stamp, meta: meta("example.com", full: full))
            let line = SSLMetaIndex.encode(e)
            XCTAssertFalse(line.contains("\n"))
            XCTAssertEqual(SSLMetaIndex.decode(Substring(line)), e)
        }
        XCTAssertNil(SSLMetaIndex.decode("too\tfew"))
    }

    func writeMeta(_ domain: String) throws {
        try AtomicFile.ensureDirectory(root + "/ssl/" + domain)
        try AtomicFile.write(string: meta(domain, full: true).toml, to: root + "/ssl/" + domain + "/meta.toml")
    }

    func service() -> SSLService {
        SSLService(core: CoreContext(environment: [:], workingDirectory: root, stateRoot: root, now: { Date() },
                                     runner: FakeProcessRunner()))
    }

    func testListUsesTheIndexOnlyForSettledUnchangedFiles() throws {
        try writeMeta("a.example.com")
        try writeMeta("b.example.com")
        let indexPath = root + "/state/cache/ssl.index"
        // Fresh files: read, and not indexed yet.
        XCTAssertEqual(try service().metas().map(\.domain), ["a.example.com", "b.example.com"])
        let early = SSLMetaIndex(path: indexPath).load().entries
        XCTAssertTrue(early.isEmpty, "files younger than the margin are not indexed")
        Thread.sleep(forTimeInterval: 1.1)
        XCTAssertEqual(try service().metas().count, 2)
        let index = SSLMetaIndex(path: indexPath).load()
        XCTAssertEqual(Set(index.entries.keys), ["a.example.com", "b.example.com"])

        // Prove the index is what is read: doctor an entry (same stamp), it is trusted.
        var doctored = try XCTUnwrap(index.entries["a.example.com"])
        doctored.meta.issuer = "from the index"
        var lines = [SSLMetaIndex.encode(doctored), SSLMetaIndex.encode(index.entries["b.example.com"]!)].joined(separator: "\n") + "\n"
        var bytes = Array(lines.utf8)
        let sum = bytes.withUnsafeBufferPointer { FileStamp.checksum($0) }
        try ("\(SSLMetaIndex.magic) \(index.created) \(sum)\n" + lines).write(toFile: indexPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try service().metas().first?.issuer, "from the index")

        // A rewritten meta.toml (new stamp) is read from the file again.
        try writeMeta("a.example.com")
        XCTAssertEqual(try service().metas().first?.issuer, "CN=Pebble\tIntermediate\\x")

        // A removed certificate disappears, a torn index is ignored.
        try FileManager.default.removeItem(atPath: root + "/ssl/b.example.com")
        XCTAssertEqual(try service().metas().map(\.domain), ["a.example.com"])
        lines = "garbage"
        bytes = Array(lines.utf8)
        try ("\(SSLMetaIndex.magic) \(index.created) 1\n" + lines).write(toFile: indexPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try service().metas().map(\.domain), ["a.example.com"])
    }
}
