import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class AlertConfigTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws { root = ProcTestSupport.makeTempDir("tetra-alertcfg") }
    override func tearDown() { ProcTestSupport.removeTree(root) }
    var paths: StatePaths { StatePaths(root: root) }

    func read(_ toml: String, services: [String]? = ["api", "web"], secrets: [String: String]? = [:]) throws -> AlertConfigReader.Result {
        let doc = try TOMLDocument(parsing: toml, fileName: "orgs/acme/org.toml")
        return AlertConfigReader.read(doc, file: "orgs/acme/org.toml", org: "acme", directory: root, services: services,
                                      globalNotifiers: [], secrets: secrets)
    }

    func testReadsRulesAndNotifiers() throws {
        let r = try read("""
        [[alerts]]
        name = "api-hot"
        service = "api"
        when = "cpu > 80%"
        for = "2m"
        repeat = "4h"
        notify = ["ops", "page"]
        severity = "critical"

        [[alerts]]
        name = "cert"
        when = "cert_days_left < 14"
        notify = ["ops"]

        [notifiers.ops]
        webhook = "{{ secrets.OPS_WEBHOOK }}"

        [notifiers.page]
        command = ["./page.sh", "--team", "ops"]
        """, secrets: ["OPS_WEBHOOK": "https://hooks.example/T0/abc"])
        XCTAssertEqual(r.problems, [])
        XCTAssertEqual(r.rules.map(\.name), ["api-hot", "cert"])
        XCTAssertEqual(r.rules[0].forSeconds, 120)
        XCTAssertEqual(r.rules[0].repeatSeconds, 14400)
        XCTAssertEqual(r.rules[0].severity, "critical")
        XCTAssertEqual(r.rules[1].target, "*")
        XCTAssertEqual(r.rules[1].severity, "warning")
        XCTAssertEqual(r.rules[0].id, "acme/api-hot")
        XCTAssertTrue(r.rules[0].applies(org: "acme", service: "api"))
        XCTAssertFalse(r.rules[0].applies(org: "acme", service: "web"))
        XCTAssertTrue(r.rules[1].applies(domain: "example.com"))
        XCTAssertEqual(r.notifiers["page"]?.kind, .command(["./page.sh", "--team", "ops"]))
        XCTAssertEqual(try r.notifiers["ops"]?.webhookURL(secrets: ["OPS_WEBHOOK": "https://hooks.example/T0/abc"]), "https://hooks.example/T0/abc")
    }

    func testEveryProblemAtItsLineAndColumn() throws {
        let r = try read("""
        [[alerts]]
        name = "a"
        service = "apx"
        when = "cpu > 80"
        for = "2x"
        notify = ["ops", "pager"]

        [[alerts]]
        name = "b"
        when = "disk > 3"
        notify = ["ops"]
        fro = "1m"

        [[alerts]]
        name = "c"
        when = "probe_latency >> 500ms"
        repeat = "0s"
        notify = "ops"

        [notifiers.ops]
        webhook = "{{ secrets.MISSING }}"

        [notifiers.cmd]
        command = "./page.sh"

        [notifiers.both]
        webhook = "https://x.example/"
        command = ["a"]
        """)
        let shown = r.problems.map(\.description)
        XCTAssertEqual(shown.sorted(), [
            "orgs/acme/org.toml:24:11: notifiers.cmd.command: must be an argv array such as [\"/usr/local/bin/page\", \"--team\", \"ops\"], not string",
            "orgs/acme/org.toml:26:1: notifiers.both: has both webhook and command: a notifier is one of them",
            "orgs/acme/org.toml:21:11: notifiers.ops.webhook: secret MISSING not defined in secrets.env",
            "orgs/acme/org.toml:3:11: alerts.0.service: no service 'apx' in services/ (did you mean 'api'?)",
            "orgs/acme/org.toml:4:15: alerts.0.when: '80' is not a valid cpu value (expected a percentage such as 80%)",
            "orgs/acme/org.toml:5:7: alerts.0.for: invalid duration '2x' (expected e.g. 30s, 2m, 4h)",
            "orgs/acme/org.toml:6:18: alerts.0.notify.1: unknown notifier 'pager'; notifiers: both, cmd, ops",
            "orgs/acme/org.toml:12:1: alerts.1.fro: unknown key 'fro' (did you mean 'for'?); a rule has name, service, domain, when, for, repeat, notify, severity",
            "orgs/acme/org.toml:10:9: alerts.1.when: unknown measure 'disk'; measures: cpu, memory, threads, open_files, restarts, probe_latency, health, state, cert_days_left",
            "orgs/acme/org.toml:16:23: alerts.2.when: unknown comparison '>>' (expected > >= < <= == !=)",
            "orgs/acme/org.toml:17:10: alerts.2.repeat: must be longer than 0 (leave it out to send once)",
            "orgs/acme/org.toml:18:10: alerts.2.notify: must be an array of notifier names, not string",
        ].sorted())
    }

    func testAnOrgValidationReportsAlertProblemsWithTheRest() throws {
        let dir = paths.org("acme")
        try FileManager.default.createDirectory(atPath: dir + "/services", withIntermediateDirectories: true)
        try """
        [org]
        name = "acme"

        [environments.dev]
        target = "/srv/acme/dev"
        bogus = 1

        [[alerts]]
        name = "x"
        when = "memory > 500"
        notify = ["nobody"]
        """.write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
        let v = try OrgValidator(paths: paths).validate(org: "acme")
        XCTAssertFalse(v.valid)
        XCTAssertEqual(v.problems.map(\.description), [
            "orgs/acme/org.toml:10:18: alerts.0.when: '500' is not a valid memory value (expected a size such as 500MB or 1GiB)",
            "orgs/acme/org.toml:11:11: alerts.0.notify.0: unknown notifier 'nobody'; define it as [notifiers.nobody]",
        ])
        XCTAssertEqual(v.warnings.map(\.message), ["unknown key 'bogus'"], "alerts is not an unknown key; the rest still warns")
        XCTAssertThrowsError(try AlertRuleSet.load(paths: paths)) { error in
            XCTAssertEqual((error as? ConfigError)?.exitCode, .invalidConfig)
            XCTAssertEqual((error as? ConfigError)?.problems.count, 2)
        }
        // A literal webhook URL is allowed, with a warning to keep it in a secret.
        try """
        [org]
        name = "acme"

        [environments.dev]
        target = "/srv/acme/dev"

        [notifiers.ops]
        webhook = "https://hooks.example.com/T0/abc"
        """.write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
        let literal = try OrgValidator(paths: paths).validate(org: "acme")
        XCTAssertTrue(literal.valid)
        XCTAssertEqual(literal.warnings.map(\.description), [
            "orgs/acme/org.toml:8:11: notifiers.ops.webhook: a webhook URL written here is snapshotted and pushed with the org; keep it in secrets.env: webhook = \"{{ secrets.NAME }}\"",
        ])
    }

    func testRulesAcrossOrgsUseTheirOwnNotifiers() throws {
        try FileManager.default.createDirectory(atPath: paths.config, withIntermediateDirectories: true)
        try """
        [[alerts]]
        name = "crashloop"
        service = "*"
        when = "state == crashloop"
        notify = ["ops"]

        [notifiers.ops]
        command = ["/bin/true"]
        """.write(toFile: paths.config + "/alerts.toml", atomically: true, encoding: .utf8)
        let set = try AlertRuleSet.load(paths: paths, orgs: [])
        XCTAssertEqual(set.rules.map(\.id), ["*/crashloop"])
        XCTAssertTrue(set.rules[0].applies(org: "any", service: "thing"))
        XCTAssertEqual(set.notifier("ops", for: set.rules[0])?.kind, .command(["/bin/true"]))
    }
}
