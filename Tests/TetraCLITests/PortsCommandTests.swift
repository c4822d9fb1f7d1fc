import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

final class PortsCommandTests: XCTestCase {
    func initialized() -> InProcess {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        return cli
    }

    var portsFile: (InProcess) -> String { { $0.stateRoot + "/config/ports.toml" } }

    func testSetGetListRemove() throws {
        let cli = initialized()
        XCTAssertEqual(cli.run(["ports", "set", "api", "4000"]).stdout, "added api = 4000\n")
        XCTAssertEqual(cli.run(["ports", "get", "api"]).stdout, "4000\n")
        let json = cli.run(["ports", "get", "api", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["name"] as? String, "api")
        XCTAssertEqual(object?["port"] as? Int, 4000)
        XCTAssertEqual(cli.run(["ports", "set", "api", "4001"]).stdout, "updated api: 4000 → 4001\n")
        XCTAssertTrue(cli.run(["ports", "list"]).stdout.contains("api   4001  staging"))
        XCTAssertEqual(cli.run(["ports", "remove", "api"]).stdout, "removed api (was 4001)\n")
        let missing = cli.run(["ports", "get", "api"])
        XCTAssertEqual(missing.status, 4)
        XCTAssertEqual(cli.run(["ports", "remove", "api"]).status, 4)
    }

    func testBadInputIsRefusedAndChangesNothing() throws {
        let cli = initialized()
        let before = try String(contentsOfFile: portsFile(cli), encoding: .utf8)
        for (argv, code) in [(["ports", "set", "api", "0"], 2), (["ports", "set", "api", "65536"], 2),
                             (["ports", "set", "api", "abc"], 2), (["ports", "set", "../x", "4000"], 2),
                             (["ports", "set", "API", "4000"], 2), (["ports", "ranges", "set", "r", "5000-4000"], 2),
                             (["ports", "ranges", "set", "r", "1-70000"], 2), (["ports", "allocate", "x"], 2),
                             (["ports", "allocate", "x", "--range", "nope"], 4), (["ports", "set", "ssh", "22"], 5)] {
            let r = cli.run(argv)
            XCTAssertEqual(Int(r.status), code, "\(argv): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("tetra: error: "), "\(argv): \(r.stderr)")
        }
        XCTAssertEqual(try String(contentsOfFile: portsFile(cli), encoding: .utf8), before, "nothing changed")
    }

    func testDuplicatesNeedForce() {
        let cli = initialized()
        XCTAssertEqual(cli.run(["ports", "set", "api", "4000"]).status, 0)
        let dup = cli.run(["ports", "set", "web", "4000"])
        XCTAssertEqual(dup.status, 5)
        XCTAssertTrue(dup.stderr.contains("already registered as 'api'"))
        XCTAssertEqual(cli.run(["ports", "set", "web", "4000", "--force"]).status, 0)
        let check = cli.run(["ports", "check", "--json"])
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.stdout.contains("\"duplicate\""))
    }

    func testEditsKeepCommentsAndLayout() throws {
        let cli = initialized()
        let original = """
            # Our ports. Keep sorted!
            [ports]
            api   = 4000   # the public API
            admin = 4001


            [port_ranges]   # ranges
            development = "3000-3999"

            """
        try original.write(toFile: portsFile(cli), atomically: true, encoding: .utf8)
        XCTAssertEqual(cli.run(["ports", "set", "admin", "4002"]).status, 0)
        XCTAssertEqual(cli.run(["ports", "allocate", "web", "--range", "development"]).status, 0)
        let after = try String(contentsOfFile: portsFile(cli), encoding: .utf8)
        XCTAssertEqual(after, """
            # Our ports. Keep sorted!
            [ports]
            api   = 4000   # the public API
            admin = 4002
            web = 3000


            [port_ranges]   # ranges
            development = "3000-3999"

            """)
    }

    func testMalformedRegistryIsExit3WithPositionAndUntouched() throws {
        let cli = initialized()
        let bad = "[ports]\napi = 4000\napi = 4001\n"
        try bad.write(toFile: portsFile(cli), atomically: true, encoding: .utf8)
        let r = cli.run(["ports", "set", "web", "4002"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("ports.toml:3:1: duplicate key 'api' (first defined at 2:1)"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: portsFile(cli), encoding: .utf8), bad)
        try "[ports]\napi = \"x\"\nweb = 0\n".write(toFile: portsFile(cli), atomically: true, encoding: .utf8)
        let list = cli.run(["ports", "list"])
        XCTAssertEqual(list.status, 3)
        XCTAssertTrue(list.stderr.contains("ports.toml:2:7: ports.api: expected an integer, found a string"), list.stderr)
        XCTAssertTrue(list.stderr.contains("ports.toml:3:7: ports.web: port 0 is out of range (1-65535)"), list.stderr)
    }

    func testDryRunChangesNothing() throws {
        let cli = initialized()
        let before = try String(contentsOfFile: portsFile(cli), encoding: .utf8)
        let r = cli.run(["ports", "allocate", "api", "--range", "development", "--dry-run"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("dry run"))
        XCTAssertEqual(cli.run(["ports", "set", "x", "4100", "-n"]).stdout, "would add x = 4100\n")
        XCTAssertEqual(try String(contentsOfFile: portsFile(cli), encoding: .utf8), before)
    }

    func testImportExportRoundTrip() throws {
        let cli = initialized()
        let imported = cli.run(["ports", "import", "-", "--format", "env"], stdin: "# ours\nAPI_PORT=4000\nexport WORKER_PORT=\"4100\"\n")
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertEqual(cli.run(["ports", "export", "--format", "env"]).stdout, "API_PORT=4000\nWORKER_PORT=4100\n")
        let bad = cli.run(["ports", "import", "-", "--format", "env"], stdin: "API_PORT=0\nNOPE=3\n")
        XCTAssertEqual(bad.status, 3)
        XCTAssertTrue(bad.stderr.contains("<stdin>:1:"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("<stdin>:2:1: 'NOPE' does not end in _PORT"), bad.stderr)
        let replaced = cli.run(["ports", "import", "-", "--format", "json", "--replace"], stdin: #"{"ports": {"db": 5432}}"#)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(cli.run(["ports", "export", "--format", "env"]).stdout, "DB_PORT=5432\n")
        let json = cli.run(["ports", "export", "--json"])
        let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual((doc?["ports"] as? [String: Int])?["db"], 5432)
        let toml = cli.run(["ports", "export", "--format", "toml"]).stdout
        XCTAssertNoThrow(try TOMLParser.parse(toml))
    }

    func testAllocateSkipsRegisteredReservedAndBound() throws {
        let store = PortStore(path: InProcess().stateRoot + "/ports.toml")
        try FileManager.default.createDirectory(atPath: (store.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "[ports]\na = 3000\n[port_ranges]\nr = \"3000-3004\"\n[reserved]\nports = [3001]\n".write(toFile: store.path, atomically: true, encoding: .utf8)
        // 3000 registered, 3001 reserved, 3002 and 3003 bound (TCP or UDP) right now.
        let service = PortService(store: store, isFree: { $0 != 3002 && $0 != 3003 }, scan: { [] })
        XCTAssertEqual(try service.allocate("b", rangeName: "r", dryRun: false).port, 3004)
        XCTAssertEqual(try service.allocate("b", rangeName: "r", dryRun: false).action, .existing)
        XCTAssertThrowsError(try service.allocate("c", rangeName: "r", dryRun: false)) { e in
            XCTAssertEqual((e as? CoreError)?.exitCode, .conflict)
        }
    }

    func testCheckReportsReservedPrivilegedAndStrangers() throws {
        let store = PortStore(path: InProcess().stateRoot + "/ports.toml")
        try FileManager.default.createDirectory(atPath: (store.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "[ports]\nweb = 80\napi = 4000\n[reserved]\nports = [80]\n".write(toFile: store.path, atomically: true, encoding: .utf8)
        let socket = ListeningSocket(proto: .tcp, address: "0.0.0.0", port: 4000, inode: 9, pid: 777, process: "nc")
        let service = PortService(store: store, scan: { [socket] })
        let report = try service.check(owners: { $0 == "api" ? [123] : nil })
        XCTAssertEqual(Set(report.problems.map(\.kind)), [.reserved, .privileged, .bound])
        XCTAssertTrue(report.problems.contains { $0.message == "api: port 4000 is bound by pid 777 (nc), not by its service" })
        // The owning service holding its port is never a conflict.
        XCTAssertFalse(try service.check(owners: { $0 == "api" ? [777] : nil }).problems.contains { $0.kind == .bound })
    }

    func testCompletesPortAndRangeNames() {
        let cli = initialized()
        XCTAssertEqual(cli.run(["ports", "set", "api", "4000"]).status, 0)
        XCTAssertEqual(cli.run(["__complete", "ports", "get", "a"]).stdout, "api\n")
        XCTAssertEqual(cli.run(["__complete", "ports", "allocate", "x", "--range", "d"]).stdout, "development\n")
        XCTAssertTrue(cli.run(["__complete", "ports", ""]).stdout.contains("allocate\n"))
    }
}

final class PortsReadOnlyTests: XCTestCase {
    func testReadOnlyRegistryIsRefusedAndUntouched() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        let file = cli.stateRoot + "/config/ports.toml"
        let before = try String(contentsOfFile: file, encoding: .utf8)
        chmod(file, 0o444)
        let r = cli.run(["ports", "set", "api", "4000"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("is read-only (mode 444)"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), before)
        var st = stat()
        stat(file, &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o444, "mode kept")
        chmod(file, 0o640)
        XCTAssertEqual(cli.run(["ports", "set", "api", "4000"]).status, 0)
        stat(file, &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o640, "an edit keeps the file's mode")
    }
}
