import FoundationEssentials
import Glibc

/// What made a snapshot: the command that took it (a closed set; read from the reason its
/// log line records).
public enum SnapshotAction: String, Codable, Sendable, CaseIterable {
    case push, promote, rollback, pull, set, delete, restore, other
}

extension SnapshotStore.Entry {
    /// The action and environment of the reason tetra wrote ("push dev", "promote dev to
    /// staging", "rollback dev to R", "before pull --write dev", "before org set K",
    /// "before org delete", "before snapshot restore ID").
    public var cause: (action: SnapshotAction, env: String?) {
        let words = reason.split(separator: " ").map(String.init)
        func env(_ i: Int) -> String? { i < words.count && Names.isValid(words[i]) ? words[i] : nil }
        switch (words.first, words.dropFirst().first) {
        case ("push", _): return (.push, env(1))
        case ("promote", _): return (.promote, words.count == 4 && words[2] == "to" ? env(3) : nil)
        case ("rollback", _): return (.rollback, env(1))
        case ("before", "pull"): return (.pull, words.count == 4 ? env(3) : nil)
        case ("before", "org") where words.count > 2 && words[2] == "set": return (.set, nil)
        case ("before", "org") where words.count > 2 && words[2] == "delete": return (.delete, nil)
        case ("before", "snapshot") where words.count > 2 && words[2] == "restore": return (.restore, nil)
        default: return (.other, nil)
        }
    }
}

extension SnapshotStore {
    /// The reason logged for the snapshot `org snapshot restore` takes of the working copy.
    static func restoreReason(_ id: String) -> String { "before snapshot restore \(id)" }

    /// One file of a snapshot.
    public struct File: Sendable, Equatable {
        public var path: String
        public var mode: mode_t
        public var hash: String
    }

    /// The files of snapshot `id` as `File` values.
    func files(_ id: String) throws -> [File] {
        try manifest(id).map { File(path: $0.path, mode: $0.mode, hash: $0.hash) }
    }

    /// The size of object `hash`, nil when it is missing from the store.
    func objectSize(_ hash: String) -> Int64? {
        var st = stat()
        return lstat(objectPath(hash), &st) == 0 ? Int64(st.st_size) : nil
    }

    /// A snapshot id or a prefix of one: 4 to 16 hex digits (either case).
    public static func looksLikeID(_ s: String) -> Bool {
        (4...16).contains(s.utf8.count) && s.lowercased().utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The full id of the snapshot `given` names among `org`'s snapshots: a full id or an
    /// unambiguous prefix of at least 4 hex digits (git-style). Only the snapshots this org's
    /// log lists count (the store is shared by every org: ids of other orgs are not found).
    public func resolve(_ given: String, org: String) throws -> String {
        let id = given.lowercased()
        guard Self.looksLikeID(id) else {
            throw CoreError.invalidArgument("invalid snapshot id '\(Names.printable(given))'",
                                            hint: "a snapshot id is 16 hex digits; an unambiguous prefix of at least 4 will do")
        }
        let known = Set(try log(org).map(\.id))
        if known.contains(id) { return id }
        let matches = known.filter { $0.hasPrefix(id) }.sorted()
        switch matches.count {
        case 1: return matches[0]
        case 0:
            throw CoreError.notFound(what: "snapshot", name: given, hint: "see 'tetra org snapshot list \(org)'")
        default:
            throw CoreError.invalidArgument("snapshot id '\(given)' is ambiguous: it matches \(matches.joined(separator: ", "))",
                                            hint: "give more digits")
        }
    }
}

/// `org snapshot list | show | diff | restore`: the snapshot store as commands.
extension OrgService {
    public struct SnapshotRecord: Encodable, Sendable {
        public var id: String
        public var created_at: String
        public var action: SnapshotAction
        public var env: String?
        public var reason: String
        public var by: String
        public var file_count: Int
        /// The size of its files (objects present in the store).
        public var bytes: Int64?
        /// Why the snapshot cannot be read (its manifest or objects are missing or corrupt).
        public var error: String?
    }

    public struct SnapshotList: Encodable, Sendable {
        public var org: String
        public var snapshots: [SnapshotRecord]
    }

    /// Every snapshot taken of `org` (one record per time one was taken: an unchanged working
    /// copy gives the same id again), newest first.
    public func snapshotList(org name: String) throws -> SnapshotList {
        try Names.validate(name, what: "org")
        let entries = try snapshots.log(name)
        if entries.isEmpty, !store.exists(name) {
            throw CoreError.notFound(what: "org", name: name, hint: Suggest.didYouMean(name, in: store.names()) ?? "see 'tetra org list'")
        }
        var sizes: [String: (bytes: Int64?, error: String?)] = [:]
        var out: [SnapshotRecord] = []
        for e in entries.reversed() {
            if sizes[e.id] == nil { sizes[e.id] = size(of: e.id) }
            let (action, env) = e.cause
            out.append(SnapshotRecord(id: e.id, created_at: e.time, action: action, env: env, reason: e.reason, by: e.by,
                                      file_count: e.files, bytes: sizes[e.id]!.bytes, error: sizes[e.id]!.error))
        }
        return SnapshotList(org: name, snapshots: out)
    }

    private func size(of id: String) -> (bytes: Int64?, error: String?) {
        do {
            var total: Int64 = 0
            var missing = 0
            for f in try snapshots.files(id) {
                if let n = snapshots.objectSize(f.hash) { total += n } else { missing += 1 }
            }
            return missing == 0 ? (total, nil) : (nil, "\(missing) object\(missing == 1 ? " is" : "s are") missing from the store")
        } catch let e as any TetraError {
            return (nil, e.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    public struct SnapshotFile: Encodable, Sendable {
        public var path: String
        /// Permission bits in octal ("0644").
        public var mode: String
        public var bytes: Int64?
        public var sha256: String
    }

    public struct SnapshotManifest: Encodable, Sendable {
        public var org: String
        public var id: String
        public var file_count: Int
        public var bytes: Int64
        public var files: [SnapshotFile]
    }

    /// `org snapshot show ID`: the files of a snapshot with their sizes and hashes.
    public func snapshotShow(org name: String, id given: String) throws -> SnapshotManifest {
        try Names.validate(name, what: "org")
        let id = try snapshots.resolve(given, org: name)
        let files = try snapshots.files(id).map {
            SnapshotFile(path: $0.path, mode: Self.octal($0.mode), bytes: snapshots.objectSize($0.hash), sha256: $0.hash)
        }
        return SnapshotManifest(org: name, id: id, file_count: files.count, bytes: files.reduce(0) { $0 + ($1.bytes ?? 0) }, files: files)
    }

    static func octal(_ mode: mode_t) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// The files of the org's working copy as a snapshot would record them (no object is
    /// stored): path → (mode, sha256), `secrets.env` left out.
    func workingCopyFiles(_ name: String) throws -> [String: SnapshotStore.File] {
        let dir = paths.org(name)
        guard LocalFiles.isDirectory(dir) else { return [:] }
        var out: [String: SnapshotStore.File] = [:]
        for (path, hash) in try ReleaseManifest.build(from: dir, interrupt: context.interrupt).files
        where path.contains("/") || !SnapshotStore.excluded.contains(path) {
            var st = stat()
            guard lstat(dir + "/" + path, &st) == 0 else { throw IOError("read", path: dir + "/" + path, errno: errno) }
            out[path] = SnapshotStore.File(path: path, mode: st.st_mode & 0o777, hash: hash)
        }
        return out
    }

    static func byPath(_ files: [SnapshotStore.File]) -> [String: SnapshotStore.File] {
        Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// `org snapshot diff ID [ID]`: snapshot `old` against snapshot `new`, or against the
    /// working copy when `new` is nil; the same result as `org diff`.
    public func snapshotDiff(org name: String, old: String, new: String?) throws -> TreeComparison {
        try Names.validate(name, what: "org")
        let oldID = try snapshots.resolve(old, org: name)
        let newID = try new.map { try snapshots.resolve($0, org: name) }
        let a = Self.byPath(try snapshots.files(oldID))
        let b: [String: SnapshotStore.File]
        if let newID {
            b = Self.byPath(try snapshots.files(newID))
        } else {
            guard store.exists(name) else { throw CoreError.notFound(what: "org", name: name, hint: "see 'tetra org list'") }
            b = try workingCopyFiles(name)
        }
        let changes = FileChanges.between(old: a.mapValues(\.hash), new: b.mapValues(\.hash))
        // Only the files that differ are written out; compareTrees diffs them as `org diff` does.
        let dir = try scratch("snapdiff")
        defer { removeScratch(dir) }
        for (sub, files, snapshot) in [("a", a, Optional(oldID)), ("b", b, newID)] {
            let root = dir + "/" + sub
            try AtomicFile.ensureDirectory(root, mode: 0o700)
            for path in changes.added + changes.removed + changes.changed {
                guard let f = files[path] else { continue }
                let dest = root + "/" + path
                try AtomicFile.ensureDirectory(PathText.parent(dest), mode: 0o700)
                if let snapshot {
                    try snapshots.copyObject(f.hash, to: dest, mode: f.mode, snapshot: snapshot)
                } else {
                    _ = try LocalFiles.copyFile(from: paths.org(name) + "/" + path, to: dest, mode: f.mode)
                }
            }
        }
        return try Self.compareTrees(old: dir + "/a", new: dir + "/b", oldLabel: oldID, newLabel: newID ?? "working-copy")
    }
}

extension OrgService {
    public struct SnapshotRestore: Encodable, Sendable {
        public var org: String
        /// The snapshot restored.
        public var snapshot: String
        /// The snapshot taken of the working copy first (restore it to undo this one); absent
        /// on a dry run and when the org's directory did not exist.
        public var undo_snapshot: String?
        /// Against the working copy: files the restore creates, removes and rewrites.
        public var changes: FileChanges
        public var dry_run: Bool
    }

    /// `org snapshot restore ID`: makes the org's working copy (everything a snapshot holds:
    /// org.toml, services/, files/; never secrets.env) what snapshot `id` recorded. Under the
    /// org's lock: the working copy is snapshotted first, every object needed is copied out
    /// and checked against its hash before any file of the working copy is touched, then each
    /// file is written atomically and files the snapshot does not hold are removed. An org
    /// whose directory is gone (`org delete`) is created again.
    public func snapshotRestore(org name: String, id given: String, dryRun: Bool) throws -> SnapshotRestore {
        try Names.validate(name, what: "org")
        let id = try snapshots.resolve(given, org: name)
        let wanted = try snapshots.files(id)
        if dryRun {
            let plan = Self.restorePlan(current: try workingCopyFiles(name), wanted: wanted)
            return SnapshotRestore(org: name, snapshot: id, undo_snapshot: nil, changes: plan.changes, dry_run: true)
        }
        return try withOrgLock(name) {
            let dir = paths.org(name)
            var current: [String: SnapshotStore.File] = [:]
            var undo: String? = nil
            if LocalFiles.isDirectory(dir) {
                context.progress.step("snapshotting \(name)")
                let taken = try snapshots.take(org: name, directory: dir, reason: SnapshotStore.restoreReason(id), by: by, now: context.now())
                undo = taken.id
                current = Self.byPath(try snapshots.files(taken.id))
            } else {
                try AtomicFile.ensureDirectory(paths.orgs, mode: 0o755)
                try AtomicFile.ensureDirectory(dir, mode: 0o755)
            }
            let plan = Self.restorePlan(current: current, wanted: wanted)
            try apply(plan, snapshot: id, to: dir, undo: undo.map { (id: $0, org: name) })
            return SnapshotRestore(org: name, snapshot: id, undo_snapshot: undo, changes: plan.changes, dry_run: false)
        }
    }

    struct RestorePlan {
        var changes: FileChanges
        /// Files to write (added, changed content or mode).
        var write: [SnapshotStore.File]
        var remove: [String]
    }

    static func restorePlan(current: [String: SnapshotStore.File], wanted: [SnapshotStore.File]) -> RestorePlan {
        var changes = FileChanges()
        var write: [SnapshotStore.File] = []
        let wantedPaths = Set(wanted.map(\.path))
        // A manifest naming secrets.env (edited outside tetra) never touches the org's secrets.
        for f in wanted where f.path.contains("/") || !SnapshotStore.excluded.contains(f.path) {
            guard let c = current[f.path] else { changes.added.append(f.path); write.append(f); continue }
            if c.hash != f.hash || c.mode != f.mode { changes.changed.append(f.path); write.append(f) }
        }
        changes.removed = current.keys.filter { !wantedPaths.contains($0) }.sorted(by: ReleaseManifest.pathOrder)
        return RestorePlan(changes: changes, write: write, remove: changes.removed)
    }

    /// Copies every object of `plan` out of the store (checked against its hash) into scratch,
    /// and only then changes the working copy `dir` (`replace`). A failure once files changed (a full disk) warns how to put the working copy back.
    private func apply(_ plan: RestorePlan, snapshot id: String, to dir: String, undo: (id: String, org: String)?) throws {
        guard !plan.write.isEmpty || !plan.remove.isEmpty else { return }
        let staging = try scratch("restore")
        defer { removeScratch(staging) }
        context.progress.step("reading \(plan.write.count) file\(plan.write.count == 1 ? "" : "s") of snapshot \(id)")
        for (i, f) in plan.write.enumerated() {
            try context.interrupt.check()
            try snapshots.copyObject(f.hash, to: staging + "/\(i)", mode: 0o600, snapshot: id)
        }
        // From here on the working copy changes: no interrupt check until it is done.
        context.progress.step("restoring \(dir)")
        do {
            try replace(plan, staging: staging, in: dir)
        } catch {
            if let undo {
                context.progress.warn("the restore stopped part way; the working copy before it is snapshot \(undo.id): "
                                      + "'tetra org snapshot restore \(undo.id) \(undo.org)' puts it back")
            }
            throw error
        }
    }

    /// Removals first (a file may give way to a directory of the same name), then the
    /// staged objects written atomically.
    private func replace(_ plan: RestorePlan, staging: String, in dir: String) throws {
        for path in plan.remove {
            let full = dir + "/" + path
            guard unlink(full) == 0 || errno == ENOENT else { throw IOError("remove", path: full, errno: errno) }
            // Directories the removal leaves empty go too (below the top level: files/ and
            // services/ stay).
            var parent = PathText.parent(path)
            while parent.contains("/"), rmdir(dir + "/" + parent) == 0 { parent = PathText.parent(parent) }
        }
        for (i, f) in plan.write.enumerated() {
            let dest = dir + "/" + f.path
            try AtomicFile.ensureDirectory(PathText.parent(dest), mode: 0o755)
            guard let data = try AtomicFile.readIfExists(staging + "/\(i)") else { throw IOError("read", path: staging + "/\(i)", errno: ENOENT) }
            try AtomicFile.write(data, to: dest, mode: f.mode & 0o777)
        }
    }
}
