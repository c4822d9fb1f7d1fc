import Foundation
import TetraTestSupport
import XCTest

/// `tetra search` and `tetra tag` of the built binary over a state root holding every kind of
/// resource: an org with tagged envs, hosts and services, a release pushed to a local target,
/// ports, self-signed certificates (real openssl) and the built-in templates.
final class SearchE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    struct Root {
        let tetra: Tetra
        let root: String

        init() throws {
            root = DeployFixture.tempDir("tetra-search-e2e")
            tetra = Tetra(stateRoot: root + "/state-root")
            let t = tetra
            XCTAssertEqual(try t.run(["init"]).status, 0)
            XCTAssertEqual(try t.run(["ports", "set", "api", "3100", "--tag", "team:pay"]).status, 0)
            XCTAssertEqual(try t.run(["ports", "set", "admin", "3101"]).status, 0)
            let org = t.stateRoot + "/orgs/shop"
            try FileManager.default.createDirectory(atPath: org + "/files", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: org + "/services", withIntermediateDirectories: true)
            try "port = {{ ports.api }}\n".write(toFile: org + "/files/app.conf.tmpl", atomically: true, encoding: .utf8)
            try """
            [org]
            name = "shop"
            description = "The online shop"
            tags = ["team:pay"]

            [environments.dev]
            target = "\(root)/targets/dev"
            tags = ["sandbox"]

            [environments.prod]
            target = "\(root)/targets/prod"
            protected = true
            tags = ["critical"]

            [environments.edge]
            hosts = [
              { name = "web1", target = "\(root)/targets/web1", tags = ["eu"] },
              { name = "web2", target = "\(root)/targets/web2" },
              "\(root)/targets/web3",
            ]

            """.write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
            try """
            description = "Takes the money"
            tags = ["team:pay", "critical"]
            command = ["sleep", "1000"]

            """.write(toFile: org + "/services/payments.toml", atomically: true, encoding: .utf8)
            try "command = [\"sleep\", \"1000\"]\n".write(toFile: org + "/services/mailer.toml", atomically: true, encoding: .utf8)
            let push = try t.run(["org", "push", "shop", "dev", "-m", "first of the day"])
            XCTAssertEqual(push.status, 0, push.stderr)
            for (domain, days, tag) in [("soon.test", "10", ["--tag", "edge"]), ("later.test", "300", [])] {
                let r = try t.run(["ssl", "generate", domain, "--self-signed", "--days", days] + tag)
                XCTAssertEqual(r.status, 0, r.stderr)
            }
        }

        /// `tetra search QUERY --json`: the status and the (kind, name) of every result.
        func search(_ query: String...) throws -> (Int32, [String]) {
            let r = try tetra.run(["search", "--json"] + query)
            let doc = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
            let results = doc?["results"] as? [[String: Any]] ?? []
            return (r.status, results.map { "\($0["kind"] as? String ?? "?") \($0["name"] as? String ?? "?")" })
        }
    }

    func testEveryFilterOverEveryKind() throws {
        let s = try Root()
        XCTAssertEqual(try s.search("tag:team:pay").1, ["org shop", "service payments", "port api"])
        XCTAssertEqual(try s.search("money").1, ["service payments"], "descriptions match")
        XCTAssertEqual(try s.search("kind:env", "tag:critical").1, ["env prod"])
        XCTAssertEqual(try s.search("kind:host").1, ["host local", "host web1", "host web2"])
        XCTAssertEqual(try s.search("tag:eu").1, ["host web1"])
        XCTAssertEqual(try s.search("host:web2").1, ["host web2"])
        XCTAssertEqual(try s.search("kind:svc", "state:stopped").1, ["service mailer", "service payments"])
        XCTAssertEqual(try s.search("kind:cert", "expires<30d").1, ["certificate soon.test"])
        XCTAssertEqual(try s.search("expires>30d").1, ["certificate later.test"])
        XCTAssertEqual(try s.search("tag:edge").1, ["certificate soon.test"])
        XCTAssertEqual(try s.search("kind:release", "env:dev").1.count, 1)
        XCTAssertEqual(try s.search("kind:release", "day first").1.count, 1, "every word matches, in any order")
        XCTAssertEqual(try s.search("kind:release", #""day first""#).1.count, 0, "a phrase matches as written")
        XCTAssertEqual(try s.search("kind:release", #""first of the""#).1.count, 1)
        XCTAssertEqual(try s.search("kind:template", "service/web").1, ["template service/web"])
        // A negated term in its own argument needs `--` (else it reads as a flag).
        XCTAssertEqual(try s.search("--", "org:shop", "-kind:host", "-kind:release", "-kind:service").1,
                       ["org shop", "env dev", "env edge", "env prod"])
        XCTAssertEqual(try s.search("kind:port").1, ["port admin", "port api"])

        // No match: exit 1; a malformed query: exit 2 pointing at the column.
        let none = try s.tetra.run(["search", "nothing-is-called-this"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stdout.contains("nothing matches"), none.stdout)
        let bad = try s.tetra.run(["search", "kind:svc", "colour:red"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("column 10: unknown filter 'colour:'"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("\n           ^"), bad.stderr)

        let pinner = GoldenPinner(tetra: s.tetra, replacements: [(s.root, "$WORK")])
        try pinner.pin("search", ["search", "tag:critical"])
    }

    func testTagAddAndRemoveEditTheFilesThatHoldThem() throws {
        let s = try Root()
        let t = s.tetra
        let pinner = GoldenPinner(tetra: t, replacements: [(s.root, "$WORK")])
        try pinner.pin("tag add", ["tag", "add", "env", "dev", "team:web", "--org", "shop"])
        XCTAssertEqual(try t.run(["tag", "add", "host", "local", "eu", "--env", "edge", "--org", "shop"]).status, 4,
                       "a host written as a string has no table to hold tags")
        XCTAssertEqual(try t.run(["tag", "add", "host", "web1", "team:web", "--env", "edge", "--org", "shop"]).status, 0)
        XCTAssertEqual(try t.run(["tag", "add", "service", "mailer", "team:web", "--org", "shop"]).status, 0)
        XCTAssertEqual(try t.run(["tag", "add", "port", "admin", "team:web"]).status, 0)
        XCTAssertEqual(try t.run(["tag", "add", "certificate", "later.test", "team:web"]).status, 0)
        XCTAssertEqual(try s.search("tag:team:web").1, ["env dev", "host web1", "service mailer", "port admin", "certificate later.test"])
        // The files still validate, and their other content is kept.
        let validate = try t.run(["org", "validate", "shop"])
        XCTAssertEqual(validate.status, 0, validate.stderr + validate.stdout)
        let toml = try String(contentsOfFile: t.stateRoot + "/orgs/shop/org.toml", encoding: .utf8)
        XCTAssertTrue(toml.contains("tags = [\"sandbox\", \"team:web\"]") && toml.contains("description = \"The online shop\""), toml)
        // Tags survive a renewal of the certificate.
        XCTAssertEqual(try t.run(["ssl", "renew", "later.test", "--force"]).status, 0)
        XCTAssertEqual(try s.search("tag:team:web", "kind:cert").1, ["certificate later.test"])

        try pinner.pin("tag remove", ["tag", "remove", "port", "admin", "team:web"])
        XCTAssertEqual(try s.search("kind:port", "tag:team:web").0, 1)
        let again = try t.run(["tag", "remove", "port", "admin", "team:web", "--json"])
        XCTAssertTrue(again.stdout.contains("\"unchanged\""), again.stdout)
        // Bad input changes nothing.
        XCTAssertEqual(try t.run(["tag", "add", "port", "admin", "Bad Tag"]).status, 2)
        XCTAssertEqual(try t.run(["tag", "add", "port", "nope", "x"]).status, 4)
        XCTAssertEqual(try t.run(["tag", "add", "template", "service/web", "x"]).status, 2)
        XCTAssertEqual(try t.run(["tag", "add", "widget", "x", "y"]).status, 2)
        XCTAssertEqual(try t.run(["ports", "set", "bad", "3200", "--tag", "Nope"]).status, 2)
        XCTAssertEqual(try t.run(["ports", "get", "bad"]).status, 4, "a refused tag registers nothing")
    }
}

extension VolumeE2ETests {
    /// A volume's tags are docker labels set at creation; search finds them, tag add refuses.
    func testVolumeTagsAreLabelsSetAtCreation() throws {
        let v = vol("tagged")
        let r = try tetra.run(["volume", "create", v, "--org", org, "--tag", "critical", "--tag", "team:db"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let labels = try Tetra.exec(docker, ["volume", "inspect", "--format", "{{json .Labels}}", v]).stdout
        XCTAssertTrue(labels.contains("\"tetra.tag.critical\":\"\"") && labels.contains("tetra.tag.team:db"), labels)
        let found = try tetra.run(["search", "kind:volume", "tag:team:db", "--json"])
        XCTAssertEqual(found.status, 0, found.stderr)
        XCTAssertTrue(found.stdout.contains("\"name\" : \"\(v)\""), found.stdout)
        let refused = try tetra.run(["tag", "add", "volume", v, "x"])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("volume create NAME --tag"), refused.stderr)
        XCTAssertEqual(try tetra.run(["volume", "create", vol("badtag"), "--tag", "Bad"]).status, 2)
    }
}
