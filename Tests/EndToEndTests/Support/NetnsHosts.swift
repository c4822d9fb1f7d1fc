import Foundation
import XCTest

/// Test hosts for fleet tests: network namespaces made by `scripts/netns-hosts.sh` (the test
/// bed the fleet benchmark shares), each with a veth pair to this machine (10.231.S.1 here,
/// 10.231.S.2 inside), its own loopback and an sshd of its own on port 2222. Names and subnets
/// include this process's id, so two test runs at once (two checkouts) do not take each
/// other's hosts; namespaces of runs killed half-way are removed by the next. The file system
/// is shared, so each host gets its own target directory; the same service port works on
/// every host.
///
///     let hosts = try NetnsHosts(count: 3)   // skips loudly (fails under CI) without root or ip
///     defer { hosts.stop() }
///     hosts.servers[0].url(path: dir)        // ssh://root@10.231.1.2:2222/...
final class NetnsHosts: @unchecked Sendable {
    static var ip: String { ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "ip" }
    static var script: String { Tetra.packageRoot + "/scripts/netns-hosts.sh" }

    /// One host: where it listens and the keys that open it.
    struct Host {
        let name: String
        let address: String
        let port: Int
        let clientKey: String
        let knownHostsFile: String
        func url(path: String) -> String { "ssh://root@\(address):\(port)" + (path.hasPrefix("/") ? path : "/" + path) }
    }

    let names: [String]
    let servers: [Host]
    /// The directory of the script's keys, configs and logs.
    let directory: String

    /// `binds`: host index (0-based) → (file, path it covers for that host's sessions).
    init(count: Int, binds: [Int: (String, String)] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        _ = try requireTool("ip", file: file, line: line)
        _ = try requireTool("ssh", file: file, line: line)
        _ = try SSHServer.sshdPath(file: file, line: line)
        if getuid() != 0 {
            let message = "SKIPPED: fleet tests make network namespaces, which needs root"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message, file: file, line: line) }
            print("\n*** \(message) ***\n")
            throw XCTSkip(message)
        }
        let pid = Int(getpid())
        let directory = Tetra.makeTempDir("tetra-netns")
        self.directory = directory
        var args = ["up", directory, String(count), "--prefix", "tetra-\(pid)", "--subnet", String((pid % 25) * 10)]
        for (i, bind) in binds { args += ["--bind", "\(i + 1):\(bind.0):\(bind.1)"] }
        let r = try Tetra.exec("/bin/bash", [Self.script] + args)
        guard r.status == 0 else { throw SSHServerError("netns-hosts.sh up failed: \(r.stderr)") }
        let lines = (try String(contentsOfFile: directory + "/hosts", encoding: .utf8)).split(whereSeparator: \.isNewline)
        servers = lines.map { line in
            let f = line.split(separator: " ").map(String.init)
            return Host(name: f[0], address: f[1], port: Int(f[2]) ?? 2222, clientKey: directory + "/client_key",
                        knownHostsFile: directory + "/known_hosts")
        }
        names = servers.map(\.name)
    }

    /// Writes a known_hosts file with every host's key (for `UserKnownHostsFile=`).
    func writeKnownHosts(to path: String) throws {
        try String(contentsOfFile: directory + "/known_hosts", encoding: .utf8).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The address of host `i` (0-based) as this machine reaches it.
    func address(_ i: Int) -> String { servers[i].address }

    /// Host `i` goes down: its sshd and every process in its namespace (the sessions a shared
    /// ssh connection keeps) end, so a new connection is refused.
    func down(_ i: Int) {
        _ = try? Tetra.exec("/bin/bash", [Self.script, "kill-host", directory, String(i + 1)])
    }

    /// Stops every sshd and removes the namespaces (their veth pairs go with them).
    func stop() {
        _ = try? Tetra.exec("/bin/bash", [Self.script, "down", directory])
    }

    deinit { stop() }
}
