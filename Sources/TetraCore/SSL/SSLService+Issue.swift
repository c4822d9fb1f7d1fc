import FoundationEssentials
import Glibc

// Issuing certificates (self-signed or through tetra's ACME client): plan, generate,
// ensure, renew. See SSLService.swift for the layout and the staging protocol.
extension SSLService {
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
        /// `--tag`: added to the certificate's tags (kept across renewals).
        public var tags: [String] = []
        public init() {}
    }

    public struct HookResult: Sendable, Encodable {
        public var command: String
        public var status: Int32
    }

    public struct IssueResult: Sendable, Encodable {
        public var domain: String
        public var names: [String]
        /// issued, renewed, unchanged, skipped, failed; under --dry-run what would be done.
        public var action: CertificateAction
        public var reason: String?
        public var origin: CertificateOrigin
        public var not_after: String?
        public var days_left: Int?
        public var dry_run: Bool
        public var deploy_hook: HookResult?
        /// For `failed` (renew --all): the error's kind; `reason` holds its message.
        public var error_kind: String? = nil
        enum CodingKeys: String, CodingKey {
            case domain, names, action, reason, origin, not_after = "expires_at", days_left, dry_run, deploy_hook, error_kind
        }
    }

    /// What one issuance will do, resolved from flags, the stored meta and the defaults.
    struct Plan {
        var domain: String
        var names: [String]
        var origin: CertificateOrigin
        var keyType: SSLKeyType
        var server: String
        var caBundle: String?
        var email: String?
        var httpPort: Int?
        var webroot: String?
        var days: Int
        var tags: [String] = []
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
        for t in o.tags { try Tags.validate(t) }
        var plan = Plan(domain: d, names: names, origin: selfSigned ? .selfSigned : .acme, keyType: keyType, server: server,
                        caBundle: selfSigned ? nil : ca, email: selfSigned ? nil : email, httpPort: selfSigned ? nil : port,
                        webroot: selfSigned ? nil : webroot, days: days)
        plan.tags = o.tags
        return plan
    }

    /// `ssl generate`: issues (or re-issues, keeping the previous version) a certificate.
    public func generate(_ domain: String, options: IssueOptions) throws -> IssueResult {
        let d = try Self.validateDomain(domain)
        let stored = try? meta(d)
        let p = try plan(domain: d, names: nil, options: options, stored: nil)
        return try issue(p, action: stored == nil ? .issued : .renewed, reason: nil, options: options)
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
            return try issue(try plan(domain: d, names: nil, options: options, stored: nil), action: .issued, reason: "missing", options: options)
        }
        if stored.source == .imported && !force && !options.selfSigned {
            return unchanged(stored, reason: "imported certificates are renewed by importing a new one (or --force to issue one here)",
                             dryRun: options.dryRun, action: .skipped)
        }
        let p = try plan(domain: d, names: wanted, options: options, stored: stored)
        if Set(stored.names) != Set(wanted) {
            return try issue(p, action: .renewed, reason: "names changed", options: options)
        }
        if force { return try issue(p, action: .renewed, reason: "forced", options: options) }
        if stored.not_after.timeIntervalSince(core.now()) <= within {
            return try issue(p, action: .renewed, reason: "due", options: options)
        }
        return unchanged(stored, reason: "valid until \(Timestamps.iso8601(stored.not_after))", dryRun: options.dryRun)
    }

    func unchanged(_ m: CertificateMeta, reason: String, dryRun: Bool, action: CertificateAction = .unchanged) -> IssueResult {
        IssueResult(domain: m.domain, names: m.names, action: action, reason: reason, origin: m.source,
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
                out.append(unchanged(m, reason: "imported certificates are renewed by importing a new one", dryRun: options.dryRun, action: .skipped))
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
                out.append(try issue(p, action: .renewed, reason: force ? "forced" : "due", options: options))
            } catch let error as any TetraError where domain == nil && error.exitCode != .interrupted {
                // --all: one failure does not stop the others; the caller reports it (exit 1).
                var failed = unchanged(m, reason: error.message, dryRun: options.dryRun, action: .failed)
                failed.error_kind = error.kind
                out.append(failed)
            }
        }
        return out
    }

    func issue(_ p: Plan, action: CertificateAction, reason: String?, options: IssueOptions) throws -> IssueResult {
        if options.dryRun {
            return IssueResult(domain: p.domain, names: p.names, action: action, reason: reason, origin: p.origin,
                               not_after: nil, days_left: nil, dry_run: true, deploy_hook: nil)
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
            if p.origin == .selfSigned {
                core.progress.step("signing a self-signed certificate for \(p.names.joined(separator: ", ")) (\(p.days) days)")
                fullchain = String(decoding: try openssl.selfSignedCertificate(privateKey: stage + "/key.pem", names: p.names, days: p.days), as: UTF8.self)
            } else {
                fullchain = try acmeIssue(p, certificateKey: stage + "/key.pem")
            }
            let certs = PEM.certificates(fullchain)
            guard let leaf = certs.first else { throw SSLError.protocolError("the certificate download holds no PEM certificate") }
            var m = CertificateMeta(domain: p.domain, info: try openssl.certificateInfo(pem: Data(leaf.utf8)), source: p.origin,
                                    keyType: p.keyType.rawValue, created: core.now())
            m.tags = p.tags.isEmpty ? nil : p.tags
            if p.origin == .acme {
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
        var result = IssueResult(domain: meta.domain, names: meta.names, action: action, reason: reason, origin: meta.source,
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
        let count = order.authorizations.count
        core.progress.step("ACME: reading \(count) authorization\(count == 1 ? "" : "s")")
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
        // "n of m" counts the authorizations still to validate (the server may hold valid ones).
        for (i, item) in pending.enumerated() {
            core.progress.step("ACME: authorization \(i + 1) of \(pending.count): HTTP-01 challenge for \(item.name)")
            try client.respond(toChallenge: item.challenge)
        }
        for (i, item) in pending.enumerated() {
            core.progress.step("ACME: authorization \(i + 1) of \(pending.count): waiting for the server to validate \(item.name)")
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
}
