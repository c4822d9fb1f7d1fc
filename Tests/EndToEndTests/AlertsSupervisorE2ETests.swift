import Foundation
import XCTest

extension AlertsE2ETests {
    /// A service rule evaluated by the supervisor at each sample: a CPU hog fires at a real
    /// receiver once `for` has elapsed (within 2 s of it, at a 1 s interval), exactly once while
    /// it stays hot (repeat is an hour), and resolves once the hog stops.
    func testACPUHogFiresOnceAndResolvesThroughItsSupervisor() throws {
        let python = try requireTool("python3")
        var t = Tetra()
        let receiver = try Receiver(dir: t.stateRoot, status: 200, python: python)
        receivers.append(receiver)
        XCTAssertEqual(try t.run(["init"]).status, 0)
        _ = try setUpOrg(&t, url: "http://127.0.0.1:\(receiver.port)/hook?key=\(token)", rules: """

            [[alerts]]
            name = "hog-hot"
            service = "hog"
            when = "cpu > 50%"
            for = "2s"
            repeat = "1h"
            notify = ["ops"]

            """)
        let stop = t.stateRoot + "/stop-hog"
        let services = t.stateRoot + "/orgs/acme/services"
        try FileManager.default.createDirectory(atPath: services, withIntermediateDirectories: true)
        try """
        command = ["\(python)", "-c", "import os, time\\nwhile not os.path.exists('\(stop)'):\\n    pass\\ntime.sleep(3600)\\n"]
        [metrics]
        interval = "1s"

        """.write(toFile: services + "/hog.toml", atomically: true, encoding: .utf8)
        let started = Date()
        let r = try t.run(["svc", "start", "hog", "--org", "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        defer { _ = try? t.run(["svc", "stop", "hog", "--org", "acme"]) }

        func statuses() -> [String] { receiver.received.compactMap { $0["status"] as? String } }
        func wait(for status: String, upTo seconds: TimeInterval) -> Date? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if statuses().contains(status) { return Date() }
                usleep(100_000)
            }
            return nil
        }
        guard let fired = wait(for: "firing", upTo: 20) else {
            let events = (try? String(contentsOfFile: t.stateRoot + "/state/services/acme/hog/events.log", encoding: .utf8)) ?? ""
            return XCTFail("no firing notification; events:\n\(events)")
        }
        // for = 2s from the first hot sample (at most one 1 s interval after the start, plus
        // the process's start-up), then within 2 s: well under 8 s from svc start.
        XCTAssertLessThan(fired.timeIntervalSince(started), 8, "fired \(fired.timeIntervalSince(started)) s after the start")
        XCTAssertGreaterThanOrEqual(fired.timeIntervalSince(started), 2, "not before `for` elapsed")
        let alert = (receiver.received.first?["alerts"] as? [[String: Any]])?.first
        XCTAssertEqual((alert?["labels"] as? [String: Any])?["alertname"] as? String, "hog-hot")
        XCTAssertEqual((alert?["labels"] as? [String: Any])?["service"] as? String, "hog")
        // Still hot 3 s later: no second notification (repeat is an hour).
        usleep(3_000_000)
        XCTAssertEqual(statuses(), ["firing"])

        FileManager.default.createFile(atPath: stop, contents: Data())
        XCTAssertNotNil(wait(for: "resolved", upTo: 10), "resolved after the hog stopped: \(statuses())")
        XCTAssertEqual(statuses(), ["firing", "resolved"])
        let history = try t.run(["alerts", "history", "--org", "acme", "--json"])
        XCTAssertEqual(history.status, 0, history.stderr)
        XCTAssertFalse(history.stdout.contains(token))
    }
}
