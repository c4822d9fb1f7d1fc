import Foundation
import XCTest

/// Local locks with the built binary: the default wait, `--lock-wait 0`, and waiters always
/// naming the holder.
final class LocksE2ETests: XCTestCase {
    private func runConcurrently(_ t: Tetra, count: Int, _ args: @escaping @Sendable (Int) -> [String]) -> ResultsBox {
        let results = ResultsBox()
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                results.add(i, try? t.run(args(i)))
            }
        }
        group.wait()
        return results
    }

    /// 50 concurrent `ports allocate` without any flag all succeed with distinct ports (the
    /// default wait is 10 s, not "fail at once").
    func testFiftyConcurrentAllocationsWithoutFlagAllSucceed() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let results = runConcurrently(t, count: 50) { ["ports", "allocate", "svc\($0)", "--range", "development"] }
        var ports: [Int] = []
        for i in 0..<50 {
            guard let r = results.get(i) else { return XCTFail("svc\(i) did not run") }
            XCTAssertEqual(r.status, 0, "svc\(i): \(r.stderr)")
            if let p = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) { ports.append(p) }
        }
        XCTAssertEqual(Set(ports).count, 50, "distinct ports: \(ports.sorted())")
    }

    /// Waiters that give up at once name the holder's pid: never "no holder recorded" while
    /// another tetra has just taken the lock.
    func testWaitersAlwaysNameTheHolder() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let results = runConcurrently(t, count: 30) { ["ports", "allocate", "svc\($0)", "--range", "development", "--lock-wait", "0"] }
        var refused = 0
        for i in 0..<30 {
            guard let r = results.get(i) else { return XCTFail("svc\(i) did not run") }
            guard r.status != 0 else { continue }
            refused += 1
            XCTAssertEqual(r.status, 5, "svc\(i): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("no holder recorded"), "svc\(i): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("pid "), "svc\(i) names the holder: \(r.stderr)")
        }
        print("refused with --lock-wait 0: \(refused) of 30")
    }

    /// A held lock: `--lock-wait 0` fails at once, the default waits (and gets it when the
    /// holder lets go within 10 s), and gives up with exit 5 after about 10 s.
    func testDefaultWaitIsTenSeconds() throws {
        let flock = try requireTool("flock")
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        let lockFile = t.stateRoot + "/state/locks/ports.lock"
        XCTAssertEqual(try t.run(["ports", "allocate", "first", "--range", "development"]).status, 0)

        func hold(_ seconds: Int) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: flock)
            p.arguments = [lockFile, "sleep", String(seconds)]
            try p.run()
            usleep(300_000)
            return p
        }

        let short = try hold(3)
        var started = Date()
        let immediate = try t.run(["ports", "allocate", "a", "--range", "development", "--lock-wait", "0"])
        XCTAssertEqual(immediate.status, 5, immediate.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        started = Date()
        let waited = try t.run(["ports", "allocate", "b", "--range", "development"])
        XCTAssertEqual(waited.status, 0, "the default waits for a 3 s holder: \(waited.stderr)")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 2)
        short.waitUntilExit()

        let long = try hold(14)
        defer { long.terminate(); long.waitUntilExit() }
        started = Date()
        let gaveUp = try t.run(["ports", "allocate", "c", "--range", "development"])
        let took = Date().timeIntervalSince(started)
        XCTAssertEqual(gaveUp.status, 5, gaveUp.stderr)
        XCTAssertTrue(gaveUp.stderr.contains("after waiting 10s"), gaveUp.stderr)
        XCTAssertGreaterThan(took, 9)
        XCTAssertLessThan(took, 13)
    }
}
