import FoundationEssentials
import Glibc

/// The host's side of a push with services (`tetra __host activate`, run on the host over ssh,
/// or here for a local target): after `current` was switched, the services the release ships
/// (`.tetra/services/`) are put in place and restarted, reloaded or started, each as its
/// `on_deploy` says, then waited for until healthy. The host keeps its own state root under
/// `<target>/.tetra/state` and supervises exactly as `svc` does (one supervisor per service,
/// in its own session, so it outlives the ssh session).
public struct HostAgent: Sendable {
    public let core: CoreContext
    public let target: String
    public let org: String

    /// What happened to one service.
    public struct ServiceResult: Encodable, Sendable {
        public enum Action: String, Encodable, Sendable { case restarted, reloaded, started, running, stopped }
        public var name: String
        public var action: Action
        public var state: String?
        public var health: String?
        public var pid: Int32?
        public var error: String?
    }

    public struct Activation: Encodable, Sendable {
        public var target: String
        public var release: String?
        public var services: [ServiceResult]
        public var healthy: Bool
    }

    /// `target`: the target directory (absolute); `core`: this tetra's context (its state root
    /// is replaced by the host's).
    public init(core: CoreContext, target: String, org: String) {
        var hostCore = core
        hostCore.stateRoot = target + "/.tetra/state"
        self.core = hostCore
        self.target = target
        self.org = org
    }

    var current: String { target + "/current" }
    var servicesDirectory: String { core.paths.org(org) + "/services" }

    public func activate(timeout: TimeInterval) throws -> Activation {
        try Names.validate(org, what: "org")
        let release = LocalFiles.readLink(current).map(PathText.lastComponent)
        let wanted = try materialize()
        let manager = ServiceManager(core: core, org: org)
        var results: [ServiceResult] = []
        // Services this release no longer ships are stopped first.
        for name in try installedNames() where !wanted.contains(name) {
            let stopped = try? manager.stop([name])
            try? LocalFiles.removeTree(servicesDirectory + "/\(name).toml")
            results.append(ServiceResult(name: name, action: .stopped, error: stopped == nil ? "could not be stopped" : nil))
        }
        let catalog = try manager.catalog()
        let deadline = Monotonic.now() + timeout
        for name in try catalog.startOrder(wanted) {
            let def = try catalog.definition(name)
            var result = ServiceResult(name: name, action: .started)
            do {
                result.action = try apply(def, catalog: catalog, manager: manager)
            } catch let e as any TetraError {
                result.error = e.message
            }
            results.append(result)
        }
        for i in results.indices where results[i].action != .stopped && results[i].error == nil {
            results[i] = wait(results[i], catalog: catalog, deadline: deadline)
        }
        return Activation(target: target, release: release, services: results,
                          healthy: results.allSatisfy { $0.error == nil })
    }

    /// The release's definitions written into the host's state root, `{release}` replaced
    /// by `<target>/current` and `cwd` defaulting to it; the port registry beside them.
    /// Returns the names shipped.
    func materialize() throws -> [String] {
        let source = current + "/" + ReleaseServices.directory
        try AtomicFile.ensureDirectory(target + "/.tetra", mode: 0o755)
        for dir in [core.paths.root, core.paths.root + "/orgs", core.paths.org(org), servicesDirectory, core.paths.config] {
            try AtomicFile.ensureDirectory(dir, mode: 0o700)
        }
        let orgFile = core.paths.org(org) + "/org.toml"
        if !FileManager.default.fileExists(atPath: orgFile) {
            try AtomicFile.write(string: "# written by tetra on this host: the services of \(org) pushed to \(target)\n[org]\nname = \"\(org)\"\n",
                                 to: orgFile, mode: 0o600)
        }
        if let registry = try AtomicFile.readIfExists(current + "/" + ReleaseServices.portsFile, limit: InputFile.configLimit) {
            try AtomicFile.write(registry, to: core.paths.portsFile, mode: 0o600)
        }
        var names: [String] = []
        for file in ((try? LocalFiles.list(source)) ?? nil ?? []).sorted() where file.hasSuffix(".toml") {
            let name = String(file.dropLast(5))
            guard Names.isValid(name), let data = try AtomicFile.readIfExists(source + "/" + file, limit: InputFile.configLimit),
                  var text = String(data: data, encoding: .utf8) else { continue }
            text = text.replacingAll("{release}", with: current)
            let document = try TOMLDocument(bytes: Array(text.utf8), fileName: source + "/" + file)
            if document.table["cwd"] == nil { text = "cwd = \"\(current)\"\n" + text }
            try AtomicFile.write(string: text, to: servicesDirectory + "/" + file, mode: 0o600)
            try placeSecrets(of: name)
            names.append(name)
        }
        return names
    }

    /// The release's secrets of service `name` (only what it lists) as its own 0600 file in
    /// its state directory, read by its supervisor at each spawn; none: removed.
    func placeSecrets(of name: String) throws {
        let paths = ServicePaths(paths: core.paths, org: org, name: name)
        let own = paths.stateDirectory + "/secrets.env"
        guard let data = try AtomicFile.readIfExists(current + "/" + ReleaseServices.secretsDirectory + "/\(name).env",
                                                      limit: InputFile.configLimit) else {
            try? LocalFiles.removeTree(own)
            return
        }
        try AtomicFile.ensureDirectory(paths.stateDirectory, mode: 0o700)
        try AtomicFile.write(data, to: own, mode: 0o600)
    }

    func installedNames() throws -> [String] {
        ((try? LocalFiles.list(servicesDirectory)) ?? nil ?? []).filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// `on_deploy`: restart, reload or leave running; a service that is not running starts.
    func apply(_ def: ServiceDefinition, catalog: ServiceCatalog, manager: ServiceManager) throws -> ServiceResult.Action {
        let record = ServiceRecord.read(catalog.servicePaths(def.name).stateFile)
        let running = record.map { ServiceRecord.activeStates.contains($0.state) && $0.supervisorAlive } ?? false
        guard running, let record else {
            _ = try manager.start(def, catalog)
            return .started
        }
        switch def.onDeploy {
        case .restart:
            _ = try manager.restart(def.name)
            return .restarted
        case .none:
            return .running
        case .reload:
            if let reload = def.reload {
                // `{pid}`: the service's process (the group leader).
                let argv = reload.map { $0.replacingAll("{pid}", with: record.process.map { String($0.pid) } ?? "") }
                let r = try core.runner.run(ProcessRequest(argv[0], Array(argv.dropFirst()), workingDirectory: def.cwd, timeout: 60))
                guard r.status == 0 else {
                    throw CoreError.failed("\(def.name): reload \(ShellQuote.join(argv)) exited with status \(r.status): "
                                           + ToolError.tail(of: r.stderrString + r.stdoutString))
                }
            } else if let pid = record.process?.pid {
                kill(-pid, SIGHUP)
            }
            return .reloaded
        }
    }

    /// Waits until the service is healthy (with a health check) or running (without), or the
    /// deadline; the result says which.
    func wait(_ result: ServiceResult, catalog: ServiceCatalog, deadline: TimeInterval) -> ServiceResult {
        var out = result
        let def = try? catalog.definition(result.name)
        let file = catalog.servicePaths(result.name).stateFile
        while true {
            let rec = ServiceRecord.read(file)
            out.state = rec?.state
            out.health = rec?.health
            out.pid = rec?.process?.pid
            let ok = def?.health == nil ? rec?.state == "running" : rec?.health == "healthy"
            if ok { return out }
            if rec?.state == "failed" || rec?.state == "crashloop" || Monotonic.now() >= deadline || core.interrupt.isRaised {
                out.error = "\(result.name) is \(rec?.state ?? "unknown")" + (def?.health == nil ? "" : ", health \(rec?.health ?? "unknown")")
                    + (rec?.message.map { ": " + $0 } ?? "")
                return out
            }
            Threads.sleep(0.1)
        }
    }
}
