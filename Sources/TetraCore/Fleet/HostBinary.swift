import FoundationEssentials
import Glibc

/// The tetra binary on a host: `<target>/.tetra/bin/tetra-<first 12 hex of its sha256>`, a
/// copy of the running binary made by the first push that needs it (services to start), sent
/// gzip-compressed over ssh when the host has gzip, checked by its hash before it is renamed
/// into place, and reused by every later push of the same binary. The host's `uname -sm`
/// must be this machine's, else exit 6 naming both.
struct HostBinary: Sendable {
    let context: CoreContext

    /// sha256 of the running executable (read once per process).
    static let hashCache = Cache()
    final class Cache: @unchecked Sendable {
        private let lock = Lock()
        private var value: String?
        func get(_ make: () throws -> String) rethrows -> String {
            try lock.withLock {
                if let value { return value }
                let v = try make()
                value = v
                return v
            }
        }
    }

    var executableHash: String {
        get throws { try Self.hashCache.get { try SHA256.hex(ofFile: context.executablePath) } }
    }

    /// This machine's `uname -sm`.
    static var localPlatform: String {
        var u = utsname()
        uname(&u)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return text(u.sysname) + " " + text(u.machine)
    }

    /// Where this tetra is (or would be) installed at a target directory, without looking.
    func installedPath(targetPath: String) throws -> String {
        targetPath + "/.tetra/bin/tetra-" + (try executableHash).prefix(12)
    }

    /// The binary's path at an ssh target, copied there when missing.
    func ensure(_ transport: SSHTransport) throws -> String {
        let hash = try executableHash
        let dir = transport.target.path + "/.tetra/bin"
        let path = try installedPath(targetPath: transport.target.path)
        var probe = RemoteScript()
        probe.raw("if [ -x \(RemoteScript.q(path)) ]; then echo @@tetra:present; exit 0; fi")
        probe.raw("echo \"@@tetra:uname $(uname -sm)\"")
        probe.raw("if command -v gzip >/dev/null 2>&1; then echo @@tetra:gzip; fi")
        probe.raw("if command -v sha256sum >/dev/null 2>&1; then echo @@tetra:sha256sum; fi")
        let lines = RemoteOutput.lines(try transport.run(probe, label: "look for \(path)").stdout)
        if lines.contains("@@tetra:present") { return path }
        let platform = lines.first { $0.hasPrefix("@@tetra:uname ") }.map { String($0.dropFirst(14)) } ?? "unknown"
        guard platform == Self.localPlatform else {
            throw PlatformMismatch(target: transport.target.description, hostPlatform: platform, localPlatform: Self.localPlatform)
        }
        context.progress.step("copying tetra to \(transport.target)")
        let gzip = lines.contains("@@tetra:gzip") && context.runner.which("gzip") != nil
        let data: Data
        if gzip {
            let r = try context.runner.run(ProcessRequest("gzip", ["-c", "-6", "--", context.executablePath], timeout: 300, outputLimit: 256 << 20))
            guard r.status == 0 else { throw ToolError.failed(argv: ["gzip", "-c", context.executablePath], status: r.status, stderrTail: ToolError.tail(of: r.stderrString)) }
            data = r.stdout
        } else {
            guard let raw = try AtomicFile.readIfExists(context.executablePath, limit: 512 << 20) else {
                throw CoreError.failed("cannot read the running tetra at \(context.executablePath)")
            }
            data = raw
        }
        let tmp = path + ".tmp-" + TargetLockRecord.newToken()
        var send = RemoteScript()
        send.raw("set -e")
        send.raw("mkdir -p \(RemoteScript.q(dir))")
        send.raw((gzip ? "gzip -dc" : "cat") + " > \(RemoteScript.q(tmp))")
        if lines.contains("@@tetra:sha256sum") {
            send.raw("if [ \"$(sha256sum < \(RemoteScript.q(tmp)) | cut -c1-64)\" != \(RemoteScript.q(hash)) ]; then rm -f \(RemoteScript.q(tmp)); echo @@tetra:mismatch; exit 0; fi")
        }
        send.raw("chmod 755 \(RemoteScript.q(tmp)) && mv -f \(RemoteScript.q(tmp)) \(RemoteScript.q(path))")
        send.raw("echo @@tetra:installed")
        let out = RemoteOutput.lines(try transport.run(send, label: "copy tetra to \(path)", input: data, timeout: .some(600)).stdout)
        if out.contains("@@tetra:mismatch") {
            throw CoreError.failed("the copy of tetra at \(transport.target) does not match its sha256", hint: "push again")
        }
        guard out.contains("@@tetra:installed") else { throw CoreError.failed("tetra could not be copied to \(path)") }
        return path
    }
}

/// A host whose `uname -sm` is not this tetra's: it cannot run the copy (exit 6, naming both).
public struct PlatformMismatch: TetraError {
    public var target: String
    public var hostPlatform: String
    public var localPlatform: String
    public var exitCode: ExitCode { .toolFailed }
    public var kind: String { "platform" }
    public var message: String {
        "\(target) is '\(hostPlatform)' and this tetra is built for '\(localPlatform)': it cannot run there"
    }
    public var hint: String? { "push from a tetra built for '\(hostPlatform)' (swift build -c release -Xswiftc -static-executable on such a machine)" }
}
