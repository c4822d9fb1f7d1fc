import Foundation
import XCTest
@testable import TetraCore

final class DeployModelTests: XCTestCase {
    // MARK: SHA-256

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(of: Data(repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSHA256StreamingEqualsOneShotAtEveryPaddingBoundary() {
        var g = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
            let data = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &g) })
            let whole = SHA256.hex(of: data)
            var h = SHA256()
            var i = 0
            while i < data.count {
                let n = min(Int.random(in: 1...70, using: &g), data.count - i)
                h.update(data.subdata(in: i..<(i + n)))
                i += n
            }
            XCTAssertEqual(h.finalizeHex(), whole, "length \(length)")
        }
    }

    func testSHA256MatchesSha256sumOnFiles() throws {
        guard let tool = SystemProcessRunner.resolve("sha256sum", searchPath: ProcessInfo.processInfo.environment["PATH"]) else {
            throw XCTSkip("sha256sum not installed")
        }
        let dir = NSTemporaryDirectory() + "sha-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = SystemRandomNumberGenerator()
        for (i, length) in [0, 3, 64, 4095, 262_144, 262_145, 700_001].enumerated() {
            let path = "\(dir)/f\(i)"
            try Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &g) }).write(to: URL(fileURLWithPath: path))
            let out = try SystemProcessRunner(environment: [:]).runChecked(ProcessRequest(tool, [path])).stdoutString
            XCTAssertEqual(try SHA256.hex(ofFile: path), String(out.prefix(64)), "length \(length)")
        }
    }

    // MARK: release ids

    func testReleaseIDFormatAndOrder() throws {
        let t = Date(timeIntervalSince1970: 1_795_276_981) // 2026-11-21T16:03:01Z
        let id = ReleaseID(time: t, contentHash: "3F2A9C1DEADBEEF")
        XCTAssertEqual(id.rawValue, "20261121T160301Z-3f2a9c1")
        XCTAssertEqual(id.time, t)
        XCTAssertEqual(try ReleaseID("20261121T160301Z-3f2a9c1"), id)
        for bad in ["", "20261121T160301Z-3f2a9c", "20261121T160301Z-3F2A9C1", "20261121160301Z-3f2a9c1", "../../etc/passwd",
                    "20261121T160301Z-3f2a9c1.partial", "20261121T160301Z-3f2a9c1 ", "-20261121T160301Z-3f2a9c"] {
            XCTAssertThrowsError(try ReleaseID(bad), bad) { XCTAssertEqual(($0 as? TetraError)?.exitCode, .usage) }
        }
        let later = ReleaseID(time: t.addingTimeInterval(1), contentHash: "0000000")
        XCTAssertLessThan(id, later, "ids sort by time, not by hash")
    }

    // MARK: manifests

    func testManifestTextIsSha256sumFormatAndRoundTrips() throws {
        let m = ReleaseManifest(files: ["b/x.conf": String(repeating: "a", count: 64), "a.conf": String(repeating: "b", count: 64),
                                        "B.conf": String(repeating: "c", count: 64)])
        XCTAssertEqual(m.text, "\(String(repeating: "c", count: 64))  B.conf\n\(String(repeating: "b", count: 64))  a.conf\n"
                           + "\(String(repeating: "a", count: 64))  b/x.conf\n")
        XCTAssertEqual(try ReleaseManifest.parse(m.text), m)
        XCTAssertEqual(m.contentHash, SHA256.hex(of: m.text))
        XCTAssertThrowsError(try ReleaseManifest.parse("nothex  file\n")) { error in
            XCTAssertEqual((error as? TetraError)?.exitCode, .invalidConfig)
        }
    }

    func testDriftCompare() {
        let h = { (c: Character) in String(repeating: c, count: 64) }
        let manifest = ReleaseManifest(files: ["a": h("1"), "b": h("2"), "c": h("3")])
        let actual = ["a": h("1"), "b": h("9"), "d": h("4"), ".tetra-release.toml": h("5")]
        let report = DriftReport.compare(release: "r", manifest: manifest, actual: actual)
        XCTAssertEqual(report.changed, ["b"])
        XCTAssertEqual(report.missing, ["c"])
        XCTAssertEqual(report.added, ["d"])
        XCTAssertFalse(report.isClean)
        XCTAssertTrue(DriftReport.compare(release: "r", manifest: manifest, actual: manifest.files).isClean)
    }

    // MARK: pruning

    func testPruneNeverRemovesCurrentOrPrevious() {
        let ids = (0..<8).map { ReleaseID(time: Date(timeIntervalSince1970: 1_795_276_981 + Double($0)), contentHash: "abcdef0") }
        XCTAssertEqual(ReleaseManager.pruneList(releases: ids, current: ids[7], previous: ids[6], keep: 5), Array(ids[0..<3]))
        // After a rollback to an old release, that one and the one it replaced stay.
        XCTAssertEqual(ReleaseManager.pruneList(releases: ids, current: ids[7], previous: ids[1], keep: 3),
                       [ids[0], ids[2], ids[3], ids[4]])
        XCTAssertEqual(ReleaseManager.pruneList(releases: ids, current: ids[2], previous: ids[0], keep: 1),
                       [ids[1], ids[3], ids[4], ids[5], ids[6]])
        XCTAssertEqual(ReleaseManager.pruneList(releases: Array(ids[0..<2]), current: ids[1], previous: ids[0], keep: 0), [])
    }

    // MARK: lock records, history, metadata

    func testLockRecordExpiryDescriptionAndJSON() throws {
        let t = Date(timeIntervalSince1970: 1_795_276_981)
        let r = TargetLockRecord(token: "0123456789abcdef", pid: 42, host: "h1", user: "deploy", command: "tetra org push acme prod",
                                 time: t, ttl: 600)
        XCTAssertFalse(r.isExpired(now: t.addingTimeInterval(599)))
        XCTAssertTrue(r.isExpired(now: t.addingTimeInterval(600)))
        XCTAssertEqual(r.holderDescription,
                       "deploy pid 42 on h1 (tetra org push acme prod) since 2026-11-21T16:03:01Z, expires 2026-11-21T16:13:01Z")
        XCTAssertFalse(r.jsonLine.contains("\n"))
        XCTAssertEqual(TargetLockRecord.parse(r.jsonLine + "\n"), r)
        XCTAssertNil(TargetLockRecord.parse(""))
        XCTAssertNil(TargetLockRecord.parse("garbage"))
        XCTAssertFalse(r.isDeadLocalProcess, "another host: never judged dead from here")

        // This host and boot, a pid that is gone: dead. Another boot (or none recorded): TTL only.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        var here = TargetLockRecord(token: "t", pid: p.processIdentifier, host: ProcessIdentity.hostName, user: "u", command: "c",
                                    time: t, ttl: 600)
        if TargetLockRecord.currentBootID != nil {
            XCTAssertTrue(here.isDeadLocalProcess)
        }
        here.boot = "another-boot"
        XCTAssertFalse(here.isDeadLocalProcess)
        here.boot = nil
        XCTAssertFalse(here.isDeadLocalProcess)
        let alive = TargetLockRecord(token: "t", pid: getpid(), host: ProcessIdentity.hostName, user: "u", command: "c", time: t, ttl: 600,
                                     startTime: ProcessIdentity.startTime(pid: getpid()))
        XCTAssertFalse(alive.isDeadLocalProcess)
        XCTAssertTrue(r.jsonLine.contains(RemoteScripts.tokenNeedle(r.token)), "the token needle matches the JSON encoding")
    }

    func testHistoryLinesSkipTornLines() {
        let e = HistoryEntry(time: "2026-11-21T16:03:01Z", action: "deploy", release: "20261121T160301Z-3f2a9c1", previous: nil,
                             org: "acme", env: "prod", by: "u@h", command: "tetra org push", source: "push",
                             message: "it's \"quoted\"\nand multi-line", files: 3, bytesSent: 100, transport: "rsync")
        XCTAssertFalse(e.jsonLine.contains("\n"))
        let parsed = HistoryEntry.parseLines(e.jsonLine + "\n{\"time\":\"torn" + "\n" + e.jsonLine + "\n")
        XCTAssertEqual(parsed, [e, e])
    }

    func testMetadataTOMLRoundTrip() throws {
        let m = ReleaseMetadata(id: "20261121T160301Z-3f2a9c1", org: "acme", env: "prod", snapshot: "abc123",
                                created: Date(timeIntervalSince1970: 1_795_276_981), by: "ana@laptop",
                                source: "promote staging@20261120T100000Z-0000000", message: "fix \"tls\"\n",
                                contentHash: String(repeating: "f", count: 64), fileCount: 12)
        let text = m.toml
        XCTAssertTrue(text.contains("created = \"2026-11-21T16:03:01Z\""), text)
        XCTAssertEqual(try ReleaseMetadata.parse(text), m)
        XCTAssertThrowsError(try ReleaseMetadata.parse("id = 1\n"))
    }

    // MARK: remote output parsing

    func testRemoteOutputParsers() {
        let out = Data("""
        noise
        @@tetra:state
        exists=yes
        current=releases/20261121T160301Z-3f2a9c1
        rsync=yes
        @@tetra:entries
        20261121T160301Z-3f2a9c1
        20261120T160301Z-0000000
        20261121T170000Z-1111111.partial
        junk
        @@tetra:end
        @@tetra:cleanup-failed /srv/x/releases/20261121T170000Z-1111111.partial

        """.utf8)
        let state = RemoteOutput.state(RemoteOutput.lines(out))
        XCTAssertEqual(state?.exists, true)
        XCTAssertEqual(state?.remoteHasRsync, true)
        XCTAssertEqual(state?.remoteHasSha256sum, false)
        XCTAssertEqual(state?.current?.rawValue, "20261121T160301Z-3f2a9c1")
        XCTAssertEqual(state?.releases.map(\.rawValue), ["20261120T160301Z-0000000", "20261121T160301Z-3f2a9c1"])
        XCTAssertEqual(state?.partials, ["20261121T170000Z-1111111.partial"])
        XCTAssertEqual(state?.cleanupProblems.count, 1)
        XCTAssertNil(RemoteOutput.state(RemoteOutput.lines(Data("@@tetra:state\nexists=yes\n".utf8))), "truncated output")

        var files = Data("@@tetra:file MK a.toml\nline1\n\n@@tetra:eof MK\n@@tetra:missing MK b\n".utf8)
        files.append(contentsOf: Array("@@tetra:file MK bin\n".utf8) + [0, 1, 0x0A, 0xFF] + Array("\n@@tetra:eof MK\n".utf8))
        XCTAssertEqual(RemoteOutput.files(files, mark: "MK"), ["a.toml": Data("line1\n".utf8), "bin": Data([0, 1, 0x0A, 0xFF])])

        let h = String(repeating: "a", count: 64)
        let hashes = RemoteOutput.hashes(["x", "@@tetra:hashes", "\(h)  ./dir/f.conf", "\(h)  ./with space", "@@tetra:special ./link",
                                          "@@tetra:end", "\(h)  ./after"])
        XCTAssertEqual(hashes, ["dir/f.conf": h, "with space": h, "link": "not-a-regular-file"])

        let stats = """
        Number of files: 10,003 (reg: 10,002, dir: 61)
        Number of regular files transferred: 2
        Total bytes sent: 1,234,567
        Total bytes received: 4.321
        """
        XCTAssertEqual(RemoteOutput.rsyncBytesSent(stats), 1_234_567)
        XCTAssertEqual(RemoteOutput.rsyncFilesTransferred(stats), 2)
        XCTAssertNil(RemoteOutput.rsyncBytesSent("nothing"))
    }
}
