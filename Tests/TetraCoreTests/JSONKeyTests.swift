import Foundation
import XCTest
@testable import TetraCore

/// Keys renamed for the JSON contract (docs/json.md) keep reading what older versions wrote.
final class JSONKeyTests: XCTestCase {
    /// A state file of before 2026-12-05 said `at` for the moment of a health check and of an
    /// exit; it still loads, and is written back with `time`.
    func testServiceRecordReadsLegacyAtAndWritesTime() throws {
        let legacy = """
        {"org":"acme","name":"api","state":"running","health":"healthy","restarts":0,"restart_times":[],
         "consecutive_failures":0,"token":"t","updated_at":"2026-11-21T20:15:03.123Z",
         "last_exit":{"status":1,"at":"2026-11-21T20:15:00.000Z","reason":"exited with status 1"},
         "last_health":{"ok":true,"at":"2026-11-21T20:15:02.000Z","message":"200","duration_ms":3}}
        """
        let record = try ServiceRecord.decode(Data(legacy.utf8), path: "state.json")
        XCTAssertEqual(record.last_exit?.at, Timestamps.parseISO8601("2026-11-21T20:15:00Z"))
        XCTAssertEqual(record.last_health?.at, Timestamps.parseISO8601("2026-11-21T20:15:02Z"))
        let written = String(decoding: try record.encoded(), as: UTF8.self)
        XCTAssertFalse(written.contains("\"at\""), written)
        XCTAssertTrue(written.contains("\"time\" : \"2026-11-21T20:15:00.000Z\""), written)
        let again = try ServiceRecord.decode(try record.encoded(), path: "state.json")
        XCTAssertEqual(again.last_exit, record.last_exit)
        XCTAssertEqual(again.last_health, record.last_health)
    }

    /// git's `%cI` carries the committer's offset; JSON times are UTC.
    func testCommitTimesAreUTC() {
        XCTAssertEqual(Timestamps.utc("2026-11-21T21:15:03+01:00"), "2026-11-21T20:15:03Z")
        XCTAssertEqual(Timestamps.utc("not a time"), "not a time")
    }
}
