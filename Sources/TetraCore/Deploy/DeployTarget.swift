import FoundationEssentials
import Glibc

/// Where an environment is deployed (SPEC §2 "A deployed environment"): a local absolute
/// directory, or `ssh://[user@]host[:port]/path`.
///
/// Parsing is strict, because parts of a target end up on command lines (ssh's destination,
/// rsync's remote path) and in remote shell commands: a user or host starting with '-' (it
/// would be read as an ssh option), spaces, quotes, control characters, `..` components, a
/// password in the URL, a query or fragment are all refused before anything runs.
public struct DeployTarget: Sendable, Equatable, CustomStringConvertible {
    public enum Location: Sendable, Equatable {
        case local
        case ssh(SSHEndpoint)
    }

    public var location: Location
    /// The absolute, normalised directory at the target (no trailing '/', no `.`/`..`).
    public var path: String

    public init(location: Location, path: String) {
        self.location = location
        self.path = path
    }

    public var isLocal: Bool { if case .local = location { return true }; return false }
    public var ssh: SSHEndpoint? { if case .ssh(let e) = location { return e }; return nil }

    /// `/srv/acme/dev` or `ssh://deploy@host:2222/srv/acme` (the form it was written in,
    /// normalised; never the key file).
    public var description: String {
        switch location {
        case .local: return path
        case .ssh(let e): return "ssh://" + e.authority + path
        }
    }

    /// Parses and validates a target. `sshKey` and `sshPort` are the environment's optional
    /// `ssh_key` and `ssh_port`; they are refused for a local target, and `sshPort` must agree
    /// with a port written in the URL. Throws `CoreError.invalidArgument` naming the problem.
    public static func parse(_ text: String, sshKey: String? = nil, sshPort: Int? = nil) throws -> DeployTarget {
        do {
            return try parseOrExplain(text, sshKey: sshKey, sshPort: sshPort)
        } catch let reason as Reason {
            throw CoreError.invalidArgument("invalid target '\(Names.printable(text))': \(reason.text)", hint: hint)
        }
    }

    /// Why `text` is not a valid target, or nil (for validators that collect problems).
    public static func problem(with text: String, sshKey: String? = nil, sshPort: Int? = nil) -> String? {
        do {
            _ = try parseOrExplain(text, sshKey: sshKey, sshPort: sshPort)
            return nil
        } catch let reason as Reason {
            return reason.text
        } catch {
            return "\(error)"
        }
    }

    public static let hint = "a target is an absolute directory (/srv/acme/dev) or ssh://[user@]host[:port]/absolute/path"

    struct Reason: Error { var text: String; init(_ t: String) { text = t } }

    static func parseOrExplain(_ text: String, sshKey: String?, sshPort: Int?) throws -> DeployTarget {
        if text.isEmpty { throw Reason("empty") }
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw Reason("control characters are not allowed") }
        if text.hasPrefix("/") {
            if sshKey != nil { throw Reason("ssh_key is only valid for an ssh:// target") }
            if sshPort != nil { throw Reason("ssh_port is only valid for an ssh:// target") }
            return DeployTarget(location: .local, path: try normalisePath(text, remote: false))
        }
        let lower = text.lowercased()
        guard lower.hasPrefix("ssh://") else {
            if text.contains("://") { throw Reason("only ssh:// targets are supported") }
            if text.contains(":") && !text.hasPrefix(".") { throw Reason("write a remote target as ssh://[user@]host[:port]/path") }
            throw Reason("a local target must be an absolute path")
        }
        var rest = Substring(text.dropFirst(6))
        if rest.contains("?") || rest.contains("#") { throw Reason("a query or fragment is not allowed") }
        guard let slash = rest.firstIndex(of: "/") else { throw Reason("missing the absolute path after the host") }
        let authority = rest[..<slash]
        rest = rest[slash...]

        var user: String? = nil
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let u = String(authority[..<at])
            if u.contains(":") { throw Reason("a password in the URL is not allowed (use keys)") }
            try validateUser(u)
            user = u
            hostPort = authority[authority.index(after: at)...]
        }
        var host: String
        var port: Int? = nil
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw Reason("unclosed '[' in the host") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            try validateIPv6(host)
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Reason("unexpected text after ']'") }
                port = try parsePort(String(after.dropFirst()))
            }
        } else {
            if let colon = hostPort.lastIndex(of: ":") {
                host = String(hostPort[..<colon])
                port = try parsePort(String(hostPort[hostPort.index(after: colon)...]))
            } else {
                host = String(hostPort)
            }
            try validateHost(host)
        }
        if let sshPort {
            guard (1...65535).contains(sshPort) else { throw Reason("ssh_port \(sshPort) is out of range 1-65535") }
            if let port, port != sshPort { throw Reason("ssh_port \(sshPort) disagrees with port \(port) in the URL") }
            port = sshPort
        }
        var key: String? = nil
        if let sshKey {
            guard !sshKey.isEmpty else { throw Reason("ssh_key is empty") }
            guard sshKey.hasPrefix("/") || sshKey.hasPrefix("~/") else {
                throw Reason("ssh_key must be an absolute path or start with ~/")
            }
            if sshKey.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw Reason("control characters in ssh_key") }
            key = sshKey
        }
        let path = try normalisePath(String(rest), remote: true)
        return DeployTarget(location: .ssh(SSHEndpoint(user: user, host: host, port: port, keyFile: key)), path: path)
    }

    static func parsePort(_ s: String) throws -> Int {
        guard !s.isEmpty, s.utf8.count <= 5, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let p = Int(s), (1...65535).contains(p) else {
            throw Reason("invalid port '\(Names.printable(s))' (1-65535)")
        }
        return p
    }

    static func validateUser(_ u: String) throws {
        let b = Array(u.utf8)
        guard !b.isEmpty else { throw Reason("empty user before '@'") }
        guard b.count <= 64 else { throw Reason("user name too long") }
        if b[0] == 0x2D { throw Reason("a user name cannot start with '-'") }
        for c in b {
            let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == 0x2E || c == 0x5F || c == 0x2D
            if !ok { throw Reason("user name '\(Names.printable(u))' may only use letters, digits, '.', '_' and '-'") }
        }
    }

    static func validateHost(_ host: String) throws {
        let b = Array(host.utf8)
        guard !b.isEmpty else { throw Reason("empty host") }
        guard b.count <= 253 else { throw Reason("host name too long") }
        if b[0] == 0x2D { throw Reason("a host cannot start with '-'") }
        if b[0] == 0x2E || b.last == 0x2E && b.count == 1 { throw Reason("invalid host '\(Names.printable(host))'") }
        for c in b {
            let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == 0x2E || c == 0x5F || c == 0x2D
            if !ok { throw Reason("host '\(Names.printable(host))' may only use letters, digits, '.', '_' and '-'") }
        }
        if host.contains("..") { throw Reason("invalid host '\(Names.printable(host))'") }
    }

    static func validateIPv6(_ host: String) throws {
        let b = Array(host.utf8)
        guard b.count >= 2, b.count <= 45, b.contains(0x3A) else { throw Reason("invalid IPv6 address '\(Names.printable(host))'") }
        for c in b {
            let ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c == 0x3A || c == 0x2E
            if !ok { throw Reason("invalid IPv6 address '\(Names.printable(host))'") }
        }
    }

    /// Normalises an absolute path: collapses `//`, drops `.` components and a trailing '/';
    /// refuses `..` components and the root itself. Remote paths are also limited to a
    /// conservative character set (they appear in rsync's remote argument and remote shell
    /// commands, where every word is quoted anyway).
    static func normalisePath(_ raw: String, remote: Bool) throws -> String {
        guard raw.hasPrefix("/") else { throw Reason("the path must be absolute") }
        var parts: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." { throw Reason("'..' is not allowed in the path") }
            parts.append(component)
        }
        guard !parts.isEmpty else { throw Reason("the path cannot be the root directory") }
        let path = "/" + parts.joined(separator: "/")
        if remote {
            for c in path.utf8 {
                let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                    || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x2F || c == 0x2B || c == 0x2C || c == 0x40 || c == 0x3D
                if !ok {
                    throw Reason("a remote path may only use letters, digits and . _ - + , @ = /")
                }
            }
        }
        return path
    }
}

/// The ssh side of a target: who and where, plus the environment's `ssh_key`/`ssh_port`.
/// Anything not given here (user, port, identity, proxy jumps, ...) comes from the user's
/// `~/.ssh/config`, which tetra never overrides.
public struct SSHEndpoint: Sendable, Equatable {
    public var user: String?
    /// A host name or IP address; an IPv6 address without brackets.
    public var host: String
    /// nil: ssh's own choice (`~/.ssh/config` or 22).
    public var port: Int?
    /// `ssh_key`: an absolute path or `~/...` (expanded with $HOME when the command is built).
    public var keyFile: String?

    public init(user: String? = nil, host: String, port: Int? = nil, keyFile: String? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.keyFile = keyFile
    }

    /// `user@host` (ssh's destination argument).
    public var destination: String { (user.map { $0 + "@" } ?? "") + host }

    /// `user@host:port` / `user@[::1]:port` for messages and URLs.
    public var authority: String {
        let h = host.contains(":") ? "[" + host + "]" : host
        return (user.map { $0 + "@" } ?? "") + h + (port.map { ":\($0)" } ?? "")
    }

    /// rsync's remote spec `user@host:path` (`user@[::1]:path` for IPv6).
    public func rsyncRemote(_ path: String) -> String {
        let h = host.contains(":") ? "[" + host + "]" : host
        return (user.map { $0 + "@" } ?? "") + h + ":" + path
    }
}

/// How ssh is invoked for a target: the options before the destination. Built once, used for
/// plain ssh calls and (as one string) for rsync's `-e`.
public struct SSHCommand: Sendable, Equatable {
    public var endpoint: SSHEndpoint
    /// Extra `-o` style options, after tetra's own (tests: `-o UserKnownHostsFile=...`).
    public var extraOptions: [String]
    /// $HOME, to expand an `ssh_key` written as `~/...`.
    public var home: String?
    /// The ssh program (name on PATH or absolute path).
    public var program: String
    /// Connection sharing: `ControlPath` (with ssh's `%C` token) of a master connection that
    /// the calls of one deploy share, kept `controlPersist` seconds after the last use. nil:
    /// every call opens its own connection (and `~/.ssh/config` decides about sharing).
    public var controlPath: String?
    public var controlPersist: Int

    public init(endpoint: SSHEndpoint, extraOptions: [String] = [], home: String? = nil, program: String = "ssh",
                controlPath: String? = nil, controlPersist: Int = 10) {
        self.endpoint = endpoint
        self.extraOptions = extraOptions
        self.home = home
        self.program = program
        self.controlPath = controlPath
        self.controlPersist = controlPersist
    }

    /// The key path with `~/` expanded.
    public var keyPath: String? {
        guard let key = endpoint.keyFile else { return nil }
        if key.hasPrefix("~/"), let home, !home.isEmpty {
            return (home.hasSuffix("/") ? String(home.dropLast()) : home) + "/" + key.dropFirst(2)
        }
        return key
    }

    /// Options only (no program, no destination): `-o BatchMode=yes -o ConnectTimeout=15
    /// [-p PORT] [-i KEY -o IdentitiesOnly=yes] [-o ControlMaster=auto -o ControlPath=...
    /// -o ControlPersist=10] EXTRA...`. No `-F`: `~/.ssh/config` applies to everything else.
    public var options: [String] {
        var out = SSH.nonInteractiveOptions
        if let port = endpoint.port { out += ["-p", String(port)] }
        if let key = keyPath { out += ["-i", key, "-o", "IdentitiesOnly=yes"] }
        if let controlPath {
            out += ["-o", "ControlMaster=auto", "-o", "ControlPath=" + controlPath, "-o", "ControlPersist=\(controlPersist)"]
        }
        out += extraOptions
        return out
    }

    /// A private directory for connection-sharing sockets: `$TMPDIR/tetra-ssh-<uid>` (mode
    /// 0700, owned by us; created when missing). nil when it cannot be made safe or its path
    /// is too long for a unix socket name, then connections are not shared.
    public static func controlDirectory(temporaryDirectory: String?) -> String? {
        var base = temporaryDirectory.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        let dir = base + "/tetra-ssh-\(getuid())"
        // %C is 40 hex digits; ssh adds a ~17 character suffix while creating the socket;
        // sun_path holds 107 bytes.
        guard dir.utf8.count + 1 + 40 + 18 < 107 else { return nil }
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { return nil }
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == getuid(), (st.st_mode & 0o077) == 0 else {
            return nil
        }
        return dir
    }

    /// Full argv after the program for running `remoteCommand` (one string, interpreted by
    /// the remote user's shell): `OPTIONS -- DESTINATION COMMAND`. `--` ends ssh's options,
    /// so nothing after it can be read as one.
    public func arguments(remoteCommand: String) -> [String] {
        options + ["--", endpoint.destination, remoteCommand]
    }

    /// The value of rsync's `-e`: the program and options as one string in rsync's own
    /// splitting rules (see `RsyncQuote`).
    public var rsyncRemoteShell: String {
        RsyncQuote.join([program] + options)
    }
}

/// Quoting for the one string rsync splits itself: the `-e`/`--rsh` command. rsync splits on
/// spaces; inside single or double quotes spaces are kept, and a doubled quote character
/// stands for itself; backslashes are not special. (This is not a shell: `ShellQuote`'s
/// `'\''` would come out wrong here.)
public enum RsyncQuote {
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, !word.utf8.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x22 || $0 == 0x27 || $0 == 0x0A }) {
            return word
        }
        return "\"" + word.replacingAll("\"", with: "\"\"") + "\""
    }

    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }
}
