import FoundationEssentials
import Glibc

/// A release id: `20261121T160301Z-3f2a9c1`, the UTC creation time (whole seconds) and the
/// first 7 hex digits of the release's content hash. Ids sort by time as plain strings.
public struct ReleaseID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    /// Validates an id read from a user or a target (exactly the format above).
    public init(_ text: String) throws {
        guard Self.isValid(text) else {
            throw CoreError.invalidArgument("invalid release id '\(Names.printable(text))'",
                                            hint: "release ids look like 20261121T160301Z-3f2a9c1")
        }
        rawValue = text
    }

    /// A new id for content with `contentHash` (hex) created at `time`.
    public init(time: Date, contentHash: String) {
        let hex = contentHash.lowercased().filter { $0.isHexDigit }
        rawValue = Timestamps.compact(time) + "-" + String((hex + "0000000").prefix(7))
    }

    public var description: String { rawValue }
    public static func < (a: ReleaseID, b: ReleaseID) -> Bool { a.rawValue < b.rawValue }

    /// The creation time encoded in the id.
    public var time: Date? {
        let s = Array(rawValue.utf8)
        func n(_ from: Int, _ len: Int) -> String { String(decoding: s[from..<(from + len)], as: UTF8.self) }
        let iso = "\(n(0, 4))-\(n(4, 2))-\(n(6, 2))T\(n(9, 2)):\(n(11, 2)):\(n(13, 2))Z"
        return Timestamps.parseISO8601(iso)
    }

    /// `^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}$`
    public static func isValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 24 else { return false }
        func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        for i in 0..<8 where !digit(b[i]) { return false }
        guard b[8] == 0x54 else { return false }
        for i in 9..<15 where !digit(b[i]) { return false }
        guard b[15] == 0x5A, b[16] == 0x2D else { return false }
        for i in 17..<24 where !(digit(b[i]) || (b[i] >= 0x61 && b[i] <= 0x66)) { return false }
        return true
    }
}

/// The content of a release: the sha256 of every regular file, by relative path. Written
/// into the release as `.tetra-manifest.sha256` in `sha256sum` format (`HASH  PATH` lines,
/// sorted by path), so an operator can check a release by hand with `sha256sum -c`.
public struct ReleaseManifest: Sendable, Equatable {
    /// Relative path ("a/b.conf", '/'-separated) → sha256 hex.
    public var files: [String: String] { didSet { memo = Memo() } }
    /// The sorted paths, the text and its hash, computed once per `files` (a push needs them
    /// several times: the release id, the metadata, the manifest file, the upload order).
    private var memo = Memo()

    private final class Memo: @unchecked Sendable {
        private let lock = Lock()
        private var paths: [String]?
        private var bytes: [UInt8]?
        private var hash: String?

        func paths(_ make: () -> [String]) -> [String] { value(\.paths, make) }
        func bytes(_ make: () -> [UInt8]) -> [UInt8] { value(\.bytes, make) }
        func hash(_ make: () -> String) -> String { value(\.hash, make) }

        private func value<T>(_ slot: ReferenceWritableKeyPath<Memo, T?>, _ make: () -> T) -> T {
            lock.lock(); defer { lock.unlock() }
            if let known = self[keyPath: slot] { return known }
            let made = make()
            self[keyPath: slot] = made
            return made
        }
    }

    public static func == (a: ReleaseManifest, b: ReleaseManifest) -> Bool { a.files == b.files }

    /// The manifest file inside a release.
    public static let fileName = ".tetra-manifest.sha256"
    /// The release metadata file inside a release.
    public static let metadataFileName = ".tetra-release.toml"
    /// Names tetra reserves at the top of a release; a rendered tree may not contain them.
    public static let reservedNames: Set<String> = [fileName, metadataFileName]

    public init(files: [String: String] = [:]) { self.files = files }

    public var paths: [String] { memo.paths { Self.sortedPaths(files.keys) } }

    /// Byte-wise sorted (keys compared as byte arrays: much faster than comparing UTF-8 views).
    static func sortedPaths<S: Sequence>(_ keys: S) -> [String] where S.Element == String {
        var keyed = keys.map { (Array($0.utf8), $0) }
        keyed.sort { a, b in
            a.0.withUnsafeBufferPointer { x in
                b.0.withUnsafeBufferPointer { y in
                    let n = min(x.count, y.count)
                    let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                    return c != 0 ? c < 0 : x.count < y.count
                }
            }
        }
        return keyed.map(\.1)
    }
    public var count: Int { files.count }

    /// Byte-wise order (what `LC_ALL=C sort` gives), stable across platforms.
    static func pathOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The manifest file's text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The manifest file's bytes (`text`, built once).
    var bytes: [UInt8] {
        let sorted = paths // outside the memo's lock (it is not recursive)
        return memo.bytes {
            var out: [UInt8] = []
            out.reserveCapacity(files.count * 100)
            for p in sorted {
                out.append(contentsOf: files[p]!.utf8)
                out.append(0x20)
                out.append(0x20)
                out.append(contentsOf: p.utf8)
                out.append(0x0A)
            }
            return out
        }
    }

    /// sha256 of `text`: identifies the content of a release (the 7 hex digits of release ids).
    public var contentHash: String {
        let bytes = self.bytes
        return memo.hash {
            var h = SHA256()
            bytes.withUnsafeBytes { h.update($0) }
            return h.finalizeHex()
        }
    }

    /// Parses a manifest file.
    public static func parse(_ text: String, file: String = fileName) throws -> ReleaseManifest {
        var files: [String: String] = [:]
        var lineNumber = 0
        var failure: ConfigError? = nil
        var copy = text
        copy.withUTF8 { all in
            files.reserveCapacity(all.count / 90)
            var start = 0
            while start < all.count, failure == nil {
                var end = start
                while end < all.count, all[end] != 0x0A { end += 1 }
                lineNumber += 1
                let length = end - start
                if length > 0 {
                    let line = UnsafeBufferPointer(rebasing: all[start..<end])
                    if length <= 66 || line[64] != 0x20 || line[65] != 0x20 {
                        failure = ConfigError(ConfigProblem(file: file, position: SourcePosition(line: lineNumber, column: 1),
                                                            message: "malformed manifest line"))
                    } else if !line[0..<64].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
                        failure = ConfigError(ConfigProblem(file: file, position: SourcePosition(line: lineNumber, column: 1),
                                                            message: "malformed sha256"))
                    } else {
                        files[String(decoding: UnsafeBufferPointer(rebasing: line[66...]), as: UTF8.self)]
                            = String(decoding: UnsafeBufferPointer(rebasing: line[0..<64]), as: UTF8.self)
                    }
                }
                start = end + 1
            }
        }
        if let failure { throw failure }
        return ReleaseManifest(files: files)
    }

    /// Walks a rendered tree and hashes every regular file. Symlinks, devices, sockets and
    /// file names with control characters are refused (`CoreError.invalidArgument`), as are
    /// tetra's reserved names at the top level. Checks `interrupt` every 256 files.
    public static func build(from directory: String, interrupt: InterruptFlag? = nil) throws -> ReleaseManifest {
        var files: [String: String] = [:]
        var count = 0
        try TreeWalker.walk(directory) { rel, kind, _ in
            switch kind {
            case .directory: return
            case .file:
                if !rel.utf8.contains(UInt8(ascii: "/")), reservedNames.contains(rel) {
                    throw CoreError.invalidArgument("the rendered tree contains '\(rel)', a name tetra reserves")
                }
                files[rel] = try SHA256.hex(ofFile: directory + "/" + rel)
                count += 1
                if count % 256 == 0 { try interrupt?.check() }
            }
        }
        return ReleaseManifest(files: files)
    }
}

/// What differs between a manifest and the files actually present.
public struct DriftReport: Sendable, Equatable {
    public var release: String
    /// Files whose content differs from the manifest.
    public var changed: [String]
    /// Files in the manifest that are gone.
    public var missing: [String]
    /// Files present that the manifest does not list.
    public var added: [String]

    public init(release: String, changed: [String] = [], missing: [String] = [], added: [String] = []) {
        self.release = release
        self.changed = changed
        self.missing = missing
        self.added = added
    }

    public var isClean: Bool { changed.isEmpty && missing.isEmpty && added.isEmpty }

    /// Compares `actual` (path → sha256) with `manifest`.
    public static func compare(release: String, manifest: ReleaseManifest, actual: [String: String]) -> DriftReport {
        var report = DriftReport(release: release)
        for (path, hash) in manifest.files {
            if let a = actual[path] {
                if a != hash { report.changed.append(path) }
            } else {
                report.missing.append(path)
            }
        }
        for path in actual.keys where manifest.files[path] == nil {
            if ReleaseManifest.reservedNames.contains(path) { continue }
            report.added.append(path)
        }
        report.changed.sort(by: ReleaseManifest.pathOrder)
        report.missing.sort(by: ReleaseManifest.pathOrder)
        report.added.sort(by: ReleaseManifest.pathOrder)
        return report
    }
}

/// `.tetra-release.toml`: what a release is and where it came from.
public struct ReleaseMetadata: Sendable, Equatable {
    public var id: String
    public var org: String
    public var env: String
    /// The org snapshot the release was rendered from.
    public var snapshot: String
    public var created: Date
    /// `user@host` that made it.
    public var by: String
    /// How it came to be: "push", "promote dev@20261121T160301Z-3f2a9c1", "rollback", ...
    public var source: String
    public var message: String?
    /// Set by `ReleaseManager.deploy` from the manifest.
    public var contentHash: String
    public var fileCount: Int
    /// The git commit it was rendered from (an org that is a git work tree).
    public var git: GitRevision? = nil

    public init(id: String = "", org: String, env: String, snapshot: String, created: Date, by: String,
                source: String, message: String? = nil, contentHash: String = "", fileCount: Int = 0) {
        self.id = id
        self.org = org
        self.env = env
        self.snapshot = snapshot
        self.created = created
        self.by = by
        self.source = source
        self.message = message
        self.contentHash = contentHash
        self.fileCount = fileCount
    }

    public var toml: String {
        var t = TOMLTable()
        t["id"] = .string(id)
        t["org"] = .string(org)
        t["env"] = .string(env)
        t["snapshot"] = .string(snapshot)
        t["created"] = .string(Timestamps.iso8601(created))
        t["by"] = .string(by)
        t["source"] = .string(source)
        if let message { t["message"] = .string(message) }
        if let git {
            t["commit"] = .string(git.commit)
            if let ref = git.ref { t["ref"] = .string(ref) }
            t["dirty"] = .boolean(git.dirty)
        }
        t["content_hash"] = .string(contentHash)
        t["files"] = .integer(Int64(fileCount))
        return "# written by tetra; describes this release\n" + TOMLSerializer.serialize(t)
    }

    public static func parse(_ text: String, file: String = ReleaseManifest.metadataFileName) throws -> ReleaseMetadata {
        let t = try TOMLParser.parse(text, file: file)
        func string(_ key: String) throws -> String {
            guard let v = t[key]?.stringValue else {
                throw ConfigError(ConfigProblem(file: file, keyPath: key, message: "missing or not a string"))
            }
            return v
        }
        guard let created = Timestamps.parseISO8601(try string("created")) else {
            throw ConfigError(ConfigProblem(file: file, keyPath: "created", message: "not an ISO 8601 time"))
        }
        var meta = ReleaseMetadata(id: try string("id"), org: try string("org"), env: try string("env"),
                                   snapshot: try string("snapshot"), created: created, by: try string("by"),
                                   source: try string("source"), message: t["message"]?.stringValue,
                                   contentHash: t["content_hash"]?.stringValue ?? "",
                                   fileCount: Int(t["files"]?.integerValue ?? 0))
        if let commit = t["commit"]?.stringValue {
            meta.git = GitRevision(commit: commit, ref: t["ref"]?.stringValue, dirty: t["dirty"]?.boolValue ?? false)
        }
        return meta
    }
}

/// One line of `<target>/.tetra/history.jsonl`.
public struct HistoryEntry: Codable, Sendable, Equatable {
    public var time: String
    /// "deploy" or "activate".
    public var action: String
    public var release: String
    /// What `current` pointed to before (nil on the first deploy).
    public var previous: String?
    public var org: String?
    public var env: String?
    /// user@host
    public var by: String
    public var command: String?
    public var source: String?
    public var message: String?
    public var files: Int?
    public var bytesSent: Int64?
    public var transport: String?
    /// Set when a stale lock was broken to do this (its holder).
    public var brokeLock: String?

    public init(time: String, action: String, release: String, previous: String?, org: String?, env: String?,
                by: String, command: String?, source: String?, message: String?, files: Int? = nil,
                bytesSent: Int64? = nil, transport: String? = nil, brokeLock: String? = nil) {
        self.time = time
        self.action = action
        self.release = release
        self.previous = previous
        self.org = org
        self.env = env
        self.by = by
        self.command = command
        self.source = source
        self.message = message
        self.files = files
        self.bytesSent = bytesSent
        self.transport = transport
        self.brokeLock = brokeLock
    }

    enum CodingKeys: String, CodingKey {
        case time, action, release, previous, org, env, by, command, source, message, files
        case bytesSent = "bytes_sent", transport, brokeLock = "broke_lock"
    }

    /// One JSON line (sorted keys, no newline inside).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses a history file; malformed lines (a torn write) are skipped.
    public static func parseLines(_ text: String) -> [HistoryEntry] {
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(HistoryEntry.self, from: Data($0.utf8)) }
    }
}

/// The remote lock `<target>/.tetra/lock` (SPEC §2): who holds it, since when, for how long.
/// Created atomically (a hard link of a fully written temporary file: it exists with all its
/// content or not at all); the random `token` identifies one acquisition, so release and
/// breaking remove only the lock they mean.
public struct TargetLockRecord: Codable, Sendable, Equatable {
    public var token: String
    public var pid: Int32
    public var host: String
    public var user: String
    public var command: String
    public var time: String
    /// Seconds after `time` when the lock counts as abandoned and may be broken.
    public var ttl: Int
    public var startTime: UInt64?
    /// The kernel boot id of the holder's machine (/proc/sys/kernel/random/boot_id): with the
    /// host name it tells "this machine, this boot", where a pid means something.
    public var boot: String?
    /// True when a keeper session at the target proves the holder alive (see `LockKeeper`):
    /// when it has ended, the lock is broken at once, whatever machine the holder ran on.
    public var keeper: Bool?

    public init(token: String, pid: Int32, host: String, user: String, command: String, time: Date, ttl: Int,
                startTime: UInt64? = nil, boot: String? = TargetLockRecord.currentBootID) {
        self.token = token
        self.pid = pid
        self.host = host
        self.user = user
        self.command = command
        self.time = Timestamps.iso8601(time)
        self.ttl = ttl
        self.startTime = startTime
        self.boot = boot
    }

    enum CodingKeys: String, CodingKey { case token, pid, host, user, command, time, ttl, startTime = "start_time", boot, keeper }

    /// This machine's boot id, nil when unknown.
    public static let currentBootID: String? = {
        guard let data = FileManager.default.contents(atPath: "/proc/sys/kernel/random/boot_id") else { return nil }
        let id = String(decoding: data, as: UTF8.self).trimming(.whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }()

    public var date: Date? { Timestamps.parseISO8601(time) }
    public var expires: Date? { date.map { $0.addingTimeInterval(TimeInterval(ttl)) } }

    public func isExpired(now: Date) -> Bool {
        guard let expires else { return true }
        return now >= expires
    }

    /// True when the holder ran on this machine, in this boot, and is provably gone (see
    /// `LockHolder`). A record without a boot id, or from another boot, is judged by its TTL
    /// only (a host name alone may be shared by several machines).
    public var isDeadLocalProcess: Bool {
        guard let boot, boot == Self.currentBootID else { return false }
        return LockHolder(pid: pid, host: host, command: command, time: date ?? Date(), startTime: startTime).isDeadLocalProcess
    }

    /// `deploy pid 4242 on host1 (tetra org push acme prod) since 2026-11-21T17:03:00Z, expires 2026-11-21T18:03:00Z`
    public var holderDescription: String {
        "\(user) pid \(pid) on \(host) (\(command)) since \(time)" + (expires.map { ", expires \(Timestamps.iso8601($0))" } ?? "")
    }

    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public static func parse(_ text: String) -> TargetLockRecord? {
        let trimmed = text.trimming(.whitespacesAndNewlines)
        return try? JSONDecoder().decode(TargetLockRecord.self, from: Data(trimmed.utf8))
    }

    /// 16 random hex digits.
    public static func newToken() -> String {
        var g = SystemRandomNumberGenerator()
        return SHA256.hex((0..<8).map { _ in UInt8.random(in: 0...255, using: &g) })
    }
}
