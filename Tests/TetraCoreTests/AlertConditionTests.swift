import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class AlertConditionTests: XCTestCase {
    func parse(_ text: String) throws -> AlertCondition {
        do { return try AlertCondition.parse(text) } catch { throw NSError(domain: "\(error.offset): \(error.message)", code: 1) }
    }

    func problem(_ text: String) -> AlertCondition.Problem? {
        do {
            _ = try AlertCondition.parse(text)
            return nil
        } catch {
            return error
        }
    }

    func testEveryMeasureParsesInItsUnit() throws {
        let cases: [(String, AlertMeasure, AlertComparison, Double)] = [
            ("cpu > 80%", .cpu, .greater, 80),
            ("cpu>=12.5%", .cpu, .greaterOrEqual, 12.5),
            ("memory > 500MB", .memory, .greater, 500_000_000),
            ("memory <= 1GiB", .memory, .lessOrEqual, 1_073_741_824),
            ("threads > 200", .threads, .greater, 200),
            ("open_files >= 1000", .open_files, .greaterOrEqual, 1000),
            ("restarts > 3", .restarts, .greater, 3),
            ("probe_latency > 500ms", .probe_latency, .greater, 500),
            ("probe_latency > 2s", .probe_latency, .greater, 2000),
            ("cert_days_left < 14", .cert_days_left, .less, 14),
            ("cert_days_left < 14d", .cert_days_left, .less, 14),
        ]
        for (text, measure, comparison, threshold) in cases {
            let c = try parse(text)
            XCTAssertEqual(c.measure, measure, text)
            XCTAssertEqual(c.comparison, comparison, text)
            XCTAssertEqual(c.threshold, threshold, accuracy: 1e-9, text)
            XCTAssertNil(c.window, text)
        }
        let windowed = try parse("restarts > 3 in 10m")
        XCTAssertEqual(windowed.window, 600)
        XCTAssertEqual(windowed.description, "restarts > 3 in 10m")
        let health = try parse("health == unhealthy")
        XCTAssertEqual(health.word, "unhealthy")
        let state = try parse("state != running")
        XCTAssertEqual(state.comparison, .notEqual)
        XCTAssertEqual(state.word, "running")
        XCTAssertEqual(try parse("state == crashloop").description, "state == crashloop")
    }

    func testProblemsNameTheWordAndWhereItStarts() {
        let cases: [(String, Int, String)] = [
            ("disk > 80%", 0, "unknown measure 'disk'"),
            ("cpux > 80%", 0, "(did you mean 'cpu'?)"),
            ("cpu >> 80%", 4, "unknown comparison '>>'"),
            ("cpu => 80%", 4, "unknown comparison '=>'"),
            ("cpu > 80", 6, "is not a valid cpu value (expected a percentage such as 80%)"),
            ("memory > 500", 9, "is not a valid memory value"),
            ("memory > 500XB", 9, "is not a valid memory value"),
            ("probe_latency > 500", 16, "is not a valid probe_latency value (expected a duration"),
            ("threads > 2.5", 10, "is not a valid threads value"),
            ("health > unhealthy", 7, "health compares with == or != only, not >"),
            ("health == sick", 10, "unknown health 'sick'"),
            ("state == down", 9, "unknown state 'down'"),
            ("restarts > 3 in", 15, "expected a window after 'in'"),
            ("restarts > 3 in ten", 16, "invalid window 'ten'"),
            ("cpu > 80% in 5m", 10, "unexpected 'in' after the condition (only restarts takes a window)"),
            ("cpu > 80% now", 10, "unexpected 'now'"),
            ("cpu", 3, "expected a comparison"),
            ("cpu >", 5, "expected a value after '>'"),
            ("", 0, "empty condition"),
        ]
        for (text, offset, message) in cases {
            guard let p = problem(text) else { XCTFail("'\(text)' should be refused"); continue }
            XCTAssertEqual(p.offset, offset, "\(text): \(p.message)")
            XCTAssertTrue(p.message.contains(message), "\(text): \(p.message)")
        }
    }

    func testEvaluatesSamples() throws {
        let t = Date(timeIntervalSince1970: 1_000_000)
        let sample = MetricSample(time: t, state: .running, health: .unhealthy, cpuPercent: 93.54, memoryBytes: 612_000_000,
                                  threads: 12, openFiles: 40, probeLatencyMs: 750, restarts: 2)
        func eval(_ text: String) throws -> (Bool, String?) { AlertEngine.evaluate(try parse(text), sample: sample) }
        XCTAssertEqual(try eval("cpu > 80%").0, true); XCTAssertEqual(try eval("cpu > 80%").1, "93.5%")
        XCTAssertEqual(try eval("cpu > 95%").0, false); XCTAssertEqual(try eval("cpu > 95%").1, "93.5%")
        XCTAssertEqual(try eval("memory > 500MB").0, true); XCTAssertEqual(try eval("memory > 500MB").1, "612MB")
        XCTAssertEqual(try eval("probe_latency > 500ms").0, true); XCTAssertEqual(try eval("probe_latency > 500ms").1, "750ms")
        XCTAssertEqual(try eval("health == unhealthy").0, true); XCTAssertEqual(try eval("health == unhealthy").1, "unhealthy")
        XCTAssertEqual(try eval("state == crashloop").0, false); XCTAssertEqual(try eval("state == crashloop").1, "running")
        XCTAssertEqual(try eval("restarts >= 2").0, true); XCTAssertEqual(try eval("restarts >= 2").1, "2")
        XCTAssertEqual(try eval("threads > 10").0, true); XCTAssertEqual(try eval("threads > 10").1, "12")
        // A measure not taken never holds, whatever the comparison.
        let bare = MetricSample(time: t, state: .stopped, health: .none)
        XCTAssertTrue(AlertEngine.evaluate(try parse("cpu < 1%"), sample: bare) == (false, nil))
    }

    func testRestartsInAWindowCountWhatWasSeenInIt() {
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let seen: [(Date, Int)] = [(t0 + 60, 1), (t0 + 500, 2), (t0 + 700, 1)]
        XCTAssertEqual(AlertEngine.restartsIn(600, before: t0 + 700, seen), 3, "the one seen at 60s is older than 10m")
        XCTAssertEqual(AlertEngine.restartsIn(1000, before: t0 + 700, seen), 4)
        XCTAssertEqual(AlertEngine.restartsIn(100, before: t0 + 700, seen), 1)
    }
}
