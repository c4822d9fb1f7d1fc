import Foundation
import XCTest

/// A throw-away ACME test server: Debian's `pebble` with `pebble-challtestsrv` as its DNS
/// server (every name resolves to 127.0.0.1), on free loopback ports.
///
/// - pebble needs a TLS key/cert of its own: generated here with openssl (CN localhost,
///   SAN IP:127.0.0.1); `caFile` is that certificate, to be trusted with `--acme-ca`.
/// - `httpPort` is the port pebble's VA connects to for HTTP-01 (pebble does not bind it):
///   give it to `tetra ssl generate --http-port`, or serve a webroot on it.
/// - `PEBBLE_VA_NOSLEEP=1` skips the VA's random delays; `PEBBLE_AUTHZREUSE=0` makes every
///   order validate its challenges again (by default pebble reuses half of the valid
///   authorizations, which would let a renewal pass without any challenge); pebble's default
///   5 % nonce rejection stays on, so badNonce retries are exercised.
///
///     let pebble = try Pebble()      // skips (fails under CI) when pebble is missing
///     defer { pebble.stop() }
final class Pebble: @unchecked Sendable {
    let directory: String
    let listenPort: Int
    let httpPort: Int
    let dnsPort: Int
    let caFile: String
    private var pids: [pid_t] = []
    private let lock = NSLock()
    private var stopped = false

    var directoryURL: String { "https://127.0.0.1:\(listenPort)/dir" }
    var log: String { Self.logs(directory) }
    static func logs(_ directory: String) -> String {
        ["pebble.log", "challtestsrv.log"].map { (try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "" }
            .joined(separator: "\n---\n")
    }

    init(file: StaticString = #filePath, line: UInt = #line) throws {
        let pebble = try requireTool("pebble", file: file, line: line)
        let challtestsrv = try requireTool("pebble-challtestsrv", file: file, line: line)
        let openssl = try requireTool("openssl", file: file, line: line)
        _ = try requireTool("curl", file: file, line: line)
        directory = Tetra.makeTempDir("tetra-pebble")
        caFile = directory + "/cert.pem"
        let r = try Tetra.exec(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                         "-keyout", directory + "/key.pem", "-out", caFile, "-subj", "/CN=localhost",
                                         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "7"])
        guard r.status == 0 else { throw SSHServerError("openssl for pebble's TLS cert failed: \(r.stderr)") }

        var started: (Int, Int, Int)? = nil
        var lastLog = ""
        for _ in 0..<4 {
            let ports = try (0..<6).map { _ in try SSHServer.freePort() }
            guard Set(ports).count == 6 else { continue }
            let (listen, mgmt, http, tls, dns, dnsMgmt) = (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5])
            let config = """
            {"pebble": {"listenAddress": "127.0.0.1:\(listen)", "managementListenAddress": "127.0.0.1:\(mgmt)",
              "certificate": "\(directory)/cert.pem", "privateKey": "\(directory)/key.pem",
              "httpPort": \(http), "tlsPort": \(tls), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
            try config.write(toFile: directory + "/pebble.json", atomically: true, encoding: .utf8)
            let dnsPID = try Self.spawn(challtestsrv, ["-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "",
                                                       "-dns01", "127.0.0.1:\(dns)", "-management", "127.0.0.1:\(dnsMgmt)"],
                                        log: directory + "/challtestsrv.log", extraEnv: [:])
            guard SSHServer.waitForPort(dnsMgmt, pid: dnsPID, timeout: 10) else {
                SSHServer.terminate(dnsPID)
                lastLog = Self.logs(directory)
                continue
            }
            let pebblePID = try Self.spawn(pebble, ["-config", directory + "/pebble.json", "-dnsserver", "127.0.0.1:\(dns)"],
                                           log: directory + "/pebble.log", extraEnv: ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"])
            guard SSHServer.waitForPort(listen, pid: pebblePID, timeout: 15) else {
                SSHServer.terminate(pebblePID)
                SSHServer.terminate(dnsPID)
                lastLog = Self.logs(directory)
                continue
            }
            pids = [pebblePID, dnsPID]
            started = (listen, http, dns)
            break
        }
        guard let (listen, http, dns) = started else {
            throw SSHServerError("pebble did not start: \(lastLog)")
        }
        listenPort = listen
        httpPort = http
        dnsPort = dns
    }

    deinit { stop() }

    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        for pid in pids { SSHServer.terminate(pid) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Flags that point `tetra ssl generate` at this server.
    var acmeFlags: [String] { ["--acme-server", directoryURL, "--acme-ca", caFile] }

    static func spawn(_ program: String, _ args: [String], log: String, extraEnv: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = ProcessInfo.processInfo.environment.merging(extraEnv) { $1 }
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, nil, argv, envp)
        guard rc == 0 else { throw SSHServerError("posix_spawn \(program): \(String(cString: strerror(rc)))") }
        return pid
    }
}

/// A static file server for a webroot (`python3 -m http.server`) on 127.0.0.1:port.
final class WebrootServer: @unchecked Sendable {
    let pid: pid_t
    init(root: String, port: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let python = try requireTool("python3", file: file, line: line)
        pid = try Pebble.spawn(python, ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root],
                               log: root + "/../webroot-server.log", extraEnv: [:])
        guard SSHServer.waitForPort(port, pid: pid, timeout: 15) else {
            SSHServer.terminate(pid)
            throw SSHServerError("python3 -m http.server did not start on port \(port)")
        }
    }
    func stop() { SSHServer.terminate(pid) }
    deinit { stop() }
}
