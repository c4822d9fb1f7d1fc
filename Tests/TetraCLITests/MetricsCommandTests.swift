import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// `tetra metrics` and `tetra svc top` on rings written by the recorder at fixed times (the
/// clock of `InProcess`): their documents, the sparklines on a terminal, the flags refused.
extension JSONGoldenTests {
    /// Samples of `worker` every 10 s for the 3 minutes before the fixed clock.
    static func recordWorker(_ cli: InProcess) throws {
        let store = MetricsStore(paths: StatePaths(root: cli.stateRoot), org: "acme", service: "worker")
        let recorder = try MetricsRecorder(store) { XCTFail($0) }
        let end = cli.now().timeIntervalSince1970
        for i in 0..<18 {
            let t = end - 180 + Double(i) * 10
            recorder.record(MetricSample(time: Date(timeIntervalSince1970: t), state: i < 2 ? .starting : .running,
                                         health: i < 2 ? .unknown : .healthy, cpuPercent: i == 0 ? nil : Double(i % 6) * 12.5,
                                         memoryBytes: 50_000_000 + UInt64(i) * 1_000_000, threads: 3 + i % 2, openFiles: 12,
                                         probeLatencyMs: i < 2 ? nil : Double(2 + i % 4), restarts: i < 9 ? 0 : 1))
        }
    }

    func testMetricsDocumentsMatchTheirGoldens() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0, "org/default has services web and worker")
        try Self.recordWorker(cli)
        var pinner = Pinner()
        pinner.pin(cli, "metrics", ["metrics", "worker", "--since", "3m", "--step", "1m", "--org", "acme"])
        pinner.pin(cli, "svc top", ["svc", "top", "--org", "acme"])
    }
}

final class MetricsCommandTests: XCTestCase {
    func testSeriesPicksTheRingAndStepMerges() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        try JSONGoldenTests.recordWorker(cli)
        func doc(_ args: [String]) throws -> [String: Any] {
            let r = cli.run(["metrics", "worker", "--org", "acme", "--json"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        }
        let raw = try doc(["--since", "1m"])
        XCTAssertEqual(raw["resolution"] as? String, "sample")
        XCTAssertEqual((raw["points"] as? [Any])?.count, 6)
        XCTAssertNil(raw["step_seconds"])
        let week = try doc(["--since", "7d"])
        XCTAssertEqual(week["resolution"] as? String, "minute")
        XCTAssertEqual(week["step_seconds"] as? Int, 60)
        let quarter = try doc(["--since", "90d", "--step", "1d"])
        XCTAssertEqual(quarter["resolution"] as? String, "hour")
        let points = quarter["points"] as? [[String: Any]] ?? []
        XCTAssertEqual(points.count, 1)
        XCTAssertEqual(points.first?["samples"] as? Int, 18)
        XCTAssertEqual(points.first?["cpu_percent_max"] as? Double, 62.5)
        XCTAssertEqual(points.first?["memory_bytes_min"] as? Int, 50_000_000)
        XCTAssertEqual(points.first?["restarts"] as? Int, 1)
    }

    func testSparklinesOnATerminalAndLinesOtherwise() throws {
        var cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        try JSONGoldenTests.recordWorker(cli)
        let plain = cli.run(["metrics", "worker", "--org", "acme", "--since", "1m"])
        XCTAssertEqual(plain.stdout.split(separator: "\n").count, 6, plain.stdout)
        XCTAssertTrue(plain.stdout.contains("memory_bytes=6"), plain.stdout)
        cli.stdoutIsTerminal = true
        cli.terminalWidth = 100
        let tty = cli.run(["metrics", "worker", "--org", "acme", "--since", "5m"])
        XCTAssertEqual(tty.status, 0, tty.stderr)
        let cpu = tty.stdout.split(separator: "\n").first { $0.hasPrefix("cpu %") }.map(String.init) ?? ""
        XCTAssertTrue(cpu.contains("▁") && cpu.contains("█"), tty.stdout)
        XCTAssertTrue(cpu.contains("max 62.5"), cpu)
        XCTAssertTrue(tty.stdout.contains("restarts   1"), tty.stdout)
    }

    /// The document written directly has the bytes of the JSON encoder's.
    func testDirectJSONIsTheEncodersBytes() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        try JSONGoldenTests.recordWorker(cli)
        let store = MetricsStore(paths: StatePaths(root: cli.stateRoot), org: "acme", service: "worker")
        for (since, step) in [(600.0, nil), (600, 60), (7 * 86400, nil), (90 * 86400, 86400.0)] as [(TimeInterval, TimeInterval?)] {
            var series = store.series(org: "acme", service: "worker", since: since, step: step, now: cli.now())
            XCTAssertEqual(series.jsonText(), try JSONOutput.encode(series), "since \(since) step \(String(describing: step))")
            series.warnings = ["metrics ring /x/\"q\"\\ is corrupt\n(é)"]
            series.points = []
            XCTAssertEqual(series.jsonText(), try JSONOutput.encode(series))
        }
    }

    func testRefusedFlagsAndUnknownService() {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        XCTAssertEqual(cli.run(["metrics", "worker", "--org", "acme", "--since", "91d"]).status, 2)
        XCTAssertEqual(cli.run(["metrics", "worker", "--org", "acme", "--step", "500ms"]).status, 2)
        XCTAssertEqual(cli.run(["metrics", "nope", "--org", "acme"]).status, 4)
        XCTAssertEqual(cli.run(["svc", "top", "--org", "acme", "--watch", "--json"]).status, 2)
    }

    func testACorruptRingIsNamedNotFatal() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        let dir = cli.stateRoot + "/state/metrics/acme/worker"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 500).write(to: URL(fileURLWithPath: dir + "/samples.ring"))
        let r = cli.run(["metrics", "worker", "--org", "acme", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(dir + "/samples.ring"), r.stderr)
        let top = cli.run(["svc", "top", "--org", "acme"])
        XCTAssertEqual(top.status, 0, top.stderr)
        XCTAssertTrue(top.stderr.contains("samples.ring is corrupt"), top.stderr)
    }
}
