import FoundationEssentials

/// One line of the local history `state/history/<org>.jsonl`: every push, promote and
/// rollback done from this machine (the target's own `.tetra/history.jsonl` records what
/// happened to it from anywhere). Never holds a secret.
public struct LocalHistoryEntry: Codable, Sendable, Equatable {
    public var time: String
    public var org: String
    public var env: String
    /// "push", "promote", "rollback".
    public var action: String
    public var release: String
    public var previous: String?
    /// The org snapshot the release was rendered from (nil for a rollback that only
    /// switched `current`, see `source`).
    public var snapshot: String?
    public var target: String
    public var by: String
    public var source: String
    public var message: String?
    /// A push to an environment with hosts: the hosts it left on `release` (one entry per
    /// push; `target` then says how many).
    public var hosts: [String]? = nil
    /// A git org: the commit the release was rendered from, the ref asked for, and whether
    /// tracked files had uncommitted changes (docs/git.md).
    public var commit: String? = nil
    public var ref: String? = nil
    public var dirty: Bool? = nil

    mutating func record(_ revision: GitRevision?) {
        commit = revision?.commit
        ref = revision?.ref
        dirty = revision?.dirty
    }

    public init(time: String, org: String, env: String, action: String, release: String, previous: String?,
                snapshot: String?, target: String, by: String, source: String, message: String?) {
        self.time = time
        self.org = org
        self.env = env
        self.action = action
        self.release = release
        self.previous = previous
        self.snapshot = snapshot
        self.target = target
        self.by = by
        self.source = source
        self.message = message
    }
}

public struct LocalHistory: Sendable {
    public let directory: String
    public init(paths: StatePaths) { directory = paths.history }

    func file(_ org: String) -> String { directory + "/" + org + ".jsonl" }

    public func append(_ entry: LocalHistoryEntry) throws {
        try Names.validate(entry.org, what: "org")
        try AtomicFile.ensureDirectory(directory, mode: 0o700)
        try AtomicFile.appendLine(SnapshotStore.json(entry), to: file(entry.org), mode: 0o600)
    }

    /// Oldest first; torn lines skipped.
    public func entries(_ org: String, env: String? = nil) throws -> [LocalHistoryEntry] {
        try Names.validate(org, what: "org")
        guard let data = try AtomicFile.readIfExists(file(org)) else { return [] }
        let decoder = JSONDecoder()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? decoder.decode(LocalHistoryEntry.self, from: Data($0.utf8))
        }.filter { env == nil || $0.env == env }
    }

    /// The snapshot a release was rendered from, from this machine's history.
    public func snapshot(of release: String, org: String, env: String) throws -> String? {
        try entries(org, env: env).last { $0.release == release && $0.snapshot != nil }?.snapshot
    }
}
