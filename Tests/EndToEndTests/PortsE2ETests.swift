import Foundation
import XCTest

final class PortsE2ETests: XCTestCase {
    /// 50 allocations started at once get 50 distinct ports; the file stays valid.
    func testFiftyConcurrentAllocationsGetDistinctPorts() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let results = ResultsBox()
        let group = DispatchGroup()
        for i in 0..<50 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let r = try? t.run(["ports", "allocate", "svc\(i)", "--range", "development", "--lock-wait", "60s"])
                results.add(i, r)
            }
        }
        group.wait()
        var ports: [Int] = []
        for i in 0..<50 {
            guard let r = results.get(i) else { return XCTFail("svc\(i) did not run") }
            XCTAssertEqual(r.status, 0, "svc\(i): \(r.stderr)")
            if let p = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) { ports.append(p) }
        }
        XCTAssertEqual(Set(ports).count, 50, "distinct ports: \(ports.sorted())")
        let list = try t.run(["ports", "list", "--json"])
        XCTAssertEqual(list.status, 0)
        let doc = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        XCTAssertEqual((doc?["ports"] as? [Any])?.count, 50, "nothing lost")
        XCTAssertEqual(try t.run(["config", "check", t.stateRoot + "/config/ports.toml"]).status, 0)
        let audit = try t.run(["audit", "--json"])
        let entries = (try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])?["entries"] as? [Any]
        XCTAssertEqual(entries?.count, 51, "init + 50 allocations audited, no line lost")
    }

    /// A real listener is found by `scan` with its pid and reported by `reconcile`.
    func testScanAndReconcileSeeARealListener() throws {
        let python = try requireTool("python3")
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let port = Int(try t.run(["ports", "allocate", "web", "--range", "development"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
        let server = Process()
        server.executableURL = URL(fileURLWithPath: python)
        server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var found: [String: Any]? = nil
        let deadline = Date().addingTimeInterval(10)
        while found == nil, Date() < deadline {
            let scan = try t.run(["ports", "scan", "--json"])
            let sockets = (try JSONSerialization.jsonObject(with: Data(scan.stdout.utf8)) as? [String: Any])?["sockets"] as? [[String: Any]]
            found = sockets?.first { $0["port"] as? Int == port }
            if found == nil { usleep(100_000) }
        }
        XCTAssertEqual(found?["pid"] as? Int, Int(server.processIdentifier))
        XCTAssertEqual(found?["name"] as? String, "web")
        XCTAssertEqual(found?["process"] as? String, "python3")

        let reconcile = try t.run(["ports", "reconcile", "--json"])
        XCTAssertEqual(reconcile.status, 0, reconcile.stdout)
        let rows = (try JSONSerialization.jsonObject(with: Data(reconcile.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]]
        XCTAssertEqual(rows?.first?["status"] as? String, "correct")

        // A bound port is skipped by the next allocation.
        XCTAssertEqual(try t.run(["ports", "remove", "web"]).status, 0)
        let next = try t.run(["ports", "allocate", "other", "--range", "development"])
        XCTAssertNotEqual(Int(next.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), port)
        // Now the listener is undeclared inside a declared range: a mismatch, exit 1.
        let mismatch = try t.run(["ports", "reconcile"])
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.stdout.contains("listening-but-undeclared"))
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Int: Tetra.Result] = [:]
    func add(_ i: Int, _ r: Tetra.Result?) { lock.lock(); results[i] = r; lock.unlock() }
    func get(_ i: Int) -> Tetra.Result? { lock.lock(); defer { lock.unlock() }; return results[i] }
}
