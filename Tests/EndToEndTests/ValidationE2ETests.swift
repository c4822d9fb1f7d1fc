import Foundation
import XCTest

/// `org validate` and `doctor` of the built binary: every problem of org.toml and of the
/// service files in one run, `path:line:column`, exit 3 (validate) / 1 (doctor).
final class ValidationE2ETests: XCTestCase {
    func write(_ t: Tetra, _ rel: String, _ text: String) throws {
        let path = t.stateRoot + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func testValidateAndDoctorReportEveryProblemOfOrgTomlAndTwoServiceFilesAtOnce() throws {
        let t = Tetra(stateRoot: DeployFixture.tempDir("tetra-validate") + "/root")
        XCTAssertEqual(try t.run(["init"]).status, 0)
        try write(t, "config/ports.toml", "[ports]\napi = 4000\n\n[port_ranges]\ndevelopment = \"3000-3999\"\n")
        try write(t, "orgs/acme/org.toml", """
        [org]
        name = "acme"

        [environments.dev]
        target = "/tmp/acme-dev"
        keep_releases = "three"

        [environments.prod]
        target = "/tmp/acme-prod"
        promote_from = "staging"
        """)
        try write(t, "orgs/acme/services/api.toml", "command = [\"api\"]\nport = \"web\"\ndepends_on = [\"worker\"]\n")
        try write(t, "orgs/acme/services/worker.toml", "command = \"worker\"\ndepends_on = [\"api\"]\nenabled = 1\n")

        var r = try t.run(["org", "validate", "acme"])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        let expected = [
            "orgs/acme/org.toml:6:17: environments.dev.keep_releases: expected an integer, found a string",
            "orgs/acme/org.toml:10:16: environments.prod.promote_from: no environment 'staging'",
            "orgs/acme/services/api.toml:2:8: port: port 'web' is not registered in config/ports.toml (tetra ports allocate web)",
            "orgs/acme/services/api.toml:3:15: depends_on: dependency cycle: api -> worker -> api",
            "orgs/acme/services/worker.toml:1:11: command: expected an array, found a string",
            "orgs/acme/services/worker.toml:3:11: enabled: expected a boolean, found an integer",
        ]
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), expected + ["6 problems in acme"], r.stdout)

        r = try t.run(["org", "validate", "acme", "--json"])
        XCTAssertEqual(r.status, 3, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        let problems = try XCTUnwrap(doc["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.count, 6)
        XCTAssertEqual(problems[0]["path"] as? String, "orgs/acme/org.toml")
        XCTAssertEqual(problems[0]["line"] as? Int, 6)
        XCTAssertEqual(problems[0]["column"] as? Int, 17)
        XCTAssertEqual(problems[0]["key"] as? String, "environments.dev.keep_releases")
        XCTAssertEqual(doc["valid"] as? Bool, false)
        XCTAssertFalse(r.stdout.contains("null"), r.stdout)

        r = try t.run(["doctor"])
        XCTAssertEqual(r.status, 1, r.stdout)
        for line in expected {
            XCTAssertTrue(r.stdout.contains(line), "doctor misses \(line):\n\(r.stdout)")
        }

        // Fixed: exit 0, for validate and (this check of) doctor.
        try write(t, "orgs/acme/org.toml", "[org]\nname = \"acme\"\n\n[environments.dev]\ntarget = \"/tmp/acme-dev\"\nkeep_releases = 3\n")
        try write(t, "orgs/acme/services/api.toml", "command = [\"api\"]\nport = \"api\"\ndepends_on = [\"worker\"]\n")
        try write(t, "orgs/acme/services/worker.toml", "command = [\"worker\"]\nenabled = true\n")
        r = try t.run(["org", "validate", "acme"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout, "ok: acme is valid (1 environment, 2 services)\n")
        r = try t.run(["doctor", "--json"])
        XCTAssertTrue(r.stdout.contains("valid (1 environments, 2 services)"), r.stdout)
    }
}
