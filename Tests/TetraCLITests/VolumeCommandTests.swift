import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// `tetra volume` in-process with the fake runner: confirmation, exit codes, JSON, the org
/// resolution for labels and filters, completion of volume names.
final class VolumeCommandTests: XCTestCase {
    static let inspectArgs = ["volume", "inspect", "--format", "{{json .}}"]
    static func inspectJSON(_ name: String) -> String {
        #"{"CreatedAt":"2026-11-21T20:11:23Z","Driver":"local","Labels":{"tetra.org":"acme"},"Mountpoint":"/m","Name":"\#(name)","Options":null,"Scope":"local"}"# + "\n"
    }
    static func psArgs(_ name: String) -> [String] { ["ps", "-a", "--filter", "volume=\(name)", "--format", Docker.containerFormat] }

    func testDeleteWithoutYesIsRefusedOffATerminalAndAskedOnOne() {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        fake.expect("docker", Self.psArgs("data"), stdout: "")
        let t = InProcess(runner: fake)
        let r = t.run(["volume", "delete", "data"])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("--yes"), r.stderr)
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])

        let fake2 = FakeProcessRunner()
        fake2.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        fake2.expect("docker", Self.psArgs("data"), stdout: "")
        fake2.expect("docker", ["volume", "rm", "data"], stdout: "data\n")
        var tty = InProcess(runner: fake2)
        tty.stdinIsTerminal = true
        tty.stderrIsTerminal = true
        let asked = tty.run(["volume", "delete", "data"], answers: ["y"])
        XCTAssertEqual(asked.status, 0, asked.stderr)
        XCTAssertTrue(asked.stderr.contains("delete volume data? [y/N]"), asked.stderr)
        XCTAssertEqual(asked.stdout, "deleted volume data\n")
        XCTAssertEqual(fake2.assertAllExpectationsMet(), [])
    }

    func testCreateTakesTheOrgFromTheEnvironmentAndListFiltersByIt() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stderr: "Error: No such volume: data\n", status: 1)
        fake.expect("docker", ["volume", "create", "--label=tetra.org=acme", "--label=tetra.env=dev", "data"], stdout: "data\n")
        fake.expect("docker", ["volume", "ls", "--format", "{{json .}}", "--filter", "label=tetra.org=acme"],
                    stdout: #"{"Name":"data","Driver":"local"}"# + "\n")
        fake.expect("docker", ["volume", "ls", "--format", "{{json .}}", "--filter", "dangling=true"], stdout: "")
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        var t = InProcess(runner: fake)
        t.environment["TETRA_ORG"] = "acme"
        let c = t.run(["volume", "create", "data", "--env", "dev", "--json"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let cj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(cj["org"] as? String, "acme")
        XCTAssertEqual(cj["labels"] as? [String: String], ["tetra.org": "acme", "tetra.env": "dev"])
        let l = t.run(["volume", "list", "--json"])
        XCTAssertEqual(l.status, 0, l.stderr)
        let lj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(lj["org"] as? String, "acme")
        let vols = try XCTUnwrap(lj["volumes"] as? [[String: Any]])
        XCTAssertEqual(vols.first?["name"] as? String, "data")
        XCTAssertEqual(vols.first?["in_use"] as? Bool, true)
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testBadNameTouchesNothing() {
        let fake = FakeProcessRunner(installed: ["docker"])
        let t = InProcess(runner: fake)
        for args in [["volume", "get", "../x"], ["volume", "create", "Big"], ["volume", "delete", "a/b", "--yes"],
                     ["volume", "list", "--org", "Nope"], ["volume", "restore", "x y", "f.tar.gz"]] {
            let r = t.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
        }
        XCTAssertEqual(fake.calls.count, 0)
    }

    func testCompletionAsksDockerForVolumeNamesAndFailsSilently() {
        let fake = FakeProcessRunner()
        fake.expect("docker volume ls", executable: "docker", matching: { $0.arguments == ["volume", "ls", "--format", "{{.Name}}"] && $0.timeout != nil },
                    response: .result(ProcessResult(status: 0, stdout: Data("web-data\nweb-cache\ndb\nNotValid\n".utf8))))
        let t = InProcess(runner: fake)
        let r = t.run(["__complete", "volume", "get", "web"])
        XCTAssertEqual(r.stdout, "web-cache\nweb-data\n")
        let down = FakeProcessRunner()
        down.expect("docker", ["volume", "ls", "--format", "{{.Name}}"], stderr: "Cannot connect to the Docker daemon\n", status: 1)
        let r2 = InProcess(runner: down).run(["__complete", "volume", "delete", ""])
        XCTAssertEqual(r2.status, 0)
        XCTAssertEqual(r2.stdout, "")
        XCTAssertEqual(r2.stderr, "")
        let none = InProcess(runner: FakeProcessRunner()).run(["__complete", "volume", "backup", ""])
        XCTAssertEqual(none.stdout, "")
    }
}
