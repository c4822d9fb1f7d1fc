import FoundationEssentials

/// One host of a fleet push, from its render to its settled state: its parsed target and
/// release manager (made once), its rendered tree, and once reached its lock, which it holds
/// until `settle`. Each step records what happened in `report`; a step runs on one thread at
/// a time (the push hands hosts to worker threads, never one host to two).
final class FleetHostRun: @unchecked Sendable {
    let host: FleetHost
    let target: DeployTarget
    let manager: ReleaseManager
    let started = Monotonic.now()
    var tree = ""
    var manifest = ReleaseManifest()
    var lock: ReleaseManager.AcquiredLock?
    /// `current` when the lock was taken (and its manifest, for the delta and the changes).
    var known = OrgService.KnownTarget(current: nil, manifest: [:])
    var staged = false
    var activated = false
    /// The release is already at the host (a rollback): switched to, not sent.
    var existing = false
    /// `current` was switched by this push (even if it went back since).
    var switched = false
    /// The services this host runs from its release (the host's list, else the env's).
    var services: [String] = []
    /// The tetra that runs `__host activate` at the host (set when it has services).
    var agent: String?
    var report: FleetHostReport

    init(host: FleetHost, env: EnvironmentConfig, service: OrgService) throws {
        self.host = host
        manager = try service.manager(env, host: host.target)
        target = manager.target
        report = FleetHostReport(host: host.name, target: target.description, phase: .reach, result: .planned, duration_ms: 0)
    }

    var transport: any ReleaseTransport { manager.transport }
    var failed: Bool { report.result == .failed || report.result == .unreachable || report.result == .unsupported }
    /// The release directory of `id` at the host (`{release}` in verify commands).
    func releaseDirectory(_ id: ReleaseID) -> String { target.path + "/releases/" + id.rawValue }

    func fail(_ error: any Error, phase: FleetHostReport.Phase) {
        report.phase = phase
        let unreachable = phase == .reach && Self.isUnreachable(error)
        report.result = unreachable ? .unreachable : error is PlatformMismatch ? .unsupported : .failed
        report.error = Self.message(error)
        stamp()
    }

    func stamp() { report.duration_ms = Int(((Monotonic.now() - started) * 1000).rounded()) }

    static func isUnreachable(_ error: any Error) -> Bool {
        switch error as? ToolError {
        case .failed(_, let status, _)?: return status == 255
        case .timedOut?: return true
        default: return false
        }
    }

    static func message(_ error: any Error) -> String {
        (error as? any TetraError)?.message ?? "\(error)"
    }

    /// Reaches the host: takes its lock and reads what `current` holds in one round trip.
    func reach() throws {
        let taken = try manager.acquireLock(reading: OrgService.KnownTarget.paths)
        lock = taken
        known = OrgService.KnownTarget.from(taken.files)
        report.previous = taken.state.current?.rawValue
        report.changes = FileChanges.between(old: known.current == taken.state.current ? known.manifest : [:], new: manifest.files)
    }

    /// Sends the rendered tree as `releases/<id>.partial` (nothing switched).
    func stage(_ id: ReleaseID) throws {
        guard let lock else { throw CoreError.failed("\(target) is not locked") }
        let state = lock.state
        if existing {
            guard state.releases.contains(id) else {
                throw CoreError.notFound(what: "release", name: id.rawValue, hint: "it is not at \(target)")
            }
            staged = true
            return
        }
        if state.releases.contains(id) {
            throw CoreError.conflict("release \(id) already exists at \(target)", hint: "release ids include the time to the second; push again")
        }
        report.phase = .upload
        let previous = state.current.flatMap { state.releases.contains($0) ? $0 : nil }
        let request = UploadRequest(tree: tree, manifest: manifest, release: id, previous: previous, state: state,
                                    previousFiles: known.current == previous ? known.manifest : nil)
        do {
            let stats = try transport.upload(request)
            report.transport = stats.method
            report.files_sent = stats.filesSent
            report.bytes_sent = stats.bytesSent
            staged = true
        } catch {
            try? transport.removePartial(id)
            throw error
        }
    }

    /// Finalizes the staged release and switches `current` to it (the lock stays held).
    func activate(_ id: ReleaseID, metadata: ReleaseMetadata, keep: Int) throws {
        guard let lock else { throw CoreError.failed("\(target) is not locked") }
        report.phase = .activate
        let state = lock.state
        let previous = state.current.flatMap { state.releases.contains($0) ? $0 : nil }
        if existing {
            report.release = id.rawValue
            if state.current == id { return } // already there: nothing to switch (or go back)
            try transport.commit(manager.activatePlan(id, previous: state.current, source: metadata.source, message: metadata.message,
                                                      org: metadata.org, env: metadata.env, lock: lock, unlock: false))
            staged = false
            activated = true
            switched = true
            return
        }
        let prune = ReleaseManager.pruneList(releases: state.releases + [id], current: id, previous: previous, keep: keep)
        let meta = ReleaseManager.completed(metadata, id: id, manifest: manifest)
        let plan = manager.commitPlan(id, manifest: manifest, metadata: meta, previous: previous, stats: nil, lock: lock,
                                      prune: prune, unlock: false, verify: !target.isLocal && state.remoteHasSha256sum)
        let outcome = try transport.commit(plan)
        switched = true
        for failure in outcome.pruneFailures { manager.context.progress.warn("\(host.name): could not prune release \(failure)") }
        staged = false
        activated = true
        report.release = id.rawValue
    }

    /// Sets `agent`: the tetra copied to an ssh host (copied now when missing), the running
    /// one for a local target.
    func installAgent(context: CoreContext) throws {
        agent = try (transport as? SSHTransport).map { try HostBinary(context: context).ensure($0) } ?? context.executablePath
    }

    /// Puts the services of the host's `current` release in place and waits until they are
    /// healthy (`tetra __host activate` at the host); a failure names the services.
    func activateServices(org: String, context: CoreContext, timeout: TimeInterval, uninterruptible: Bool = false) throws {
        guard !services.isEmpty, let agent else { return }
        let seconds = max(1, Int(timeout.rounded(.up)))
        let argv = [agent, "__host", "activate", target.path, "--org", org, "--timeout", "\(seconds)s", "--json",
                    "--dir", target.path + "/.tetra/state"]
        let result = try TargetShell(transport: transport, context: context, uninterruptible: uninterruptible).run(argv, cwd: "/", timeout: TimeInterval(seconds) + 60)
        struct Activation: Decodable {
            struct Service: Decodable { var name: String; var error: String? }
            var services: [Service]
            var healthy: Bool
        }
        guard let doc = try? JSONDecoder().decode(Activation.self, from: result.stdout) else {
            throw CoreError.failed("\(host.name): starting the services failed (exit \(result.status)): "
                                   + ToolError.tail(of: result.stderrString + result.stdoutString))
        }
        let failed = doc.services.compactMap(\.error)
        if !doc.healthy || result.status != 0 {
            throw CoreError.failed("\(host.name): " + (failed.isEmpty ? "the services did not become healthy" : failed.joined(separator: "; ")),
                                   hint: "see `tetra svc logs` on the host (state under \(target.path)/.tetra/state)")
        }
    }

    /// Points `current` back at the release it held before this push (when there was one).
    /// Returns false when there is nothing to go back to (the host's first release).
    @discardableResult
    func goBack(from id: ReleaseID, reason: String, org: String, env: String) throws -> Bool {
        guard let lock, let previous = lock.state.current else { return false }
        let plan = manager.activatePlan(previous, previous: id, source: ReleaseManager.goingBackSource + reason, message: nil, org: org, env: env,
                                        lock: lock, unlock: false)
        try transport.commit(plan)
        activated = false
        return true
    }

    /// Removes an upload that was never switched to and releases the lock (never interrupted).
    func settle(_ id: ReleaseID?) {
        if staged, !existing, let id { try? transport.removePartial(id) }
        staged = false
        if let lock { try? transport.unlock(token: lock.token) }
        lock = nil
    }
}
