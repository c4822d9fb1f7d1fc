import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// Records what the engine sends instead of delivering it.
final class RecordingDispatcher: AlertDispatching, @unchecked Sendable {
    let lock = NSLock()
    var events: [AlertEvent] = []
    func send(_ event: AlertEvent) { lock.lock(); events.append(event); lock.unlock() }
    var statuses: [AlertEventStatus] { lock.lock(); defer { lock.unlock() }; return events.map(\.status) }
}

final class AlertEngineTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws { root = ProcTestSupport.makeTempDir("tetra-alerts") }
    override func tearDown() { ProcTestSupport.removeTree(root) }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func rule(_ when: String, for seconds: TimeInterval = 0, repeat every: TimeInterval? = nil, service: String = "api") throws -> AlertRule {
        let condition: AlertCondition
        do { condition = try AlertCondition.parse(when) } catch { throw NSError(domain: error.message, code: 1) }
        return AlertRule(name: "r", org: "acme", target: service, condition: condition, forSeconds: seconds, repeatSeconds: every,
                         notify: ["ops"], severity: "warning", file: "orgs/acme/org.toml")
    }

    func sample(_ seconds: TimeInterval, cpu: Double?, restarts: Int = 0) -> MetricSample {
        MetricSample(time: t0.addingTimeInterval(seconds), state: .running, health: .healthy, cpuPercent: cpu, restarts: restarts)
    }

    func testForRepeatAndResolveWithAnInjectedClock() throws {
        let r = try rule("cpu > 80%", for: 120, repeat: 3600)
        let sent = RecordingDispatcher()
        let engine = AlertEngine(rules: AlertRuleSet(rules: [r]), paths: StatePaths(root: root), dispatcher: sent)
        func at(_ s: TimeInterval, _ cpu: Double) { engine.observe(sample: sample(s, cpu: cpu), org: "acme", service: "api", host: "h") }
        func status() -> AlertStatus? {
            AlertSubjectFile.load(AlertSubjectFile.path(StatePaths(root: root), subject: .service(org: "acme", name: "api"))).0.rules[r.id]?.status
        }
        at(0, 10)
        XCTAssertNil(status(), "inactive and never changed: nothing written")
        at(10, 95)
        XCTAssertEqual(status(), .pending)
        at(60, 95)
        at(129, 95)
        XCTAssertEqual(sent.statuses, [], "for = 2m has not elapsed since 10s")
        at(130, 95)
        XCTAssertEqual(sent.statuses, [.firing])
        XCTAssertEqual(status(), .firing)
        for s in stride(from: 140.0, to: 3700, by: 60) { at(s, 96) }
        XCTAssertEqual(sent.statuses, [.firing], "exactly once until repeat")
        at(3730, 96)
        XCTAssertEqual(sent.statuses, [.firing, .firing], "repeat = 1h re-sends")
        XCTAssertEqual(sent.events[1].value, "96.0%")
        XCTAssertEqual(sent.events[1].startsAt, t0.addingTimeInterval(130), "a repeat keeps the alert's start")
        at(3800, 20)
        XCTAssertEqual(sent.statuses, [.firing, .firing, .resolved])
        XCTAssertEqual(sent.events[2].startsAt, t0.addingTimeInterval(130))
        XCTAssertEqual(sent.events[2].endsAt, t0.addingTimeInterval(3800))
        XCTAssertEqual(status(), .inactive)
        // Pending that does not last goes back without a notification.
        at(3810, 99)
        at(3820, 10)
        XCTAssertEqual(sent.statuses.count, 3)
    }

    func testForZeroFiresAtOnceAndAMissingMeasureResolves() throws {
        let r = try rule("cpu > 80%")
        let sent = RecordingDispatcher()
        let engine = AlertEngine(rules: AlertRuleSet(rules: [r]), paths: StatePaths(root: root), dispatcher: sent)
        engine.observe(sample: sample(0, cpu: 90), org: "acme", service: "api", host: "h")
        XCTAssertEqual(sent.statuses, [.firing])
        engine.observe(sample: sample(10, cpu: nil), org: "acme", service: "api", host: "h")
        XCTAssertEqual(sent.statuses, [.firing, .resolved])
        // Another service, and another org, are not this rule's.
        engine.observe(sample: sample(20, cpu: 99), org: "acme", service: "web", host: "h")
        engine.observe(sample: sample(20, cpu: 99), org: "other", service: "api", host: "h")
        XCTAssertEqual(sent.statuses.count, 2)
    }

    func testStateSurvivesANewEngine() throws {
        let r = try rule("cpu > 80%", repeat: 600)
        let first = RecordingDispatcher()
        AlertEngine(rules: AlertRuleSet(rules: [r]), paths: StatePaths(root: root), dispatcher: first)
            .observe(sample: sample(0, cpu: 90), org: "acme", service: "api", host: "h")
        let second = RecordingDispatcher()
        let engine = AlertEngine(rules: AlertRuleSet(rules: [r]), paths: StatePaths(root: root), dispatcher: second)
        engine.observe(sample: sample(30, cpu: 90), org: "acme", service: "api", host: "h")
        XCTAssertEqual(second.statuses, [], "still firing: a restarted supervisor does not send it again")
        engine.observe(sample: sample(40, cpu: 5), org: "acme", service: "api", host: "h")
        XCTAssertEqual(second.statuses, [.resolved])
        let file = AlertSubjectFile.path(StatePaths(root: root), subject: .service(org: "acme", name: "api"))
        var st = stat()
        XCTAssertEqual(stat(file, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
    }

    func testRestartsInAWindowFiresAndResolvesAsSamplesAge() throws {
        let r = try rule("restarts > 2 in 10m")
        let sent = RecordingDispatcher()
        let engine = AlertEngine(rules: AlertRuleSet(rules: [r]), paths: StatePaths(root: root), dispatcher: sent)
        for (s, n) in [(0.0, 0), (60, 1), (120, 2), (180, 3)] {
            engine.observe(sample: sample(s, cpu: 1, restarts: n), org: "acme", service: "api", host: "h")
        }
        XCTAssertEqual(sent.statuses, [.firing])
        XCTAssertEqual(sent.events[0].value, "3")
        engine.observe(sample: sample(650, cpu: 1, restarts: 3), org: "acme", service: "api", host: "h")
        XCTAssertEqual(sent.statuses, [.firing], "the restarts seen at 60s, 120s and 180s are within 10 minutes of 650s")
        engine.observe(sample: sample(700, cpu: 1, restarts: 3), org: "acme", service: "api", host: "h")
        XCTAssertEqual(sent.statuses, [.firing, .resolved], "at 700s the one seen at 60s has left the window: 2")
    }

    /// A supervisor calls `observe` at every sample: with rules that do not hold it reads no
    /// file after the first sample, writes none, and costs microseconds (bound loose: the
    /// machine is shared).
    func testObserveIsCheapWhenNothingChanges() throws {
        let rules = try ["cpu > 80%", "memory > 1GiB", "restarts > 3 in 10m", "health == unhealthy", "probe_latency > 2s"].enumerated().map { i, w in
            var r = try rule(w)
            r.name = "r\(i)"
            return r
        }
        let sent = RecordingDispatcher()
        let engine = AlertEngine(rules: AlertRuleSet(rules: rules), paths: StatePaths(root: root), dispatcher: sent)
        let began = Monotonic.now()
        for i in 0..<10_000 {
            engine.observe(sample: MetricSample(time: t0.addingTimeInterval(Double(i)), state: .running, health: .healthy, cpuPercent: 5,
                                                memoryBytes: 1 << 20, probeLatencyMs: 3, restarts: 0), org: "acme", service: "api", host: "h")
        }
        let perSample = (Monotonic.now() - began) / 10_000
        XCTAssertLessThan(perSample, 100e-6, "observe took \(Int(perSample * 1e6))µs per sample")
        XCTAssertEqual(sent.statuses, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/state/alerts"), "nothing written")
    }

    func testStateMachineTable() throws {
        let r = try rule("cpu > 80%", for: 60, repeat: 300)
        let now = t0
        func step(_ s: AlertRuleState?, _ holds: Bool, _ dt: TimeInterval) -> (AlertStatus, AlertEventStatus?) {
            let (next, send) = AlertStateMachine.step(s, holds: holds, value: nil, now: now.addingTimeInterval(dt), rule: r)
            return (next.status, send)
        }
        let pending = AlertRuleState(status: .pending, since: now)
        let firing = AlertStateMachine.firing(now, nil)
        XCTAssertTrue(step(nil, false, 0) == (.inactive, nil))
        XCTAssertTrue(step(nil, true, 0) == (.pending, nil))
        XCTAssertTrue(step(pending, true, 59) == (.pending, nil))
        XCTAssertTrue(step(pending, true, 60) == (.firing, .firing))
        XCTAssertTrue(step(pending, false, 30) == (.inactive, nil))
        XCTAssertTrue(step(firing, true, 299) == (.firing, nil))
        XCTAssertTrue(step(firing, true, 300) == (.firing, .firing))
        XCTAssertTrue(step(firing, false, 10) == (.inactive, .resolved))
    }
}

/// The engine as a supervisor uses it: `observe` returns at once, the dispatcher's thread
/// delivers through real curl to a real receiver (python3), with the retries on its side.
final class AlertDispatcherTests: XCTestCase {
    var root = ""
    var server: Process?
    override func setUpWithError() throws { root = ProcTestSupport.makeTempDir("tetra-alertdisp") }
    override func tearDown() {
        server?.terminate()
        server?.waitUntilExit()
        ProcTestSupport.removeTree(root)
    }

    func startReceiver(status: Int) throws -> (port: Int, bodies: String) {
        guard let python = ProcTestSupport.python3, ProcTestSupport.runner.which("curl") != nil else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("python3 and curl are needed in CI") }
            print("\n*** SKIPPED: python3 or curl is not installed ***\n")
            throw XCTSkip("python3 or curl is not installed")
        }
        let bodies = root + "/bodies.jsonl"
        let script = """
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                open(sys.argv[1], 'ab').write(body + b'\\n')
                self.send_response(int(sys.argv[2])); self.end_headers()
            def log_message(self, *a): pass
        s = http.server.HTTPServer(('127.0.0.1', 0), H)
        print(s.server_address[1], flush=True)
        s.serve_forever()
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script, bodies, String(status)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        server = p
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let port = try XCTUnwrap(Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        return (port, bodies)
    }

    func testObserveDoesNotWaitForDeliveryAndTheReceiverGetsFiringThenResolved() throws {
        let (port, bodies) = try startReceiver(status: 200)
        let condition: AlertCondition
        do { condition = try AlertCondition.parse("cpu > 80%") } catch { throw NSError(domain: error.message, code: 1) }
        let rule = AlertRule(name: "hot", org: "acme", target: "*", condition: condition, forSeconds: 0, repeatSeconds: nil,
                             notify: ["ops"], severity: "warning", file: "orgs/acme/org.toml")
        let set = AlertRuleSet(rules: [rule], orgNotifiers: ["acme": ["ops": AlertNotifier(name: "ops", kind: .webhook("http://127.0.0.1:\(port)/x"),
                                                                                          org: "acme", directory: root)]])
        let core = CoreContext(environment: ProcTestSupport.environment, workingDirectory: root, stateRoot: root, runner: ProcTestSupport.runner)
        let dispatcher = AlertDispatcher(delivery: AlertDelivery(core: core, rules: set))
        let engine = AlertEngine(rules: set, paths: StatePaths(root: root), dispatcher: dispatcher)
        let t0 = Date()
        let began = Monotonic.now()
        engine.observe(sample: MetricSample(time: t0, state: .running, health: .none, cpuPercent: 99), org: "acme", service: "api", host: "h")
        engine.observe(sample: MetricSample(time: t0 + 1, state: .running, health: .none, cpuPercent: 1), org: "acme", service: "api", host: "h")
        XCTAssertLessThan(Monotonic.now() - began, 0.05, "observe hands notifications over without waiting for curl")
        XCTAssertTrue(dispatcher.drain(timeout: 10))
        XCTAssertLessThan(Monotonic.now() - began, 2, "delivered within 2 seconds")
        let lines = try String(contentsOfFile: bodies, encoding: .utf8).split(separator: "\n")
        let statuses = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["status"] as? String }
        XCTAssertEqual(statuses, ["firing", "resolved"], "in order")
        let history = try String(contentsOfFile: AlertHistoryEntry.path(StatePaths(root: root)), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 2)
    }
}

final class AlertEngineLoadingTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws { root = ProcTestSupport.makeTempDir("tetra-alertload") }
    override func tearDown() { ProcTestSupport.removeTree(root) }

    func writeOrg(_ extra: String) throws {
        let dir = root + "/orgs/acme"
        try FileManager.default.createDirectory(atPath: dir + "/services", withIntermediateDirectories: true)
        try ("[org]\nname = \"acme\"\n\n[environments.dev]\ntarget = \"/srv/acme\"\n" + extra)
            .write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
    }

    func testASupervisorGetsAnEngineOnlyWhenARuleIsAboutItsService() throws {
        try writeOrg("""

            [[alerts]]
            name = "hot"
            service = "api"
            when = "cpu > 80%"
            notify = ["ops"]

            [notifiers.ops]
            command = ["/bin/true"]
            """)
        let core = CoreContext(environment: [:], workingDirectory: root, stateRoot: root, runner: FakeProcessRunner())
        let warnings = SleepLog()
        XCTAssertNotNil(AlertEngine.forService(core: core, org: "acme", service: "api", warn: { _ in warnings.add(1) }))
        XCTAssertNil(AlertEngine.forService(core: core, org: "acme", service: "web", warn: { _ in warnings.add(1) }))
        XCTAssertEqual(warnings.values, [])
    }

    func testRulesThatDoNotValidateAreReportedAndNotEvaluated() throws {
        try writeOrg("""

            [[alerts]]
            name = "hot"
            when = "cpu > lots"
            notify = ["ops"]
            """)
        let core = CoreContext(environment: [:], workingDirectory: root, stateRoot: root, runner: FakeProcessRunner())
        let box = MessageBox()
        XCTAssertNil(AlertEngine.forService(core: core, org: "acme", service: "api", warn: { box.add($0) }))
        XCTAssertEqual(box.messages.count, 1)
        XCTAssertTrue(box.messages.first?.contains("orgs/acme/org.toml:9:15") ?? false, "\(box.messages)")
    }
}

final class MessageBox: @unchecked Sendable {
    let lock = NSLock()
    var messages: [String] = []
    func add(_ m: String) { lock.lock(); messages.append(m); lock.unlock() }
}
