import Foundation
import XCTest

/// Services with runtime "docker", against the real dockerd (scripts/docker-up.sh) and the
/// image tinybox:1 (busybox-static). Container names are unique per test; tearDown removes
/// them.
final class SvcDockerE2ETests: XCTestCase {
    var f: SvcFixture!
    var containers: [String] = []

    override func setUpWithError() throws {
        f = try SvcFixture()
    }

    override func tearDown() {
        f?.cleanUp()
        if let docker = Tetra.which("docker") {
            for c in containers { _ = try? Tetra.exec(docker, ["rm", "-f", c]) }
        }
        f = nil
    }

    func requireDocker() throws -> String {
        let docker = try requireTool("docker")
        let info = try Tetra.exec(docker, ["image", "inspect", "tinybox:1"])
        if info.status != 0 {
            let message = "SKIPPED: no Docker engine with tinybox:1 (scripts/docker-up.sh makes one)"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        return docker
    }

    func unique(_ base: String) -> String {
        base + "-" + String(UUID().uuidString.lowercased().prefix(8))
    }

    func inspect(_ docker: String, _ name: String) throws -> [String: Any] {
        let r = try Tetra.exec(docker, ["inspect", "--type", "container", name])
        XCTAssertEqual(r.status, 0, r.stderr)
        return ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])?.first) ?? [:]
    }

    /// start (labels, env, restart policy and health check mapped), docker's health check
    /// turns healthy, status, logs apart, a second start is a no-op, stop removes it.
    func testDockerServiceLifecycle() throws {
        let docker = try requireDocker()
        let name = unique("dweb")
        let container = "tetra-acme-\(name)"
        containers.append(container)
        let port = try f.allocatePort(name)
        try f.write(name, """
        runtime = "docker"
        image = "tinybox:1"
        network = "host"
        command = ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && echo started $GREETING && echo oops >&2 && exec httpd -f -p {port} -h /www"]
        port = "\(name)"
        env = { GREETING = "hi" }
        stop_timeout = "2s"

        [health]
        http = "http://127.0.0.1:{port}/"
        interval = "1s"
        timeout = "1s"
        retries = 2
        start_period = "1s"

        [restart]
        policy = "always"
        """)
        var r = try f.svc(["start", name])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("started \(name)"), r.stdout)

        let info = try inspect(docker, container)
        let config = info["Config"] as? [String: Any] ?? [:]
        let labels = config["Labels"] as? [String: String] ?? [:]
        XCTAssertEqual(labels["tetra.org"], "acme")
        XCTAssertEqual(labels["tetra.service"], name)
        let env = config["Env"] as? [String] ?? []
        XCTAssertTrue(env.contains("GREETING=hi"), "\(env)")
        XCTAssertTrue(env.contains("PORT=\(port)"), "\(env)")
        let hostConfig = info["HostConfig"] as? [String: Any] ?? [:]
        XCTAssertEqual((hostConfig["RestartPolicy"] as? [String: Any])?["Name"] as? String, "always")
        let health = config["Healthcheck"] as? [String: Any] ?? [:]
        XCTAssertEqual((health["Test"] as? [String])?.first, "CMD-SHELL")
        XCTAssertEqual(health["Retries"] as? Int, 2)

        XCTAssertTrue(try f.wait(20) { try f.status(name)["health"] as? String == "healthy" }, "\(try? f.svc(["status", name]).stdout ?? "")")
        let s = try f.status(name)
        XCTAssertEqual(s["state"] as? String, "running")
        XCTAssertEqual(s["runtime"] as? String, "docker")
        XCTAssertEqual(s["container"] as? String, container)
        XCTAssertEqual(s["port"] as? Int, port)
        XCTAssertNotNil(s["pid"] as? Int)

        r = try f.svc(["logs", name])
        XCTAssertTrue(r.stdout.contains("started hi"), r.stdout)
        XCTAssertFalse(r.stdout.contains("oops"), r.stdout)
        r = try f.svc(["logs", name, "--stderr"])
        XCTAssertTrue(r.stdout.contains("oops"), r.stdout)

        r = try f.svc(["health", name])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)

        r = try f.svc(["start", name])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("already running"), r.stdout)

        r = try f.svc(["stop", name])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("stopped \(name)"), r.stdout)
        XCTAssertEqual(try Tetra.exec(docker, ["inspect", "--type", "container", container]).status, 1, "removed")
        XCTAssertEqual(try f.status(name)["state"] as? String, "stopped")
    }

    /// restart policy "on-failure" with max_restarts 2: docker restarts a failing command
    /// twice, then it stays failed.
    func testDockerRestartPolicy() throws {
        let docker = try requireDocker()
        let name = unique("dfail")
        let container = "tetra-acme-\(name)"
        containers.append(container)
        try f.write(name, """
        runtime = "docker"
        image = "tinybox:1"
        network = "none"
        command = ["sh", "-c", "echo run; exit 3"]

        [restart]
        policy = "on-failure"
        max_restarts = 2
        """)
        XCTAssertEqual(try f.svc(["start", name]).status, 0)
        let info = try inspect(docker, container)
        let policy = (info["HostConfig"] as? [String: Any])?["RestartPolicy"] as? [String: Any]
        XCTAssertEqual(policy?["Name"] as? String, "on-failure")
        XCTAssertEqual(policy?["MaximumRetryCount"] as? Int, 2)
        XCTAssertTrue(try f.wait(20) {
            let s = try f.status(name)
            return s["state"] as? String == "failed" && s["restarts"] as? Int == 2
        }, "\(try? f.svc(["status", name]).stdout ?? "")")
        let logs = try f.svc(["logs", name])
        XCTAssertEqual(logs.stdout.components(separatedBy: "run").count - 1, 3, "three runs: \(logs.stdout)")
        XCTAssertEqual(try f.svc(["stop", name]).status, 0)
    }

    /// `svc logs -n N` gives the last N lines of the stream asked for, though docker's
    /// `--tail` counts stdout and stderr together (stdout came back empty when stderr was
    /// written last).
    func testDockerLogsLastLinesOfEachStream() throws {
        _ = try requireDocker()
        let name = unique("dlogs")
        containers.append("tetra-acme-\(name)")
        try f.write(name, """
        runtime = "docker"
        image = "tinybox:1"
        network = "none"
        command = ["sh", "-c", "for i in 1 2 3 4 5 6; do echo out$i; done; for i in 1 2 3 4 5 6 7 8 9; do echo err$i >&2; done; exec sleep 300"]
        stop_timeout = "1s"
        """)
        XCTAssertEqual(try f.svc(["start", name]).status, 0)
        XCTAssertTrue(try f.wait(10) { try f.svc(["logs", name, "--stderr"]).stdout.contains("err9") })
        func lines(_ args: [String]) throws -> [String] {
            let r = try f.svc(["logs", name] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").map { String($0.split(separator: " ").last ?? "") }
        }
        XCTAssertEqual(try lines(["-n", "2"]), ["out5", "out6"])
        XCTAssertEqual(try lines(["-n", "3", "--stderr"]), ["err7", "err8", "err9"])
        XCTAssertEqual(try lines(["-n", "100"]).count, 6)
        XCTAssertEqual(try lines(["-n", "0"]), [])
        XCTAssertEqual(try f.svc(["stop", name]).status, 0)
    }

    /// Without docker on PATH: exit 6 with a hint.
    func testMissingDockerIsExit6() throws {
        try f.write("dmissing", "runtime = \"docker\"\nimage = \"tinybox:1\"\n")
        let empty = Tetra.makeTempDir("tetra-nopath")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let r = try f.svc(["start", "dmissing"], env: ["PATH": empty])
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertTrue(r.stderr.contains("docker is not installed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hint:"), r.stderr)
    }
}
