import FoundationEssentials
import Glibc

// Import, rollback and delete of stored certificates, the deploy hook, and the staging
// directory swapped in by one rename. See SSLService.swift.
extension SSLService {
    // MARK: - import, rollback, delete

    public struct ImportResult: Sendable, Encodable {
        public var domain: String
        public var names: [String]
        /// `imported` (under --dry-run: would be, with `dry_run` true).
        public var action: CertificateAction
        public var origin: CertificateOrigin
        public var not_after: String
        public var days_left: Int
        public var dry_run: Bool
        enum CodingKeys: String, CodingKey { case domain, names, action, origin, not_after = "expires_at", days_left, dry_run }
    }

    public func importCertificate(_ domain: String, cert: String, key: String, chain: String?, tags: [String] = [], dryRun: Bool) throws -> ImportResult {
        for t in tags { try Tags.validate(t) }
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
            var meta = CertificateMeta(domain: d, info: info, source: .imported, keyType: keyType, created: core.now())
            meta.tags = tags.isEmpty ? nil : tags
            return meta
        }
        if dryRun {
            let tmp = FileManager.default.temporaryDirectory.path + "/tetra-ssl-check-" + UUID().uuidString
            try AtomicFile.ensureDirectory(tmp, mode: 0o700)
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let m = try check(tmp)
            return ImportResult(domain: d, names: m.names, action: .imported, origin: .imported,
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
        return ImportResult(domain: d, names: m.names, action: .imported, origin: .imported,
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
        // Tags belong to the certificate, not to one version: the new version keeps them.
        if let old = try? CertificateMeta.parse(try AtomicFile.readIfExists(current + "/meta.toml") ?? Data(), file: current + "/meta.toml"),
           let tags = old.tags, !tags.isEmpty,
           var new = try? CertificateMeta.parse(try AtomicFile.readIfExists(stage + "/meta.toml") ?? Data(), file: stage + "/meta.toml") {
            let merged = tags + (new.tags ?? []).filter { !tags.contains($0) }
            if merged != new.tags {
                new.tags = merged
                try AtomicFile.write(string: new.toml, to: stage + "/meta.toml", mode: 0o644)
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
