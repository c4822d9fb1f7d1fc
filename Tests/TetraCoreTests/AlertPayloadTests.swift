import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class AlertPayloadTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws { root = ProcTestSupport.makeTempDir("tetra-alertpay") }
    override func tearDown() { ProcTestSupport.removeTree(root) }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func rule() throws -> AlertRule {
        let condition: AlertCondition
        do { condition = try AlertCondition.parse("cpu > 80%") } catch { throw NSError(domain: error.message, code: 1) }
        return AlertRule(name: "api-hot", org: "acme", target: "api", condition: condition, forSeconds: 120, repeatSeconds: nil,
                         notify: ["ops"], severity: "critical", file: "orgs/acme/org.toml")
    }

    func pretty(_ payload: AlertPayload) throws -> String {
        let object = try JSONSerialization.jsonObject(with: payload.encoded())
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                      as: UTF8.self) + "\n"
    }

    func testFiringAndResolvedPayloadsMatchTheGolden() throws {
        let firing = AlertEvent(rule: try rule(), status: .firing, subject: .service(org: "acme", name: "api"), host: "web1",
                                value: "93.5%", startsAt: t0, time: t0)
        var resolved = firing
        resolved.status = .resolved
        resolved.value = "12.0%"
        resolved.endsAt = t0.addingTimeInterval(600)
        Golden.check(try pretty(AlertPayload(firing, receiver: "ops")), path: Golden.directory + "/alerts/payload-firing.json")
        Golden.check(try pretty(AlertPayload(resolved, receiver: "ops")), path: Golden.directory + "/alerts/payload-resolved.json")
    }

    func testTheShapeIsAlertmanagersVersion4() throws {
        let event = AlertEvent(rule: try rule(), status: .firing, subject: .service(org: "acme", name: "api"), host: "web1",
                               value: "93.5%", startsAt: t0, time: t0)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: AlertPayload(event, receiver: "ops").encoded()) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                                          "commonAnnotations", "externalURL", "alerts"])
        XCTAssertEqual(object["version"] as? String, "4")
        let alert = try XCTUnwrap((object["alerts"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(alert.keys), ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"])
        XCTAssertEqual(alert["endsAt"] as? String, "0001-01-01T00:00:00Z")
        XCTAssertEqual(alert["startsAt"] as? String, "2027-01-15T08:00:00Z")
        let labels = try XCTUnwrap(alert["labels"] as? [String: String])
        XCTAssertEqual(labels, ["alertname": "api-hot", "service": "api", "org": "acme", "host": "web1", "severity": "critical"])
        XCTAssertTrue((alert["annotations"] as? [String: String])?["description"]?.contains("93.5%") ?? false)
    }

    func testFingerprintIsPrometheusLabelSignature() {
        // FNV-1a 64 of "a\xffb\xff": the value Prometheus's LabelsToSignature gives {a="b"}.
        var h: UInt64 = 0xcbf29ce484222325
        for b in Array("a".utf8) + [0xff] + Array("b".utf8) + [0xff] { h ^= UInt64(b); h = h &* 0x100000001b3 }
        XCTAssertEqual(AlertPayload.fingerprint(["a": "b"]), String(format: "%016llx", h))
        XCTAssertEqual(AlertPayload.fingerprint([:]), "cbf29ce484222325")
        XCTAssertNotEqual(AlertPayload.fingerprint(["a": "b", "c": "d"]), AlertPayload.fingerprint(["a": "bc", "": "d"]))
    }

    /// The URL of a webhook is never in curl's argv: curl reads it from its config on stdin.
    func testCurlGetsTheURLOnStdinAndRetriesWithBackoff() throws {
        let url = "https://hooks.example.com/services/T000/SECRET-TOKEN"
        let paths = StatePaths(root: root)
        try FileManager.default.createDirectory(atPath: paths.org("acme"), withIntermediateDirectories: true)
        try "OPS_WEBHOOK=\(url)\n".write(toFile: paths.org("acme") + "/secrets.env", atomically: true, encoding: .utf8)
        let fake = FakeProcessRunner(ordering: .inOrder)
        fake.expect("curl 500", executable: "curl", matching: { _ in true }, response: .result(ProcessResult(status: 0, stdout: Data("500".utf8))), times: 2)
        fake.expect("curl 200", executable: "curl", matching: { _ in true }, response: .result(ProcessResult(status: 0, stdout: Data("200".utf8))))
        let core = CoreContext(environment: [:], workingDirectory: root, stateRoot: root, runner: fake)
        let r = try rule()
        let set = AlertRuleSet(rules: [r], orgNotifiers: ["acme": ["ops": AlertNotifier(name: "ops", kind: .webhook("{{ secrets.OPS_WEBHOOK }}"),
                                                                                        org: "acme", directory: paths.org("acme"))]])
        let waits = SleepLog()
        var delivery = AlertDelivery(core: core, rules: set)
        delivery.sleep = { waits.add($0) }
        let entry = delivery.deliver(AlertEvent(rule: r, status: .firing, subject: .service(org: "acme", name: "api"), host: "h",
                                                value: "90.0%", startsAt: t0, time: t0))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(entry.result, .delivered)
        XCTAssertEqual(entry.deliveries.map(\.attempts), [3])
        XCTAssertEqual(waits.values, [1, 2])
        for call in fake.calls {
            XCTAssertFalse(call.arguments.joined(separator: " ").contains("SECRET-TOKEN"), "\(call.arguments)")
            XCTAssertTrue(call.arguments.contains("--config"))
            XCTAssertEqual(String(decoding: call.input ?? Data(), as: UTF8.self), "url = \"\(url)\"\n")
        }
        let history = try String(contentsOfFile: AlertHistoryEntry.path(paths), encoding: .utf8)
        XCTAssertFalse(history.contains("SECRET-TOKEN"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/state/alerts/_outbox"), [], "no body file left")
    }

    func testAFailedWebhookIsRecordedWithoutItsURL() throws {
        let paths = StatePaths(root: root)
        let fake = FakeProcessRunner(ordering: .inOrder)
        fake.expect("curl", executable: "curl", matching: { _ in true },
                    response: .result(ProcessResult(status: 7, stderr: Data("curl: (7) Failed to connect to hooks.example.com/T0/SECRET".utf8))), times: 3)
        let core = CoreContext(environment: [:], workingDirectory: root, stateRoot: root, runner: fake)
        let r = try rule()
        let set = AlertRuleSet(rules: [r], orgNotifiers: ["acme": ["ops": AlertNotifier(name: "ops", kind: .webhook("https://hooks.example.com/T0/SECRET"),
                                                                                        org: "acme", directory: root)]])
        var delivery = AlertDelivery(core: core, rules: set)
        delivery.sleep = { _ in }
        let entry = delivery.deliver(AlertEvent(rule: r, status: .resolved, subject: nil, host: "h", value: nil, startsAt: t0, endsAt: t0, time: t0))
        XCTAssertEqual(entry.result, .failed)
        XCTAssertEqual(entry.deliveries, [AlertDeliveryRecord(notifier: "ops", kind: .webhook, result: .failed, attempts: 3,
                                                              error: "curl: could not connect (exit 7)")])
        let history = try String(contentsOfFile: AlertHistoryEntry.path(paths), encoding: .utf8)
        XCTAssertFalse(history.contains("SECRET"))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }
}

final class SleepLog: @unchecked Sendable {
    let lock = NSLock()
    var values: [TimeInterval] = []
    func add(_ v: TimeInterval) { lock.lock(); values.append(v); lock.unlock() }
}
