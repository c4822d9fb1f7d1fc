import FoundationEssentials
import Glibc

/// A push to an environment of many hosts, in four phases (see docs/fleets.md):
/// 1. `pre_push` hooks here; a failure stops everything before any host is touched.
/// 2. Every host reached, locked and sent the release, `parallel` at once; nothing switched.
///    Past `max_failures`, every upload is removed and every lock released.
/// 3. Activation in batches: switch `current`, then every `verify` hook on the host must
///    pass within `health_timeout`; a failed host goes back to its previous release. Past
///    `max_failures`, every host this push switched goes back and the rest is not switched.
/// 4. `post_push` hooks here, with the outcome.
/// One release id for every host (a host's files may differ: templates see `host`).
struct FleetPush {
    let service: OrgService
    let org: String
    let envName: String
    let env: EnvironmentConfig
    let spec: FleetSpec
    let runs: [FleetHostRun]

    var context: CoreContext { service.context }

    init(service: OrgService, org: String, envName: String, env: EnvironmentConfig, spec: FleetSpec) throws {
        self.service = service
        self.org = org
        self.envName = envName
        self.env = env
        self.spec = spec
        runs = try spec.hosts.map { try FleetHostRun(host: $0, env: env, service: service) }
    }

    /// `existing`: switch every host to this release, already there (a rollback), instead of
    /// rendering and sending a new one.
    func run(_ source: PushUnit.Source, _ intent: PushUnit.Intent, dryRun: Bool, existing: ReleaseID? = nil) throws -> FleetPushOutcome {
        let dir = try service.scratch("fleet")
        defer { service.removeScratch(dir) }
        let id: ReleaseID
        if let existing {
            id = existing
            for run in runs { run.existing = true; run.services = run.host.services ?? spec.services }
        } else {
            try render(source, into: dir, checks: intent.runChecks)
            // Newer than this machine's last push to the env (ids order by the second; the
            // hosts are not reached yet: pre_push hooks see the id).
            let last = try? service.history.entries(org, env: envName).compactMap { try? ReleaseID($0.release) }.max()
            id = service.newReleaseID(contentHash: SHA256.hex(of: runs.map(\.manifest.contentHash).joined(separator: "\n")), after: last ?? nil)
        }
        var outcome = FleetPushOutcome(org: org, env: envName, action: intent.action, dry_run: dryRun, release: dryRun ? nil : id.rawValue,
                                       snapshot: source.snapshot, source: intent.source, outcome: .success, hosts: [],
                                       host_count: runs.count, failed_count: 0, max_failures: spec.maxFailures,
                                       batch_count: spec.batches(runs).count, hooks: [])
        if dryRun { return try plan(outcome, id: existing) }
        let hooks = FleetHooks(context: context, directory: source.org.directory, environment: [
            "TETRA_ORG": org, "TETRA_ENV": envName, "TETRA_HOSTS": runs.map(\.host.name).joined(separator: ","), "TETRA_RELEASE": id.rawValue,
        ])
        outcome.hooks = try hooks.prePush(spec.hooks.prePush ?? [])
        defer { for run in runs { run.settle(id) } }
        var interrupted = false
        do {
            try stage(id)
            outcome.outcome = try activate(id, source: source, intent: intent)
        } catch is StageFailed {
            outcome.outcome = .failed
        } catch CoreError.interrupted {
            // Every host this push switched went back; the uploads are removed below.
            interrupted = true
            outcome.outcome = runs.contains(where: \.switched) ? .rolled_back : .failed
        }
        settle(id)
        outcome.hosts = runs.map(\.report)
        outcome.failed_count = runs.filter(\.failed).count
        if outcome.outcome == .success && outcome.failed_count > 0 { outcome.outcome = .partial }
        outcome.hooks += hooks.postPush(spec.hooks.postPush ?? [], outcome: outcome)
        if interrupted {
            for run in runs where run.report.result != .ok || run.activated {
                context.progress.warn("\(run.host.name): \(run.report.result.rawValue) at \(run.report.phase.rawValue)")
            }
            throw CoreError.interrupted
        }
        return outcome
    }

    /// Every host's releases and `current`, read in parallel (not locked); the first error
    /// (an unreachable host) is thrown.
    func states() throws -> [TargetState] {
        try Parallel.map(runs.count, width: spec.parallel) { i in Result { try runs[i].manager.state() } }.map { try $0.get() }
    }

    /// Renders the org for every host, one tree each (hosts may differ through `host.*`).
    /// `checks`: the environment's checks run on each host's tree (`env promote --validate`).
    private func render(_ source: PushUnit.Source, into dir: String, checks: Bool) throws {
        let renderer = OrgRenderer(catalog: TemplateCatalog(paths: service.paths), interrupt: context.interrupt)
        for (i, run) in runs.enumerated() {
            context.progress.step("rendering \(org) for \(envName)/\(run.host.name)")
            run.tree = dir + "/\(i)"
            guard mkdir(run.tree, 0o700) == 0 else { throw IOError("create directory", path: run.tree, errno: errno) }
            let rendered = try renderer.render(source.org, environment: envName, ports: source.inputs.ports, secrets: source.inputs.secrets(for: envName),
                                               into: run.tree, linkPlainFiles: true, scanned: source.scanned, host: run.host)
            run.services = run.host.services ?? spec.services
            let shipped = try ReleaseServices.render(run.services, org: source.org, environment: envName, host: run.host, inputs: source.inputs,
                                                     paths: service.paths, into: run.tree, interrupt: context.interrupt)
            run.manifest = ReleaseManifest(files: rendered.hashes.merging(shipped) { a, _ in a })
            if checks {
                _ = try EnvironmentChecks.run(env, envName: envName, tree: run.tree, secrets: source.inputs.secrets(for: envName), context: context)
            }
        }
    }

    /// A dry run: every host's changes against what its `current` holds (read, not locked).
    private func plan(_ outcome: FleetPushOutcome, id existing: ReleaseID?) throws -> FleetPushOutcome {
        var outcome = outcome
        Parallel.forEach(runs.count, width: spec.parallel) { i in
            let run = runs[i]
            do {
                let known = OrgService.KnownTarget.from(try run.transport.readFiles(OrgService.KnownTarget.paths))
                run.report.previous = known.current?.rawValue
                if let existing {
                    run.report.release = existing.rawValue
                } else {
                    run.report.changes = FileChanges.between(old: known.manifest, new: run.manifest.files)
                }
                run.stamp()
            } catch {
                run.fail(error, phase: .reach)
            }
        }
        outcome.hosts = runs.map(\.report)
        outcome.failed_count = runs.filter(\.failed).count
        outcome.outcome = outcome.failed_count == 0 ? .success : outcome.failed_count > spec.maxFailures ? .failed : .partial
        return outcome
    }

    /// Phase 2: every host reached, locked and sent the release, `parallel` at once.
    private func stage(_ id: ReleaseID) throws {
        context.progress.step("sending \(id) to \(runs.count) hosts of \(envName)")
        Parallel.forEach(runs.count, width: spec.parallel) { i in
            let run = runs[i]
            do {
                try run.reach()
                try context.interrupt.check()
                if !run.services.isEmpty {
                    try run.installAgent(context: context)
                }
                try run.stage(id)
                run.report.phase = .activate
                run.stamp()
            } catch {
                run.fail(error, phase: run.lock == nil ? .reach : .upload)
            }
        }
        try context.interrupt.check()
        let failures = runs.filter(\.failed).count
        if failures > spec.maxFailures {
            throw StageFailed()
        }
    }

    struct StageFailed: Error {}

    /// Every host's upload removed (when never switched to) and lock released, `parallel` at
    /// once (one round trip each: done one after the other they cost 10 hosts 0.3 s).
    private func settle(_ id: ReleaseID) {
        Parallel.forEach(runs.count, width: spec.parallel) { i in
            let run = runs[i]
            run.settle(id)
            if run.report.result == .planned { run.report.result = .not_activated }
            run.stamp()
        }
    }

    /// Phase 3: activation in batches. Returns the outcome once every batch is settled.
    private func activate(_ id: ReleaseID, source: PushUnit.Source, intent: PushUnit.Intent) throws -> FleetPushOutcome.Outcome {
        var made = ReleaseMetadata(org: org, env: envName, snapshot: source.snapshot ?? "", created: context.now(), by: service.by,
                                   source: intent.source, message: intent.message)
        made.git = source.revision
        let meta = made
        let verifier = FleetVerifier(context: context, commands: spec.hooks.verify ?? [], ports: source.inputs.ports)
        let ready = runs.filter { $0.staged }
        var failures = runs.filter(\.failed).count
        for (n, batch) in spec.batches(ready).enumerated() {
            context.progress.step("activating batch \(n + 1) of \(spec.batches(ready).count): " + batch.map(\.host.name).joined(separator: ", "))
            let deadline = Monotonic.now() + spec.healthTimeout
            Parallel.forEach(batch.count, width: batch.count) { i in
                activate(batch[i], id, meta: meta, verifier: verifier, deadline: deadline)
            }
            failures += batch.filter(\.failed).count
            if failures > spec.maxFailures || context.interrupt.isRaised {
                rollBack(id, reason: context.interrupt.isRaised ? "interrupted" : "\(failures) hosts failed (max_failures \(spec.maxFailures))")
                try context.interrupt.check()
                return .rolled_back
            }
        }
        record(id, meta: meta, action: intent.action)
        return .success
    }

    /// This machine's history line of the push: one per push, naming the hosts it left on the
    /// release (each host's own history has its line too). Written once activation is over; a
    /// push killed before then has only the hosts' lines.
    private func record(_ id: ReleaseID, meta: ReleaseMetadata, action: DeployAction) {
        let on = runs.filter { $0.report.result == .ok }
        guard !on.isEmpty else { return }
        let previous = Set(on.map(\.report.previous))
        var entry = LocalHistoryEntry(time: Timestamps.iso8601(context.now()), org: org, env: envName, action: action.rawValue,
                                      release: id.rawValue, previous: previous.count == 1 ? previous.first! : nil,
                                      snapshot: meta.snapshot.isEmpty ? nil : meta.snapshot,
                                      target: "\(on.count) host\(on.count == 1 ? "" : "s")", by: service.by, source: meta.source,
                                      message: meta.message)
        entry.hosts = on.map(\.host.name)
        entry.record(meta.git)
        service.recordHistory(entry)
    }

    /// Switches one host, records it here, then verifies it; a failure sends it back.
    private func activate(_ run: FleetHostRun, _ id: ReleaseID, meta: ReleaseMetadata, verifier: FleetVerifier,
                          deadline: TimeInterval) {
        do {
            try run.activate(id, metadata: meta, keep: env.keep)
            run.report.phase = .services
            try run.activateServices(org: org, context: context, timeout: max(1, deadline - Monotonic.now()))
            run.report.phase = .verify
            try verifier.verify(run, id: id, deadline: deadline)
            run.report.phase = .done
            run.report.result = .ok
            run.stamp()
        } catch {
            run.fail(error, phase: run.report.phase)
            guard run.activated else { return }
            do {
                if try !run.goBack(from: id, reason: "\(run.report.phase.rawValue) failed", org: org, env: envName) {
                    run.report.error = (run.report.error ?? "") + " (its first release: nothing to go back to)"
                } else {
                    try run.activateServices(org: org, context: context, timeout: spec.healthTimeout, uninterruptible: true)
                }
            } catch {
                run.report.error = (run.report.error ?? "") + "; going back failed: " + FleetHostRun.message(error)
            }
        }
    }

    /// Every host this push switched goes back (past `max_failures`, or on Ctrl-C: exit 130
    /// leaves things as they were); hosts staged but not switched stay as they were (their
    /// uploads are removed when they settle).
    private func rollBack(_ id: ReleaseID, reason: String) {
        context.progress.step("rolling back \(envName): \(reason)")
        let switched = runs.filter(\.activated)
        Parallel.forEach(switched.count, width: spec.parallel) { i in
            let run = switched[i]
            do {
                if try run.goBack(from: id, reason: reason, org: org, env: envName) {
                    try run.activateServices(org: org, context: context, timeout: spec.healthTimeout, uninterruptible: true)
                }
                if run.report.result == .ok { run.report.result = .rolled_back }
            } catch {
                run.report.result = .failed
                run.report.error = "going back failed: " + FleetHostRun.message(error)
            }
            run.stamp()
        }
    }
}
