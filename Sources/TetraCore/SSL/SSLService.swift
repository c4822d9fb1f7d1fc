import FoundationEssentials
import Glibc

/// Certificates under `ssl/<domain>/` (SPEC §3 "ssl"): issuance with tetra's ACME client or
/// as self-signed, import, renewal with one previous version kept for rollback, deletion.
///
/// Layout: `ssl/<dir>/{cert,chain,fullchain}.pem`, `key.pem` (0600), `meta.toml`, and
/// `previous/` holding the version before the last change. `<dir>` is the domain, with a
/// wildcard's `*` written `_` (`*.example.com` → `_.example.com`; `_` is not valid in a
/// DNS name, so no real domain collides). ACME account keys live in `ssl/accounts/`.
///
/// Every change is built in a staging directory `ssl/.stage-<dir>-<random>/` (files fsynced)
/// and swapped in with one `renameat2(RENAME_EXCHANGE)` (two renames where the file system
/// lacks it), under the lock `ssl.<dir>`: a failure at any step leaves the previous
/// certificate exactly as it was and no half-written files.
public struct SSLService: Sendable {
    public let core: CoreContext
    public init(core: CoreContext) { self.core = core }

    public static let letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"
    public static let letsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    public static let defaultDays = 90
    public static let defaultWithin: TimeInterval = 30 * 86400
    static let files = ["cert.pem", "chain.pem", "fullchain.pem", "key.pem", "meta.toml"]

    var paths: StatePaths { core.paths }
    var openssl: OpenSSL { OpenSSL(runner: core.runner) }
    var accountsDirectory: String { paths.ssl + "/accounts" }

    // MARK: - names

    public static func directoryName(for domain: String) -> String {
        domain.hasPrefix("*.") ? "_" + domain.dropFirst() : domain
    }

    public static func domain(forDirectory name: String) -> String {
        name.hasPrefix("_.") ? "*" + name.dropFirst() : name
    }

    /// Validates a domain (wildcards allowed) before it touches a path; lower-cases it.
    public static func validateDomain(_ domain: String) throws -> String {
        let d = try Names.validateDomain(domain, allowWildcard: true)
        if d == "accounts" {
            throw CoreError.invalidArgument("invalid domain 'accounts': the name is reserved for ssl/accounts/",
                                            hint: "use a fully qualified name")
        }
        return d
    }

    public func directory(for domain: String) -> String { paths.ssl + "/" + Self.directoryName(for: domain) }

    // MARK: - reading

    /// One certificate as `ssl list` shows it (from meta.toml only).
    public struct Record: Sendable, Encodable {
        public var domain: String
        public var names: [String]
        public var issuer: String
        public var not_before: String
        public var not_after: String
        public var days_left: Int
        public var origin: CertificateOrigin
        public var key_type: String
        public var serial: String
        /// Times are `*_at` keys: the validity window is `starts_at`..`expires_at`.
        enum CodingKeys: String, CodingKey {
            case domain, names, issuer, not_before = "starts_at", not_after = "expires_at", days_left, origin, key_type, serial
        }
    }

    func record(_ meta: CertificateMeta, now: Date? = nil) -> Record {
        Record(domain: meta.domain, names: meta.names, issuer: meta.issuer, not_before: Timestamps.iso8601(meta.not_before),
               not_after: Timestamps.iso8601(meta.not_after), days_left: Self.daysLeft(meta.not_after, now: now ?? core.now()),
               origin: meta.source, key_type: meta.key_type, serial: meta.serial)
    }

    public static func daysLeft(_ notAfter: Date, now: Date) -> Int {
        Int((notAfter.timeIntervalSince(now) / 86400).rounded(.down))
    }

    /// Every stored certificate, sorted by domain, read from the meta.toml files (no openssl).
    /// A directory without a readable meta.toml is reported through `progress.warn`.
    public func list() throws -> [Record] {
        let now = core.now()
        return try metas(transform: { record($0, now: now) })
    }

    public func metas() throws -> [CertificateMeta] { try metas(transform: { $0 }) }

    /// Reads every meta.toml and maps it with `transform`. Sequential on purpose: reading
    /// in parallel chunks measured slower on a busy 2-core machine (26 ms against 17 ms for
    /// 1,000 certificates).
    func metas<T>(transform: (CertificateMeta) -> T) throws -> [T] {
        let ssl = paths.ssl
        let names = Self.directoryEntries(ssl).filter { !$0.hasPrefix(".") && $0 != "accounts" }.sorted()
        var out: [T] = []
        out.reserveCapacity(names.count)
        var buffer = [UInt8](repeating: 0, count: 8192)
        // Paths relative to an open ssl/ directory: the kernel walks two components per file.
        let dirfd = open(ssl, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if dirfd >= 0 { close(dirfd) } }
        for name in names {
            let file = ssl + "/" + name + "/meta.toml"
            guard let bytes = Self.readSmallFile(dirfd >= 0 ? name + "/meta.toml" : file, relativeTo: dirfd, buffer: &buffer) else {
                var st = stat()
                if stat(ssl + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                    core.progress.warn("ssl/\(name) has no meta.toml; skipped")
                }
                continue
            }
            do {
                out.append(transform(try CertificateMeta.parse(bytes, file: file)))
            } catch let e as any TetraError {
                core.progress.warn("skipped ssl/\(name): \(e.message)")
            } catch {
                core.progress.warn("skipped ssl/\(name): \(error)")
            }
        }
        return out
    }

    /// Names in a directory (readdir; "." and ".." left out); empty when it cannot be read.
    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// A whole file: open, one read into `buffer` (a short read of a regular file is its
    /// end), close - three system calls per meta.toml; larger files are read in a loop. nil
    /// when absent or unreadable.
    static func readSmallFile(_ path: String, relativeTo dirfd: Int32 = AT_FDCWD, buffer: inout [UInt8]) -> [UInt8]? {
        let fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            out.append(contentsOf: buffer[0..<n])
            if n < buffer.count { return out }
        }
    }

    /// Domains with a stored certificate (for completion).
    public func domains() -> [String] { Self.storedDomains(paths) }

    public static func storedDomains(_ paths: StatePaths) -> [String] {
        directoryEntries(paths.ssl).filter { !$0.hasPrefix(".") && $0 != "accounts" && FileManager.default.fileExists(atPath: paths.ssl + "/" + $0 + "/meta.toml") }
            .map(Self.domain(forDirectory:)).sorted()
    }

    public func meta(_ domain: String) throws -> CertificateMeta {
        let d = try Self.validateDomain(domain)
        let file = directory(for: d) + "/meta.toml"
        guard let data = try AtomicFile.readIfExists(file).map(Array.init) else {
            throw CoreError.notFound(what: "certificate", name: d, hint: "see 'tetra ssl list'")
        }
        return try CertificateMeta.parse(data, file: file)
    }

    public struct Details: Sendable, Encodable {
        public struct Files: Sendable, Encodable {
            public var directory: String
            public var cert: String
            public var chain: String
            public var fullchain: String
            public var key: String
            public var meta: String
        }
        public struct Previous: Sendable, Encodable {
            public var not_after: String
            public var serial: String
            public var origin: CertificateOrigin
            enum CodingKeys: String, CodingKey { case not_after = "expires_at", serial, origin }
        }
        public var certificate: Record
        public var subject: String
        public var fingerprint_sha256: String
        public var created: String
        public var acme_server: String?
        public var files: Files
        public var previous: Previous?
        enum CodingKeys: String, CodingKey {
            case certificate, subject, fingerprint_sha256, created = "created_at", acme_server, files, previous
        }
    }

    public func get(_ domain: String) throws -> Details {
        let m = try meta(domain)
        let dir = directory(for: m.domain)
        var previous: Details.Previous? = nil
        if let data = try AtomicFile.readIfExists(dir + "/previous/meta.toml").map(Array.init),
           let p = try? CertificateMeta.parse(data, file: dir + "/previous/meta.toml") {
            previous = .init(not_after: Timestamps.iso8601(p.not_after), serial: p.serial, origin: p.source)
        }
        return Details(certificate: record(m), subject: m.subject, fingerprint_sha256: m.fingerprint_sha256,
                       created: Timestamps.iso8601(m.created), acme_server: m.acme_server,
                       files: .init(directory: dir, cert: dir + "/cert.pem", chain: dir + "/chain.pem",
                                    fullchain: dir + "/fullchain.pem", key: dir + "/key.pem", meta: dir + "/meta.toml"),
                       previous: previous)
    }
}

/// `renameat2(..., RENAME_EXCHANGE)`. glibc declares it only under _GNU_SOURCE, so Swift's
/// Glibc module does not import it, and dlsym cannot find it in the static binary; the symbol
/// itself is in every glibc since 2.28, so it is bound by name here (its arguments are
/// integers and pointers, passed the same way by the Swift and C conventions on Linux).
/// false when the kernel or file system refuses (EINVAL, ENOSYS): the caller falls back.
@_silgen_name("renameat2")
private func tetra_renameat2(_ olddirfd: Int32, _ oldpath: UnsafePointer<CChar>, _ newdirfd: Int32,
                             _ newpath: UnsafePointer<CChar>, _ flags: UInt32) -> Int32

enum RenameExchange {
    static func exchange(_ a: String, _ b: String) -> Bool {
        tetra_renameat2(AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) == 0
    }
}

