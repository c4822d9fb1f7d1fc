import FoundationEssentials
import Glibc

/// `tetra quickstart`: a demo in a fresh state root (a temporary one unless a directory is
/// given): an org from the built-in template, its ports allocated, dev pushed to a local
/// target inside that root, its status, and a supervised demo service; then what was done and
/// how to clean up. Nothing outside that directory is touched.
public struct Quickstart {
    public static let orgName = "demo"
    let context: CoreContext

    public init(context: CoreContext) { self.context = context }

    public struct Step: Encodable, Sendable {
        /// The demo's steps, in order (docs/json.md lists the set).
        public enum Name: String, Encodable, Sendable {
            case stateRoot = "state-root", org, target, port, push, status, service, health
        }
        public let step: Name
        public let detail: String
    }

    public struct Result: Encodable {
        public let state_root: String
        public let temporary: Bool
        public let org: String
        public let ports: [String: Int]
        public let target: String
        public let release: String
        public let file_count: Int
        public let environments: [OrgService.EnvStatus]
        /// The demo service (python3 -m http.server serving dev's current release); nil when
        /// python3 is not installed.
        public let service: ServiceManager.Status?
        public let steps: [Step]
        public let cleanup: String
    }

    /// Runs the demo in `directory` (nil: a new temporary directory).
    public func run(directory: String?) throws -> Result {
        let temporary = directory == nil
        let root: String
        if let dir = directory {
            root = context.absolutePath(dir)
        } else {
            let base = context.environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
            var template = Array((base + "/tetra-quickstart.XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else {
                throw CoreError.failed("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
            }
            root = String(cString: made)
        }
        var core = context
        core.stateRoot = root
        let paths = core.paths
        try StateRoot.ensure(paths, flagGiven: true)
        if OrgStore(paths: paths).exists(Self.orgName) {
            throw CoreError.conflict("\(root) already has an org '\(Self.orgName)'", hint: "quickstart wants a fresh state root: omit --dir, or give an empty directory")
        }
        var steps: [Step] = []
        func step(_ s: Step.Name, _ d: String) {
            steps.append(Step(step: s, detail: d))
        }
        step(.stateRoot, root + (temporary ? " (temporary)" : ""))

        // 1. the org, from the built-in template; dev deploys inside the state root.
        let admin = OrgAdmin(context: core)
        let created = try admin.create(Self.orgName, template: "org/default", values: TOMLTable([("domain", .string("demo.example"))]), dryRun: false)
        step(.org, "created '\(Self.orgName)' from org/default (\(created.files.count) files, environments \(created.environments.joined(separator: ", ")))")
        let target = root + "/targets/\(Self.orgName)/dev"
        _ = try admin.set(Self.orgName, keyPath: ["environments", "dev", "target"], value: .string(target), dryRun: false)
        step(.target, "dev deploys to \(target)")

        // 2. ports: every port the templates use, from dev's range.
        let org = try OrgStore(paths: paths).load(Self.orgName)
        let range = try org.environment("dev").portRange ?? "development"
        let portService = PortService(store: PortStore(paths: paths))
        var ports: [String: Int] = [:]
        for name in ["web"] {
            let change = try core.withLock("ports") { try portService.allocate(name, rangeName: range, dryRun: false) }
            ports[name] = change.port
            step(.port, "\(name) = \(change.port ?? 0) (range \(range))")
        }

        // 3. push dev, 4. status.
        let service = OrgService(context: core)
        guard case .target(let pushed) = try service.push(org: Self.orgName, env: "dev", message: "tetra quickstart", dryRun: false,
                                                          approve: false) else {
            throw CoreError.failed("the quickstart org's dev environment has hosts; it must have one target")
        }
        step(.push, "dev release \(pushed.release ?? "?") (\(pushed.file_count) files) at \(target)/current")
        let status = try service.status(org: Self.orgName, env: "dev")
        step(.status, "dev is at \(status.first?.release ?? "?"), drift: \(status.first?.drift?.clean == true ? "none" : "found")")

        // 5. the demo service: python3 -m http.server on the web port, serving dev's current
        //    release, with an HTTP health check; started and shown healthy. The org's
        //    snapshot taken by the push above keeps the template's own definition.
        let services = ServiceManager(core: core, org: Self.orgName)
        var serviceStatus: ServiceManager.Status? = nil
        if core.runner.which("python3") == nil {
            step(.service, "skipped: python3 is not installed (the demo service is python3 -m http.server)")
        } else {
            // The template's `web` runs ./bin/server, which a demo does not have: its command,
            // cwd and health check are edited (format-preserving) to a python3 static server
            // of dev's current release on the same port.
            let command: [String] = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
            let file = paths.org(Self.orgName) + "/services/web.toml"
            if FileManager.default.fileExists(atPath: file) {
                var doc = try TOMLDocument(contentsOfFile: file)
                try doc.set(["command"], to: .array(command.map { .string($0) }))
                try doc.set(["cwd"], to: .string(target + "/current"))
                try doc.set(["health", "http"], to: .string("http://127.0.0.1:{port}/"))
                try doc.set(["health", "start_period"], to: .string("1s"))
                try AtomicFile.write(Data(doc.renderBytes()), to: file, mode: 0o644)
            } else {
                _ = try services.create("web", command: command + ["--directory", target + "/current"],
                                        port: "web", healthHTTP: "http://127.0.0.1:{port}/")
            }
            let started = try services.start(["web"])
            step(.service, "web started (pid \(started.first?.pid.map(String.init) ?? "?"), port \(ports["web"] ?? 0)), supervised by tetra")
            serviceStatus = try Self.waitHealthy(services, "web", timeout: 20, interrupt: core.interrupt)
            let health = serviceStatus?.health ?? .unknown
            step(.health, "web is \(serviceStatus?.state.rawValue ?? "?"), \(health.rawValue): http://127.0.0.1:\(ports["web"] ?? 0)/")
            guard health == .healthy else {
                _ = try? services.stop(["web"])
                throw CoreError.failed("the demo service did not become healthy within 20s (state \(serviceStatus?.state.rawValue ?? "?"))",
                                       hint: "it was stopped; see `tetra --dir \(ShellQuote.quote(root)) --org \(Self.orgName) svc logs web --stderr`")
            }
        }

        let stop = "tetra --dir \(ShellQuote.quote(root)) --org \(Self.orgName) svc stop --all"
        let cleanup = (serviceStatus == nil ? "" : stop + " && ")
            + (temporary ? "rm -rf \(ShellQuote.quote(root))"
                         : "tetra --dir \(ShellQuote.quote(root)) org delete \(Self.orgName) --yes && rm -rf \(ShellQuote.quote(root + "/targets/" + Self.orgName))")
        return Result(state_root: root, temporary: temporary, org: Self.orgName, ports: ports, target: target,
                            release: pushed.release ?? "", file_count: pushed.file_count, environments: status, service: serviceStatus,
                            steps: steps, cleanup: cleanup)
    }

    /// Polls the service until its health is known to be healthy (or it failed), for at most
    /// `timeout` seconds.
    static func waitHealthy(_ services: ServiceManager, _ name: String, timeout: TimeInterval,
                            interrupt: InterruptFlag) throws -> ServiceManager.Status {
        let deadline = Monotonic.now() + timeout
        while true {
            let status = try services.status(name)
            if status.health == .healthy || [.crashloop, .failed, .stopped].contains(status.state) || Monotonic.now() > deadline {
                return status
            }
            try interrupt.check()
            usleep(100_000)
        }
    }
}
