import Foundation
import XCTest
@testable import TetraCore

final class SafetyAuditLogTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = ProcTestSupport.makeTempDir("tetra-audit") }
    override func tearDown() { ProcTestSupport.removeTree(dir) }

    static func entry(_ command: String, org: String? = nil, env: String? = nil, time: Date, result: String = "ok", exit: Int = 0) -> AuditEntry {
        AuditEntry(time: time, user: "alice", host: "host1", command: command, argv: ["tetra"] + command.split(separator: " ").map(String.init),
                   org: org, env: env, result: result, exitCode: exit, durationMs: 12)
    }

    func testAppendWritesOneJSONLinePerEntryWithMode0600() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let log = AuditLog(path: dir + "/audit.jsonl")
        let t = Timestamps.parseISO8601("2026-11-21T17:03:00Z")!
        try log.append(Self.entry("ports allocate", time: t))
        try log.append(Self.entry("org push", org: "acme", env: "prod", time: t.addingTimeInterval(60), result: "error", exit: 5))
        XCTAssertEqual(ProcTestSupport.mode(log.path), 0o600)
        let lines = try XCTUnwrap(ProcTestSupport.read(log.path)).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(String(lines[0]), #"{"argv":["tetra","ports","allocate"],"command":"ports allocate","duration_ms":12,"exit_code":0,"host":"host1","result":"ok","time":"2026-11-21T17:03:00Z","user":"alice"}"#)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["time", "user", "host", "argv", "org", "env", "result", "exit_code", "duration_ms", "command"])
        XCTAssertEqual(object["org"] as? String, "acme")
        XCTAssertEqual(object["exit_code"] as? Int, 5)

        let all = try log.read()
        XCTAssertEqual(all.count, 2)
        XCTAssertEqual(all[1].env, "prod")
        XCTAssertEqual(all[0].time, t)
    }

    func testReadFiltersAndToleratesGarbage() throws {
        let log = AuditLog(path: dir + "/audit.jsonl")
        XCTAssertEqual(try log.read(), [], "a missing log is empty")
        let base = Date(timeIntervalSince1970: 1_795_280_580)
        try log.append(Self.entry("init", time: base.addingTimeInterval(-10 * 86400)))
        try log.append(Self.entry("org push", org: "acme", time: base.addingTimeInterval(-3600)))
        // garbage in the middle and a torn last line (crash mid-write)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: log.path))
        handle.seekToEndOfFile()
        handle.write(Data("not json at all\n{\"time\":\"2026-11-21T17:03:00Z\",\"user\":\"x\"}\n".utf8))
        try log.append(Self.entry("org push", org: "other", time: base))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"argv":["tetra","ports"],"command":"por"#.utf8))
        handle.closeFile()

        XCTAssertEqual(try log.read().map(\.command), ["init", "org push", "org push"])
        XCTAssertEqual(try log.read(since: base.addingTimeInterval(-7 * 86400)).count, 2)
        XCTAssertEqual(try log.read(org: "acme").map(\.org), ["acme"])
        XCTAssertEqual(try log.read(since: base.addingTimeInterval(-60), org: "acme"), [])
        // An append after the torn line still lands on a line of its own.
        try log.append(Self.entry("ports set", time: base))
        XCTAssertEqual(try log.read().last?.command, "ports set")
    }

    func testConcurrentAppendsAllReadable() throws {
        let log = AuditLog(path: dir + "/audit.jsonl")
        DispatchQueue.concurrentPerform(iterations: 20) { i in
            for k in 0..<10 {
                try? log.append(Self.entry("cmd \(i) \(k)", time: Date()))
            }
        }
        XCTAssertEqual(try log.read().count, 200)
    }
}
