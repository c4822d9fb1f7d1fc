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
        public var source: String
        public var key_type: String
        public var serial: String
        /// Times are `*_at` keys: the validity window is `starts_at`..`expires_at`.
        enum CodingKeys: String, CodingKey {
            case domain, names, issuer, not_before = "starts_at", not_after = "expires_at", days_left, source, key_type, serial
        }
    }

    func record(_ meta: CertificateMeta, now: Date? = nil) -> Record {
        Record(domain: meta.domain, names: meta.names, issuer: meta.issuer, not_before: Self.iso8601(meta.not_before),
               not_after: Self.iso8601(meta.not_after), days_left: Self.daysLeft(meta.not_after, now: now ?? core.now()),
               source: meta.source.rawValue, key_type: meta.key_type, serial: meta.serial)
    }

    /// `Timestamps.iso8601` without String(format:), which dominated `ssl list` with
    /// thousands of certificates.
    static func iso8601(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        return String(unsafeUninitializedCapacity: 20) { buf in
            func put(_ v: Int32, _ at: Int, _ width: Int) {
                var x = Int(v)
                for k in stride(from: at + width - 1, through: at, by: -1) { buf[k] = UInt8(0x30 + x % 10); x /= 10 }
            }
            put(t.tm_year + 1900, 0, 4); buf[4] = 0x2D; put(t.tm_mon + 1, 5, 2); buf[7] = 0x2D; put(t.tm_mday, 8, 2)
            buf[10] = 0x54; put(t.tm_hour, 11, 2); buf[13] = 0x3A; put(t.tm_min, 14, 2); buf[16] = 0x3A; put(t.tm_sec, 17, 2)
            buf[19] = 0x5A
            return 20
        }
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
            public var source: String
            enum CodingKeys: String, CodingKey { case not_after = "expires_at", serial, source }
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
            previous = .init(not_after: Timestamps.iso8601(p.not_after), serial: p.serial, source: p.source.rawValue)
        }
        return Details(certificate: record(m), subject: m.subject, fingerprint_sha256: m.fingerprint_sha256,
                       created: Timestamps.iso8601(m.created), acme_server: m.acme_server,
                       files: .init(directory: dir, cert: dir + "/cert.pem", chain: dir + "/chain.pem",
                                    fullchain: dir + "/fullchain.pem", key: dir + "/key.pem", meta: dir + "/meta.toml"),
                       previous: previous)
    }

    // MARK: - issuing

    public struct IssueOptions: Sendable {
        public var altNames: [String] = []
        public var email: String?
        public var keyType: SSLKeyType?
        public var server: String?
        /// A CA bundle (absolute path) trusted for the ACME requests only.
        public var caBundle: String?
        public var httpPort: Int?
        public var webroot: String?
        public var selfSigned = false
        public var days: Int?
        public var deployHook: String?
        public var dryRun = false
        public init() {}
    }

    public struct HookResult: Sendable, Encodable {
        public var command: String
        public var status: Int32
    }

    public struct IssueResult: Sendable, Encodable {
        public var domain: String
        public var names: [String]
        /// issued, renewed, unchanged, skipped (and "would-…" under --dry-run)
        public var action: String
        public var reason: String?
        public var source: String
        public var not_after: String?
        public var days_left: Int?
        public var dry_run: Bool
        public var deploy_hook: HookResult?
        /// For `failed` (renew --all): the error's kind; `reason` holds its message.
        public var error_kind: String? = nil
        enum CodingKeys: String, CodingKey {
            case domain, names, action, reason, source, not_after = "expires_at", days_left, dry_run, deploy_hook, error_kind
        }
    }

    /// What one issuance will do, resolved from flags, the stored meta and the defaults.
    struct Plan {
        var domain: String
        var names: [String]
        var source: CertificateSource
        var keyType: SSLKeyType
        var server: String
        var caBundle: String?
        var email: String?
        var httpPort: Int?
        var webroot: String?
        var days: Int
    }

    func plan(domain: String, names requested: [String]?, options o: IssueOptions, stored: CertificateMeta?) throws -> Plan {
        let d = try Self.validateDomain(domain)
        var names = [d]
        for alt in requested ?? o.altNames {
            let a = try Names.validateDomain(alt, allowWildcard: true)
            if !names.contains(a) { names.append(a) }
        }
        let selfSigned = o.selfSigned || (requested != nil && stored?.source == .selfSigned && o.server == nil)
        if !selfSigned, let wild = names.first(where: { $0.hasPrefix("*.") }) {
            throw CoreError.invalidArgument(
                "'\(wild)' is a wildcard name: wildcard certificates need the DNS-01 challenge, and tetra's ACME client uses HTTP-01 only",
                hint: "use --self-signed, or obtain the certificate elsewhere and add it with 'tetra ssl import'")
        }
        let keyType = o.keyType ?? stored.flatMap { SSLKeyType(rawValue: $0.key_type) } ?? .ec256
        var server = o.server ?? stored?.acme_server ?? Self.letsEncrypt
        if !selfSigned {
            guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
                  url.host != nil else {
                throw CoreError.invalidArgument("invalid ACME server URL '\(Names.printable(server))'",
                                                hint: "the directory URL, e.g. \(Self.letsEncrypt)")
            }
        } else { server = "" }
        var ca = o.caBundle
        if ca == nil, let env = core.environment["TETRA_ACME_CA_BUNDLE"], !env.isEmpty { ca = core.absolutePath(env) }
        if ca == nil, o.server == nil { ca = stored?.acme_ca }
        if let ca, !selfSigned, !FileManager.default.isReadableFile(atPath: ca) {
            throw CoreError.notFound(what: "CA bundle file", name: ca, hint: "--acme-ca and TETRA_ACME_CA_BUNDLE name a PEM file")
        }
        var email = o.email ?? stored?.email
        if email == nil, !selfSigned { email = try GlobalSettings.load(paths).acmeEmail }
        if let e = email, !e.isEmpty {
            guard e.contains("@"), !e.contains(where: { $0.isWhitespace || $0 == "," || $0 == "\"" }) else {
                throw CoreError.invalidArgument("invalid e-mail address '\(Names.printable(e))'")
            }
        }
        var webroot = o.webroot.map(core.absolutePath)
        var port = o.httpPort
        if webroot == nil && port == nil { webroot = stored?.webroot; port = stored?.http_port }
        if webroot != nil && port != nil && o.webroot != nil && o.httpPort != nil {
            throw CoreError.invalidArgument("--http-port and --webroot exclude each other")
        }
        if webroot == nil && port == nil { port = 80 }
        if o.webroot != nil { port = nil }
        if o.httpPort != nil { webroot = nil }
        let days = o.days ?? stored?.days ?? Self.defaultDays
        guard (1...3650).contains(days) else { throw CoreError.invalidArgument("--days must be between 1 and 3650") }
        return Plan(domain: d, names: names, source: selfSigned ? .selfSigned : .acme, keyType: keyType, server: server,
                    caBundle: selfSigned ? nil : ca, email: selfSigned ? nil : email, httpPort: selfSigned ? nil : port,
                    webroot: selfSigned ? nil : webroot, days: days)
    }

    /// `ssl generate`: issues (or re-issues, keeping the previous version) a certificate.
    public func generate(_ domain: String, options: IssueOptions) throws -> IssueResult {
        let d = try Self.validateDomain(domain)
        let stored = try? meta(d)
        let p = try plan(domain: d, names: nil, options: options, stored: nil)
        return try issue(p, action: stored == nil ? "issued" : "renewed", reason: nil, options: options)
    }

    /// `ssl ensure`: issues when missing or when the names changed, renews when due (or with
    /// `force`), otherwise does nothing.
    public func ensure(_ domain: String, options: IssueOptions, within: TimeInterval, force: Bool) throws -> IssueResult {
        let d = try Self.validateDomain(domain)
        let stored = try? meta(d)
        var wanted = [d]
        for alt in options.altNames {
            let a = try Names.validateDomain(alt, allowWildcard: true)
            if !wanted.contains(a) { wanted.append(a) }
        }
        guard let stored else {
            return try issue(try plan(domain: d, names: nil, options: options, stored: nil), action: "issued", reason: "missing", options: options)
        }
        if stored.source == .imported && !force && !options.selfSigned {
            return unchanged(stored, reason: "imported certificates are renewed by importing a new one (or --force to issue one here)",
                             dryRun: options.dryRun, action: "skipped")
        }
        let p = try plan(domain: d, names: wanted, options: options, stored: stored)
        if Set(stored.names) != Set(wanted) {
            return try issue(p, action: "renewed", reason: "names changed", options: options)
        }
        if force { return try issue(p, action: "renewed", reason: "forced", options: options) }
        if stored.not_after.timeIntervalSince(core.now()) <= within {
            return try issue(p, action: "renewed", reason: "due", options: options)
        }
        return unchanged(stored, reason: "valid until \(Timestamps.iso8601(stored.not_after))", dryRun: options.dryRun)
    }

    func unchanged(_ m: CertificateMeta, reason: String, dryRun: Bool, action: String = "unchanged") -> IssueResult {
        IssueResult(domain: m.domain, names: m.names, action: action, reason: reason, source: m.source.rawValue,
                    not_after: Timestamps.iso8601(m.not_after), days_left: Self.daysLeft(m.not_after, now: core.now()),
                    dry_run: dryRun, deploy_hook: nil)
    }

    /// `ssl renew`: one domain or all; only certificates due within `within` unless `force`.
    /// Imported certificates cannot be renewed here (skipped with a reason).
    public func renew(_ domain: String?, options: IssueOptions, within: TimeInterval, force: Bool) throws -> [IssueResult] {
        let targets: [CertificateMeta]
        if let domain { targets = [try meta(domain)] } else { targets = try metas() }
        var out: [IssueResult] = []
        for m in targets {
            if m.source == .imported {
                out.append(unchanged(m, reason: "imported certificates are renewed by importing a new one", dryRun: options.dryRun, action: "skipped"))
                continue
            }
            if !force && m.not_after.timeIntervalSince(core.now()) > within {
                out.append(unchanged(m, reason: "not due (valid until \(Timestamps.iso8601(m.not_after)))", dryRun: options.dryRun))
                continue
            }
            var o = options
            o.selfSigned = m.source == .selfSigned
            do {
                let p = try plan(domain: m.domain, names: m.names, options: o, stored: m)
                out.append(try issue(p, action: "renewed", reason: force ? "forced" : "due", options: options))
            } catch let error as any TetraError where domain == nil && error.exitCode != .interrupted {
                // --all: one failure does not stop the others; the caller reports it (exit 1).
                var failed = unchanged(m, reason: error.message, dryRun: options.dryRun, action: "failed")
                failed.error_kind = error.kind
                out.append(failed)
            }
        }
        return out
    }

    func issue(_ p: Plan, action: String, reason: String?, options: IssueOptions) throws -> IssueResult {
        if options.dryRun {
            return IssueResult(domain: p.domain, names: p.names, action: "would-" + (action == "issued" ? "issue" : "renew"),
                               reason: reason, source: p.source.rawValue, not_after: nil, days_left: nil, dry_run: true, deploy_hook: nil)
        }
        let dirName = Self.directoryName(for: p.domain)
        let meta: CertificateMeta = try withLock("ssl." + dirName) {
            try AtomicFile.ensureDirectory(paths.ssl, mode: 0o700)
            let stage = try makeStage(dirName)
            defer { try? FileManager.default.removeItem(atPath: stage) }
            try core.interrupt.check()
            core.progress.step("generating a \(p.keyType.rawValue) key for \(p.domain)")
            try AtomicFile.write(try openssl.generatePrivateKey(p.keyType), to: stage + "/key.pem", mode: 0o600)
            let fullchain: String
            if p.source == .selfSigned {
                core.progress.step("signing a self-signed certificate for \(p.names.joined(separator: ", ")) (\(p.days) days)")
                fullchain = String(decoding: try openssl.selfSignedCertificate(privateKey: stage + "/key.pem", names: p.names, days: p.days), as: UTF8.self)
            } else {
                fullchain = try acmeIssue(p, certificateKey: stage + "/key.pem")
            }
            let certs = PEM.certificates(fullchain)
            guard let leaf = certs.first else { throw SSLError.protocolError("the certificate download holds no PEM certificate") }
            var m = CertificateMeta(domain: p.domain, info: try openssl.certificateInfo(pem: Data(leaf.utf8)), source: p.source,
                                    keyType: p.keyType.rawValue, created: core.now())
            if p.source == .acme {
                m.acme_server = p.server
                m.acme_ca = p.caBundle
                m.email = p.email
                m.http_port = p.httpPort
                m.webroot = p.webroot
            } else {
                m.days = p.days
            }
            try writeVersion(stage: stage, leaf: leaf, chain: certs.dropFirst().joined(), meta: m)
            try keepPrevious(dirName, in: stage)
            try install(stage: stage, dirName: dirName)
            return m
        }
        var result = IssueResult(domain: meta.domain, names: meta.names, action: action, reason: reason, source: meta.source.rawValue,
                                 not_after: Timestamps.iso8601(meta.not_after), days_left: Self.daysLeft(meta.not_after, now: core.now()),
                                 dry_run: false, deploy_hook: nil)
        if let hook = options.deployHook { result.deploy_hook = try runDeployHook(hook, domain: meta.domain) }
        return result
    }

    // MARK: - ACME

    struct AccountRecord: Codable {
        var url: String
        var server: String
        var email: String?
        var created: Date
    }

    /// The account directory of a server: `ssl/accounts/<host>-<hash of the directory URL>`.
    func accountDirectory(server: String) -> String {
        let host = URL(string: server)?.host ?? "server"
        let safeHost = String(host.lowercased().map { ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "_" })
        return accountsDirectory + "/" + safeHost + "-" + String(SHA256.hex(of: server).prefix(12))
    }

    /// The account key for `server`, created once (0600) under the `ssl.accounts` lock;
    /// `created`: made by this call (removed again if the registration then fails).
    func accountKey(server: String, keyType: SSLKeyType) throws -> (path: String, created: Bool) {
        let dir = accountDirectory(server: server)
        let key = dir + "/key.pem"
        return try withLock("ssl.accounts") {
            if FileManager.default.fileExists(atPath: key) { return (key, false) }
            try AtomicFile.ensureDirectory(dir, mode: 0o700)
            core.progress.step("creating an ACME account key (\(keyType.rawValue)) for \(server)")
            try AtomicFile.write(try openssl.generatePrivateKey(keyType), to: key, mode: 0o600)
            return (key, true)
        }
    }

    /// Removes an account key made by this run whose registration failed (and its directory
    /// when empty): no orphan account is left behind.
    func discardNewAccount(server: String) {
        let dir = accountDirectory(server: server)
        _ = try? withLock("ssl.accounts") {
            guard !FileManager.default.fileExists(atPath: dir + "/account.toml") else { return }
            unlink(dir + "/key.pem")
            rmdir(dir)
        }
    }

    func acmeIssue(_ p: Plan, certificateKey: String) throws -> String {
        // Serve the challenges first: a port we cannot bind fails before any ACME request.
        let responder: any HTTP01Responder
        if let webroot = p.webroot {
            responder = try WebrootResponder(webroot: webroot)
        } else {
            responder = try HTTP01Listener(port: p.httpPort ?? 80)
        }
        defer { responder.stop() }

        let key = try accountKey(server: p.server, keyType: p.keyType)
        let client: ACMEClient
        let signer: JWSSigner
        let account: (url: String, created: Bool)
        do {
            signer = try JWSSigner(keyPath: key.path, openssl: openssl)
            client = ACMEClient(directoryURL: p.server, transport: CurlTransport(runner: core.runner, caBundle: p.caBundle),
                                signer: signer, interrupt: core.interrupt)
            core.progress.step("ACME: account at \(p.server)")
            account = try client.account(email: p.email)
        } catch {
            if key.created { discardNewAccount(server: p.server) }
            throw error
        }
        let accountFile = accountDirectory(server: p.server) + "/account.toml"
        if account.created || !FileManager.default.fileExists(atPath: accountFile) {
            var text = "# ACME account of tetra at this server; the key is key.pem (0600)\n"
            text += "url = \(TOMLText.string(account.url))\nserver = \(TOMLText.string(p.server))\n"
            if let e = p.email { text += "email = \(TOMLText.string(e))\n" }
            text += "created = \(Timestamps.iso8601(core.now()))\n"
            try AtomicFile.write(string: text, to: accountFile, mode: 0o600)
        }

        core.progress.step("ACME: ordering a certificate for \(p.names.joined(separator: ", "))")
        let (orderURL, order) = try client.newOrder(names: p.names)
        var pending: [(url: String, name: String, challenge: String)] = []
        var tokens: [String] = []
        defer { for t in tokens { responder.remove(token: t) } }
        for url in order.authorizations {
            let authz = try client.authorization(url)
            if authz.status == "valid" { continue }
            guard authz.status == "pending" else {
                throw SSLError.validationFailed(name: authz.identifier.value, problem: authz.challenges.compactMap(\.error).first)
            }
            guard let ch = authz.challenges.first(where: { $0.type == "http-01" }), let token = ch.token else {
                throw SSLError.protocolError("the server offers no http-01 challenge for \(authz.identifier.value)")
            }
            try responder.provision(token: token, keyAuthorization: signer.keyAuthorization(token: token))
            tokens.append(token)
            pending.append((url, authz.identifier.value, ch.url))
        }
        for item in pending {
            core.progress.step("ACME: HTTP-01 challenge for \(item.name)")
            try client.respond(toChallenge: item.challenge)
        }
        for item in pending {
            let final = try client.waitForAuthorization(item.url)
            guard final.status == "valid" else {
                let problem = final.challenges.first(where: { $0.type == "http-01" })?.error ?? final.challenges.compactMap(\.error).first
                throw SSLError.validationFailed(name: item.name, problem: problem)
            }
        }
        var current = try client.waitForOrder(orderURL)
        guard current.status == "ready" || current.status == "valid" else {
            throw SSLError.validationFailed(name: p.names.joined(separator: ", "), problem: current.error)
        }
        if current.status == "ready" {
            core.progress.step("ACME: finalizing")
            let csr = try openssl.certificateRequestDER(privateKey: certificateKey, names: p.names)
            current = try client.finalize(current, csrDER: csr)
            if current.status != "valid" { current = try client.waitForOrder(orderURL) }
        }
        guard current.status == "valid", let certURL = current.certificate else {
            throw SSLError.validationFailed(name: p.names.joined(separator: ", "), problem: current.error)
        }
        core.progress.step("ACME: downloading the certificate")
        return try client.downloadCertificate(certURL)
    }

    // MARK: - import, rollback, delete

    public struct ImportResult: Sendable, Encodable {
        public var domain: String
        public var names: [String]
        public var action: String
        public var source: String
        public var not_after: String
        public var days_left: Int
        public var dry_run: Bool
        enum CodingKeys: String, CodingKey { case domain, names, action, source, not_after = "expires_at", days_left, dry_run }
    }

    public func importCertificate(_ domain: String, cert: String, key: String, chain: String?, dryRun: Bool) throws -> ImportResult {
        let d = try Self.validateDomain(domain)
        for (what, path) in [("certificate file", cert), ("key file", key)] + (chain.map { [("chain file", $0)] } ?? []) {
            guard FileManager.default.isReadableFile(atPath: path) else { throw CoreError.notFound(what: what, name: path) }
        }
        // Each input is read once as a stream (`<(...)`, /dev/fd/N and fifos work).
        let read = { (path: String) in try InputFile.read(path, display: path, limit: InputFile.pemLimit, interrupt: core.interrupt) }
        let certText = String(decoding: try read(cert), as: UTF8.self)
        let certs = PEM.certificates(certText)
        guard let leaf = certs.first else { throw SSLError.badCertificate("\(cert) holds no PEM certificate") }
        var chainText = certs.dropFirst().joined()
        if let chain {
            let extra = PEM.certificates(String(decoding: try read(chain), as: UTF8.self))
            guard !extra.isEmpty else { throw SSLError.badCertificate("\(chain) holds no PEM certificate") }
            chainText += extra.joined()
        }
        let keyData = try read(key)
        guard String(decoding: keyData, as: UTF8.self).contains("PRIVATE KEY-----") else {
            throw SSLError.badCertificate("\(key) holds no PEM private key")
        }
        let dirName = Self.directoryName(for: d)
        func check(_ stage: String) throws -> CertificateMeta {
            try AtomicFile.write(string: leaf, to: stage + "/cert.pem", mode: 0o644)
            try AtomicFile.write(keyData, to: stage + "/key.pem", mode: 0o600)
            let info: CertificateInfo
            let certKey: String, privKey: String, der: Data
            do {
                info = try openssl.certificateInfo(pem: Data(leaf.utf8))
                certKey = try openssl.publicKeyPEM(certificate: stage + "/cert.pem")
            } catch let e as ToolError {
                throw SSLError.badCertificate("\(cert) is not a readable certificate: \(e.message)")
            }
            do {
                privKey = try openssl.publicKeyPEM(privateKey: stage + "/key.pem")
                der = try openssl.publicKeyDER(privateKey: stage + "/key.pem")
            } catch is ToolError {
                throw SSLError.badCertificate("\(key) is not a readable private key (encrypted keys are not supported)")
            }
            guard certKey.trimming(.whitespacesAndNewlines) == privKey.trimming(.whitespacesAndNewlines) else {
                throw SSLError.keyMismatch("the key \(key) does not match the certificate \(cert)")
            }
            let keyType: String
            switch try? PublicKeyJWK(spki: Array(der)) {
            case .ec256?: keyType = "ec256"
            case .rsa(let n, _)?: keyType = "rsa\(n.count * 8)"
            case nil: keyType = "other"
            }
            if !info.names.contains(d) && !info.names.contains(where: { $0.hasPrefix("*.") && d.hasSuffix(String($0.dropFirst())) && d.hasPrefix("*.") == false && d.split(separator: ".").count == $0.split(separator: ".").count }) {
                core.progress.warn("the certificate does not name \(d) (its names: \(info.names.joined(separator: ", ")))")
            }
            return CertificateMeta(domain: d, info: info, source: .imported, keyType: keyType, created: core.now())
        }
        if dryRun {
            let tmp = FileManager.default.temporaryDirectory.path + "/tetra-ssl-check-" + UUID().uuidString
            try AtomicFile.ensureDirectory(tmp, mode: 0o700)
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let m = try check(tmp)
            return ImportResult(domain: d, names: m.names, action: "would-import", source: "imported",
                                not_after: Timestamps.iso8601(m.not_after), days_left: Self.daysLeft(m.not_after, now: core.now()), dry_run: true)
        }
        let m: CertificateMeta = try withLock("ssl." + dirName) {
            try AtomicFile.ensureDirectory(paths.ssl, mode: 0o700)
            let stage = try makeStage(dirName)
            defer { try? FileManager.default.removeItem(atPath: stage) }
            let m = try check(stage)
            try writeVersion(stage: stage, leaf: leaf, chain: chainText, meta: m)
            try keepPrevious(dirName, in: stage)
            try install(stage: stage, dirName: dirName)
            return m
        }
        return ImportResult(domain: d, names: m.names, action: "imported", source: "imported",
                            not_after: Timestamps.iso8601(m.not_after), days_left: Self.daysLeft(m.not_after, now: core.now()), dry_run: false)
    }

    /// Swaps the current version and the previous one (a second rollback undoes the first).
    public func rollback(_ domain: String, dryRun: Bool) throws -> Details {
        let d = try Self.validateDomain(domain)
        let dirName = Self.directoryName(for: d)
        let dir = directory(for: d)
        _ = try meta(d)
        guard FileManager.default.fileExists(atPath: dir + "/previous/meta.toml") else {
            throw CoreError.notFound(what: "previous version of certificate", name: d,
                                     hint: "a previous version is kept when a certificate is renewed, re-issued or re-imported")
        }
        if dryRun { return try get(d) }
        try withLock("ssl." + dirName) {
            let stage = try makeStage(dirName)
            defer { try? FileManager.default.removeItem(atPath: stage) }
            try AtomicFile.ensureDirectory(stage + "/previous", mode: 0o700)
            for f in Self.files {
                if let data = try AtomicFile.readIfExists(dir + "/previous/" + f) {
                    try AtomicFile.write(data, to: stage + "/" + f, mode: f == "key.pem" ? 0o600 : 0o644)
                }
                if let data = try AtomicFile.readIfExists(dir + "/" + f) {
                    try AtomicFile.write(data, to: stage + "/previous/" + f, mode: f == "key.pem" ? 0o600 : 0o644)
                }
            }
            try install(stage: stage, dirName: dirName)
        }
        return try get(d)
    }

    public func delete(_ domain: String, dryRun: Bool) throws -> Record {
        let d = try Self.validateDomain(domain)
        let m = try meta(d)
        if dryRun { return record(m) }
        let dirName = Self.directoryName(for: d)
        try withLock("ssl." + dirName) {
            let trash = paths.ssl + "/.trash-" + dirName + "-" + UUID().uuidString.prefix(8).lowercased()
            guard rename(directory(for: d), trash) == 0 else {
                throw IOError("delete", path: directory(for: d), errno: errno)
            }
            try? FileManager.default.removeItem(atPath: trash)
        }
        return record(m)
    }

    // MARK: - deploy hook

    /// Runs the hook as `/bin/sh -c HOOK` with TETRA_SSL_DOMAIN/CERT/KEY/FULLCHAIN in its
    /// environment: the hook string is the operator's own shell command, nothing is
    /// interpolated into it.
    func runDeployHook(_ hook: String, domain: String) throws -> HookResult {
        let dir = directory(for: domain)
        core.progress.step("running the deploy hook")
        let env = ["TETRA_SSL_DOMAIN": domain, "TETRA_SSL_CERT": dir + "/cert.pem", "TETRA_SSL_KEY": dir + "/key.pem",
                   "TETRA_SSL_FULLCHAIN": dir + "/fullchain.pem", "TETRA_SSL_CHAIN": dir + "/chain.pem"]
        let r = try core.runner.run(ProcessRequest("/bin/sh", ["-c", hook], environment: env, timeout: 600))
        if !r.succeeded {
            throw SSLError.hookFailed(command: hook, status: r.timedOut ? -1 : r.status,
                                      output: ToolError.tail(of: r.stderrString + r.stdoutString, lines: 3))
        }
        return HookResult(command: hook, status: r.status)
    }

    // MARK: - staging and swapping

    func withLock<T>(_ resource: String, _ body: () throws -> T) throws -> T {
        try core.withLock(resource, body)
    }

    /// A fresh staging directory; leftovers of an earlier crash for this domain are removed
    /// (we hold the domain's lock, so nobody else is using them).
    func makeStage(_ dirName: String) throws -> String {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: paths.ssl) {
            for e in entries where e.hasPrefix(".stage-\(dirName)-") || e.hasPrefix(".trash-\(dirName)-") || e.hasPrefix(".old-\(dirName)-") {
                try? FileManager.default.removeItem(atPath: paths.ssl + "/" + e)
            }
        }
        let stage = paths.ssl + "/.stage-" + dirName + "-" + UUID().uuidString.prefix(8).lowercased()
        try AtomicFile.ensureDirectory(stage, mode: 0o700)
        return stage
    }

    func writeVersion(stage: String, leaf: String, chain: String, meta: CertificateMeta) throws {
        try AtomicFile.write(string: leaf, to: stage + "/cert.pem", mode: 0o644)
        try AtomicFile.write(string: chain, to: stage + "/chain.pem", mode: 0o644)
        try AtomicFile.write(string: leaf + chain, to: stage + "/fullchain.pem", mode: 0o644)
        try AtomicFile.write(string: meta.toml, to: stage + "/meta.toml", mode: 0o644)
    }

    /// Copies the current version (not its own previous) into `stage/previous/`.
    func keepPrevious(_ dirName: String, in stage: String) throws {
        let current = paths.ssl + "/" + dirName
        guard FileManager.default.fileExists(atPath: current + "/meta.toml") else { return }
        try AtomicFile.ensureDirectory(stage + "/previous", mode: 0o700)
        for f in Self.files {
            if let data = try AtomicFile.readIfExists(current + "/" + f) {
                try AtomicFile.write(data, to: stage + "/previous/" + f, mode: f == "key.pem" ? 0o600 : 0o644)
            }
        }
    }

    /// Puts the staged version in place in one step: rename when there is none yet, else an
    /// atomic exchange of the two directories (the old one is then removed from the stage path).
    func install(stage: String, dirName: String) throws {
        let target = paths.ssl + "/" + dirName
        try core.interrupt.check()
        if !FileManager.default.fileExists(atPath: target) {
            guard rename(stage, target) == 0 else { throw IOError("install", path: target, errno: errno) }
        } else if !RenameExchange.exchange(stage, target) {
            // No RENAME_EXCHANGE on this file system: two renames (a crash between them leaves
            // the old version under .old-*, restored by hand; never a mixed directory).
            let old = paths.ssl + "/.old-" + dirName + "-" + UUID().uuidString.prefix(8).lowercased()
            guard rename(target, old) == 0 else { throw IOError("install", path: target, errno: errno) }
            guard rename(stage, target) == 0 else {
                let e = errno
                _ = rename(old, target)
                throw IOError("install", path: target, errno: e)
            }
            try? FileManager.default.removeItem(atPath: old)
        }
        AtomicFile.syncDirectory(paths.ssl)
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

