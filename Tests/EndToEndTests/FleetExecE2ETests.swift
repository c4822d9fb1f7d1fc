import Foundation
import TetraTestSupport
import XCTest

/// `tetra exec` on real hosts (network namespaces with an sshd each, `NetnsHosts`) and on a
/// local target, and `tetra export compose` read back by python3.
final class FleetExecE2ETests: XCTestCase {
    override func tearDown() { DeployFixture.removeTemporaryDirectories() }

    static func json(_ r: Tetra.Result) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
    }

    func testExecRunsOnEveryHostAndNamesTheHostsThatFailed() throws {
        let hosts = try NetnsHosts(count: 2)
        defer { hosts.stop() }
        let f = try FleetE2ETests.Fleet(hosts: hosts)
        let (pushed, _) = try f.push()
        XCTAssertEqual(pushed.status, 0, pushed.stderr)

        // Each host runs the command in its own network, in its current release.
        let text = try f.tetra.run(["exec", "prod", "--org", "shop", "--", "sh", "-c", "ip -4 -o addr show dev eth0; cat host.txt"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for i in 0..<2 {
            let lines = text.stdout.split(separator: "\n").filter { $0.hasPrefix("web\(i + 1) | ") }
            XCTAssertEqual(lines.count, 2, text.stdout)
            XCTAssertTrue(lines.first?.contains(" \(hosts.address(i))/24 ") ?? false, text.stdout)
            XCTAssertEqual(lines.last.map(String.init), "web\(i + 1) | v1 hello from web\(i + 1) node \(i + 1) api 3200")
        }

        // The document, pinned (docs/json.md): the host's name and address, a line on stderr.
        // The hosts' addresses vary from run to run.
        let pinner = GoldenPinner(tetra: f.tetra, replacements: [(f.root, "$WORK"), (hosts.address(0), "$ADDRESS1"),
                                                                 (hosts.address(1), "$ADDRESS2")])
        let doc = try pinner.pin("exec", ["exec", "prod", "--org", "shop", "--", "sh", "-c",
                                          "echo \"$TETRA_ORG/$TETRA_ENV/$TETRA_HOST\"; ip -4 -o addr show dev eth0 | grep -o '10[.]231[.][0-9]*[.]2'; echo note >&2"])
        let rows = FleetE2ETests.Fleet.rows(doc)
        XCTAssertEqual(rows["web2"]?["stdout_tail"] as? String, "shop/prod/web2\n\(hosts.address(1))\n")
        XCTAssertEqual(rows["web1"]?["stderr_tail"] as? String, "note\n")

        // A command failing on one host: exit 1, each host's exit code, the host named.
        let failing = try f.tetra.run(["exec", "prod", "--org", "shop", "--json", "--", "sh", "-c", "test \"$TETRA_HOST\" != web2 || exit 3"])
        XCTAssertEqual(failing.status, 1, failing.stderr)
        let failed = FleetE2ETests.Fleet.rows(Self.json(failing))
        XCTAssertEqual(failed["web1"]?["exit_code"] as? Int, 0)
        XCTAssertEqual(failed["web1"]?["result"] as? String, "ok")
        XCTAssertEqual(failed["web2"]?["exit_code"] as? Int, 3)
        XCTAssertEqual(failed["web2"]?["result"] as? String, "failed")
        XCTAssertEqual(Self.json(failing)["failed_count"] as? Int, 1)
        let failingText = try f.tetra.run(["exec", "prod", "--org", "shop", "--", "sh", "-c", "test \"$TETRA_HOST\" != web2 || exit 3"])
        XCTAssertEqual(failingText.status, 1)
        XCTAssertTrue(failingText.stderr.contains("web2: exit 3"), failingText.stderr)
        XCTAssertTrue(failingText.stderr.contains("failed on 1 of 2 hosts of prod: web2"), failingText.stderr)

        // --hosts: only the chosen ones.
        let one = try f.tetra.run(["exec", "prod", "--org", "shop", "--hosts", "tag:eu", "--json", "--", "true"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(FleetE2ETests.Fleet.rows(Self.json(one)).keys.sorted(), ["web1"])

        // A protected environment needs --approve.
        XCTAssertEqual(try f.tetra.run(["org", "set", "environments.prod.protected", "true", "--org", "shop"]).status, 0)
        let refused = try f.tetra.run(["exec", "prod", "--org", "shop", "--", "touch", "ran"])
        XCTAssertEqual(refused.status, 7, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--approve -- touch ran"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.target(0) + "/current/ran"))
        XCTAssertEqual(try f.tetra.run(["exec", "prod", "--org", "shop", "--approve", "--", "true"]).status, 0)
        let audit = try String(contentsOfFile: f.tetra.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"command\":\"exec\""), audit)

        // An unreachable host is named; none reachable is exit 6.
        hosts.down(1)
        let down = try f.tetra.run(["exec", "prod", "--org", "shop", "--approve", "--json", "--", "true"])
        XCTAssertEqual(down.status, 1, down.stderr)
        let downRows = FleetE2ETests.Fleet.rows(Self.json(down))
        XCTAssertEqual(downRows["web1"]?["result"] as? String, "ok")
        XCTAssertEqual(downRows["web2"]?["result"] as? String, "unreachable")
        XCTAssertNil(downRows["web2"]?["exit_code"])
        XCTAssertNotNil(downRows["web2"]?["error"])
        let downText = try f.tetra.run(["exec", "prod", "--org", "shop", "--approve", "--", "true"])
        XCTAssertTrue(downText.stderr.contains("web2: unreachable"), downText.stderr)
        hosts.down(0)
        let none = try f.tetra.run(["exec", "prod", "--org", "shop", "--approve", "--", "true"])
        XCTAssertEqual(none.status, 6, none.stderr)
    }

    /// An org `shop` whose env `dev` is a local target.
    func localOrg(services: String = "") throws -> (Tetra, String) {
        let root = DeployFixture.tempDir("tetra-exec-e2e")
        let tetra = Tetra(stateRoot: root + "/state-root")
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        let org = tetra.stateRoot + "/orgs/shop"
        try FileManager.default.createDirectory(atPath: org + "/files", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: org + "/services", withIntermediateDirectories: true)
        try "[org]\nname = \"shop\"\n\n[environments.dev]\ntarget = \"\(root)/targets/dev\"\n\(services)"
            .write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        try "dev data\n".write(toFile: org + "/files/data.txt", atomically: true, encoding: .utf8)
        return (tetra, root)
    }

    func testExecOnALocalTargetIsAFleetOfOneHost() throws {
        let (tetra, root) = try localOrg()
        // No release yet: the host failed, and says why.
        let early = try tetra.run(["exec", "dev", "--org", "shop", "--", "cat", "data.txt"])
        XCTAssertEqual(early.status, 1)
        XCTAssertTrue(early.stderr.contains("local: failed: no current release at \(root)/targets/dev"), early.stderr)
        XCTAssertEqual(try tetra.run(["org", "push", "shop", "dev"]).status, 0)

        let r = try tetra.run(["exec", "dev", "--org", "shop", "--", "cat", "data.txt"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "local | dev data\n")
        // The argv is never a shell string: one word with spaces and `;` is one argument.
        let words = try tetra.run(["exec", "dev", "--org", "shop", "--json", "--", "printf", "%s|", "a b; echo no", "$HOME"])
        XCTAssertEqual(words.status, 0, words.stderr)
        let row = (Self.json(words)["hosts"] as? [[String: Any]])?.first
        XCTAssertEqual(row?["stdout_tail"] as? String, "a b; echo no|$HOME|")
        XCTAssertEqual(row?["host"] as? String, "local")
        XCTAssertEqual(row?["target"] as? String, root + "/targets/dev")

        // The tails keep the last 20 lines.
        let long = try tetra.run(["exec", "dev", "--org", "shop", "--json", "--", "seq", "1", "100"])
        let tail = (Self.json(long)["hosts"] as? [[String: Any]])?.first?["stdout_tail"] as? String
        XCTAssertEqual(tail, (81...100).map { "\($0)\n" }.joined())

        // Usage: the command comes after --.
        XCTAssertEqual(try tetra.run(["exec", "dev", "--org", "shop"]).status, 2)
        XCTAssertEqual(try tetra.run(["exec", "dev", "--org", "shop", "cat", "data.txt"]).status, 2)
        XCTAssertEqual(try tetra.run(["exec", "dev", "--org", "shop", "--hosts", "web9", "--", "true"]).status, 2)
        // A dry run runs nothing.
        let dry = try tetra.run(["exec", "dev", "--org", "shop", "--dry-run", "--json", "--", "touch", "made"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertEqual(Self.json(dry)["dry_run"] as? Bool, true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/targets/dev/current/made"))
    }

    static let services = """
    services = ["db", "web"]

    """

    static let db = """
    runtime = "docker"
    image = "postgres:16"
    port = "db"
    ports = ["{port}:5432"]
    volumes = ["db-data:/var/lib/postgresql/data", "/srv/backup:/backup:ro"]
    env = { POSTGRES_DB = "app-{{ env.name }}", PRICE = "$5", ANSWER = "yes", NOTE = "line\\nbreak \\"quoted\\"", DSN = "postgres://app:{{ secrets.POSTGRES_PASSWORD }}@db/app" }
    secrets = ["POSTGRES_PASSWORD"]
    command = ["postgres", "-c", "shared_buffers=128MB"]
    depends_on = ["web"]

    [health]
    command = ["pg_isready", "-U", "app"]
    retries = 5

    [restart]
    policy = "always"

    """

    static let expectedCompose = """
    # Docker Compose file of the services of shop/dev, written by tetra export compose.
    # Secrets are ${NAME} references, never values: give them in the environment or an .env file.
    services:
      "db":
        image: "postgres:16"
        command:
          - "postgres"
          - "-c"
          - "shared_buffers=128MB"
        environment:
          "ANSWER": "yes"
          "DSN": "postgres://app:${POSTGRES_PASSWORD}@db/app"
          "NOTE": "line\\nbreak \\"quoted\\""
          "POSTGRES_DB": "app-dev"
          "PRICE": "$$5"
          "PORT": "5432"
          "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD}"
        ports:
          - "5432:5432"
        volumes:
          - "db-data:/var/lib/postgresql/data"
          - "/srv/backup:/backup:ro"
        restart: "always"
        healthcheck:
          test: ["CMD-SHELL", "pg_isready -U app"]
          interval: "10s"
          timeout: "2s"
          start_period: "5s"
          retries: 5
        stop_grace_period: "10s"
      # process service 'web' runs "./bin/server" "--port" "{port}": not containerised
    volumes:
      "db-data":
        name: "db-data"

    """

    func testExportComposeWritesTheDockerServicesAndNotesTheOthers() throws {
        let (tetra, root) = try localOrg(services: Self.services)
        let org = tetra.stateRoot + "/orgs/shop"
        try Self.db.write(toFile: org + "/services/db.toml", atomically: true, encoding: .utf8)
        try "command = [\"./bin/server\", \"--port\", \"{port}\"]\n".write(toFile: org + "/services/web.toml", atomically: true, encoding: .utf8)
        try "POSTGRES_PASSWORD=never-in-compose-77\n".write(toFile: org + "/secrets.env", atomically: true, encoding: .utf8)
        chmod(org + "/secrets.env", 0o600)
        XCTAssertEqual(try tetra.run(["ports", "set", "db", "5432"]).status, 0)

        let r = try tetra.run(["export", "compose", "dev", "--org", "shop"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, Self.expectedCompose)
        XCTAssertFalse(r.stdout.contains("never-in-compose-77"))
        // Read back as YAML by python3 (PyYAML when present; else the text above is the check).
        let python = try requireTool("python3")
        let check = """
        import json, sys
        try:
            import yaml
        except ImportError:
            print("no-yaml"); sys.exit(0)
        doc = yaml.safe_load(sys.stdin)
        db = doc["services"]["db"]
        assert list(doc["services"]) == ["db"], doc
        assert db["environment"]["ANSWER"] == "yes" and db["environment"]["NOTE"] == 'line\\nbreak "quoted"', db
        assert db["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD}", db
        assert db["ports"] == ["5432:5432"] and db["healthcheck"]["retries"] == 5, db
        assert doc["volumes"] == {"db-data": {"name": "db-data"}}, doc
        print("ok")
        """
        let parsed = try Tetra.exec(python, ["-c", check], stdin: r.stdout)
        XCTAssertEqual(parsed.status, 0, parsed.stderr)
        XCTAssertTrue(["ok\n", "no-yaml\n"].contains(parsed.stdout), parsed.stdout)

        // -o FILE: written atomically, through a symlink to its target; a fifo is refused.
        let pinner = GoldenPinner(tetra: tetra, replacements: [(root, "$WORK")])
        let doc = try pinner.pin("export compose", ["export", "compose", "dev", "--org", "shop", "-o", root + "/compose.yaml"])
        XCTAssertEqual(doc["services"] as? [String], ["db"])
        XCTAssertEqual(doc["skipped"] as? [String], ["web"])
        XCTAssertEqual(try String(contentsOfFile: root + "/compose.yaml", encoding: .utf8), Self.expectedCompose)
        try FileManager.default.createSymbolicLink(atPath: root + "/link.yaml", withDestinationPath: root + "/compose.yaml")
        try "old\n".write(toFile: root + "/compose.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try tetra.run(["export", "compose", "dev", "--org", "shop", "-o", root + "/link.yaml"]).status, 0)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/link.yaml"), root + "/compose.yaml")
        XCTAssertEqual(try String(contentsOfFile: root + "/compose.yaml", encoding: .utf8), Self.expectedCompose)
        XCTAssertEqual(mkfifo(root + "/fifo", 0o600), 0)
        let fifo = try tetra.run(["export", "compose", "dev", "--org", "shop", "-o", root + "/fifo"])
        XCTAssertEqual(fifo.status, 2, fifo.stderr)
        // An unknown environment is exit 4.
        XCTAssertEqual(try tetra.run(["export", "compose", "nope", "--org", "shop"]).status, 4)
    }
}
