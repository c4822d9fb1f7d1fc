import FoundationEssentials
import Glibc

/// What keeps the library safe under kills and keeps credentials out of files and argv:
/// - credentials of a URL (`https://user:token@host/...`) reach git through its environment
///   (a credential helper given in `GIT_CONFIG_*` that prints `$TETRA_GIT_USERNAME` /
///   `$TETRA_GIT_PASSWORD`), never in a URL that git stores or in an argv;
/// - clones of killed runs (`.library.tmp-<pid>` of a dead pid) are swept by the next run;
/// - a journal (`state/library-journal.json`) is written before the branch moves (update,
///   rollback) and removed once the move is in the history; the next library command finds
///   a journal left by a killed run and records the move if it happened.
extension TemplateLibrary {
    /// A move of the library's branch about to happen.
    struct Journal: Codable, Equatable {
        var action: LibraryHistoryEntry.Action
        var from: String
        var to: String
        var ref: String?
        var url: String
        var commits: Int?
        var backup: String?
    }

    var journalFile: String { paths.state + "/library-journal.json" }

    /// Moves the branch (`move` runs git) with the journal around it, then records the move.
    func journaled(_ journal: Journal, _ move: () throws -> Void) throws {
        try AtomicFile.ensureDirectory(paths.state, mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(journal), to: journalFile, mode: 0o600)
        try move()
        try record(action: journal.action, from: journal.from, to: journal.to, ref: journal.ref, url: journal.url,
                   commits: journal.commits, backup: journal.backup)
        unlink(journalFile)
    }

    /// Finishes what a killed run left: a journal whose move happened (HEAD is at its
    /// target) is recorded unless the history already has it; the journal is then removed.
    /// Stale clones of dead runs are removed. Called first by every library command that
    /// changes something (holding the "library" lock), not by dry runs.
    public func reconcile() throws {
        sweepStaleClones()
        guard let data = try AtomicFile.readIfExists(journalFile) else { return }
        guard let journal = try? JSONDecoder().decode(Journal.self, from: data) else {
            core.progress.warn("\(journalFile) is unreadable; removed (check 'tetra library log' against 'git -C \(directory) log')")
            unlink(journalFile)
            return
        }
        if isInitialised, let head = try? revParse("HEAD"), head == journal.to, head != journal.from {
            let last = try history().last
            if last?.action != journal.action || last?.from != journal.from || last?.to != journal.to {
                core.progress.warn("recording the library \(journal.action.rawValue) \(journal.from.prefix(7)) → \(journal.to.prefix(7)) of an interrupted run")
                try record(action: journal.action, from: journal.from, to: journal.to, ref: journal.ref, url: journal.url,
                           commits: journal.commits, backup: journal.backup)
            }
        }
        unlink(journalFile)
    }

    /// Removes `.library.tmp-<pid>` clones whose process is gone.
    func sweepStaleClones() {
        let prefix = ".library.tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: paths.root) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), !ProcessIdentity.isAlive(pid: pid) else { continue }
            try? FileManager.default.removeItem(atPath: paths.root + "/" + name)
        }
    }

    /// The URL to hand git and the environment that gives it the credentials, if any.
    static func credentialed(_ url: String) -> (url: String, environment: [String: String]) {
        // ssh and other schemes authenticate by keys: a password there is only removed.
        guard let (user, password, bare) = LibraryURL.splitCredentials(url) else {
            return (LibraryURL.stripCredentials(url)?.url ?? url, [:])
        }
        let helper = #"!f() { test "$1" = get || exit 0; printf 'username=%s\npassword=%s\n' "$TETRA_GIT_USERNAME" "$TETRA_GIT_PASSWORD"; }; f"#
        return (bare, [
            // An empty helper first clears the user's helpers: none of them stores the token.
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "credential.helper", "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": "credential.helper", "GIT_CONFIG_VALUE_1": helper,
            "TETRA_GIT_USERNAME": user, "TETRA_GIT_PASSWORD": password,
        ])
    }
}

extension LibraryURL {
    /// `http(s)://user:password@host/...` → (user, password, `http(s)://host/...`); a bare
    /// token (`https://token@host/...`) is the user name with an empty password. Nil for
    /// other schemes and when the URL carries no credentials.
    static func splitCredentials(_ url: String) -> (user: String, password: String, url: String)? {
        guard let schemeEnd = url.firstRange(ofLiteral: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let userinfo = authority[..<at]
        let bare = String(url[..<schemeEnd.upperBound]) + authority[authority.index(after: at)...] + rest[authorityEnd...]
        if let colon = userinfo.firstIndex(of: ":") {
            return (Self.percentDecoded(userinfo[..<colon]), Self.percentDecoded(userinfo[userinfo.index(after: colon)...]), bare)
        }
        return (Self.percentDecoded(userinfo), "", bare)
    }

    /// `%XX` escapes decoded; the text as it is when an escape is malformed or the result is not UTF-8.
    static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        var bytes = s.utf8.makeIterator()
        while let b = bytes.next() {
            guard b == UInt8(ascii: "%") else { out.append(b); continue }
            guard let h = bytes.next(), let l = bytes.next(), let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) else {
                return String(s)
            }
            out.append(v)
        }
        return String(validating: out, as: UTF8.self) ?? String(s)
    }
}
