import FoundationEssentials
import Glibc

// What an org's environments hold and how they differ: status and drift, diff, pull,
// history. The changes (push, promote, rollback) are in OrgService.swift.
extension OrgService {
    // MARK: - status / drift

    public struct EnvStatus: Encodable, Sendable {
        public var env: String
        /// The host of an environment with hosts (one row each).
        public var host: String? = nil
        public var target: String
        public var protected: Bool
        public var release: String?
        public var created_at: String?
        public var by: String?
        public var source: String?
        public var snapshot: String?
        /// A git org: the commit, ref and dirtiness the release was rendered from.
        public var commit: String?
        public var ref: String?
        public var dirty: Bool?
        public var drift: DriftSummary?
        public var error: String?
        /// The release a rollback would go back to, when it has drifted too (see `rollbackDrift`).
        public var rollback_target: RollbackTargetDrift? = nil

        public init(env: String, target: String, protected: Bool) {
            self.env = env
            self.target = target
            self.protected = protected
        }
    }

    public struct DriftSummary: Encodable, Sendable {
        public var changed: [String]
        public var missing: [String]
        public var added: [String]
        public var clean: Bool
        /// A file of the release gone at the target is `removed`, as everywhere else.
        enum CodingKeys: String, CodingKey { case changed, missing = "removed", added, clean }
        init(_ r: DriftReport) {
            changed = r.changed
            missing = r.missing
            added = r.added
            clean = r.isClean
        }
    }

    /// One row per environment; an environment with hosts has one row per host (`host`
    /// set), its hosts read in parallel.
    public func status(org name: String, env only: String?) throws -> [EnvStatus] {
        let org = try store.load(name)
        // What a killed push left unrecorded is recorded first, so this shows it too.
        reconcilePending(name)
        let names = try only.map { [try Names.validated($0, what: "env")] } ?? org.environmentNames
        var out: [EnvStatus] = []
        for envName in names {
            let env = try org.environment(envName)
            if env.isFleet {
                let hosts = env.fleetHosts
                out += Parallel.map(hosts.count, width: FleetSpec.defaultParallel) { i in
                    var row = EnvStatus(env: envName, target: hosts[i].target, protected: env.isProtected)
                    row.host = hosts[i].name
                    return targetStatus(row, manager: { try manager(env, host: hosts[i].target) }).0
                }
                continue
            }
            let (row, failure) = targetStatus(EnvStatus(env: envName, target: env.target ?? "", protected: env.isProtected),
                                              manager: { try manager(env) })
            if only != nil, let failure { throw failure }
            out.append(row)
        }
        return out
    }

    /// `row` completed from its target: current release, its metadata, drift; and the error
    /// that stopped the reading (also in `row.error`).
    func targetStatus(_ row: EnvStatus, manager make: () throws -> ReleaseManager) -> (EnvStatus, (any Error)?) {
        var s = row
        do {
            let manager = try make()
            s.target = manager.target.description
            context.progress.step("reading \(manager.target)")
            if let current = try manager.current() {
                s.release = current.rawValue
                let meta = try checkedMetadata(current, manager: manager)
                if let meta = meta.metadata {
                    s.created_at = Timestamps.iso8601(meta.created)
                    s.by = meta.by
                    s.source = meta.source
                    s.snapshot = meta.snapshot.isEmpty ? nil : meta.snapshot
                    s.commit = meta.git?.commit
                    s.ref = meta.git?.ref
                    s.dirty = meta.git?.dirty
                }
                s.error = meta.problem
                s.drift = DriftSummary(try manager.drift(current))
                if s.drift?.clean == false { s.rollback_target = try rollbackDrift(manager: manager) }
            }
        } catch let e as any TetraError {
            s.error = e.message
            return (s, e)
        } catch {
            s.error = "\(error)"
            return (s, error)
        }
        return (s, nil)
    }

    // MARK: - diff

    public struct FileDiff: Encodable, Sendable {
        public var path: String
        /// "added", "removed", "changed"
        public var status: String
        /// The unified diff (nil for secret-bearing or binary files).
        public var diff: String?
        public var note: String?
    }

    public struct TreeComparison: Encodable, Sendable {
        public var from: String
        public var to: String
        public var changes: FileChanges
        public var files: [FileDiff]
        public var identical: Bool
    }

    /// Compares two local trees (rendered or fetched); contents of files with mode 0600 (or
    /// named in `secretPaths`) and non-UTF-8 files are never shown.
    public static func compareTrees(old: String, new: String, oldLabel: String, newLabel: String,
                                    secretPaths: Set<String> = []) throws -> TreeComparison {
        let a = try ReleaseManifest.build(from: old)
        let b = try ReleaseManifest.build(from: new)
        let changes = FileChanges.between(old: a.files, new: b.files)
        var files: [FileDiff] = []
        func secret(_ path: String) -> Bool {
            if secretPaths.contains(path) { return true }
            for p in [old + "/" + path, new + "/" + path] {
                var st = stat()
                if lstat(p, &st) == 0, st.st_mode & 0o077 == 0 { return true }
            }
            return false
        }
        func text(_ p: String) -> String? {
            guard let d = try? AtomicFile.readIfExists(p) else { return "" }
            return String(data: d, encoding: .utf8)
        }
        for (path, status) in changes.added.map({ ($0, "added") }) + changes.removed.map({ ($0, "removed") }) + changes.changed.map({ ($0, "changed") }) {
            if secret(path) {
                files.append(FileDiff(path: path, status: status, diff: nil, note: "holds secrets (mode 0600): content not shown"))
                continue
            }
            let o = status == "added" ? "" : text(old + "/" + path)
            let n = status == "removed" ? "" : text(new + "/" + path)
            guard let o, let n else {
                files.append(FileDiff(path: path, status: status, diff: nil, note: "binary file"))
                continue
            }
            files.append(FileDiff(path: path, status: status,
                                  diff: TextDiff.unified(old: o, new: n, oldName: status == "added" ? "/dev/null" : oldLabel + "/" + path,
                                                         newName: status == "removed" ? "/dev/null" : newLabel + "/" + path),
                                  note: nil))
        }
        files.sort { ReleaseManifest.pathOrder($0.path, $1.path) }
        return TreeComparison(from: oldLabel, to: newLabel, changes: changes, files: files, identical: changes.isEmpty)
    }

    /// One host's comparison in `org diff` of an environment with hosts.
    public struct HostComparison: Encodable, Sendable {
        public var host: String
        public var target: String
        public var comparison: TreeComparison?
        public var error: String?
    }

    /// `org diff` of an environment with hosts: each host's current release against the
    /// working copy rendered for that host.
    public struct FleetComparison: Encodable, Sendable {
        public var env: String
        public var hosts: [HostComparison]
        public var identical: Bool
    }

    public func diffFleet(org name: String, env envName: String, hosts selector: HostSelector?) throws -> FleetComparison {
        let (org, inputs) = try loadValid(name)
        let env = try org.environment(envName)
        let hosts = try selector.map { try $0.select(env.fleetHosts, env: envName) } ?? env.fleetHosts
        var out: [HostComparison] = []
        for (i, host) in hosts.enumerated() {
            var row = HostComparison(host: host.name, target: host.target)
            do {
                let manager = try manager(env, host: host.target)
                row.target = manager.target.description
                context.progress.step("fetching the current release of \(envName)/\(host.name) (\(i + 1) of \(hosts.count))")
                row.comparison = try compareWithRender(org, inputs: inputs, envName: envName, host: host, manager: manager,
                                                       label: "\(envName)/\(host.name)")
            } catch let e as any TetraError {
                row.error = e.message
            }
            out.append(row)
        }
        return FleetComparison(env: envName, hosts: out, identical: out.allSatisfy { $0.error == nil && $0.comparison?.identical == true })
    }

    /// `org diff ORG ENV`: the env's current release (old) against the local render (new).
    public func diff(org name: String, env envName: String) throws -> TreeComparison {
        let (org, inputs) = try loadValid(name)
        let env = try org.environment(envName)
        let manager = try manager(env)
        context.progress.step("fetching the current release of \(envName)")
        return try compareWithRender(org, inputs: inputs, envName: envName, host: nil, manager: manager, label: envName)
    }

    /// What `manager`'s target runs (old, `LABEL@RELEASE`) against the working copy rendered
    /// for the environment and host (new, `local`).
    private func compareWithRender(_ org: LoadedOrg, inputs: OrgValidator.Inputs, envName: String, host: FleetHost?,
                                   manager: ReleaseManager, label: String) throws -> TreeComparison {
        let dir = try scratch("diff")
        defer { removeScratch(dir) }
        let local = dir + "/local", remote = dir + "/remote"
        for d in [local, remote] { try AtomicFile.ensureDirectory(d, mode: 0o700) }
        let rendered = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets(for: envName), into: local, scanned: nil, host: host)
        let current = try manager.current()
        if let current { try manager.fetch(current, into: remote) }
        return try Self.compareTrees(old: remote, new: local, oldLabel: "\(label)@\(current?.rawValue ?? "none")",
                                     newLabel: "local", secretPaths: Set(rendered.secretFiles))
    }

    /// `env diff FROM TO`: what is deployed at FROM (old) against TO (new).
    /// `env diff FROM TO`: what FROM's current release holds (old) against TO's (new). A side
    /// that is an environment with hosts is one of its hosts: `fromHost`/`toHost` by name, else
    /// its first host (the label names it: `prod/web1@RELEASE`).
    public func envDiff(org name: String, from: String, to: String, fromHost: String? = nil, toHost: String? = nil) throws -> TreeComparison {
        let org = try store.load(name)
        let dir = try scratch("envdiff")
        defer { removeScratch(dir) }
        var labels: [String] = []
        for (envName, hostName, sub) in [(from, fromHost, "a"), (to, toHost, "b")] {
            let env = try org.environment(envName)
            let (m, label) = try diffSide(env, envName: envName, host: hostName)
            try AtomicFile.ensureDirectory(dir + "/" + sub, mode: 0o700)
            context.progress.step("fetching the current release of \(label)")
            guard let current = try m.current() else {
                throw CoreError.notFound(what: "release", name: "current of \(label)", hint: "nothing is deployed to \(label) yet")
            }
            try m.fetch(current, into: dir + "/" + sub)
            labels.append("\(label)@\(current)")
        }
        return try Self.compareTrees(old: dir + "/a", new: dir + "/b", oldLabel: labels[0], newLabel: labels[1])
    }

    /// One side of `env diff`: the env's target, or the named (else first) of its hosts.
    private func diffSide(_ env: EnvironmentConfig, envName: String, host: String?) throws -> (ReleaseManager, String) {
        guard env.isFleet else {
            if let host {
                throw CoreError.invalidArgument("\(envName) has no hosts (it has one target): leave out the host '\(host)'")
            }
            return (try manager(env), envName)
        }
        let hosts = env.fleetHosts
        guard let chosen = host.map({ h in hosts.first { $0.name == h } }) ?? hosts.first else {
            let names = hosts.map(\.name).joined(separator: ", ")
            throw CoreError.invalidArgument(host.map { "\(envName) has no host '\($0)' (its hosts: \(names))" } ?? "\(envName) has no hosts")
        }
        return (try manager(env, host: chosen.target), "\(envName)/\(chosen.name)")
    }

    // MARK: - pull

    public struct PullOutcome: Encodable, Sendable {
        public var org: String
        public var env: String
        public var target: String
        public var release: String?
        public var drift: DriftSummary?
        /// The current release against the local render.
        public var local_differences: FileChanges
        public var written: [String]
        public var skipped: [String]
        public var snapshot: String?
        /// Local files changed since the release was made that --write --force overwrote.
        public var overwritten: [String] = []
    }

    /// `hosts`: for an environment with hosts, the one host to pull from (required there).
    public func pull(org name: String, env envName: String, write: Bool, force: Bool = false, hosts: HostSelector? = nil) throws -> PullOutcome {
        try Names.validate(name, what: "org")
        let (org, inputs) = try loadValid(name)
        let env = try org.environment(envName)
        var host: FleetHost? = nil
        if env.isFleet {
            let chosen = try hosts.map { try $0.select(env.fleetHosts, env: envName) } ?? env.fleetHosts
            guard chosen.count == 1 else {
                throw CoreError.invalidArgument("\(envName) has \(chosen.count) hosts: choose the one to pull from with --hosts NAME",
                                                hint: "hosts of \(envName): " + env.fleetHosts.map(\.name).joined(separator: ", "))
            }
            host = chosen[0]
        } else if hosts != nil {
            throw CoreError.invalidArgument("--hosts is for an environment with hosts; \(envName) has one target")
        }
        let manager = try host.map { try self.manager(env, host: $0.target) } ?? self.manager(env)
        context.progress.step("reading \(manager.target)")
        guard let current = try manager.current() else {
            throw CoreError.notFound(what: "release", name: "current of \(envName)", hint: "nothing is deployed to \(envName) yet")
        }
        let drift = try manager.drift(current)
        let dir = try scratch("pull")
        defer { removeScratch(dir) }
        let local = dir + "/local", remote = dir + "/remote"
        for d in [local, remote] { try AtomicFile.ensureDirectory(d, mode: 0o700) }
        _ = try OrgRenderer(catalog: TemplateCatalog(paths: paths), interrupt: context.interrupt)
            .render(org, environment: envName, ports: inputs.ports, secrets: inputs.secrets(for: envName), into: local, scanned: nil, host: host)
        context.progress.step("fetching \(envName)@\(current)")
        try manager.fetch(current, into: remote)
        let remoteManifest = try ReleaseManifest.build(from: remote)
        let localManifest = try ReleaseManifest.build(from: local)
        var outcome = PullOutcome(org: name, env: envName, target: manager.target.description, release: current.rawValue,
                                  drift: DriftSummary(drift), local_differences: FileChanges.between(old: remoteManifest.files, new: localManifest.files),
                                  written: [], skipped: [], snapshot: nil)
        guard write, !(drift.changed.isEmpty && drift.added.isEmpty) else { return outcome }
        let candidates = (drift.changed + drift.added).sorted(by: ReleaseManifest.pathOrder)
        var toWrite: [String] = []
        for path in candidates {
            if LocalFiles.exists(org.filesDirectory + "/" + path + ".tmpl") {
                outcome.skipped.append(path + " (rendered from files/\(path).tmpl; edit the template)")
            } else if !SnapshotStore.isRelativeInside(path) {
                outcome.skipped.append(path + " (unsafe path)")
            } else {
                toWrite.append(path)
            }
        }
        if toWrite.isEmpty { return outcome }
        // A local file changed since the release was made is never overwritten silently.
        let conflicts = try pullConflicts(toWrite, org: org, release: current, manager: manager, fetched: remote)
        toWrite.removeAll { conflicts.unchanged.contains($0) }
        outcome.skipped += conflicts.unchanged.map { $0 + " (already the same locally)" }
        if !conflicts.changed.isEmpty {
            if !force { throw Self.pullConflictError(conflicts.changed, org: name, env: envName) }
            outcome.overwritten = conflicts.changed
        }
        if toWrite.isEmpty { return outcome }
        try withOrgLock(name) {
            let snap = try snapshots.take(org: name, directory: org.directory, reason: "before pull --write \(envName)", by: by, now: context.now())
            outcome.snapshot = snap.id
            for path in toWrite {
                let from = remote + "/" + path
                var st = stat()
                guard lstat(from, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let data = try AtomicFile.readIfExists(from) else { continue }
                let dest = org.filesDirectory + "/" + path
                try AtomicFile.ensureDirectory(PathText.parent(dest), mode: 0o755)
                try AtomicFile.write(data, to: dest, mode: st.st_mode & 0o777)
                outcome.written.append(path)
            }
        }
        return outcome
    }

    // MARK: - history

    public struct HistoryRecord: Encodable, Sendable {
        public var time: String
        public var env: String
        /// The host, for an environment with hosts.
        public var host: String? = nil
        /// This machine's entry of a push to an environment with hosts: the hosts it left on
        /// the release.
        public var hosts: [String]? = nil
        /// "local" (this machine's state/history) or "target" (the target's .tetra/history.jsonl).
        public var origin: String
        public var action: String
        public var release: String
        public var previous: String?
        public var by: String
        public var source: String?
        public var message: String?
        public var snapshot: String?
    }

    public func historyRecords(org name: String, env only: String?) throws -> (records: [HistoryRecord], problems: [String]) {
        let org = try store.load(name)
        // What a killed push left unrecorded is recorded first, so this shows it too.
        reconcilePending(name)
        let names = try only.map { [try Names.validated($0, what: "env")] } ?? org.environmentNames
        var out: [HistoryRecord] = []
        var problems: [String] = []
        let local = try history.entriesChecked(name)
        for line in local.corrupt { context.progress.warn(line) }
        // An environment with hosts: every host's history, and this machine's entries tagged
        // with the host whose target they name.
        var hostsByTarget: [String: [String: String]] = [:]
        for envName in names {
            let env = try org.environment(envName)
            guard env.isFleet else { continue }
            for h in env.fleetHosts {
                if let t = try? env.deployTarget(h.target) { hostsByTarget[envName, default: [:]][t.description] = h.name }
            }
        }
        for e in local.entries where names.contains(e.env) {
            var record = HistoryRecord(time: e.time, env: e.env, origin: "local", action: e.action, release: e.release, previous: e.previous,
                                       by: e.by, source: e.source, message: e.message, snapshot: e.snapshot)
            record.host = hostsByTarget[e.env]?[e.target]
            record.hosts = e.hosts
            out.append(record)
        }
        for envName in names {
            let env = try org.environment(envName)
            let targets: [(host: String?, target: String)] = env.isFleet ? env.fleetHosts.map { ($0.name, $0.target) } : [(nil, env.target ?? "")]
            for (host, target) in targets {
                do {
                    let m = try manager(env, host: target)
                    context.progress.step("reading the history of \(m.target)")
                    let remote = try m.historyChecked()
                    for line in remote.corrupt { context.progress.warn(line) }
                    for h in remote.entries where h.org == nil || h.org == name {
                        var record = HistoryRecord(time: h.time, env: envName, origin: "target", action: h.action, release: h.release,
                                                   previous: h.previous, by: h.by, source: h.source, message: h.message, snapshot: nil)
                        record.host = host
                        out.append(record)
                    }
                } catch let e as any TetraError {
                    if only != nil && host == nil { throw e }
                    problems.append("\(envName)\(host.map { "/" + $0 } ?? ""): \(e.message)")
                }
            }
        }
        out.sort { ($0.time, $0.origin) < ($1.time, $1.origin) }
        return (out, problems)
    }
}
