import FoundationEssentials

/// One line of `state/library-history.jsonl`: a change of the library's checked-out commit
/// made by tetra (`init`, `update`, `rollback`). JSON keys: time (ISO 8601 UTC), action,
/// from (absent for init), to, ref, url (credentials redacted), user, host, commits (how many
/// commits the change brought in, for updates), backup (the branch local changes were saved
/// on, when any).
public struct LibraryHistoryEntry: Codable, Sendable, Equatable {
    /// What moved the checked-out commit.
    public enum Action: String, Codable, Sendable, Equatable {
        case initialize = "init", update, rollback
    }
    public var time: Date
    public var action: Action
    public var from: String?
    public var to: String
    public var ref: String?
    public var url: String
    public var user: String
    public var host: String
    public var commits: Int?
    public var backup: String?

    public init(time: Date, action: Action, from: String?, to: String, ref: String?, url: String,
                user: String, host: String, commits: Int? = nil, backup: String? = nil) {
        self.time = time
        self.action = action
        self.from = from
        self.to = to
        self.ref = ref
        self.url = Redactor.redactURLCredentials(url)
        self.user = user
        self.host = host
        self.commits = commits
        self.backup = backup
    }

    enum CodingKeys: String, CodingKey { case time, action, from, to, ref, url, user, host, commits, backup }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .time)
        guard let t = Timestamps.parseISO8601(text) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "not an ISO 8601 time")
        }
        time = t
        action = try c.decode(Action.self, forKey: .action)
        from = try c.decodeIfPresent(String.self, forKey: .from)
        to = try c.decode(String.self, forKey: .to)
        ref = try c.decodeIfPresent(String.self, forKey: .ref)
        url = Redactor.redactURLCredentials(try c.decode(String.self, forKey: .url))
        user = try c.decode(String.self, forKey: .user)
        host = try c.decode(String.self, forKey: .host)
        commits = try c.decodeIfPresent(Int.self, forKey: .commits)
        backup = try c.decodeIfPresent(String.self, forKey: .backup)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Timestamps.iso8601(time), forKey: .time)
        try c.encode(action, forKey: .action)
        try c.encodeIfPresent(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encodeIfPresent(ref, forKey: .ref)
        try c.encode(Redactor.redactURLCredentials(url), forKey: .url)
        try c.encode(user, forKey: .user)
        try c.encode(host, forKey: .host)
        try c.encodeIfPresent(commits, forKey: .commits)
        try c.encodeIfPresent(backup, forKey: .backup)
    }
}

/// A commit as shown by `library update` and `status`.
public struct LibraryCommit: Codable, Sendable, Equatable {
    public var commit: String
    public var short: String
    public var subject: String
    public var author: String
    public var date: String
    enum CodingKeys: String, CodingKey { case commit, short, subject, author, date = "committed_at" }
}

/// A changed file (`git diff --name-status`, `git status`): how it changed and its path
/// (`old → new` for renames and copies).
public struct LibraryFileChange: Codable, Sendable, Equatable {
    /// git's status letters as words (docs/json.md lists the set).
    public enum Status: String, Codable, Sendable, Equatable {
        case added, modified, deleted, renamed, copied, unmerged, untracked
        case typeChanged = "type-changed"

        /// From git's letter (`A`, `M`, `D`, `R100`, `C75`, `T`, `U`, `?`); an unknown one
        /// (`X`, `B`) counts as modified.
        public init(gitLetter: Character) {
            switch gitLetter {
            case "A": self = .added
            case "D": self = .deleted
            case "R": self = .renamed
            case "C": self = .copied
            case "T": self = .typeChanged
            case "U": self = .unmerged
            case "?": self = .untracked
            default: self = .modified
            }
        }

        /// The letter `git status --short` shows (`?` is `??` there).
        public var letter: String {
            switch self {
            case .added: "A"
            case .modified: "M"
            case .deleted: "D"
            case .renamed: "R"
            case .copied: "C"
            case .typeChanged: "T"
            case .unmerged: "U"
            case .untracked: "??"
            }
        }
    }
    public var status: Status
    public var path: String

    public init(status: Status, path: String) {
        self.status = status
        self.path = path
    }
}

/// `library status`.
public struct LibraryStatus: Codable, Sendable, Equatable {
    public var path: String
    /// The `origin` URL, credentials redacted.
    public var url: String
    /// The checked-out branch; nil when detached.
    public var ref: String?
    public var commit: String
    public var short: String
    public var subject: String
    public var date: String
    public var upstream: String?
    /// Local commits not upstream, and upstream commits not local (as of the last fetch).
    public var ahead: Int
    public var behind: Int
    public var dirty: Bool
    /// Uncommitted and untracked files (`git status --porcelain` codes and paths).
    public var changes: [LibraryFileChange]
    /// When the last fetch happened (nil: never since the clone).
    public var lastFetch: String?
    public var templates: Int

    enum CodingKeys: String, CodingKey {
        case path, url, ref, commit, short, subject, date = "committed_at", upstream, ahead, behind, dirty, changes
        case templates = "template_count"
        case lastFetch = "last_fetch_at"
    }
}

/// The outcome of `library init`.
public struct LibraryInitResult: Codable, Sendable, Equatable {
    public var path: String
    public var url: String
    public var ref: String?
    public var commit: String?
    public var templates: Int
    public var dryRun: Bool
    /// True when the URL carried credentials that were used for the clone and not stored.
    public var credentialsRemoved: Bool

    enum CodingKeys: String, CodingKey {
        case path, url, ref, commit
        case templates = "template_count"
        case dryRun = "dry_run"
        case credentialsRemoved = "credentials_removed"
    }
}

/// The outcome of `library update`.
public struct LibraryUpdateResult: Codable, Sendable, Equatable {
    public var url: String
    public var ref: String
    public var from: String
    /// The commit after the update (the upstream commit for a dry run).
    public var to: String
    public var upToDate: Bool
    /// Incoming commits, newest first.
    public var commits: [LibraryCommit]
    public var files: [LibraryFileChange]
    /// Local changes that were (or, for a dry run, would be) saved before the update.
    public var localChanges: [LibraryFileChange]
    public var backup: String?
    /// Local commits not upstream (when there is nothing to bring in).
    public var ahead: Int
    public var dryRun: Bool

    enum CodingKeys: String, CodingKey {
        case url, ref, from, to, commits, files, backup, ahead
        case upToDate = "up_to_date"
        case localChanges = "local_changes"
        case dryRun = "dry_run"
    }
}

/// The outcome of `library rollback`.
public struct LibraryRollbackResult: Codable, Sendable, Equatable {
    public var ref: String
    public var from: String
    public var to: String
    public var subject: String
    public var unchanged: Bool
    public var localChanges: [LibraryFileChange]
    public var backup: String?
    public var dryRun: Bool

    enum CodingKeys: String, CodingKey {
        case ref, from, to, subject, unchanged, backup
        case localChanges = "local_changes"
        case dryRun = "dry_run"
    }
}

/// A library check for `tetra doctor`.
public struct LibraryCheck: Sendable, Equatable {
    public enum Status: String, Sendable { case ok, warning, problem }
    public var name: String
    public var status: Status
    public var detail: String
}

/// A git operation against the library's remote failed (exit 6): unreachable host, unknown
/// repository, refused authentication. The message carries git's stderr tail, redacted.
public struct LibraryRemoteError: TetraError, Equatable {
    public var operation: String
    public var url: String
    public var detail: String

    public init(operation: String, url: String, detail: String) {
        self.operation = operation
        self.url = Redactor.redactURLCredentials(url)
        self.detail = Redactor.redactURLCredentials(detail)
    }

    public var exitCode: ExitCode { .toolFailed }
    public var kind: String { "tool_failed" }
    public var message: String {
        // git's stderr tail on one line, without its generic advice.
        let boilerplate = ["Please make sure you have the correct access rights", "and the repository exists."]
        let d = detail.split(separator: "\n").map { $0.trimming(.whitespaces) }
            .filter { !$0.isEmpty && !boilerplate.contains($0) }.joined(separator: "; ")
        return "could not \(operation) the library at \(url)" + (d.isEmpty ? "" : ": \(d)")
    }
    public var hint: String? {
        "check the URL, the network and your access; tetra uses git's own authentication (ssh keys and agent, GIT_SSH_COMMAND, credential helpers) and stores no credentials"
    }
}

/// URL helpers: credentials are used, never stored or printed.
public enum LibraryURL {
    /// Removes a password (`user:pass@` → `user@`) and, for http(s), a bare token
    /// (`token@` → nothing) from the URL's authority. Returns the URL and what was removed
    /// (to keep it out of messages), or nil when there was nothing to remove.
    public static func stripCredentials(_ url: String) -> (url: String, secret: String)? {
        guard let schemeEnd = url.firstRange(ofLiteral: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let userinfo = authority[..<at]
        let host = authority[authority.index(after: at)...]
        let prefix = String(url[..<schemeEnd.upperBound])
        if let colon = userinfo.firstIndex(of: ":") {
            let user = userinfo[..<colon]
            let secret = String(userinfo[userinfo.index(after: colon)...])
            return (prefix + (user.isEmpty ? "" : user + "@") + host + rest[authorityEnd...], secret)
        }
        if scheme == "http" || scheme == "https" {
            return (prefix + host + rest[authorityEnd...], String(userinfo))
        }
        return nil
    }
}
