import Foundation
import XCTest

final class LibraryE2ETests: XCTestCase {
    /// The loopback sshd itself: key login works, and git clones over it.
    func testSSHServerAcceptsKeyLoginAndGit() throws {
        let git = try requireTool("git")
        let sshd = try SSHServer()
        defer { sshd.stop() }
        let r = try sshd.ssh(["echo", "hello"])
        XCTAssertEqual(r.status, 0, "ssh failed: \(r.stderr)\nsshd log:\n\(sshd.log)")
        XCTAssertEqual(r.stdout, "hello\n")

        let work = Tetra.makeTempDir("tetra-sshd-git")
        defer { try? FileManager.default.removeItem(atPath: work) }
        XCTAssertEqual(try Tetra.exec(git, ["init", "-q", "--bare", work + "/up.git"]).status, 0)
        var env = ProcessInfo.processInfo.environment
        env.merge(sshd.gitEnvironment) { $1 }
        let clone = try Tetra.exec(git, ["clone", "-q", sshd.url(path: work + "/up.git"), work + "/clone"], env: env)
        XCTAssertEqual(clone.status, 0, "git clone over ssh failed: \(clone.stderr)\nsshd log:\n\(sshd.log)")
    }
}
