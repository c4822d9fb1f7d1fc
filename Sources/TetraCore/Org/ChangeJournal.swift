import FoundationEssentials
import Glibc

/// One change to a target in flight, written before the target is touched
/// (`state/journal/<org>.<pid>.<token>.json`): the local history line and the audit line it
/// is to leave. The command that made it marks it `recorded` once its history line is
/// written, and the CLI removes it once its audit line is written (or marks it `audited`). One left by a process
/// that is gone (killed, or failed after the target changed) is reconciled by the next
/// command on the org (`OrgService.reconcilePending`): when the target shows the change,
/// the history line and an audit line (result "recovered") are written, unless there.
public struct PendingChange: Codable, Sendable, Equatable {
    public var holder: LockHolder
    public var entry: LocalHistoryEntry
    public var audit: AuditEntry
    /// The local history line is written.
    public var recorded: Bool
    /// The command's own audit line is written (it failed after the target may have changed).
    public var audited = false
}

public struct ChangeJournal: Sendable {
    public let directory: String

    public init(paths: StatePaths) { directory = paths.state + "/journal" }

    /// Records the intent; returns the journal file's path.
    public func begin(_ change: PendingChange) throws -> String {
        try Names.validate(change.entry.org, what: "org")
        try AtomicFile.ensureDirectory(directory, mode: 0o700)
        let path = directory + "/\(change.entry.org).\(change.holder.pid).\(TargetLockRecord.newToken()).json"
        try AtomicFile.write(string: SnapshotStore.json(change) + "\n", to: path, mode: 0o600)
        return path
    }

    public func markRecorded(_ path: String) throws {
        guard var change = read(path) else { return }
        change.recorded = true
        try AtomicFile.write(string: SnapshotStore.json(change) + "\n", to: path, mode: 0o600)
    }

    func markAudited(_ path: String, _ change: PendingChange) {
        var change = change
        change.audited = true
        try? AtomicFile.write(string: SnapshotStore.json(change) + "\n", to: path, mode: 0o600)
    }

    public func remove(_ path: String) { unlink(path) }

    /// After this process wrote its audit line: its recorded changes are complete. Changes
    /// not recorded (the command failed after, or while, the target changed) stay, marked
    /// audited, for `reconcilePending` to decide from the target.
    public func finish(pid: Int32 = getpid()) {
        for (path, change) in entries(where: { $0.split(separator: ".").dropFirst().first == Substring(String(pid)) })
        where change.holder.pid == pid && !change.holder.isDeadLocalProcess {
            if change.recorded { remove(path) } else { markAudited(path, change) }
        }
    }

    /// Removes the temporaries of journal writes cut short (`.<name>.tmp-<pid>-<hex>`) whose
    /// writer is gone.
    public func sweepTemporaries() {
        guard let names = try? LocalFiles.list(directory) else { return }
        for name in names where name.hasPrefix(".") {
            guard let range = name.firstRange(ofLiteral: ".tmp-"),
                  let pid = Int32(name[range.upperBound...].prefix { $0 != "-" }), !ProcessIdentity.isAlive(pid: pid) else { continue }
            unlink(directory + "/" + name)
        }
    }

    /// The changes of `org` whose process is gone.
    public func orphans(org: String) -> [(path: String, change: PendingChange)] {
        entries(where: { $0.hasPrefix(org + ".") }).filter { $0.change.entry.org == org && $0.change.holder.isDeadLocalProcess }
    }

    func entries(where keep: (String) -> Bool) -> [(path: String, change: PendingChange)] {
        guard let names = try? LocalFiles.list(directory) else { return [] }
        return names.sorted().filter { $0.hasSuffix(".json") && keep($0) }.compactMap { name in
            let path = directory + "/" + name
            return read(path).map { (path, $0) }
        }
    }

    func read(_ path: String) -> PendingChange? {
        guard let data = try? AtomicFile.readIfExists(path) else { return nil }
        return try? JSONDecoder().decode(PendingChange.self, from: data)
    }
}

extension OrgService {
    /// Starts the journal entry of a change about to be made to `env`'s target.
    func beginChange(_ entry: LocalHistoryEntry) throws -> String {
        let audit = AuditEntry(time: context.now(), user: context.userName, host: context.hostName,
                               command: context.commandName, argv: context.commandLine, org: entry.org, env: entry.env,
                               result: "recovered", exitCode: 0, durationMs: 0)
        return try ChangeJournal(paths: paths).begin(PendingChange(
            holder: LockHolder.current(command: context.commandLine.joined(separator: " "), now: context.now()),
            entry: entry, audit: audit, recorded: false))
    }

    /// Writes the history line of a change made, then marks its journal entry recorded.
    func recordChange(_ entry: LocalHistoryEntry, journal: String) {
        recordHistory(entry)
        do { try ChangeJournal(paths: paths).markRecorded(journal) } catch {
            context.progress.warn("could not update the change journal: \(error)")
        }
    }

    /// Finishes what killed commands on this org left (see `PendingChange`): a change the
    /// target shows gets its local history and audit lines; one it does not show is dropped.
    /// An entry that cannot be checked now (target unreachable) stays for the next command.
    public func reconcilePending(_ org: String) {
        let journal = ChangeJournal(paths: paths)
        journal.sweepTemporaries()
        guard !journal.orphans(org: org).isEmpty else { return }
        do {
            try withOrgLock(org) { reconcile(journal.orphans(org: org), journal: journal, org: org) }
        } catch {
            context.progress.warn("could not reconcile unfinished changes of \(org): \(error)")
        }
    }

    private func reconcile(_ orphans: [(path: String, change: PendingChange)], journal: ChangeJournal, org: String) {
        for (path, change) in orphans {
            let entry = change.entry
            do {
                var applied = change.recorded
                if !applied {
                    let m = try manager(try store.load(org).environment(entry.env))
                    applied = try m.state().current?.rawValue == entry.release
                        || m.history().contains { $0.release == entry.release && $0.time >= entry.time }
                }
                if applied {
                    if !(try history.entries(org, env: entry.env)).contains(where: { $0.release == entry.release && $0.time >= entry.time }) {
                        try history.append(entry)
                    }
                    // Its own audit line may be written even though the entry says not (killed
                    // between the two): one line per change.
                    let log = AuditLog(path: paths.auditLog)
                    if !change.audited {
                        let own = try log.read(since: change.holder.time.addingTimeInterval(-1)).contains {
                            $0.pid == change.holder.pid && $0.argv == change.audit.argv
                        }
                        if !own { try log.append(change.audit) }
                    }
                    context.progress.warn("recorded \(entry.action) of \(org) \(entry.env) to \(entry.release): "
                                          + "its command (pid \(change.holder.pid)) ended before recording it")
                }
                journal.remove(path)
            } catch {
                context.progress.warn("could not reconcile an unfinished \(entry.action) of \(org) \(entry.env) (\(path)): \(error)")
            }
        }
    }
}
