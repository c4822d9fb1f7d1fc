import Foundation
import XCTest
@testable import TetraCore

final class DeployTargetTests: XCTestCase {
    func testLocalTargets() throws {
        let t = try DeployTarget.parse("/srv//acme/./dev/")
        XCTAssertTrue(t.isLocal)
        XCTAssertEqual(t.path, "/srv/acme/dev")
        XCTAssertEqual(t.description, "/srv/acme/dev")
        XCTAssertEqual(try DeployTarget.parse("/srv/my acme/dev").path, "/srv/my acme/dev", "local paths are used with syscalls only")
        for bad in ["", "srv/acme", "./x", "/", "//", "/srv/../etc", "/srv/a\nb", "ftp://h/x", "host:/srv", "~/x"] {
            XCTAssertThrowsError(try DeployTarget.parse(bad), bad) { error in
                XCTAssertEqual((error as? TetraError)?.exitCode, .usage)
                XCTAssertEqual((error as? TetraError)?.hint, DeployTarget.hint)
            }
            XCTAssertNotNil(DeployTarget.problem(with: bad), bad)
        }
        XCTAssertThrowsError(try DeployTarget.parse("/srv/x", sshKey: "/k"))
        XCTAssertThrowsError(try DeployTarget.parse("/srv/x", sshPort: 22))
    }

    func testSSHTargets() throws {
        let t = try DeployTarget.parse("ssh://deploy@staging.example.com:22/srv/acme")
        XCTAssertEqual(t.ssh, SSHEndpoint(user: "deploy", host: "staging.example.com", port: 22))
        XCTAssertEqual(t.path, "/srv/acme")
        XCTAssertEqual(t.description, "ssh://deploy@staging.example.com:22/srv/acme")

        let bare = try DeployTarget.parse("SSH://prod.example.com/srv/acme/")
        XCTAssertEqual(bare.ssh, SSHEndpoint(user: nil, host: "prod.example.com", port: nil))
        XCTAssertEqual(bare.path, "/srv/acme")

        let v6 = try DeployTarget.parse("ssh://deploy@[::1]:2222/srv")
        XCTAssertEqual(v6.ssh?.host, "::1")
        XCTAssertEqual(v6.ssh?.destination, "deploy@::1")
        XCTAssertEqual(v6.ssh?.rsyncRemote("/srv/x"), "deploy@[::1]:/srv/x")
        XCTAssertEqual(v6.description, "ssh://deploy@[::1]:2222/srv")

        let withEnv = try DeployTarget.parse("ssh://deploy@h/srv", sshKey: "~/.ssh/deploy_ed25519", sshPort: 2200)
        XCTAssertEqual(withEnv.ssh?.port, 2200)
        XCTAssertEqual(withEnv.ssh?.keyFile, "~/.ssh/deploy_ed25519")
        XCTAssertEqual(try DeployTarget.parse("ssh://h:2200/srv", sshPort: 2200).ssh?.port, 2200)
        XCTAssertThrowsError(try DeployTarget.parse("ssh://h:22/srv", sshPort: 2200))
        XCTAssertThrowsError(try DeployTarget.parse("ssh://h/srv", sshPort: 0))
        XCTAssertThrowsError(try DeployTarget.parse("ssh://h/srv", sshKey: "relative/key"))
    }

    /// Everything that could smuggle an option or a shell word onto a command line is refused.
    func testSSHTargetsThatCouldInjectAreRefused() {
        let bad = [
            "ssh://-oProxyCommand=touch%20x@host/srv", "ssh://user@-oProxyCommand=x/srv", "ssh://-luser@host/srv",
            "ssh://us er@host/srv", "ssh://user@ho st/srv", "ssh://user:secret@host/srv", "ssh://user@host:0/srv",
            "ssh://user@host:99999/srv", "ssh://user@host:22x/srv", "ssh://user@host:/srv", "ssh://user@host:+22/srv",
            "ssh://user@host/srv;rm -rf ~", "ssh://user@host/sr'v", "ssh://user@host/srv/$(id)", "ssh://user@host/srv/`id`",
            "ssh://user@host/srv with space", "ssh://user@host/../x", "ssh://user@host/srv/..", "ssh://user@host",
            "ssh://user@host/", "ssh://user@host/srv?x=1", "ssh://user@host/srv#frag", "ssh://@host/srv",
            "ssh://user@/srv", "ssh://user@[::1/srv", "ssh://user@[zz::1]/srv", "ssh://user@host/srv\n", "ssh://user@host/s\\rv",
            "ssh://user@ho\"st/srv", "ssh://user@.host/srv", "ssh://user@host/srv/~root", "ssh://user@host/srv/*",
        ]
        for text in bad {
            XCTAssertThrowsError(try DeployTarget.parse(text), text)
        }
        XCTAssertEqual(DeployTarget.problem(with: "ssh://user@-x/srv"), "a host cannot start with '-'")
        XCTAssertEqual(DeployTarget.problem(with: "ssh://-x@host/srv"), "a user name cannot start with '-'")
        XCTAssertEqual(DeployTarget.problem(with: "ssh://u:p@host/srv"), "a password in the URL is not allowed (use keys)")
    }

    func testSSHArgvHonoursConfigAndAddsOnlyWhatWasGiven() throws {
        let plain = SSHCommand(endpoint: SSHEndpoint(user: nil, host: "prod"))
        XCTAssertEqual(plain.options, ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"],
                       "no -F, -p, -i, -l: user, port and identity come from ~/.ssh/config")
        XCTAssertEqual(plain.arguments(remoteCommand: "true"), plain.options + ["--", "prod", "true"])

        let full = SSHCommand(endpoint: SSHEndpoint(user: "deploy", host: "h", port: 2222, keyFile: "~/.ssh/id_deploy"),
                              extraOptions: ["-o", "UserKnownHostsFile=/tmp/kh", "-o", "StrictHostKeyChecking=yes"],
                              home: "/home/ana/", controlPath: "/tmp/tetra-ssh-0/%C")
        XCTAssertEqual(full.options, [
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-p", "2222",
            "-i", "/home/ana/.ssh/id_deploy", "-o", "IdentitiesOnly=yes",
            "-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/tetra-ssh-0/%C", "-o", "ControlPersist=10",
            "-o", "UserKnownHostsFile=/tmp/kh", "-o", "StrictHostKeyChecking=yes",
        ])
        XCTAssertEqual(Array(full.arguments(remoteCommand: "sh -c 'x'").suffix(3)), ["--", "deploy@h", "sh -c 'x'"])
        XCTAssertEqual(full.rsyncRemoteShell,
                       "ssh -o BatchMode=yes -o ConnectTimeout=15 -p 2222 -i /home/ana/.ssh/id_deploy -o IdentitiesOnly=yes "
                           + "-o ControlMaster=auto -o ControlPath=/tmp/tetra-ssh-0/%C -o ControlPersist=10 "
                           + "-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes")
    }

    func testControlDirectoryIsPrivate() throws {
        let base = NSTemporaryDirectory() + "ctl-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dir = try XCTUnwrap(SSHCommand.controlDirectory(temporaryDirectory: base))
        XCTAssertEqual(dir, base + "/tetra-ssh-\(getuid())")
        var st = stat()
        XCTAssertEqual(lstat(dir, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        chmod(dir, 0o777)
        XCTAssertNil(SSHCommand.controlDirectory(temporaryDirectory: base), "a directory others can write is not used")
        XCTAssertNil(SSHCommand.controlDirectory(temporaryDirectory: "/" + String(repeating: "x", count: 80)), "too long for a socket")
    }

    func testRsyncQuoting() {
        XCTAssertEqual(RsyncQuote.quote("plain"), "plain")
        XCTAssertEqual(RsyncQuote.quote(""), "\"\"")
        XCTAssertEqual(RsyncQuote.quote("a b"), "\"a b\"")
        XCTAssertEqual(RsyncQuote.quote("it's \"x\""), "\"it's \"\"x\"\"\"")
        XCTAssertEqual(RsyncQuote.join(["ssh", "-i", "/k ey"]), "ssh -i \"/k ey\"")
    }

    /// rsync itself splits the `-e` string: a fake ssh records the argv it receives.
    func testRsyncSplitsOurRemoteShellStringBackIntoTheSameWords() throws {
        guard let rsync = SystemProcessRunner.resolve("rsync", searchPath: ProcessInfo.processInfo.environment["PATH"]) else {
            throw XCTSkip("rsync not installed")
        }
        let dir = NSTemporaryDirectory() + "rsh-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = dir + "/fake ssh"
        try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$(dirname \"$0\")/argv\"\nexit 1\n"
            .write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let tricky = ["-o", "UserKnownHostsFile=/tmp/a b/\"q\"'s", "-i", "/keys/it's", "-o", "X=\"\"", "-o", ""]
        let command = RsyncQuote.join([fake] + tricky)
        _ = try SystemProcessRunner(environment: ProcessInfo.processInfo.environment)
            .run(ProcessRequest(rsync, ["-r", "-e", command, dir + "/src/", "host:/dst/"]))
        let argv = try String(contentsOfFile: dir + "/argv", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(Array(argv.prefix(tricky.count)).map(String.init), tricky)
    }
}
