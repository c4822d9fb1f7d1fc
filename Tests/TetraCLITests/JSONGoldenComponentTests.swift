import Foundation
import Glibc
import XCTest
@testable import TetraCLI
import TetraCore

/// The documents of the commands that need a real component, run in-process against it:
/// real git repositories over file://, real sockets of this process, real tools, a real
/// supervisor (the built binary). Their variable values (ports, commit ids, the test
/// process's pid and name) are replaced by fixed placeholders, named at each test.
extension JSONGoldenTests {
    /// Upstream over file:// with two commits (fixed author, committer and dates): init, list,
    /// update, status with a local change, rollback --force (saving it), log.
    func testLibraryDocumentsMatchTheirGoldens() throws {
        var cli = InProcess()
        cli.useRealProcesses()
        let upstream = try GitUpstream(directory: cli.stateRoot + "-upstream", environment: cli.environment)
        let first = try upstream.commit(["templates/service/web.toml": "library web v1\n"], "Override the web template")
        var pinner = Pinner()
        var values = [first: "$COMMIT_1", String(first.prefix(7)): "$SHORT_1"]
        pinner.pin(cli, "library init", ["library", "init", "file://" + upstream.bare], values: values)
        pinner.pin(cli, "library list", ["library", "list"], values: values)

        let second = try upstream.commit(["templates/service/web.toml": "library web v2\n", "templates/service/cache.conf": "cache {{ size }}\n"],
                                         "Add the cache template")
        values[second] = "$COMMIT_2"
        values[String(second.prefix(7))] = "$SHORT_2"
        pinner.pin(cli, "library update", ["library", "update"], values: values)
        try "edited here\n".write(toFile: cli.stateRoot + "/library/templates/service/web.toml", atomically: true, encoding: .utf8)
        pinner.pin(cli, "library status", ["library", "status"], values: values)
        pinner.pin(cli, "library rollback", ["library", "rollback", "--force"], values: values)
        pinner.pin(cli, "library log", ["library", "log"], values: values)
    }

    /// Sockets this process listens on: `web` (registered, listening), `idle` (registered,
    /// nothing listening) and a stranger inside the range `probe`. `ports scan` lists every
    /// socket of the machine: only this process's are kept.
    func testPortsDocumentsMatchTheirGoldens() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        // `ports scan` lists by port: web's is the lower.
        let listeners = try [Listener(), Listener()].sorted { $0.port < $1.port }
        let web = listeners[0], stranger = listeners[1]
        let idle = try Listener.freePort()
        let values = [String(web.port): "50001", String(stranger.port): "50002", String(idle): "50003", Self.ownProcessName: "$PROCESS"]
        try """
            [ports]
            web = \(web.port)
            idle = \(idle)

            [port_ranges]
            probe = "\(stranger.port)-\(stranger.port)"

            """.write(toFile: cli.stateRoot + "/config/ports.toml", atomically: true, encoding: .utf8)
        var pinner = Pinner()
        pinner.pin(cli, "ports scan", ["ports", "scan"], values: values,
                   keeping: { Self.keepingSockets($0, ports: [web.port, stranger.port]) })
        pinner.pin(cli, "ports reconcile", ["ports", "reconcile"], status: 1, values: values)

        // Every kind `ports check` finds in the file itself (`bound` needs a running service).
        try """
            [ports]
            web = \(web.port)
            admin = 80
            api = 4000
            api_copy = 4000
            bad = "x"

            [reserved]
            ports = [80]

            [extra]
            key = 1

            """.write(toFile: cli.stateRoot + "/config/ports.toml", atomically: true, encoding: .utf8)
        pinner.pin(cli, "ports check", ["ports", "check"], status: 1, values: values)
    }

    /// A TCP health check probing a real socket.
    func testSvcHealthDocumentMatchesItsGolden() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        let listener = try Listener()
        XCTAssertEqual(cli.run(["ports", "set", "probe", String(listener.port)]).status, 0)
        try FileManager.default.createDirectory(atPath: cli.stateRoot + "/orgs/acme/services", withIntermediateDirectories: true)
        try """
            command = ["sleep", "1000"]
            port = "probe"

            [health]
            tcp = "127.0.0.1:{port}"

            """.write(toFile: cli.stateRoot + "/orgs/acme/services/probe.toml", atomically: true, encoding: .utf8)
        var pinner = Pinner()
        pinner.pin(cli, "svc health", ["svc", "health", "probe", "--org", "acme"], values: [String(listener.port): "50001"])
    }

    /// The real tools of this machine as the only ones on PATH: git, ssh and openssl (their
    /// versions as `$VERSION`); docker, rsync and curl missing. A privileged port is a problem.
    func testDoctorDocumentMatchesItsGolden() throws {
        var cli = InProcess()
        let bin = cli.stateRoot + "-bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for tool in ["git", "ssh", "openssl"] {
            guard let path = SystemProcessRunner(environment: ProcessInfo.processInfo.environment).which(tool) else {
                throw XCTSkip("\(tool) is not installed")
            }
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + tool, withDestinationPath: path)
        }
        cli.environment["PATH"] = bin
        cli.useRealProcesses()
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        for env in ["dev", "staging", "prod"] { XCTAssertEqual(cli.run(["ports", "allocate", "web", "--env", env, "--org", "acme"]).status, 0) }
        XCTAssertEqual(cli.run(["ports", "set", "admin", "1000"]).status, 0)
        var pinner = Pinner()
        pinner.pin(cli, "doctor", ["doctor"], status: 1, keeping: {
            $0.replacingOccurrences(of: "\"detail\" : \"[^\"]* \\(([^\"]*)\\)\",(\\s*)\"name\" : \"tool ",
                                    with: "\"detail\" : \"\\$VERSION ($1)\",$2\"name\" : \"tool ", options: .regularExpression)
        })
    }

    /// The demo with a real supervisor (the built binary) serving with python3.
    func testQuickstartDocumentMatchesItsGolden() throws {
        var cli = InProcess()
        guard SystemProcessRunner(environment: cli.environment).which("python3") != nil else { throw XCTSkip("python3 is not installed") }
        guard let binary = Self.builtBinary else { throw XCTSkip("the built tetra binary is not beside the tests") }
        cli.executablePath = binary
        cli.useRealProcesses()
        defer { cli.run(["svc", "stop", "--all", "--org", "demo"]) }
        let r = cli.run(["quickstart", "--dir", cli.stateRoot, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let service = try XCTUnwrap(doc["service"] as? [String: Any])
        var values = [try XCTUnwrap(doc["release"] as? String): "$RELEASE"]
        values[String(try XCTUnwrap((doc["ports"] as? [String: Int])?["web"]))] = "3000"
        values[String(try XCTUnwrap(service["pid"] as? Int))] = "$PID"
        values[try XCTUnwrap((service["last_health"] as? [String: Any])?["time"] as? String)] = "$TIME"
        var pinner = Pinner()
        pinner.check(r.stdout, of: "quickstart", root: cli.stateRoot, values: values)
    }

    /// tetra beside the test bundle (`swift build --build-tests` builds both).
    static var builtBinary: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("tetra").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// This process's name as /proc shows it (the owner of its sockets in `ports scan`).
    static var ownProcessName: String {
        ((try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `ports scan` document with only the entries of `ports` (in the encoder's own bytes).
    static func keepingSockets(_ doc: String, ports: Set<Int>) -> String {
        let entry = try! NSRegularExpression(pattern: "\n    \\{[^{}]*\n    \\}")
        let kept = entry.matches(in: doc, range: NSRange(doc.startIndex..., in: doc)).map { String(doc[Range($0.range, in: doc)!]) }
            .filter { e in ports.contains { e.contains("\"port\" : \($0),") } }
        return "{\n  \"sockets\" : [" + kept.joined(separator: ",") + "\n  ]\n}\n"
    }
}

/// A TCP socket of this process listening on 127.0.0.1 (a port the kernel picks), closed when
/// the value is released.
final class Listener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw CoreError.failed("cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))") }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }

    /// A port nothing listens on (bound, then closed).
    static func freePort() throws -> Int { try Listener().port }
}

/// A bare repository and its working copy; commits have a fixed author, committer and date.
struct GitUpstream {
    let bare: String
    let work: String
    let environment: [String: String]

    init(directory: String, environment: [String: String]) throws {
        bare = directory + "/templates.git"
        work = directory + "/work"
        var env = environment
        env.merge(["GIT_AUTHOR_NAME": "Upstream Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_AUTHOR_DATE": "2026-11-18T10:00:00Z",
                   "GIT_COMMITTER_NAME": "Upstream Dev", "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_COMMITTER_DATE": "2026-11-18T10:00:00Z",
                   "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"]) { $1 }
        self.environment = env
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try git(["init", "-q", "--bare", "-b", "main", bare], in: directory)
        try git(["init", "-q", "-b", "main", work], in: directory)
        try git(["remote", "add", "origin", bare])
    }

    @discardableResult
    func git(_ args: [String], in directory: String? = nil) throws -> String {
        let r = try SystemProcessRunner(environment: environment).run(ProcessRequest("git", args, workingDirectory: directory ?? work))
        guard r.status == 0 else { throw CoreError.failed("git \(args.joined(separator: " ")): \(r.stderrString)") }
        return r.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `files`, commits them and pushes; returns the commit id.
    func commit(_ files: [String: String], _ message: String) throws -> String {
        for (path, text) in files {
            let full = work + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try git(["add", "-A"])
        try git(["commit", "-q", "-m", message])
        try git(["push", "-q", "origin", "HEAD:main"])
        return try git(["rev-parse", "HEAD"])
    }
}
