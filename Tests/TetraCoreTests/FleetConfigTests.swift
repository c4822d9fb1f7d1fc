import Foundation
import XCTest
@testable import TetraCore

/// `hosts`, `services`, `[rollout]` and `[hooks]` of an environment: read, checked with the
/// rest of the org (every problem at its position), batches and host selection.
final class FleetConfigTests: ValidationTestCase {
    func testEveryFleetProblemIsReportedAtItsPosition() throws {
        try write("orgs/acme/services/api.toml", "command = [\"api\"]\n")
        try write("orgs/acme/org.toml", """
        [org]
        name = "acme"

        [environments.prod]
        hosts = [
          "ssh://deploy@web1/srv/acme",
          { name = "web1", target = "ssh://deploy@web9/srv/acme" },
          { target = "ftp://x/y" },
          { name = "web3", target = "ssh://d@web3/srv", colour = "red", tags = "eu" },
          42,
        ]
        services = ["api", "apii"]

        [environments.prod.rollout]
        parallel = 0
        batch = "half"
        max_failures = -1
        health_timeout = "soon"

        [environments.prod.hooks]
        verify = [[]]

        [environments.both]
        target = "/srv/both"
        hosts = ["ssh://a/srv"]

        [environments.neither]
        port_range = "x"

        [environments.one]
        target = "/srv/one"
        [environments.one.rollout]
        batch = 2
        """)
        let v = try OrgValidator(paths: paths).validate(org: "acme")
        let all = lines(v).joined(separator: "\n")
        assertHas(v, "orgs/acme/org.toml:7:3: environments.prod.hosts.1:", "host name 'web1' is used twice")
        assertHas(v, "orgs/acme/org.toml:8:3: environments.prod.hosts.2:", "invalid target 'ftp://x/y'")
        assertHas(v, "orgs/acme/org.toml:9:", "environments.prod.hosts.3.colour: unknown key of a host")
        assertHas(v, "orgs/acme/org.toml:9:", "environments.prod.hosts.3.tags: must be an array of strings")
        assertHas(v, "orgs/acme/org.toml:10:3: environments.prod.hosts.4:", "a host is a target URL string or a table")
        assertHas(v, "orgs/acme/org.toml:12:", "environments.prod.services.1: no service 'apii' in services/ (did you mean 'api'?)")
        assertHas(v, "orgs/acme/org.toml:15:12: environments.prod.rollout.parallel:", "must be at least 1")
        assertHas(v, "orgs/acme/org.toml:16:9: environments.prod.rollout.batch:", "a number of hosts (1 or more) or a percentage")
        assertHas(v, "orgs/acme/org.toml:17:16: environments.prod.rollout.max_failures:", "must be 0 or more")
        assertHas(v, "orgs/acme/org.toml:18:18: environments.prod.rollout.health_timeout:", "'soon' is not a duration")
        assertHas(v, "orgs/acme/org.toml:21:", "environments.prod.hooks.verify.0: hook 1 is empty")
        assertHas(v, "orgs/acme/org.toml:", "environments.both.hosts: an environment has either target or hosts, not both")
        assertHas(v, "orgs/acme/org.toml:", "environments.neither: needs target")
        XCTAssertFalse(all.contains("hosts.0"), all)
    }

    func testHostsReadFromStringsAndTables() throws {
        try write("orgs/acme/org.toml", """
        [org]
        name = "acme"
        [environments.prod]
        hosts = ["ssh://deploy@web1.example.com/srv/acme", { name = "b", target = "/srv/b", vars = { node = 2 }, tags = ["eu"], services = [] }]
        [environments.prod.rollout]
        batch = "50%"
        """)
        let org = try LoadedOrg.load(name: "acme", directory: root + "/orgs/acme")
        let env = try org.environment("prod")
        let (spec, problems) = FleetSpec.read(env, envName: "prod", org: org)
        XCTAssertEqual(problems, [])
        let s = try XCTUnwrap(spec)
        XCTAssertEqual(s.hosts.map(\.name), ["web1.example.com", "b"])
        XCTAssertEqual(s.hosts[1].vars["node"], .integer(2))
        XCTAssertEqual(s.hosts[1].tags, ["eu"])
        XCTAssertEqual(s.hosts[1].services, [])
        XCTAssertEqual(s.parallel, 10)
        XCTAssertEqual(s.maxFailures, 0)
        XCTAssertEqual(s.healthTimeout, 60)
        XCTAssertEqual(s.batch, .percent(50))
        XCTAssertEqual(s.batches([1, 2, 3]).map { $0 }, [[1, 2], [3]])
        XCTAssertThrowsError(try env.deployTarget()) { XCTAssertEqual(($0 as? CoreError)?.exitCode, .usage) }
    }

    func testBatchSizesAndHostSelection() throws {
        XCTAssertEqual(FleetSpec.BatchSize.parse("25%"), .percent(25))
        XCTAssertEqual(FleetSpec.BatchSize.parse("3"), .count(3))
        for bad in ["0", "0%", "101%", "x", "-1", "%"] { XCTAssertNil(FleetSpec.BatchSize.parse(bad), bad) }
        XCTAssertEqual(FleetSpec.BatchSize.percent(25).size(of: 10), 3)
        XCTAssertEqual(FleetSpec.BatchSize.percent(1).size(of: 3), 1)
        XCTAssertEqual(FleetSpec.BatchSize.count(5).size(of: 2), 5)

        let hosts = ["web1", "web2", "db1"].map { FleetHost(name: $0, target: "/srv/" + $0, vars: TOMLTable(), tags: $0.hasPrefix("web") ? ["web"] : [], services: nil) }
        XCTAssertEqual(try HostSelector.parse("db1,tag:web").select(hosts, env: "prod").map(\.name), ["web1", "web2", "db1"])
        XCTAssertEqual(try HostSelector.parse("web2").select(hosts, env: "prod").map(\.name), ["web2"])
        XCTAssertThrowsError(try HostSelector.parse("web3").select(hosts, env: "prod")) {
            XCTAssertTrue(($0 as? CoreError)?.message.contains("'web3' is not a host of prod") ?? false)
        }
        XCTAssertThrowsError(try HostSelector.parse("tag:eu").select(hosts, env: "prod"))
        XCTAssertThrowsError(try HostSelector.parse("web1,,web2"))
        XCTAssertThrowsError(try HostSelector.parse("tag:"))
    }

    func testVerifyWordsSubstituteReleaseAndPorts() throws {
        XCTAssertEqual(try FleetVerifier.substitute("http://127.0.0.1:{ports.api}/{release}", release: "/srv/r/1", ports: ["api": 8080]),
                       "http://127.0.0.1:8080//srv/r/1")
        XCTAssertThrowsError(try FleetVerifier.substitute("{ports.nope}", release: "/r", ports: [:])) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .notFound)
        }
    }
}
