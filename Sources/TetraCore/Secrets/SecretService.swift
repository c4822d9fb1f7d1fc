import FoundationEssentials
import Glibc

/// `tetra secret ...` (SPEC §9, docs/secrets.md): the org's encrypted secrets. Every mutation
/// holds the org lock; values never leave this type except through `get(reveal:)` and the
/// files age writes. Results carry names only.
public struct SecretService: Sendable {
    public let context: CoreContext
    public let org: String
    public var paths: StatePaths { context.paths }
    public var age: AgeTool
    public var files: OrgSecrets

    public init(context: CoreContext, org: String) throws {
        try Names.validate(org, what: "org")
        self.context = context
        self.org = org
        age = AgeTool(context: context)
        files = OrgSecrets(paths: context.paths, org: org, age: age)
    }

    /// A change to one file: what happened to which names (never values).
    public struct Change: Sendable, Encodable, Equatable {
        public enum Action: String, Sendable, Encodable { case added, updated, removed, unchanged }
        public struct Item: Sendable, Encodable, Equatable {
            public var name: String
            public var action: Action
        }
        public var org: String
        public var env: String?
        public var file: String
        public var secrets: [Item]
        public var dry_run: Bool?
    }

    public func loadOrg() throws -> LoadedOrg { try OrgStore(paths: paths).load(org) }

    /// The scope of `--env ENV` (validated: the environment exists, exit 4).
    public func scope(env: String?, in loaded: LoadedOrg) throws -> SecretScope {
        guard let env else { return .org }
        _ = try loaded.environment(env)
        return .env(env)
    }

    public static func validateName(_ name: String) throws {
        guard SecretsFile.isValidKey(name) else {
            throw CoreError.invalidArgument("invalid secret name '\(Names.printable(name))'",
                                            hint: "a name is an environment variable name: letters, digits and '_', not starting with a digit")
        }
    }

    /// The recipients of `scope` (none: exit 3 saying how to add one).
    public func recipients(_ loaded: LoadedOrg, scope: SecretScope) throws -> [String] {
        let all = SecretRecipients.recipients(loaded.config, scope: scope)
        guard !all.isEmpty else { throw SecretError.noRecipients }
        let problems = SecretRecipients.problems(loaded)
        if !problems.isEmpty { throw ConfigError(problems, hint: "fix [secrets] recipients in org.toml") }
        return all
    }

    func withLock<T>(_ body: () throws -> T) throws -> T {
        try context.withLock("org." + org, body)
    }

    // MARK: - Reading

    public func list(env: String?) throws -> [OrgSecrets.Entry] {
        let loaded = try loadOrg()
        if let env { _ = try loaded.environment(env) }
        return try files.entries(env: env)
    }

    /// The entry that wins for `env` and its value (not found: exit 4).
    public func get(_ name: String, env: String?) throws -> (entry: OrgSecrets.Entry, value: String) {
        try Self.validateName(name)
        let entries = try list(env: env)
        guard let entry = entries.last(where: { $0.name == name }) else {
            throw CoreError.notFound(what: "secret", name: name, hint: Suggest.didYouMean(name, in: entries.map(\.name))
                                        ?? "see 'tetra secret list'; set it with 'tetra secret set \(name)'")
        }
        let file: SecretsFile?
        switch entry.encrypted {
        case false: file = try files.plaintext()
        case true: file = try files.read(SecretScope(env: entry.env))
        }
        guard let value = file?.values[name] else { throw CoreError.notFound(what: "secret", name: name) }
        return (entry, value)
    }

    // MARK: - Changing one file

    /// Applies `edit` to the decrypted entries of `scope` and writes the file encrypted again
    /// (under the org lock). Nothing is written when nothing changes or on a dry run.
    func change(env: String?, dryRun: Bool,
                _ edit: (inout [(String, String)]) throws -> [Change.Item]) throws -> Change {
        let loaded = try loadOrg()
        let scope = try scope(env: env, in: loaded)
        let recipients = try recipients(loaded, scope: scope)
        return try withLock {
            let current = try files.read(scope)
            var entries = (current?.names ?? []).map { ($0, current!.values[$0]!) }
            let items = try edit(&entries)
            let result = Change(org: org, env: env, file: scope.fileName, secrets: items, dry_run: dryRun ? true : nil)
            if dryRun || items.allSatisfy({ $0.action == .unchanged }) { return result }
            try context.interrupt.check()
            try files.write(entries, scope: scope, recipients: recipients)
            return result
        }
    }

    /// Sets `values` (name → value) in one file.
    public func set(_ values: [(String, String)], env: String?, dryRun: Bool) throws -> Change {
        for (name, value) in values {
            try Self.validateName(name)
            if value.utf8.contains(0) {
                throw CoreError.invalidArgument("the value of \(name) contains a NUL character, which no environment variable can hold")
            }
        }
        return try change(env: env, dryRun: dryRun) { entries in
            var items: [Change.Item] = []
            for (name, value) in values {
                if let i = entries.firstIndex(where: { $0.0 == name }) {
                    let same = entries[i].1 == value
                    entries[i].1 = value
                    items.append(Change.Item(name: name, action: same ? .unchanged : .updated))
                } else {
                    entries.append((name, value))
                    items.append(Change.Item(name: name, action: .added))
                }
            }
            return items
        }
    }

    /// Removes `name` from one file (absent: exit 4).
    public func unset(_ name: String, env: String?, dryRun: Bool) throws -> Change {
        try Self.validateName(name)
        return try change(env: env, dryRun: dryRun) { entries in
            guard let i = entries.firstIndex(where: { $0.0 == name }) else {
                throw CoreError.notFound(what: "secret", name: name,
                                         hint: "not in \(SecretScope(env: env).fileName); see 'tetra secret list'")
            }
            entries.remove(at: i)
            return [Change.Item(name: name, action: .removed)]
        }
    }

    /// Names defined in the plaintext secrets.env too (their encrypted value wins).
    public func plaintextShadows(_ names: [String]) -> [String] {
        guard let plain = try? files.plaintext() else { return [] }
        return names.filter { plain.values[$0] != nil }
    }
}
