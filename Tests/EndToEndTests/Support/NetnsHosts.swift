import Foundation
import XCTest

/// Test hosts for fleet tests: network namespaces, each with a veth pair to this machine
/// (10.231.S.1 here, 10.231.S.2 inside), its own loopback and an sshd of its own listening on
/// its address (see `SSHServer`). Names, links and subnets include this process's id, so two
/// test runs at once (two checkouts) do not take each other's hosts. The file system is shared, so each host gets its own target
/// directory; the same service port works on every host.
///
///     let hosts = try NetnsHosts(count: 3)   // skips loudly (fails under CI) without root or ip
///     defer { hosts.stop() }
///     hosts.servers[0].url(path: dir)        // ssh://root@10.231.1.2:2222/...
final class NetnsHosts: @unchecked Sendable {
    static var ip: String { ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "ip" }

    let names: [String]
    /// The third byte of each host's subnet.
    let subnets: [Int]
    private(set) var servers: [SSHServer] = []

    init(count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        _ = try requireTool("ip", file: file, line: line)
        if getuid() != 0 {
            let message = "SKIPPED: fleet tests make network namespaces, which needs root"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message, file: file, line: line) }
            print("\n*** \(message) ***\n")
            throw XCTSkip(message)
        }
        Self.removeStale()
        let pid = Int(getpid())
        names = (1...count).map { "tetra-\(pid)-h\($0)" }
        let base = (pid % 25) * 10
        subnets = (1...count).map { base + $0 }
        do {
            for (i, name) in names.enumerated() {
                let n = subnets[i]
                Self.remove(name)
                let veth = "tv\(pid % 1_000_000)-\(i + 1)"
                try Self.ip(["netns", "add", name])
                try Self.ip(["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name])
                try Self.ip(["addr", "add", "10.231.\(n).1/24", "dev", veth])
                try Self.ip(["link", "set", veth, "up"])
                try Self.ip(["netns", "exec", name, Self.ip, "addr", "add", "10.231.\(n).2/24", "dev", "eth0"])
                try Self.ip(["netns", "exec", name, Self.ip, "link", "set", "eth0", "up"])
                try Self.ip(["netns", "exec", name, Self.ip, "link", "set", "lo", "up"])
                servers.append(try SSHServer(address: "10.231.\(n).2", namespace: name, file: file, line: line))
            }
            // One client key opens every host (a fleet env has one ssh_key).
            let key = try String(contentsOfFile: servers[0].clientKey + ".pub", encoding: .utf8)
            for server in servers.dropFirst() {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: server.directory + "/authorized_keys"))
                handle.seekToEndOfFile()
                handle.write(Data(key.utf8))
                handle.closeFile()
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Writes a known_hosts file with every host's key (for `UserKnownHostsFile=`).
    func writeKnownHosts(to path: String) throws {
        try servers.map { (try? String(contentsOfFile: $0.knownHostsFile, encoding: .utf8)) ?? "" }.joined()
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The address of host `i` (0-based) as this machine reaches it.
    func address(_ i: Int) -> String { "10.231.\(subnets[i]).2" }

    /// Host `i` goes down: its sshd and every process in its namespace (the sessions a shared
    /// ssh connection keeps) end, so a new connection is refused.
    func down(_ i: Int) {
        servers[i].stop()
        if let r = try? Tetra.exec(Self.ip, ["netns", "pids", names[i]]), r.status == 0 {
            for pid in r.stdout.split(whereSeparator: \.isNewline).compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
    }

    /// Stops every sshd and removes the namespaces (their veth pairs go with them).
    func stop() {
        for s in servers { s.stop() }
        servers = []
        for name in names { Self.remove(name) }
    }

    deinit { stop() }

    /// Namespaces of test runs whose process is gone (killed half-way).
    static func removeStale() {
        guard let r = try? Tetra.exec(ip, ["netns", "list"]), r.status == 0 else { return }
        for line in r.stdout.split(whereSeparator: \.isNewline) {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "tetra", parts[2].hasPrefix("h"), let pid = Int32(parts[1]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { remove(name) }
        }
    }

    static func remove(_ name: String) {
        // Processes left in the namespace (a service a test started) are ended first.
        if let r = try? Tetra.exec(ip, ["netns", "pids", name]), r.status == 0 {
            for pid in r.stdout.split(whereSeparator: \.isNewline).compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? Tetra.exec(ip, ["netns", "del", name])
    }

    static func ip(_ args: [String]) throws {
        let r = try Tetra.exec(ip, args)
        guard r.status == 0 else { throw SSHServerError("ip \(args.joined(separator: " ")) failed: \(r.stderr)") }
    }
}
