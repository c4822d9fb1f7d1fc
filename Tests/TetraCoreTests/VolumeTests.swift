import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// The volume core and the Docker wrapper with the fail-closed fake runner: exact argv,
/// error classification, refusals before any mutation. (The real engine: VolumeE2ETests.)
final class VolumeTests: XCTestCase {
    var root = ""

    override func setUp() { root = ProcTestSupport.makeTempDir("tetra-vol") }
    override func tearDown() { ProcTestSupport.removeTree(root) }

    func manager(_ fake: FakeProcessRunner, env: [String: String] = [:]) -> VolumeManager {
        VolumeManager(core: CoreContext(environment: env, workingDirectory: root, stateRoot: root + "/state-root", runner: fake))
    }

    static let inspectArgs = ["volume", "inspect", "--format", "{{json .}}"]
    static func inspectJSON(_ name: String, labels: String = "null") -> String {
        #"{"CreatedAt":"2026-11-21T20:11:23Z","Driver":"local","Labels":\#(labels),"Mountpoint":"/var/lib/docker/volumes/\#(name)/_data","Name":"\#(name)","Options":null,"Scope":"local"}"# + "\n"
    }
    static func psArgs(_ name: String) -> [String] { ["ps", "-a", "--filter", "volume=\(name)", "--format", Docker.containerFormat] }

    func testDockerSizes() {
        XCTAssertEqual(DockerSize.bytes("0B"), 0)
        XCTAssertEqual(DockerSize.bytes("13B"), 13)
        XCTAssertEqual(DockerSize.bytes("1.5kB"), 1500)
        XCTAssertEqual(DockerSize.bytes("53.25kB"), 53250)
        XCTAssertEqual(DockerSize.bytes("2GB"), 2_000_000_000)
        XCTAssertEqual(DockerSize.bytes("1MiB"), 1_048_576)
        XCTAssertNil(DockerSize.bytes("N/A"))
        XCTAssertNil(DockerSize.bytes("12 parsecs"))
    }

    func testDaemonErrorsAreClassified() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", ["volume", "ls", "--format", "{{json .}}"],
                    stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", status: 1)
        XCTAssertThrowsError(try manager(fake, env: ["DOCKER_HOST": "ssh://ops@db1"]).list(org: nil, env: nil, danglingOnly: false)) { error in
            let e = error as? DockerError
            XCTAssertEqual(e?.exitCode, .toolFailed)
            XCTAssertEqual(e?.kind, "docker_unreachable")
            XCTAssertTrue(e?.message.hasPrefix("the Docker daemon at ssh://ops@db1 does not answer") == true, "\(error)")
        }
        let denied = FakeProcessRunner()
        denied.expect("docker", ["volume", "ls", "--format", "{{json .}}"],
                      stderr: "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock\n", status: 1)
        XCTAssertThrowsError(try manager(denied).list(org: nil, env: nil, danglingOnly: false)) { error in
            XCTAssertEqual((error as? DockerError)?.kind, "docker_permission")
            XCTAssertTrue((error as? DockerError)?.hint?.contains("docker' group") == true)
        }
        let timeout = FakeProcessRunner()
        timeout.expect("docker", ["volume", "ls", "--format", "{{json .}}"], result: ProcessResult(status: -1, timedOut: true))
        XCTAssertThrowsError(try manager(timeout).list(org: nil, env: nil, danglingOnly: false)) { error in
            XCTAssertEqual((error as? DockerError)?.kind, "docker_unreachable")
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testMissingDockerHasAHint() {
        let fake = FakeProcessRunner()
        XCTAssertThrowsError(try manager(fake).get("data")) { error in
            guard case ToolError.notInstalled(let tool, let hint)? = error as? ToolError else { return XCTFail("\(error)") }
            XCTAssertEqual(tool, "docker")
            XCTAssertEqual(hint, Docker.installHint)
        }
    }

    func testCreatePassesLabelsAndOptionsInEqualsForm() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stderr: "Error: No such volume: data\n", status: 1)
        fake.expect("docker", ["volume", "create", "--driver=local", "--opt=type=tmpfs", "--opt=o=size=-1m",
                               "--label=team=web", "--label=tetra.org=acme", "--label=tetra.env=prod", "data"], stdout: "data\n")
        let r = try manager(fake).create("data", driver: "local", options: ["type=tmpfs", "o=size=-1m"], labels: ["team=web"],
                                         org: "acme", env: "prod", dryRun: false)
        XCTAssertEqual(r.labels, ["team": "web", "tetra.org": "acme", "tetra.env": "prod"])
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testCreateRefusesAnExistingNameAndReservedLabels() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        XCTAssertThrowsError(try manager(fake).create("data", driver: nil, options: [], labels: [], org: nil, env: nil, dryRun: false)) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .conflict)
        }
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        // Refused before docker is asked anything.
        let none = FakeProcessRunner(installed: ["docker"])
        for (labels, org, env) in [(["tetra.org=x"], nil, nil), (["=v"], nil, nil), (["a b=c"], nil, nil), ([], "Acme", nil), ([], nil, "../x")] as [([String], String?, String?)] {
            XCTAssertThrowsError(try manager(none).create("data", driver: nil, options: [], labels: labels, org: org, env: env, dryRun: false)) {
                XCTAssertEqual(($0 as? CoreError)?.exitCode, .usage, "\(labels) \(String(describing: org)) \(String(describing: env))")
            }
        }
        XCTAssertThrowsError(try manager(none).create("data", driver: "-x", options: [], labels: [], org: nil, env: nil, dryRun: false))
        XCTAssertThrowsError(try manager(none).create("Data", driver: nil, options: [], labels: [], org: nil, env: nil, dryRun: false))
        XCTAssertEqual(none.calls.count, 0)
    }

    func testDeleteOfAVolumeInUseNamesTheContainersAndRemovesNothing() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        fake.expect("docker", Self.psArgs("data"), stdout: """
        {"ID":"cb4cc5c57a5b","Names":"web-1","Image":"nginx","State":"running","Status":"Up 3 minutes"}
        {"ID":"0a1b2c3d4e5f","Names":"migrate","Image":"tool","State":"exited","Status":"Exited (0) 1 hour ago"}

        """)
        var confirmed = false
        XCTAssertThrowsError(try manager(fake).delete("data", backupFile: nil, image: nil, dryRun: true, confirm: { confirmed = true })) { error in
            let e = error as? CoreError
            XCTAssertEqual(e?.exitCode, .conflict)
            XCTAssertEqual(e?.message, "volume 'data' is in use by containers web-1 (running), migrate (exited)")
            XCTAssertEqual(e?.hint, "stop and remove them first (docker rm -f web-1 migrate)")
        }
        XCTAssertFalse(confirmed)
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testDeleteNotFoundAndNotConfirmed() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["gone"], stderr: "Error: No such volume: gone\n", status: 1)
        XCTAssertThrowsError(try manager(fake).delete("gone", backupFile: nil, image: nil, dryRun: true, confirm: {})) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .notFound)
        }
        // A dry run never confirms and never removes.
        let dry = FakeProcessRunner()
        dry.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        dry.expect("docker", Self.psArgs("data"), stdout: "")
        let r = try manager(dry).delete("data", backupFile: nil, image: nil, dryRun: true, confirm: { throw CoreError.refused("no") })
        XCTAssertTrue(r.dryRun)
        XCTAssertEqual(dry.assertAllExpectationsMet(), [])
        // Not confirmed: refused, and `docker volume rm` is never called (the fake fails closed).
        let refused = FakeProcessRunner()
        refused.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        refused.expect("docker", Self.psArgs("data"), stdout: "")
        XCTAssertThrowsError(try manager(refused).delete("data", backupFile: nil, image: nil, dryRun: false,
                                                         confirm: { throw CoreError.refused("no") })) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .refused)
        }
        XCTAssertEqual(refused.assertAllExpectationsMet(), [])
    }

    func testPruneSkipsAVolumeThatBecameUsed() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", ["volume", "ls", "--format", "{{json .}}", "--filter", "dangling=true", "--filter", "label=tetra.org=acme"],
                    stdout: #"{"Name":"b","Driver":"local"}"# + "\n" + #"{"Name":"a","Driver":"local"}"# + "\n")
        fake.expect("docker", ["volume", "rm", "a"], stdout: "a\n")
        fake.expect("docker", ["volume", "rm", "b"], stderr: "Error response from daemon: remove b: volume is in use - [abc]\n", status: 1)
        var asked: Int? = nil
        let r = try manager(fake).prune(org: "acme", all: false, dryRun: false, confirm: { asked = $0 })
        XCTAssertEqual(asked, 2)
        XCTAssertEqual(r.removed, ["a"])
        XCTAssertEqual(r.skipped, [.init(name: "b", reason: "in use")])
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertThrowsError(try manager(FakeProcessRunner()).prune(org: nil, all: false, dryRun: true, confirm: { _ in })) {
            XCTAssertEqual(($0 as? CoreError)?.exitCode, .usage)
        }
    }

    func testGetCombinesInspectUsersAndSize() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data", labels: #"{"tetra.org":"acme","tetra.env":"dev"}"#))
        fake.expect("docker", Self.psArgs("data"), stdout: "")
        fake.expect("docker", ["system", "df", "-v", "--format", "{{json .Volumes}}"],
                    stdout: #"[{"Name":"other","Size":"1GB","Links":"0"},{"Name":"data","Size":"53.25kB","Links":"1"}]"# + "\n")
        let d = try manager(fake).get("data")
        XCTAssertEqual(d.org, "acme")
        XCTAssertEqual(d.env, "dev")
        XCTAssertEqual(d.sizeBytes, 53250)
        XCTAssertEqual(d.size, "53.25kB")
        XCTAssertEqual(d.containers, [])
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    func testHelperImageComesFromFlagThenConfigThenDefault() throws {
        let m = manager(FakeProcessRunner())
        XCTAssertEqual(try m.resolveImage(nil), VolumeManager.builtinImage)
        XCTAssertEqual(try m.resolveImage("tinybox:1"), "tinybox:1")
        try FileManager.default.createDirectory(atPath: root + "/state-root/config", withIntermediateDirectories: true)
        try "volume_image = \"registry.example.com/tools/busybox:1.36\"\n".write(toFile: root + "/state-root/config/tetra.toml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try m.resolveImage(nil), "registry.example.com/tools/busybox:1.36")
        XCTAssertEqual(try m.resolveImage("alpine:3"), "alpine:3")
        for bad in ["--rm", "a b", "", "x;y"] {
            XCTAssertThrowsError(try m.resolveImage(bad.isEmpty ? "-" : bad), bad)
        }
    }

    /// A backup whose helper cannot run (docker exit 125) leaves no file and removes the helper.
    func testFailedBackupLeavesNoFile() throws {
        let fake = FakeProcessRunner()
        fake.expect("docker", Self.inspectArgs + ["data"], stdout: Self.inspectJSON("data"))
        fake.expect("docker", Self.psArgs("data"), stdout: "")
        fake.expect("docker run helper", executable: "docker", matching: { r in
            r.arguments.first == "run" && r.arguments.contains("data:/data:ro,nocopy") && r.outputFile != nil
                && r.arguments.suffix(6) == ["tinybox:1", "-C", "/data", "-czf", "-", "."]
        }, response: .dynamic { r in
            try Data("partial".utf8).write(to: URL(fileURLWithPath: r.outputFile!))
            return ProcessResult(status: 125, stderr: Data("Unable to find image\n".utf8))
        })
        fake.expect("docker rm helper", executable: "docker", matching: { $0.arguments.prefix(2) == ["rm", "-f"] },
                    response: .result(ProcessResult(status: 0)))
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        XCTAssertThrowsError(try manager(fake).backup("data", to: "out/data.tar.gz", image: "tinybox:1", force: false, dryRun: false)) { error in
            XCTAssertEqual((error as? any TetraError)?.exitCode, .toolFailed, "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/out"), [])
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }

    /// The runner streams files to and from a child without holding them in memory.
    func testRunnerStreamsInputAndOutputFiles() throws {
        let runner = ProcTestSupport.runner
        let input = root + "/in", output = root + "/out"
        let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try payload.write(to: URL(fileURLWithPath: input))
        var request = ProcessRequest("cat", [])
        request.inputFile = input
        request.outputFile = output
        let r = try runner.run(request)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, Data())
        XCTAssertEqual(FileManager.default.contents(atPath: output), payload)
        XCTAssertEqual(ProcTestSupport.mode(output), 0o600)
        var missing = ProcessRequest("cat", [])
        missing.inputFile = root + "/nope"
        XCTAssertThrowsError(try runner.run(missing))
    }
}
