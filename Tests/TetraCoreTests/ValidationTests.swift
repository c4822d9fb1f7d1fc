import Foundation
import XCTest
@testable import TetraCore

/// A fresh state root per test, and assertions on a validation's problem lines.
class ValidationTestCase: XCTestCase {
    var root = ""
    var paths: StatePaths { StatePaths(root: root) }

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/tetra-validation.XXXXXX").utf8CString)
        root = String(cString: mkdtemp(&template)!)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ rel: String, _ text: String) throws {
        let path = root + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `path:line:column: key: message` lines of the report.
    func lines(_ v: OrgValidation) -> [String] { v.problems.map(\.description) }

    func assertHas(_ v: OrgValidation, _ prefix: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let all = lines(v)
        XCTAssertTrue(all.contains { $0.hasPrefix(prefix) && (fragment.isEmpty || $0.contains(fragment)) },
                      "no problem '\(prefix) ... \(fragment)' in:\n" + all.joined(separator: "\n"), file: file, line: line)
    }
}

/// `org validate` / `doctor`'s one pass: every problem of every file at once, type errors
/// included, each at its `path:line:column`, sorted by path then position.
final class ValidationTests: ValidationTestCase {
    let ports = """
    [ports]
    api = 4000
    db = 4001

    [port_ranges]
    development = "3000-3999"
    """

    // MARK: decoder

    func testCollectingDecoderReportsEveryWrongKeyAndKeepsTheOthers() throws {
        let doc = try TOMLDocument(parsing: """
        [org]
        name = 7
        [environments.dev]
        target = "/srv/dev"
        keep_releases = "three"
        protected = "yes"
        [environments.prod]
        target = 42
        checks = [["a"], 5]
        keep_releases = 4
        """, fileName: "org.toml")
        let d = LoadedOrg.decode(doc, file: "org.toml")
        XCTAssertEqual(d.problems.map(\.description), [
            "org.toml:2:8: org.name: expected a string, found an integer",
            "org.toml:5:17: environments.dev.keep_releases: expected an integer, found a string",
            "org.toml:6:13: environments.dev.protected: expected a boolean, found a string",
            "org.toml:8:10: environments.prod.target: expected a string, found an integer",
            "org.toml:9:18: environments.prod.checks[1]: expected an array, found an integer",
        ])
        let config = try XCTUnwrap(d.value)
        XCTAssertEqual(config.environments.keys, ["dev", "prod"], "a broken environment is still there")
        XCTAssertEqual(config.environments["dev"]?.target, "/srv/dev")
        XCTAssertTrue(d.failed(["environments", "dev", "keep_releases"]), "a placeholder, marked failed")
        XCTAssertEqual(config.environments["prod"]?.keepReleases, 4, "keys after a wrong one are decoded")
        XCTAssertTrue(d.failed(["environments", "prod", "target"]))
        XCTAssertTrue(d.failed(["environments", "prod", "checks", "1"]))
        XCTAssertFalse(d.failed(["environments", "prod", "keep_releases"]))
        // The throwing decoder still stops at the first: unchanged for every other reader.
        XCTAssertThrowsError(try TOMLDecoder().decode(OrgConfig.self, from: doc)) { error in
            XCTAssertEqual((error as? ConfigError)?.problems.count, 1)
        }
    }

    func testMissingRequiredKeysAreReportedWithPlaceholdersForTheRest() throws {
        let doc = try TOMLDocument(parsing: "[environments.dev]\nport_range = 5\n", fileName: "org.toml")
        let d = LoadedOrg.decode(doc, file: "org.toml")
        let text = d.problems.map(\.description).joined(separator: "\n")
        XCTAssertTrue(text.contains("missing required key 'org'"), text)
        // target is optional to the decoder (an environment has target or hosts): the
        // validator reports an environment with neither.
        XCTAssertTrue(text.contains("org.toml:2:14: environments.dev.port_range: expected a string"), text)
        XCTAssertEqual(d.problems.count, 2, text)
        XCTAssertEqual(d.value?.environments.keys, ["dev"])
    }

    func testServiceFileReportsTypeErrorsAndValueErrorsTogether() throws {
        let doc = try TOMLDocument(parsing: """
        command = "node server.js"
        port = true
        depends_on = ["db", 3]
        enabled = "yes"

        [health]
        http = "https://x/health"
        retries = "3"

        [restart]
        policy = "sometimes"
        window = 60
        backoff = "fast"
        """, fileName: "api.toml")
        let c = ServiceDefinition.check(doc, file: "api.toml", expectedName: "api")
        XCTAssertEqual(c.problems.map(\.description), [
            "api.toml:1:11: command: expected an array, found a string",
            "api.toml:2:8: port: expected a port name (string) or number, found a boolean",
            "api.toml:3:21: depends_on[1]: expected a string, found an integer",
            "api.toml:4:11: enabled: expected a boolean, found a string",
            "api.toml:7:8: health.http: expected an http:// URL (https is not probed), e.g. \"http://127.0.0.1:{port}/health\"",
            "api.toml:8:11: health.retries: expected an integer, found a string",
            "api.toml:11:10: restart.policy: unknown policy 'sometimes' (expected no, on-failure or always)",
            "api.toml:12:10: restart.window: expected a string, found an integer",
            "api.toml:13:11: restart.backoff: invalid duration 'fast' (e.g. 500ms, 30s, 5m)",
        ])
        XCTAssertThrowsError(try ServiceDefinition.parse(doc, file: "api.toml", expectedName: "api")) { error in
            XCTAssertEqual((error as? ConfigError)?.problems.count, 9, "svc commands report every problem too")
        }
    }

    // MARK: the whole org

    func testOneRunReportsEveryProblemOfEveryFileSorted() throws {
        try write("config/ports.toml", ports)
        try write("orgs/acme/org.toml", """
        [org]
        name = "acme"

        [environments.dev]
        target = "/srv/acme/dev"
        port_range = "nosuch"
        keep_releases = "three"

        [environments.staging]
        target = "/srv/acme/staging"
        promote_from = "qa"
        protected = 1

        [environments.prod]
        target = "/srv/acme/prod"
        promote_from = "staging"
        keep_releases = 0
        """)
        try write("orgs/acme/files/app.conf.tmpl", "port={{ ports.api }}\nname={{ nosuch }}\n")
        try write("orgs/acme/files/broken.tmpl", "{{#if x}}never closed\n")
        try write("orgs/acme/secrets.env", "TOKEN=x\n")
        try write("orgs/acme/services/api.toml", """
        command = ["node", "server.js"]
        port = "web"
        depends_on = ["worker", "cache"]
        secrets = ["TOKEN", "DATABASE_URL"]
        stop_timeout = 10
        """)
        try write("orgs/acme/services/worker.toml", """
        command = ["worker"]
        port = "api"
        depends_on = ["db"]
        restart = { policy = "always", max_restarts = "five" }
        """)
        try write("orgs/acme/services/db.toml", """
        command = ["postgres"]
        port = 4000
        depends_on = ["api"]
        colour = "blue"
        """)
        try write("orgs/acme/services/syntax.toml", "command = [\"x\"\nport = 1\n")

        let v = try OrgValidator(paths: paths).validate(org: "acme")
        XCTAssertFalse(v.valid)
        let all = lines(v)
        // org.toml: type errors and semantic problems of other keys, together.
        assertHas(v, "orgs/acme/org.toml:6:14: environments.dev.port_range:", "no port range 'nosuch'")
        assertHas(v, "orgs/acme/org.toml:7:17: environments.dev.keep_releases:", "expected an integer, found a string")
        assertHas(v, "orgs/acme/org.toml:11:16: environments.staging.promote_from:", "no environment 'qa'")
        assertHas(v, "orgs/acme/org.toml:12:13: environments.staging.protected:", "expected a boolean, found an integer")
        assertHas(v, "orgs/acme/org.toml:17:17: environments.prod.keep_releases:", "must be at least 1")
        // templates: one problem per place, the environments merged.
        assertHas(v, "orgs/acme/files/app.conf.tmpl:2:", "nosuch")
        XCTAssertEqual(all.filter { $0.contains("app.conf.tmpl:2:") }.count, 1, all.joined(separator: "\n"))
        XCTAssertTrue(all.contains { $0.contains("app.conf.tmpl:2:") && $0.contains("(env dev, staging, prod)") }, all.joined(separator: "\n"))
        assertHas(v, "orgs/acme/files/broken.tmpl:", "")
        // services: per file, and across files.
        assertHas(v, "orgs/acme/services/api.toml:2:8: port:", "port 'web' is not registered")
        assertHas(v, "orgs/acme/services/api.toml:3:25: depends_on:", "no service 'cache'")
        assertHas(v, "orgs/acme/services/api.toml:4:21: secrets:", "secret DATABASE_URL is not defined")
        assertHas(v, "orgs/acme/services/api.toml:5:16: stop_timeout:", "expected a string, found an integer")
        assertHas(v, "orgs/acme/services/api.toml:3:15: depends_on:", "dependency cycle: api -> worker -> db -> api")
        assertHas(v, "orgs/acme/services/worker.toml:4:47: restart.max_restarts:", "expected an integer, found a string")
        assertHas(v, "orgs/acme/services/worker.toml:2:8: port:", "port 4000 is also the port of service db")
        assertHas(v, "orgs/acme/services/syntax.toml:2:1:", "")
        XCTAssertEqual(all.filter { $0.contains("cycle") }.count, 1, "one cycle, reported once")
        XCTAssertFalse(all.contains { $0.contains("TOKEN") && !$0.contains("DATABASE_URL") }, "a defined secret is fine")
        // sorted by path, then position.
        let keys = v.problems.map { ($0.path, $0.line ?? 0, $0.column ?? 0) }
        XCTAssertEqual(keys.map { "\($0.0)\u{0}\(String(format: "%06d%06d", $0.1, $0.2))" },
                       keys.map { "\($0.0)\u{0}\(String(format: "%06d%06d", $0.1, $0.2))" }.sorted(), all.joined(separator: "\n"))
        // unknown keys are warnings, not problems.
        XCTAssertEqual(v.warnings.map(\.description), ["orgs/acme/services/db.toml:4:1: unknown key 'colour'"])
        XCTAssertEqual(v.services, ["api", "db", "syntax", "worker"])
        XCTAssertEqual(v.environments, ["dev", "staging", "prod"])
    }

    func testSyntaxErrorInOrgTomlStillValidatesServicesAndPorts() throws {
        try write("config/ports.toml", "[ports]\napi = \"x\"\n")
        try write("orgs/acme/org.toml", "[org]\nname = \"acme\"\n[environments.dev\n")
        try write("orgs/acme/services/api.toml", "command = [\"x\"]\nport = \"api\"\ndepends_on = [\"nope\"]\n")
        let v = try OrgValidator(paths: paths).validate(org: "acme")
        assertHas(v, "orgs/acme/org.toml:3:", "")
        assertHas(v, "config/ports.toml:2:", "")
        assertHas(v, "orgs/acme/services/api.toml:3:15: depends_on:", "no service 'nope'")
        XCTAssertFalse(lines(v).contains { $0.contains("not registered") }, "an unreadable registry is not 'not registered': \(lines(v))")
    }

    func testAValidOrgWithServicesHasNoProblems() throws {
        try write("config/ports.toml", ports)
        try write("orgs/acme/org.toml", "[org]\nname = \"acme\"\n[environments.dev]\ntarget = \"/srv/dev\"\nport_range = \"development\"\n")
        try write("orgs/acme/files/a.conf.tmpl", "{{ ports.api }}\n")
        try write("orgs/acme/services/api.toml", "command = [\"x\"]\nport = \"api\"\ndepends_on = [\"db\"]\n")
        try write("orgs/acme/services/db.toml", "command = [\"y\"]\nport = \"db\"\n")
        let v = try OrgValidator(paths: paths).validate(org: "acme")
        XCTAssertEqual(lines(v), [])
        XCTAssertTrue(v.valid)
        XCTAssertThrowsError(try OrgValidator(paths: paths).validate(org: "nosuch")) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .notFound)
        }
    }
}
