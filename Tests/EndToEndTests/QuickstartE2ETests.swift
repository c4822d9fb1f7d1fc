import Foundation
import XCTest
import TetraCore

/// `tetra quickstart`, the README's first command, through the built binary.
final class QuickstartE2ETests: XCTestCase {
    override func tearDown() {
        DeployFixture.removeTemporaryDirectories()
        super.tearDown()
    }

    func testQuickstartInATemporaryStateRootPushesDevAndPrintsTheCleanUp() throws {
        let tmp = DeployFixture.tempDir("tetra-qs-tmp")
        let untouched = DeployFixture.tempDir("tetra-qs-home") + "/root"
        let t = Tetra(stateRoot: untouched)
        let r = try t.run(["quickstart", "--json"], env: ["TMPDIR": tmp])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let root = try XCTUnwrap(out["state_root"] as? String)
        XCTAssertTrue(root.hasPrefix(tmp + "/tetra-quickstart."), root)
        XCTAssertEqual(out["temporary"] as? Bool, true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: untouched), "TETRA_DIR is not used by quickstart")
        let target = try XCTUnwrap(out["target"] as? String)
        XCTAssertTrue(target.hasPrefix(root + "/"), "the target is inside the demo's state root")
        XCTAssertEqual(try DeployFixture.assertCurrentComplete(target), out["release"] as? String)
        let appEnv = try String(contentsOfFile: target + "/current/app.env", encoding: .utf8)
        let port = try XCTUnwrap((out["ports"] as? [String: Int])?["web"])
        XCTAssertTrue(appEnv.contains("WEB_PORT=\(port)"), appEnv)
        let service = try XCTUnwrap(out["service"] as? [String: Any])
        XCTAssertEqual(service["health"] as? String, "healthy")
        XCTAssertEqual(service["state"] as? String, "running")
        XCTAssertEqual(service["port"] as? Int, port)
        XCTAssertEqual(out["cleanup"] as? String, "tetra --dir \(root) --org demo svc stop --all && rm -rf \(root)")

        // The demo service really serves dev's current release on the allocated port.
        let served = try Tetra.exec(try requireTool("curl"), ["-s", "http://127.0.0.1:\(port)/app.env"])
        XCTAssertEqual(served.stdout, appEnv)

        // The printed commands work against the demo's state root.
        let demo = Tetra(stateRoot: root)
        defer { _ = try? demo.run(["--org", "demo", "svc", "stop", "--all"]) }
        let status = try demo.run(["org", "status", "demo", "dev"])
        XCTAssertEqual(status.status, 0, status.stdout + status.stderr)
        XCTAssertEqual(try demo.run(["org", "validate", "demo"]).status, 0)
        XCTAssertEqual(try demo.run(["ports", "get", "web"]).stdout, "\(port)\n")
        XCTAssertEqual(try demo.run(["ports", "check"]).status, 0, "the service owns its port")

        // The printed clean-up stops the service and leaves no process behind.
        let supervisor = try XCTUnwrap(service["supervisor_pid"] as? Int)
        let child = try XCTUnwrap(service["pid"] as? Int)
        XCTAssertEqual(try demo.run(["--org", "demo", "svc", "stop", "--all"]).status, 0)
        for pid in [supervisor, child] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(pid)/cmdline") && kill(pid_t(pid), 0) == 0
                           && !((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? false),
                           "pid \(pid) is still running")
        }
    }

    func testQuickstartWithDirUsesItAndRefusesToRunTwice() throws {
        let dir = DeployFixture.tempDir("tetra-qs-dir") + "/demo-root"
        let t = Tetra(stateRoot: DeployFixture.tempDir("tetra-qs-unused"))
        var r = try t.run(["quickstart", "--dir", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("export TETRA_DIR=\(dir) TETRA_ORG=demo"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Clean up:"), r.stdout)
        XCTAssertTrue(r.stdout.contains("push: dev release"), r.stdout)
        try DeployFixture.assertCurrentComplete(dir + "/targets/demo/dev")
        XCTAssertEqual(DeployFixture.mode(dir), 0o700)
        defer { _ = try? Tetra(stateRoot: dir).run(["--org", "demo", "svc", "stop", "--all"]) }
        XCTAssertTrue(r.stdout.contains("health: web is running, healthy"), r.stdout)
        r = try t.run(["quickstart", "--dir", dir])
        XCTAssertEqual(r.status, 5, r.stderr)
    }
}
