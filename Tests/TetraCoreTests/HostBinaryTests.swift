import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// The tetra binary on an ssh host: reused when present, refused on another platform,
/// sent gzip-compressed and checked by hash otherwise (ssh and gzip faked: every call must be
/// the expected one).
final class HostBinaryTests: XCTestCase {
    let target = try! DeployTarget.parse("ssh://deploy@h:2222/srv/acme", sshKey: "/keys/id")

    func setUp(_ fake: FakeProcessRunner) throws -> (HostBinary, SSHTransport, String) {
        let exe = NSTemporaryDirectory() + "/tetra-hostbinary-\(getpid())"
        try Data("not really tetra".utf8).write(to: URL(fileURLWithPath: exe))
        let context = CoreContext(environment: ["HOME": "/home/t"], workingDirectory: "/", stateRoot: "/x", runner: fake, executablePath: exe)
        let transport = try XCTUnwrap(target.transport(context: context) as? SSHTransport)
        return (HostBinary(context: context), transport, try SHA256.hex(ofFile: exe))
    }

    func probe(_ fake: FakeProcessRunner, answer: String) {
        fake.expect("probe", executable: "ssh", matching: { $0.arguments.last?.contains("uname -sm") ?? false },
                    response: .result(ProcessResult(status: 0, stdout: Data(answer.utf8))))
    }

    func testAnInstalledBinaryIsReused() throws {
        let fake = FakeProcessRunner()
        let (binary, transport, hash) = try setUp(fake)
        probe(fake, answer: "@@tetra:present\n")
        XCTAssertEqual(try binary.ensure(transport), "/srv/acme/.tetra/bin/tetra-" + hash.prefix(12))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
        XCTAssertEqual(fake.calls.count, 1)
    }

    func testAnotherPlatformIsExit6NamingBoth() throws {
        let fake = FakeProcessRunner()
        let (binary, transport, _) = try setUp(fake)
        probe(fake, answer: "@@tetra:uname Linux aarch64\n@@tetra:gzip\n")
        XCTAssertThrowsError(try binary.ensure(transport)) { error in
            XCTAssertEqual((error as? any TetraError)?.exitCode, .toolFailed)
            let message = (error as? any TetraError)?.message ?? ""
            XCTAssertTrue(message.contains("'Linux aarch64'") && message.contains("'\(HostBinary.localPlatform)'"), message)
        }
        XCTAssertEqual(fake.calls.count, 1, "nothing sent")
    }

    func testAMissingBinaryIsSentCompressedAndCheckedByHash() throws {
        let fake = FakeProcessRunner()
        let (binary, transport, hash) = try setUp(fake)
        probe(fake, answer: "@@tetra:uname \(HostBinary.localPlatform)\n@@tetra:gzip\n@@tetra:sha256sum\n")
        fake.expect("gzip", executable: "gzip", matching: { $0.arguments.first == "-c" },
                    response: .result(ProcessResult(status: 0, stdout: Data("GZ".utf8))))
        fake.expect("send", executable: "ssh", matching: { req in
            let script = req.arguments.last ?? ""
            return req.input == Data("GZ".utf8) && script.contains("gzip -dc >") && script.contains(hash) && script.contains("mv -f")
        }, response: .result(ProcessResult(status: 0, stdout: Data("@@tetra:installed\n".utf8))))
        XCTAssertEqual(try binary.ensure(transport), "/srv/acme/.tetra/bin/tetra-" + hash.prefix(12))
        XCTAssertEqual(fake.assertAllExpectationsMet(), [])
    }
}
