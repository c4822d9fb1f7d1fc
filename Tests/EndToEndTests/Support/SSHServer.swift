import Foundation
import XCTest

/// A throw-away OpenSSH server on the loopback interface, with key authentication only, for
/// end-to-end tests of anything that goes over ssh (git, ssh, rsync, tar over ssh).
///
/// It generates a host key and a client key (ssh-keygen) in a private temporary directory,
/// writes an `sshd_config` (a free high port on 127.0.0.1, `StrictModes no`, `UsePAM no`,
/// public keys only), starts `/usr/sbin/sshd -D -e` as a child process and waits until the
/// port accepts connections. Logins are as the current user (`user`), whose commands run
/// with the user's own home directory and the system's default PATH.
///
///     let sshd = try SSHServer()          // skips (or fails under CI) when sshd is missing
///     defer { sshd.stop() }
///     let env = ["GIT_SSH_COMMAND": sshd.sshCommand]
///     git clone sshd.url(path: "/tmp/repo.git") ...
///     ssh sshd.sshArguments + [sshd.user + "@127.0.0.1", "true"]
///
/// Needs `/usr/sbin/sshd` and `ssh-keygen` (Debian: openssh-server) and an existing
/// `/run/sshd` (created here when running as root). When they are missing the initialiser
/// throws `XCTSkip` with a loud message, or records a failure under CI (`requireTool`).
final class SSHServer: @unchecked Sendable {
    /// The private directory holding keys, config, pid file and log.
    let directory: String
    let port: Int
    /// The login name (the current user).
    let user: String
    /// The client's private key (its public half is the only authorized key).
    let clientKey: String
    /// A known_hosts file with the host key for `[127.0.0.1]:PORT`.
    let knownHostsFile: String
    /// An ssh_config usable with `ssh -F FILE`: Host `tetra-test-sshd` (and 127.0.0.1) with
    /// port, user, key and known hosts set.
    let sshConfigFile: String
    let configFile: String
    let hostKey: String
    let logFile: String
    static let hostAlias = "tetra-test-sshd"

    /// sshd's pid. It is spawned with posix_spawn, not Foundation's Process: a Process that
    /// outlives others can keep Foundation's child reaper waiting on it, so that a short
    /// `ssh` run by the same test is never reaped (the test hangs).
    let pid: pid_t
    /// The address sshd listens on.
    let address: String
    private let lock = NSLock()
    private var stopped = false

    /// Options for an `ssh` argv that connect to this server with the client key and fail
    /// rather than prompt: `-F /dev/null -i KEY -o UserKnownHostsFile=... -o StrictHostKeyChecking=yes
    /// -o BatchMode=yes -o IdentitiesOnly=yes -p PORT`.
    var sshArguments: [String] {
        ["-F", "/dev/null", "-i", clientKey,
         "-o", "UserKnownHostsFile=\(knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
         "-p", String(port)]
    }

    /// A command line for `GIT_SSH_COMMAND` (or `rsync -e`): `ssh` with `sshArguments`.
    /// The temporary paths hold no spaces or quotes, so no quoting is needed.
    var sshCommand: String { (["ssh"] + sshArguments).joined(separator: " ") }

    /// `ssh://USER@ADDRESS:PORT/path` (an absolute path on this machine).
    func url(path: String) -> String {
        "ssh://\(user)@\(address):\(port)" + (path.hasPrefix("/") ? path : "/" + path)
    }

    /// The environment that makes git use this server's keys: `["GIT_SSH_COMMAND": sshCommand]`.
    var gitEnvironment: [String: String] { ["GIT_SSH_COMMAND": sshCommand] }

    /// What sshd logged so far (for failure messages).
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    init(address: String = "127.0.0.1", file: StaticString = #filePath, line: UInt = #line) throws {
        self.address = address
        let sshd = try Self.sshdPath(file: file, line: line)
        let keygen = try requireTool("ssh-keygen", file: file, line: line)
        _ = try requireTool("ssh", file: file, line: line)
        try Self.ensurePrivilegeSeparationDirectory(file: file, line: line)

        directory = Tetra.makeTempDir("tetra-sshd")
        user = Self.currentUser()
        hostKey = directory + "/host_ed25519_key"
        clientKey = directory + "/client_ed25519_key"
        knownHostsFile = directory + "/known_hosts"
        sshConfigFile = directory + "/ssh_config"
        configFile = directory + "/sshd_config"
        logFile = directory + "/sshd.log"
        let authorizedKeys = directory + "/authorized_keys"

        for (key, comment) in [(hostKey, "tetra-test-host"), (clientKey, "tetra-test-client")] {
            let r = try Tetra.exec(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key])
            guard r.status == 0 else { throw SSHServerError("ssh-keygen failed: \(r.stderr)") }
        }
        let clientPub = try String(contentsOfFile: clientKey + ".pub", encoding: .utf8)
        try clientPub.write(toFile: authorizedKeys, atomically: true, encoding: .utf8)
        chmod(authorizedKeys, 0o600)

        // A free port: bind port 0, read it back, release it. sshd is retried on another
        // port if something else takes it in between.
        var lastError = ""
        var started: (pid_t, Int)? = nil
        for _ in 0..<5 {
            let port = try Self.freePort()
            let config = """
            Port \(port)
            ListenAddress \(address)
            HostKey \(hostKey)
            AuthorizedKeysFile \(authorizedKeys)
            PidFile \(directory)/sshd.pid
            StrictModes no
            UsePAM no
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            AllowUsers \(Self.currentUser())
            LogLevel VERBOSE
            MaxStartups 100:30:200
            MaxSessions 100
            Subsystem sftp internal-sftp

            """
            try config.write(toFile: configFile, atomically: true, encoding: .utf8)
            // Reject a bad config up front with sshd's own message.
            let check = try Tetra.exec(sshd, ["-t", "-f", configFile])
            guard check.status == 0 else { throw SSHServerError("sshd -t rejected the config: \(check.stderr)") }

            let child = try Self.spawn(sshd, ["-D", "-e", "-f", configFile], log: logFile)
            if Self.waitForPort(port, address: address, pid: child, timeout: 10) {
                started = (child, port)
                break
            }
            Self.terminate(child)
            lastError = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        }
        guard let (child, port) = started else {
            throw SSHServerError("sshd did not start: \(lastError)")
        }
        self.pid = child
        self.port = port

        let hostPub = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        try "[\(address)]:\(port) \(hostPub)\n".write(toFile: knownHostsFile, atomically: true, encoding: .utf8)
        let sshConfig = """
        Host \(Self.hostAlias) \(address)
            HostName \(address)
            Port \(port)
            User \(user)
            IdentityFile \(clientKey)
            IdentitiesOnly yes
            UserKnownHostsFile \(knownHostsFile)
            StrictHostKeyChecking yes
            BatchMode yes
            ConnectTimeout 10

        """
        try sshConfig.write(toFile: sshConfigFile, atomically: true, encoding: .utf8)
        chmod(sshConfigFile, 0o600)
    }

    deinit { stop() }

    /// Stops sshd (SIGTERM to the listener; sessions it forked end with their clients) and
    /// removes the temporary directory. Safe to call more than once.
    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        Self.terminate(pid)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `ssh` against this server: `ssh OPTIONS user@127.0.0.1 COMMAND...`.
    func ssh(_ command: [String]) throws -> Tetra.Result {
        try Tetra.exec(Tetra.which("ssh") ?? "/usr/bin/ssh", sshArguments + ["\(user)@\(address)", "--"] + command)
    }

    // MARK: - Helpers

    static func sshdPath(file: StaticString, line: UInt) throws -> String {
        for candidate in ["/usr/sbin/sshd", "/usr/local/sbin/sshd"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return try requireTool("sshd", file: file, line: line)
    }

    /// sshd refuses to start without its privilege-separation directory.
    static func ensurePrivilegeSeparationDirectory(file: StaticString, line: UInt) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/run/sshd", isDirectory: &isDir), isDir.boolValue { return }
        if (try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o755])) != nil {
            return
        }
        let message = "SKIPPED: /run/sshd does not exist and cannot be created (not root); sshd needs it"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail(message, file: file, line: line)
        }
        print("\n*** \(message) ***\n")
        throw XCTSkip(message)
    }

    static func currentUser() -> String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }

    /// A TCP port that was free a moment ago on 127.0.0.1 (from the ephemeral range).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SSHServerError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SSHServerError("bind: \(String(cString: strerror(errno)))") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw SSHServerError("getsockname: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Starts `program args` with stdin from /dev/null and stdout/stderr appended to `log`.
    static func spawn(_ program: String, _ args: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard rc == 0 else { throw SSHServerError("posix_spawn \(program): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// True while `pid` has not exited (reaps it when it has).
    static func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return true }
        return false // exited (reaped now), or already reaped by someone else (ECHILD)
    }

    /// SIGTERM, up to 5 s for the exit, then SIGKILL; reaps the child.
    static func terminate(_ pid: pid_t) {
        guard isRunning(pid) else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while isRunning(pid) {
            if Date() > deadline {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                return
            }
            usleep(10_000)
        }
    }

    /// True once something accepts TCP connections on 127.0.0.1:port (and sshd still runs).
    static func waitForPort(_ port: Int, address: String = "127.0.0.1", pid: pid_t, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard isRunning(pid) else { return false }
            if canConnect(port, address: address) { return true }
            usleep(20_000)
        }
        return false
    }

    static func canConnect(_ port: Int, address: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(address)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

struct SSHServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
