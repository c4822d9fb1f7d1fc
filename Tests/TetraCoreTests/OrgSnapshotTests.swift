import Foundation
import XCTest
@testable import TetraCore

/// `org snapshot`: ids by prefix, why a snapshot was taken, what a restore changes.
final class OrgSnapshotTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/tetra-orgsnap.XXXXXX").utf8CString)
        root = String(cString: mkdtemp(&template)!)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A store whose log for `org` lists `ids` (no manifests: resolving reads the log only).
    func store(org: String, ids: [String]) throws -> SnapshotStore {
        let store = SnapshotStore(paths: StatePaths(root: root))
        try FileManager.default.createDirectory(atPath: store.root + "/log", withIntermediateDirectories: true)
        for id in ids {
            let entry = SnapshotStore.Entry(time: "2026-12-05T10:00:00Z", org: org, id: id, reason: "push dev", by: "me@host", files: 1)
            try AtomicFile.appendLine(SnapshotStore.json(entry), to: store.logFile(org), mode: 0o600)
        }
        return store
    }

    func testIdsResolveByAnUnambiguousPrefixOfTheOrgsOwnSnapshots() throws {
        let s = try store(org: "acme", ids: ["abcd000000000001", "abcd000000000002", "abce000000000003", "abcd000000000001"])
        _ = try store(org: "other", ids: ["ffff000000000009"])
        XCTAssertEqual(try s.resolve("abce", org: "acme"), "abce000000000003")
        XCTAssertEqual(try s.resolve("ABCD000000000002", org: "acme"), "abcd000000000002")
        XCTAssertEqual(try s.resolve("abcd000000000001", org: "acme"), "abcd000000000001")
        // ambiguous: a usage error (exit 2) naming every candidate
        XCTAssertThrowsError(try s.resolve("abcd", org: "acme")) { e in
            let err = e as? CoreError
            XCTAssertEqual(err?.exitCode, .usage)
            XCTAssertTrue(err?.message.contains("abcd000000000001, abcd000000000002") == true, "\(e)")
        }
        // unknown, or another org's: not found (exit 4)
        for id in ["abcf", "ffff", "ffff000000000009"] {
            XCTAssertThrowsError(try s.resolve(id, org: "acme")) { XCTAssertEqual(($0 as? CoreError)?.exitCode, .notFound, id) }
        }
        // too short, too long or not hex: usage
        for id in ["abc", "abcd0000000000011", "abcz", "../x", ""] {
            XCTAssertThrowsError(try s.resolve(id, org: "acme")) { XCTAssertEqual(($0 as? CoreError)?.exitCode, .usage, id) }
        }
    }

    func testTheActionAndEnvOfEveryReasonTetraLogs() {
        func cause(_ reason: String) -> (SnapshotAction, String?) {
            let c = SnapshotStore.Entry(time: "", org: "acme", id: "", reason: reason, by: "", files: 0).cause
            return (c.action, c.env)
        }
        let cases: [(String, SnapshotAction, String?)] = [
            ("push dev", .push, "dev"), ("promote dev to staging", .promote, "staging"),
            ("rollback prod to 20261205T100000Z-abc1234", .rollback, "prod"), ("before pull --write dev", .pull, "dev"),
            ("before org set vars.domain", .set, nil), ("before org delete", .delete, nil),
            (SnapshotStore.restoreReason("abcd000000000001"), .restore, nil), ("something else", .other, nil), ("", .other, nil),
        ]
        for (reason, action, env) in cases {
            let got = cause(reason)
            XCTAssertEqual(got.0, action, reason)
            XCTAssertEqual(got.1, env, reason)
        }
    }

    func testARestorePlanNeverTouchesSecretsAndCountsModeChanges() {
        func file(_ path: String, _ hash: String, _ mode: mode_t = 0o644) -> SnapshotStore.File {
            SnapshotStore.File(path: path, mode: mode, hash: hash)
        }
        let current = ["org.toml": file("org.toml", "a"), "files/x": file("files/x", "b"), "files/gone": file("files/gone", "c"),
                       "files/run.sh": file("files/run.sh", "d")]
        let wanted = [file("files/new", "e"), file("files/run.sh", "d", 0o755), file("files/x", "b"), file("org.toml", "f"),
                      file("secrets.env", "g", 0o600)]
        let plan = OrgService.restorePlan(current: current, wanted: wanted)
        XCTAssertEqual(plan.changes.added, ["files/new"])
        XCTAssertEqual(plan.changes.changed, ["files/run.sh", "org.toml"])
        XCTAssertEqual(plan.changes.removed, ["files/gone"])
        XCTAssertEqual(plan.write.map(\.path), ["files/new", "files/run.sh", "org.toml"])
        XCTAssertFalse(plan.write.contains { $0.path == "secrets.env" }, "a manifest naming secrets.env never writes it")
    }
}
