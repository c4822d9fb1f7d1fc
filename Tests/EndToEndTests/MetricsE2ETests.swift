import Foundation
import XCTest

/// Metrics with real services: the supervisor samples at `[metrics] interval`, `tetra metrics`
/// answers from the rings, `svc top` from their newest sample; kill -9 of a supervisor leaves
/// the rings readable; a refused interval is exit 3 with its position.
final class MetricsE2ETests: XCTestCase {
    var f: SvcFixture!

    override func setUpWithError() throws {
        f = try SvcFixture()
    }

    override func tearDown() {
        f?.cleanUp()
        f = nil
    }

    func python() throws -> String {
        for p in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("python3 is not installed") }
        throw XCTSkip("python3 is not installed: no service holding memory to measure")
    }

    /// A service whose child holds 100 MB (the parent only waits), sampled every second.
    func writeHolder(_ name: String) throws {
        let py = try python()
        let child = "import time;b=bytearray(100<<20);[b.__setitem__(i,1) for i in range(0,len(b),4096)];time.sleep(600)"
        try f.write(name, """
        command = ["\(py)", "-c", "import subprocess,sys;subprocess.run([sys.executable,'-c','\(child)'])"]

        [metrics]
        interval = "1s"
        """)
    }

    func json(_ args: [String]) throws -> [String: Any] {
        let r = try f.t.run(args + ["--org", f.org, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func points(_ name: String, _ extra: [String] = []) throws -> [[String: Any]] {
        try json(["metrics", name] + extra)["points"] as? [[String: Any]] ?? []
    }

    func testAServiceWhoseChildHolds100MBIsMeasuredWithIt() throws {
        try writeHolder("holder")
        XCTAssertEqual(try f.svc(["start", "holder"]).status, 0)
        XCTAssertTrue(try f.wait(10) { try points("holder").filter { ($0["memory_bytes"] as? Double ?? 0) > 90e6 }.count >= 2 },
                      "\((try? points("holder")) ?? [])")
        let doc = try json(["metrics", "holder", "--since", "5m"])
        XCTAssertEqual(doc["resolution"] as? String, "sample")
        XCTAssertEqual(doc["service"] as? String, "holder")
        let last = try XCTUnwrap((doc["points"] as? [[String: Any]])?.last)
        let memory = last["memory_bytes"] as? Double ?? 0
        XCTAssertGreaterThanOrEqual(memory, 90 * 1_048_576, "\(last)")
        XCTAssertLessThanOrEqual(memory, 130 * 1_048_576, "\(last)")
        XCTAssertNotNil(last["cpu_percent"])
        XCTAssertGreaterThanOrEqual(last["threads"] as? Double ?? 0, 2, "parent and child")
        XCTAssertEqual(last["state"] as? String, "running")
        XCTAssertNotNil(last["time"] as? String)

        // --step merges: min/avg/max and the number of samples.
        let merged = try points("holder", ["--step", "1h"])
        XCTAssertEqual(merged.count, 1, "\(merged)")
        XCTAssertGreaterThanOrEqual(merged.first?["samples"] as? Int ?? 0, 2)
        XCTAssertNotNil(merged.first?["memory_bytes_max"])

        // svc top: the newest sample of the running service.
        let top = try json(["svc", "top"])
        let row = try XCTUnwrap((top["services"] as? [[String: Any]])?.first { $0["service"] as? String == "holder" })
        XCTAssertGreaterThanOrEqual(row["memory_bytes"] as? Int ?? 0, 90 * 1_048_576, "\(row)")
        XCTAssertEqual(row["state"] as? String, "running")
        XCTAssertNotNil(row["sampled_at"])

        // The rings are where the docs say, at their documented size.
        let dir = f.root + "/state/metrics/acme/holder"
        let sizes = try ["samples", "minutes", "hours"].map {
            try FileManager.default.attributesOfItem(atPath: "\(dir)/\($0).ring")[.size] as? Int ?? 0
        }
        XCTAssertEqual(sizes.reduce(0, +), 1_520_832)
    }

    func testKill9OfTheSupervisorLeavesTheRingsReadable() throws {
        try f.write("busy", "command = [\"sleep\", \"300\"]\n[metrics]\ninterval = \"1s\"\n")
        XCTAssertEqual(try f.svc(["start", "busy"]).status, 0)
        XCTAssertTrue(try f.wait(8) { try points("busy").count >= 3 })
        let rec = f.record("busy")
        let sup = Int32((rec["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0)
        let child = Int32((rec["process"] as? [String: Any])?["pid"] as? Int ?? 0)
        XCTAssertGreaterThan(sup, 0)
        // Killed while it samples every second: a write may be cut anywhere.
        kill(sup, SIGKILL)
        kill(-child, SIGKILL)
        XCTAssertTrue(f.wait(3) { !Proc.alive(sup) })
        let r = try f.t.run(["metrics", "busy", "--org", f.org, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("corrupt"), r.stderr)
        let before = try points("busy").count
        XCTAssertGreaterThanOrEqual(before, 3)
        // A new supervisor continues the same rings.
        XCTAssertEqual(try f.svc(["start", "busy"]).status, 0)
        XCTAssertTrue(try f.wait(8) { try points("busy").count >= before + 2 })
        let events = (try? String(contentsOfFile: f.root + "/state/services/acme/busy/events.log", encoding: .utf8)) ?? ""
        XCTAssertFalse(events.contains("metrics"), events)
        // svc remove takes the rings with it.
        XCTAssertEqual(try f.svc(["remove", "busy", "--yes"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.root + "/state/metrics/acme/busy"))
    }

    func testARefusedIntervalIsExit3WithItsPosition() throws {
        try f.write("fast", "command = [\"sleep\", \"300\"]\n\n[metrics]\ninterval = \"500ms\"\n")
        let r = try f.svc(["start", "fast"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("fast.toml:4:12: metrics.interval: must be between 1s and 60s"), r.stderr)

        try f.write("fast", "command = [\"sleep\", \"300\"]\n")
        try "[org]\nname = \"acme\"\n\n[metrics]\ninterval = \"2m\"\n".write(toFile: f.root + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        let v = try f.t.run(["org", "validate", "acme"])
        XCTAssertEqual(v.status, 3, v.stdout + v.stderr)
        XCTAssertTrue((v.stdout + v.stderr).contains("org.toml:5:12: metrics.interval: must be between 1s and 60s"), v.stdout + v.stderr)
    }

    func testAServiceNeverMeasuredHasAnEmptySeriesAndAnUnknownOneIsExit4() throws {
        try f.write("idle", "command = [\"sleep\", \"300\"]\n")
        let r = try f.t.run(["metrics", "idle", "--org", f.org, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"points\" : [\n\n  ]") || r.stdout.contains("\"points\" : []"), r.stdout)
        XCTAssertEqual(try f.t.run(["metrics", "nope", "--org", f.org]).status, 4)
        XCTAssertEqual(try f.t.run(["metrics", "idle", "--org", f.org, "--since", "91d"]).status, 2)
    }
}

/// `metrics --env` and `svc top --env` across the hosts of an environment whose hosts are
/// local directories (each host's tetra answers from its own rings; no network needed).
final class MetricsFleetLocalE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    func testEveryHostAnswersFromItsOwnRings() throws {
        let root = DeployFixture.tempDir("tetra-metrics-fleet")
        let tetra = Tetra(stateRoot: root + "/state-root")
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        let org = tetra.stateRoot + "/orgs/shop"
        try FileManager.default.createDirectory(atPath: org + "/services", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: org + "/files", withIntermediateDirectories: true)
        try "x\n".write(toFile: org + "/files/x.txt", atomically: true, encoding: .utf8)
        try """
        [org]
        name = "shop"
        [environments.prod]
        hosts = [{ name = "h1", target = "\(root)/h1" }, { name = "h2", target = "\(root)/h2" }]
        services = ["ticker"]
        """.write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "command = [\"sleep\", \"300\"]\n[metrics]\ninterval = \"1s\"\n".write(toFile: org + "/services/ticker.toml", atomically: true, encoding: .utf8)
        let push = try tetra.run(["org", "push", "shop", "prod"])
        XCTAssertEqual(push.status, 0, push.stderr)
        defer { _ = try? tetra.run(["svc", "stop", "--all", "--env", "prod", "--org", "shop"]) }
        func doc(_ args: [String]) throws -> [String: Any] {
            let r = try tetra.run(args + ["--env", "prod", "--org", "shop", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        }
        func pointsByHost() throws -> [String: Int] {
            var out: [String: Int] = [:]
            for s in try doc(["metrics", "ticker", "--since", "5m"])["series"] as? [[String: Any]] ?? [] {
                out[s["host"] as? String ?? ""] = (s["points"] as? [Any])?.count ?? 0
            }
            return out
        }
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let c = try pointsByHost()
            if c.count == 2 && (c.values.min() ?? 0) >= 2 { break }
            usleep(200_000)
        }
        let counts = try pointsByHost()
        XCTAssertEqual(counts.keys.sorted(), ["h1", "h2"])
        XCTAssertGreaterThanOrEqual(counts.values.min() ?? 0, 2, "\(counts)")
        let metrics = try doc(["metrics", "ticker"])
        XCTAssertEqual(metrics["host_count"] as? Int, 2)
        XCTAssertEqual(metrics["service"] as? String, "ticker")

        let top = try doc(["svc", "top"])
        let rows = top["services"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.compactMap { $0["host"] as? String }.sorted(), ["h1", "h2"], "\(top)")
        XCTAssertTrue(rows.allSatisfy { ($0["memory_bytes"] as? Int ?? 0) > 0 && $0["state"] as? String == "running" }, "\(rows)")
        let text = try tetra.run(["svc", "top", "--env", "prod", "--org", "shop"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("h1") && text.stdout.contains("h2") && text.stdout.contains("ticker"), text.stdout)
    }
}
