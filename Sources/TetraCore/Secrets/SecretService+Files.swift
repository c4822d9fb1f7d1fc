import FoundationEssentials
import Glibc

/// Whole-file operations of `tetra secret`: the migration of a plaintext secrets.env,
/// recipients (each change re-encrypts the files it concerns) and `keygen`.
extension SecretService {
    /// `secret encrypt`: what the migration did.
    public struct Migration: Sendable, Encodable, Equatable {
        public var org: String
        /// The plaintext file migrated (`secrets.env`) and the file that holds its values now.
        public var from: String
        public var to: String
        public var secrets: [String]
        /// True once the plaintext file is gone (after the round trip was verified).
        public var plaintext_removed: Bool
        public var dry_run: Bool?
    }

    /// Migrates `secrets.env` into `secrets.env.age` (values already in the encrypted file
    /// win, as they do when rendering), verifies that the new ciphertext decrypts to the same
    /// values, then removes the plaintext. Any failure leaves both files as they were.
    public func encryptPlaintext(dryRun: Bool) throws -> Migration {
        let loaded = try loadOrg()
        guard files.hasPlaintext else {
            throw CoreError.notFound(what: "file", name: "orgs/\(org)/secrets.env", hint: "nothing to migrate: the org has no plaintext secrets.env")
        }
        let recipients = try recipients(loaded, scope: .org)
        return try withLock {
            let plain = try files.plaintext()
            let existing = try files.read(.org)
            var entries = plain.names.map { ($0, plain.values[$0]!) }
            for name in existing?.names ?? [] {
                let value = existing!.values[name]!
                if let i = entries.firstIndex(where: { $0.0 == name }) { entries[i].1 = value } else { entries.append((name, value)) }
            }
            var result = Migration(org: org, from: "secrets.env", to: SecretScope.org.fileName, secrets: plain.names, plaintext_removed: false,
                                   dry_run: dryRun ? true : nil)
            if dryRun { return result }
            let cipher = try files.encrypt(entries, recipients: recipients)
            let expected = Dictionary(entries, uniquingKeysWith: { $1 })
            guard try files.verify(cipher, scope: .org, equals: expected) else {
                throw CoreError.failed("the encrypted secrets do not decrypt to the plaintext ones; secrets.env is left as it was")
            }
            try context.interrupt.check()
            try AtomicFile.write(cipher, to: files.path(.org), mode: 0o600)
            guard unlink(files.plaintextPath) == 0 || errno == ENOENT else {
                throw IOError("remove", path: files.plaintextPath, errno: errno)
            }
            result.plaintext_removed = true
            return result
        }
    }

    // MARK: - Recipients

    public struct Recipient: Sendable, Encodable, Equatable {
        public var key: String
        /// Set for an environment's `secret_recipients`.
        public var env: String?
    }

    public func listRecipients() throws -> [Recipient] {
        let loaded = try loadOrg()
        var out = (loaded.config.secrets?.recipients ?? []).map { Recipient(key: $0) }
        for (name, env) in loaded.config.environments {
            out += (env.secretRecipients ?? []).map { Recipient(key: $0, env: name) }
        }
        return out
    }

    public struct RecipientChange: Sendable, Encodable, Equatable {
        public enum Action: String, Sendable, Encodable { case added, removed, unchanged }
        public var org: String
        public var env: String?
        public var key: String
        public var action: Action
        /// The encrypted files written again for the new recipients.
        public var reencrypted: [String]
        public var dry_run: Bool?
    }

    /// Adds or removes a recipient in org.toml (format-preserving) and re-encrypts the files
    /// it concerns: every file for an org-wide recipient, the environment's file otherwise
    /// (a removal re-encrypts every file). Every file is decrypted before anything is
    /// written; the files are written before org.toml.
    public func changeRecipient(_ key: String, add: Bool, env: String?, dryRun: Bool) throws -> RecipientChange {
        if let reason = SecretRecipients.problem(with: key) { throw CoreError.invalidArgument(reason) }
        let key = key.trimming(.whitespaces)
        var loaded = try loadOrg()
        if let env { _ = try loaded.environment(env) }
        let path = env.map { ["environments", $0, "secret_recipients"] } ?? ["secrets", "recipients"]
        let current = env.map { loaded.config.environments[$0]?.secretRecipients ?? [] } ?? (loaded.config.secrets?.recipients ?? [])
        let present = current.firstIndex { SecretRecipients.key($0) == SecretRecipients.key(key) }
        var list = current
        var result = RecipientChange(org: org, env: env, key: key, action: .unchanged, reencrypted: [], dry_run: dryRun ? true : nil)
        if add {
            if present != nil { return result }
            list.append(key)
            result.action = .added
        } else {
            guard let i = present else {
                throw CoreError.notFound(what: "recipient", name: key, hint: "see 'tetra secret recipients'")
            }
            list.remove(at: i)
            result.action = .removed
        }
        return try withLock {
            var doc = loaded.document
            try doc.set(path, to: .array(list.map { .string($0) }))
            let after = doc.render()
            let newDoc = try TOMLDocument(parsing: after, fileName: loaded.orgFile)
            loaded.config = try TOMLDecoder().decode(OrgConfig.self, from: newDoc).0
            let scopes = files.encryptedScopes().filter { add ? (env == nil || $0 == .env(env!)) : true }
            var planned: [(SecretScope, Data)] = []
            for scope in scopes {
                guard let file = try files.read(scope) else { continue }
                let recipients = SecretRecipients.recipients(loaded.config, scope: scope)
                guard !recipients.isEmpty else {
                    throw CoreError.conflict("removing \(key) would leave \(scope.fileName) without a recipient",
                                             hint: "add another recipient first: tetra secret recipients add KEY")
                }
                planned.append((scope, try files.encrypt(file.names.map { ($0, file.values[$0]!) }, recipients: recipients)))
            }
            result.reencrypted = planned.map(\.0.fileName)
            if dryRun { return result }
            try context.interrupt.check()
            for (scope, cipher) in planned { try AtomicFile.write(cipher, to: files.path(scope), mode: 0o600) }
            var st = stat()
            let file = loaded.directory + "/org.toml"
            try AtomicFile.write(Data(after.utf8), to: file, mode: stat(file, &st) == 0 ? st.st_mode & 0o7777 : 0o644)
            return result
        }
    }

    // MARK: - keygen

    public struct Keygen: Sendable, Encodable, Equatable {
        public var identity: String
        /// The public key (absent on a dry run).
        public var recipient: String?
        public var dry_run: Bool?
    }

    /// Creates this user's age identity where the lookup finds it first (TETRA_AGE_IDENTITY,
    /// else $XDG_CONFIG_HOME/tetra/identity.txt), mode 0600; an existing file is never
    /// overwritten (exit 5).
    public static func keygen(context: CoreContext, dryRun: Bool) throws -> Keygen {
        let path = AgeIdentity.keygenPath(context.environment)
        var st = stat()
        if lstat(path, &st) == 0 {
            throw CoreError.conflict("\(path) exists; it is not overwritten",
                                     hint: "its public key: age-keygen -y \(path)")
        }
        if dryRun { return Keygen(identity: path, recipient: nil, dry_run: true) }
        let dir = PathText.parent(path)
        if !LocalFiles.exists(dir) { try AtomicFile.ensureDirectory(dir, mode: 0o700) }
        let recipient = try AgeTool(context: context).keygen(to: path)
        return Keygen(identity: path, recipient: recipient)
    }
}
