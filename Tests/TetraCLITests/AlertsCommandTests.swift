import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// `tetra alerts`: the documents of list, test, check and history (a command notifier on the
/// fake runner), exit statuses, and configuration problems as exit 3.
final class AlertsCommandTests: XCTestCase {
    static let orgAlerts = """

        [[alerts]]
        name = "web-hot"
        service = "web"
        when = "cpu > 80%"
        for = "2m"
        repeat = "4h"
        notify = ["page"]

        [[alerts]]
        name = "down"
        when = "state != running"
        notify = ["page"]

        [notifiers.page]
        command = ["/usr/local/bin/page", "--team", "ops"]

        """

    func makeOrg(_ cli: InProcess, alerts: String = orgAlerts) throws {
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        let file = cli.stateRoot + "/orgs/acme/org.toml"
        let text = try String(contentsOfFile: file, encoding: .utf8) + alerts
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func expectPage(_ runner: FakeProcessRunner, status: Int32 = 0, times: Int = 1) {
        runner.expect("page", matching: { $0.executable == "/usr/local/bin/page" && $0.arguments == ["--team", "ops"] },
                      response: .dynamic { request in
                          let body = try JSONSerialization.jsonObject(with: request.input ?? Data()) as? [String: Any]
                          guard body?["version"] as? String == "4" else { return ProcessResult(status: 99) }
                          return ProcessResult(status: status)
                      }, times: times)
    }

    func testJSONDocumentsMatchTheirGoldens() throws {
        let runner = FakeProcessRunner(ordering: .anyOrder)
        let cli = InProcess(runner: runner)
        try makeOrg(cli)
        var pinner = JSONGoldenTests.Pinner()
        XCTAssertTrue(cli.run(["alerts", "list"]).stdout.contains("web-hot  acme  web      inactive"))
        expectPage(runner)
        pinner.pin(cli, "alerts test", ["alerts", "test", "web-hot"])
        // web and worker are not running and no supervisor watches them: `down` fires for both.
        expectPage(runner, times: 2)
        pinner.pin(cli, "alerts check", ["alerts", "check"], status: 1)
        pinner.pin(cli, "alerts history", ["alerts", "history", "--since", "1h"])
        pinner.pin(cli, "alerts list", ["alerts", "list"])
        XCTAssertEqual(runner.assertAllExpectationsMet(), [])
        // Still firing: a second check sends nothing, and still exits 1.
        let again = cli.run(["alerts", "check", "--json"])
        XCTAssertEqual(again.status, 1)
        XCTAssertFalse(again.stdout.contains("\"sent\""), again.stdout)
        let list = cli.run(["alerts", "list"])
        XCTAssertTrue(list.stdout.contains("down     acme  web      firing"), list.stdout)
        XCTAssertEqual(cli.run(["__complete", "alerts", "test", "w"]).stdout, "web-hot\n")
    }

    /// `for` holds across runs of the check (cron): pending first, firing once it elapsed.
    func testCheckKeepsPendingAcrossRunsUntilForElapses() throws {
        let runner = FakeProcessRunner(ordering: .anyOrder)
        var cli = InProcess(runner: runner)
        try makeOrg(cli, alerts: """

            [[alerts]]
            name = "web-down"
            service = "web"
            when = "state != running"
            for = "5m"
            notify = ["page"]

            [notifiers.page]
            command = ["/usr/local/bin/page", "--team", "ops"]

            """)
        let first = cli.run(["alerts", "check"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("web-down  acme  web      pending"), first.stdout)
        cli.now = { Date(timeIntervalSince1970: 1_795_000_000 + 240) }
        XCTAssertEqual(cli.run(["alerts", "check"]).status, 0, "4 minutes: still pending")
        expectPage(runner)
        cli.now = { Date(timeIntervalSince1970: 1_795_000_000 + 300) }
        let fired = cli.run(["alerts", "check"])
        XCTAssertEqual(fired.status, 1)
        XCTAssertTrue(fired.stdout.contains("firing: delivered"), fired.stdout)
        XCTAssertEqual(runner.assertAllExpectationsMet(), [])
    }

    func testAFailedDeliveryIsExit1AndRecorded() throws {
        let runner = FakeProcessRunner(ordering: .anyOrder)
        let cli = InProcess(runner: runner)
        try makeOrg(cli)
        expectPage(runner, status: 3, times: 3)
        let r = cli.run(["alerts", "test", "down"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stdout, "page: failed after 3 attempts (exit status 3)\n")
        let history = cli.run(["alerts", "history"])
        XCTAssertTrue(history.stdout.contains("page: failed (exit status 3)"), history.stdout)
        XCTAssertEqual(cli.run(["alerts", "test", "nope"]).status, 4)
    }

    func testRulesThatDoNotParseAreExit3WithTheirPositions() throws {
        let cli = InProcess()
        try makeOrg(cli, alerts: """

            [[alerts]]
            name = "x"
            when = "cpu > 80 %"
            notify = ["ops"]

            """)
        let r = cli.run(["alerts", "list"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("orgs/acme/org.toml:43:15: alerts.0.when: '80' is not a valid cpu value"), r.stderr)
        XCTAssertTrue(r.stderr.contains("orgs/acme/org.toml:44:11: alerts.0.notify.0: unknown notifier 'ops'"), r.stderr)
        let validate = cli.run(["org", "validate", "acme"])
        XCTAssertEqual(validate.status, 3)
        XCTAssertTrue(validate.stderr.contains("orgs/acme/org.toml:43:15:") || validate.stdout.contains("orgs/acme/org.toml:43:15:"),
                      validate.stdout + validate.stderr)
    }
}
