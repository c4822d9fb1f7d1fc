import Foundation
import XCTest

/// What every fleet end-to-end test starts from: a fresh state root with org `shop`, one port
/// registered, and the namespace hosts as `web1`...`webN` of an environment, each with its own
/// target directory under `root/targets` (the file system is shared) and the ssh settings that
/// open them (the hosts' one client key, their known_hosts).
struct FleetOrgFixture {
    let tetra: Tetra
    let root: String
    let hosts: NetnsHosts
    var orgDir: String { tetra.stateRoot + "/orgs/shop" }
    func target(_ i: Int) -> String { root + "/targets/web\(i + 1)" }

    init(hosts: NetnsHosts, prefix: String, port: (name: String, number: Int)) throws {
        self.hosts = hosts
        root = DeployFixture.tempDir(prefix)
        tetra = Tetra(stateRoot: root + "/state-root")
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        XCTAssertEqual(try tetra.run(["ports", "set", port.name, String(port.number)]).status, 0)
        try FileManager.default.createDirectory(atPath: orgDir + "/files", withIntermediateDirectories: true)
        try hosts.writeKnownHosts(to: root + "/known_hosts")
    }

    /// The lines of a `hosts = [...]` array: `{ name = "webN", target = "ssh://..."` + `extra(i)` + ` },`.
    func hostLines(_ extra: (Int) -> String = { _ in "" }) -> String {
        hosts.servers.indices.map { i in
            "  { name = \"web\(i + 1)\", target = \"\(hosts.servers[i].url(path: target(i)))\"" + extra(i) + " },"
        }.joined(separator: "\n")
    }

    /// `ssh_key` and `ssh_options` for an environment of these hosts.
    func sshSettings(connectTimeout: Int) -> String {
        """
        ssh_key = "\(hosts.servers[0].clientKey)"
        ssh_options = ["UserKnownHostsFile=\(root)/known_hosts", "StrictHostKeyChecking=yes", "ConnectTimeout=\(connectTimeout)"]
        """
    }

    /// Writes org.toml: `[org] name = "shop"` then `body`.
    func writeOrg(_ body: String) throws {
        try "[org]\nname = \"shop\"\n\n\(body)".write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
    }
}
