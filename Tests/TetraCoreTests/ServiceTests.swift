import XCTest
@testable import TetraCore
import TetraTestSupport

final class ServiceDefinitionTests: XCTestCase {
    func parse(_ text: String, name: String = "api") throws -> (ServiceDefinition, [ConfigProblem]) {
        try ServiceDefinition.parse(try TOMLDocument(parsing: text, fileName: "\(name).toml"), file: "\(name).toml", expectedName: name)
    }

    func testDefaults() throws {
        let (d, warnings) = try parse("command = [\"node\", \"server.js\"]\n")
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(d.name, "api")
        XCTAssertEqual(d.runtime, .process)
        XCTAssertFalse(d.enabled)
        XCTAssertEqual(d.stopTimeout, 10)
        XCTAssertNil(d.health)
        XCTAssertEqual(d.restart, ServiceDefinition.Restart())
        XCTAssertEqual(d.restart.policy, .onFailure)
        XCTAssertEqual(d.restart.maxRestarts, 5)
        XCTAssertEqual(d.restart.window, 60)
        XCTAssertEqual(d.restart.backoff, 0.5)
        XCTAssertEqual(d.restart.maxBackoff, 30)
        XCTAssertEqual(d.logs.maxSize, 10_000_000)
        XCTAssertEqual(d.logs.keep, 5)
    }

    func testTheSpecExample() throws {
        let (d, warnings) = try parse("""
        name = "api"
        command = ["node", "server.js"]
        cwd = "/srv/acme/current/api"
        port = "api"
        env = { NODE_ENV = "production" }
        secrets = ["DATABASE_URL"]
        depends_on = ["db"]
        runtime = "process"

        [health]
        http = "http://127.0.0.1:{port}/health"
        interval = "10s"
        timeout = "2s"
        retries = 3
        start_period = "5s"

        [restart]
        policy = "on-failure"
        max_restarts = 5
        window = "60s"
        backoff = "500ms"
        max_backoff = "30s"

        [logs]
        max_size = "10MB"
        keep = 5
        """)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(d.port, .named("api"))
        XCTAssertEqual(d.env, ["NODE_ENV": "production"])
        XCTAssertEqual(d.secrets, ["DATABASE_URL"])
        XCTAssertEqual(d.dependsOn, ["db"])
        XCTAssertEqual(d.health?.check, .http("http://127.0.0.1:{port}/health"))
        XCTAssertEqual(d.health?.startPeriod, 5)
        XCTAssertEqual(d.cwd, "/srv/acme/current/api")
    }

    func testWrongTypeHasPosition() {
        XCTAssertThrowsError(try parse("command = \"node server.js\"\n")) { e in
            let c = e as? ConfigError
            XCTAssertEqual(c?.exitCode, .invalidConfig)
            XCTAssertEqual(c?.problems.first?.position, SourcePosition(line: 1, column: 11))
            XCTAssertEqual(c?.problems.first?.file, "api.toml")
        }
    }

    func testEveryProblemIsReported() {
        XCTAssertThrowsError(try parse("""
        command = ["x"]
        port = 70000
        stop_timeout = "soon"
        [restart]
        policy = "sometimes"
        [logs]
        max_size = "huge"
        """)) { e in
            let problems = (e as? ConfigError)?.problems ?? []
            XCTAssertEqual(problems.map(\.keyPath), ["port", "stop_timeout", "restart.policy", "logs.max_size"])
            XCTAssertEqual(problems.first?.position, SourcePosition(line: 2, column: 8))
        }
    }

    func testOnDeployAndReload() throws {
        XCTAssertEqual(try parse("command = [\"x\"]\n").0.onDeploy, .restart)
        let (d, _) = try parse("command = [\"x\"]\non_deploy = \"reload\"\nreload = [\"kill\", \"-USR2\", \"{pid}\"]\n")
        XCTAssertEqual(d.onDeploy, .reload)
        XCTAssertEqual(d.reload, ["kill", "-USR2", "{pid}"])
        XCTAssertThrowsError(try parse("command = [\"x\"]\non_deploy = \"bounce\"\nreload = []\n")) { e in
            let problems = (e as? ConfigError)?.problems ?? []
            XCTAssertEqual(problems.map(\.keyPath), ["on_deploy", "reload"])
            XCTAssertEqual(problems.first?.position, SourcePosition(line: 2, column: 13))
        }
    }

    func testUnknownKeyIsAWarningWithPosition() throws {
        let (_, warnings) = try parse("command = [\"x\"]\n[health]\ntcp = \"{port}\"\nretry = 3\n")
        XCTAssertEqual(warnings.count, 1)
        XCTAssertEqual(warnings.first?.position, SourcePosition(line: 4, column: 1))
        XCTAssertTrue(warnings.first?.message.contains("unknown key 'retry'") ?? false)
    }

    func testHealthNeedsExactlyOneCheckAndDockerNeedsAnImage() {
        XCTAssertThrowsError(try parse("command = [\"x\"]\n[health]\ntcp = 1\nhttp = \"http://a/\"\n"))
        XCTAssertThrowsError(try parse("command = [\"x\"]\n[health]\ninterval = \"1s\"\n"))
        XCTAssertThrowsError(try parse("runtime = \"docker\"\n"))
        XCTAssertThrowsError(try parse("command = [\"x\"]\nimage = \"busybox\"\n"))
        XCTAssertThrowsError(try parse("command = [\"x\"]\nname = \"other\"\n"))
    }

    func testCreateRendersAFileThatReadsBack() throws {
        let text = ServiceDefinition.render(name: "web", command: ["python3", "-m", "http.server", "{port}"], port: .named("web"),
                                            enabled: true, health: .http("http://127.0.0.1:{port}/"))
        let (d, warnings) = try parse(text, name: "web")
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(d.command, ["python3", "-m", "http.server", "{port}"])
        XCTAssertTrue(d.enabled)
        XCTAssertEqual(d.health?.check, .http("http://127.0.0.1:{port}/"))
    }
}

final class ServiceCatalogTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "tetra-svc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/orgs/acme/services", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n".write(toFile: root + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: root + "/orgs/acme/services/\(name).toml", atomically: true, encoding: .utf8)
    }

    func testStartOrderPutsDependenciesFirst() throws {
        try write("web", "command = [\"x\"]\ndepends_on = [\"api\", \"cache\"]\n")
        try write("api", "command = [\"x\"]\ndepends_on = [\"db\"]\n")
        try write("db", "command = [\"x\"]\n")
        try write("cache", "command = [\"x\"]\n")
        let cat = try ServiceCatalog.load(paths: StatePaths(root: root), org: "acme")
        XCTAssertEqual(try cat.startOrder(["web"]), ["db", "api", "cache", "web"])
        XCTAssertEqual(try cat.startOrder(["db", "web"]), ["db", "api", "cache", "web"])
    }

    func testCycleIsExit3NamingIt() throws {
        try write("a", "command = [\"x\"]\ndepends_on = [\"b\"]\n")
        try write("b", "command = [\"x\"]\ndepends_on = [\"c\"]\n")
        try write("c", "command = [\"x\"]\ndepends_on = [\"a\"]\n")
        XCTAssertThrowsError(try ServiceCatalog.load(paths: StatePaths(root: root), org: "acme")) { e in
            XCTAssertEqual((e as? ConfigError)?.exitCode, .invalidConfig)
            XCTAssertTrue((e as? ConfigError)?.message.contains("dependency cycle: a -> b -> c -> a") ?? false, "\(e)")
        }
    }

    func testUnknownDependencyAndMissingOrg() throws {
        try write("a", "command = [\"x\"]\ndepends_on = [\"ghost\"]\n")
        XCTAssertThrowsError(try ServiceCatalog.load(paths: StatePaths(root: root), org: "acme")) { e in
            XCTAssertTrue("\(e)".contains("ghost"))
        }
        XCTAssertThrowsError(try ServiceCatalog.load(paths: StatePaths(root: root), org: "nope")) { e in
            XCTAssertEqual((e as? CoreError)?.exitCode, .notFound)
        }
    }

    func testPortResolvesThroughTheRegistry() throws {
        try FileManager.default.createDirectory(atPath: root + "/config", withIntermediateDirectories: true)
        try "[ports]\napi = 4100\n".write(toFile: root + "/config/ports.toml", atomically: true, encoding: .utf8)
        try write("api", "command = [\"x\"]\nport = \"api\"\n")
        try write("num", "command = [\"x\"]\nport = 4200\n")
        try write("lost", "command = [\"x\"]\nport = \"nothere\"\n")
        let cat = try ServiceCatalog.load(paths: StatePaths(root: root), org: "acme")
        XCTAssertEqual(try cat.resolvePort(try cat.definition("api")), 4100)
        XCTAssertEqual(try cat.resolvePort(try cat.definition("num")), 4200)
        XCTAssertThrowsError(try cat.resolvePort(try cat.definition("lost"))) { e in
            XCTAssertEqual((e as? CoreError)?.exitCode, .notFound)
        }
    }
}

final class ServiceLogTests: XCTestCase {
    func testLinesAreStampedWithTheArrivalOfTheirFirstByte() {
        var a = LineAssembler()
        let t1 = Date(timeIntervalSince1970: 1_800_000_000)
        let t2 = t1.addingTimeInterval(1.5)
        let first = Array("one\ntw".utf8).withUnsafeBytes { a.feed($0, at: t1) }
        let second = Array("o\nthree".utf8).withUnsafeBytes { a.feed($0, at: t2) }
        let rest = a.finish(at: t2)
        let lines = (first + second + rest).map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(lines, [
            ServiceRecord.formatDate(t1) + " one\n",
            ServiceRecord.formatDate(t1) + " two\n",
            ServiceRecord.formatDate(t2) + " three\n",
        ])
    }

    func testRotationKeepsEveryLineAndDropsTheOldestFiles() throws {
        let dir = NSTemporaryDirectory() + "tetra-log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = RotatingLog(path: dir + "/out.log", maxSize: 1000, keep: 3)
        for i in 0..<100 { log.append(lines: [Array(String(format: "line %03d %@\n", i, String(repeating: "x", count: 40)).utf8)]) }
        let files = RotatingLog.files(dir + "/out.log")
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent }, ["out.log.3", "out.log.2", "out.log.1", "out.log"])
        var all: [String] = []
        for f in files {
            let text = try String(contentsOfFile: f, encoding: .utf8)
            XCTAssertLessThanOrEqual(text.utf8.count, 1000)
            all += text.split(separator: "\n").map(String.init)
        }
        // The newest lines survive, contiguous and in order.
        let numbers = all.map { Int($0.dropFirst(5).prefix(3))! }
        XCTAssertEqual(numbers, Array((100 - numbers.count)..<100))
        XCTAssertGreaterThan(numbers.count, 50)
    }

    func testReaderFiltersBySinceAndLimit() throws {
        let dir = NSTemporaryDirectory() + "tetra-log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let text = (0..<10).map { ServiceRecord.formatDate(t0.addingTimeInterval(Double($0) * 60)) + " l\($0)\n" }.joined()
        try text.write(toFile: dir + "/o.log", atomically: true, encoding: .utf8)
        XCTAssertEqual(LogReader.read(dir + "/o.log", stream: "stdout", since: nil, limit: 3).map(\.line), ["l7", "l8", "l9"])
        XCTAssertEqual(LogReader.read(dir + "/o.log", stream: "stdout", since: t0.addingTimeInterval(8 * 60), limit: nil).map(\.line), ["l8", "l9"])
    }
}

final class ServiceDockerMappingTests: XCTestCase {
    func testRunOptionsMapTheDefinition() throws {
        let text = """
        runtime = "docker"
        image = "tinybox:1"
        network = "host"
        volumes = ["data:/data"]
        ports = ["{port}:80"]
        command = ["httpd", "-f", "-p", "{port}"]
        env = { MODE = "prod" }
        secrets = ["TOKEN"]
        stop_timeout = "3s"
        [health]
        command = ["test", "-f", "/tmp/ok"]
        interval = "5s"
        timeout = "500ms"
        retries = 4
        start_period = "2s"
        """
        let (d, _) = try ServiceDefinition.parse(try TOMLDocument(parsing: text), file: "web.toml", expectedName: "web")
        let core = CoreContext(environment: [:], workingDirectory: "/", stateRoot: "/tmp/x", runner: FakeProcessRunner())
        let o = ServiceManager(core: core, org: "acme").dockerRunOptions(d, port: 4100, secrets: [("TOKEN", "s3cret-value")])
        XCTAssertEqual(o.arguments, [
            "run", "-d", "--name", "tetra-acme-web", "--label", "tetra.org=acme", "--label", "tetra.service=web",
            "--network", "host", "-v", "data:/data", "-p", "4100:80", "-e", "MODE=prod", "-e", "PORT=4100", "-e", "TOKEN",
            "--restart", "on-failure:5", "--health-cmd", "test -f /tmp/ok", "--health-interval", "5s",
            "--health-timeout", "500ms", "--health-retries", "4", "--health-start-period", "2s", "--stop-timeout", "3",
            "tinybox:1", "httpd", "-f", "-p", "4100",
        ])
        XCTAssertFalse(o.arguments.joined().contains("s3cret-value"), "a secret never appears in argv")
    }

    func testRunPassesSecretsThroughTheEnvironmentOnly() throws {
        let runner = FakeProcessRunner()
        runner.install("docker")
        var o = Docker.RunOptions(name: "c", image: "i")
        o.secretEnvironment = [("TOKEN", "s3cret-value")]
        runner.expect("docker run", executable: "docker", matching: { req in
            req.arguments == ["run", "-d", "--name", "c", "-e", "TOKEN", "i"] && req.environment["TOKEN"] == "s3cret-value"
                && req.secrets == ["s3cret-value"]
        }, response: .result(ProcessResult(status: 0, stdout: Data("abc123\n".utf8))))
        XCTAssertEqual(try Docker(runner: runner).runContainer(o), "abc123")
        XCTAssertEqual(runner.assertAllExpectationsMet(), [])
    }
}
