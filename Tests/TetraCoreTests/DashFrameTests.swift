import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// `tetra dash`'s data model (DashFrameBuilder) and text renderer (DashRenderer).
final class DashFrameTests: XCTestCase {
    var root = ""
    let now = Date(timeIntervalSince1970: 1_796_000_000)

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/tetra-dash.XXXXXX").utf8CString)
        root = String(cString: mkdtemp(&template)!)
        let dir = StatePaths(root: root).org("acme")
        try FileManager.default.createDirectory(atPath: dir + "/services", withIntermediateDirectories: true)
        try """
        [org]
        name = "acme"

        [environments.dev]
        target = "/srv/acme/dev"

        [environments.prod]
        target = "/srv/acme/prod"
        protected = true
        """.write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
        try "name = \"api\"\ncommand = [\"sleep\", \"100\"]\ntags = [\"web\"]\n".write(toFile: dir + "/services/api.toml", atomically: true, encoding: .utf8)
        try "name = \"worker\"\ncommand = [\"sleep\", \"100\"]\n".write(toFile: dir + "/services/worker.toml", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    var core: CoreContext {
        let fixed = now
        return CoreContext(environment: [:], workingDirectory: "/", stateRoot: root, now: { fixed }, runner: FakeProcessRunner())
    }

    func testFrameHoldsServicesEnvironmentsFromHistoryAndSparklinePoints() throws {
        try LocalHistory(paths: StatePaths(root: root)).append(LocalHistoryEntry(
            time: Timestamps.iso8601(now.addingTimeInterval(-7200)), org: "acme", env: "prod", action: "push", release: "20261206-0100",
            previous: nil, snapshot: nil, target: "/srv/acme/prod", by: "alice", source: "cli", message: nil))
        let ring = MetricsStore(paths: StatePaths(root: root), org: "acme", service: "api").ring(.sample)
        try FileManager.default.createDirectory(atPath: (ring.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let writer = try MetricRingWriter(ring, warn: { XCTFail($0) })
        for i in 1...30 {
            var measures = Array(repeating: MeasureStat(), count: MetricMeasure.allCases.count)
            measures[MetricMeasure.cpu.rawValue] = MeasureStat(count: 1, min: Float(i), avg: Float(i), max: Float(i))
            measures[MetricMeasure.memory.rawValue] = MeasureStat(count: 1, min: 1_048_576, avg: 1_048_576, max: 1_048_576)
            writer.write(MetricRecord(seq: UInt32(i), timeMs: MetricRecord.milliseconds(now) - Int64(30 - i) * 1000, samples: 1, measures: measures))
        }

        let builder = DashFrameBuilder(core: core, org: "acme", env: "prod")
        let frame = try builder.frame()
        XCTAssertEqual(frame.services.map(\.name), ["api", "worker"])
        XCTAssertEqual(frame.services.map(\.state), [.stopped, .stopped])
        XCTAssertEqual(frame.services[0].tags, ["web"])
        // The newest 24 points; no current CPU for a service that does not run.
        XCTAssertEqual(frame.services[0].cpu_points, (7...30).map(Double.init))
        XCTAssertNil(frame.services[0].cpu_percent)
        XCTAssertNil(frame.services[1].cpu_points)
        XCTAssertTrue(frame.protected)
        let prod = try XCTUnwrap(frame.environments.first { $0.name == "prod" })
        XCTAssertEqual(prod.release, "20261206-0100")
        XCTAssertEqual(prod.by, "alice")
        XCTAssertEqual(prod.age_seconds, 7200)
        XCTAssertEqual(prod.drift, .unknown)
        XCTAssertNil(frame.environments.first { $0.name == "dev" }?.release)
        XCTAssertEqual(frame.alerts, [])
        XCTAssertEqual(frame.certificates, [])

        builder.select(org: "acme", env: "dev")
        XCTAssertFalse(try builder.frame().protected)
    }

    func testFilterUsesTheSearchGrammar() throws {
        let frame = try DashFrameBuilder(core: core, org: "acme").frame()
        func names(_ q: String) throws -> [String] { try DashFilter.apply(q, to: frame.services, org: "acme", now: now).map(\.name) }
        XCTAssertEqual(try names(""), ["api", "worker"])
        XCTAssertEqual(try names("work"), ["worker"])
        XCTAssertEqual(try names("tag:web"), ["api"])
        XCTAssertEqual(try names("state:stopped -tag:web"), ["worker"])
        XCTAssertEqual(try names("host:local state:running"), [])
        XCTAssertThrowsError(try names("colour:red"))
    }

    func sampleFrame() -> DashFrame {
        var api = DashService(name: "api", state: .running, health: .healthy, pid: 42, restarts: 2, uptime_seconds: 3725, port: 4000)
        api.cpu_percent = 12.5
        api.memory_bytes = 52_428_800
        api.cpu_points = [1, 2, 4, 8, 4, 2]
        let db = DashService(name: "a-very-long-service-name-that-will-not-fit", state: .crashloop, restarts: 9)
        return DashFrame(org: "acme", env: "prod", time: now, protected: true, services: [api, db],
                         environments: [DashEnvironment(name: "prod", protected: true, target: "/srv/acme/prod", release: "r1",
                                                        deployed_at: "2026-12-06T00:00:00Z", by: "alice", age_seconds: 3600, drift: .unknown)],
                         alerts: [DashAlert(alert: "cpu-high", severity: "warning", service: "api", since: "2026-12-06T00:00:00Z", value: "95")],
                         certificates: [DashCertificate(domain: "acme.example", expires_at: "2026-12-10T00:00:00Z", days_left: 4)],
                         port_problems: [PortService.Problem(kind: .bound, name: "api", port: 4000, message: "bound by pid 7")])
    }

    func testPlainTextAt80And60HasNoEscapesAndFits() {
        for width in [80, 60] {
            let text = DashRenderer.plain(sampleFrame(), width: width)
            XCTAssertFalse(text.contains("\u{1B}"), "width \(width)")
            for line in text.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, width, "\(width): \(line)") }
            for word in ["SERVICES (2)", "api", "running", "crashloop", "ENVIRONMENTS (1)", "r1", "by alice", "drift unknown",
                         "ALERTS FIRING (1)", "cpu-high", "4d left", "PORT PROBLEMS (1)", "bound", "env prod"] {
                XCTAssertTrue(text.contains(word), "width \(width) lacks \(word):\n\(text)")
            }
        }
        let wide = DashRenderer.plain(sampleFrame(), width: 80)
        XCTAssertTrue(wide.contains("CPU HIST") && wide.contains("▂▃▅█▅▃") && wide.contains("env prod (protected)"), wide)
        XCTAssertTrue(wide.contains("12.5") && wide.contains("50M") && wide.contains("1h2m") && wide.contains("4000"), wide)
        let narrow = DashRenderer.plain(sampleFrame(), width: 60)
        XCTAssertFalse(narrow.contains("CPU HIST"), narrow)
        XCTAssertFalse(narrow.contains("HEALTH"), narrow)
        XCTAssertTrue(narrow.contains("a-very-long-serv~"), narrow)
    }

    func testTerminalRenderFillsTheHeightAndMarksTheSelection() {
        var v = DashViewState()
        v.selected = 1
        let f = sampleFrame()
        for (w, h) in [(80, 24), (60, 12), (40, 8)] {
            let lines = DashRenderer(width: w, height: h, color: false).render(f, v, services: f.services)
            XCTAssertEqual(lines.count, h)
            for line in lines { XCTAssertLessThanOrEqual(line.count, w, line) }
            XCTAssertTrue(lines.contains { $0.hasPrefix("> a-very") }, "\(lines)")
            XCTAssertTrue(lines.last!.hasPrefix("q:quit"), lines.last!)
        }
        v.readOnly = true
        let ro = DashRenderer(width: 120, height: 24).render(f, v, services: f.services)
        XCTAssertTrue(ro.last!.contains("read-only") && !ro.last!.contains("restart"), ro.last!)
        // Colour only when asked; error lines of the log pane in red.
        v.focus = .logs
        v.logLines = [LogLine(time: nil, stream: "stdout", line: "listening"), LogLine(time: nil, stream: "stderr", line: "ERROR: boom")]
        let colored = DashRenderer(width: 80, height: 24, color: true).render(f, v, services: f.services)
        XCTAssertTrue(colored.contains { $0.contains("\u{1B}[1;31m! ERROR: boom") }, "\(colored)")
        XCTAssertTrue(colored.contains { $0.contains("  listening") && !$0.contains("\u{1B}[1;31m") })
    }

    func testSparklineAndUnits() {
        XCTAssertEqual(DashRenderer.sparkline([0, 0], width: 5), "▁▁")
        XCTAssertEqual(DashRenderer.sparkline([1, 2, 3, 4, 5, 6, 7, 8], width: 4), "▅▆▇█")
        XCTAssertEqual(DashRenderer.sparkline([], width: 4), "")
        XCTAssertEqual(DashRenderer.bytes(512), "512B")
        XCTAssertEqual(DashRenderer.bytes(1_572_864), "1.5M")
        XCTAssertEqual(DashRenderer.duration(59), "59s")
        XCTAssertEqual(DashRenderer.duration(90_000), "1d1h")
    }
}
