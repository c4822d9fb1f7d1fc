import FoundationEssentials
import Glibc
import TetraCore

/// `tetra quickstart`: a demo in a fresh state root (a temporary one unless --dir is given):
/// an org from the built-in template, its ports allocated, dev pushed to a local target
/// inside that root, its status; then what was done and how to clean up.
enum QuickstartCommand {
    static let orgName = "demo"

    struct Step: Encodable {
        let step: String
        let detail: String
    }

    struct Result: Encodable {
        let state_root: String
        let temporary: Bool
        let org: String
        let ports: [String: Int]
        let target: String
        let release: String
        let files: Int
        let status: [OrgService.EnvStatus]
        /// The demo service (python3 -m http.server serving dev's current release); nil when
        /// python3 is not installed.
        let service: ServiceManager.Status?
        let steps: [Step]
        let cleanup: String
    }

    static var spec: CommandSpec {
        CommandSpec("quickstart", summary: "A demo in a fresh state root: create an org, allocate ports, push dev, start a service, show status",
                    discussion: """
                    Uses a new temporary state root unless --dir names one (which must not hold an org
                    called 'demo' yet). Nothing outside that directory is touched: dev's target is
                    inside it. The demo service (python3 -m http.server on the allocated port, serving dev's
                    current release, with an HTTP health check) keeps running under its supervisor until
                    it is stopped: the clean-up printed at the end stops it first. Prints every step.
                    """,
                    examples: ["tetra quickstart", "tetra quickstart --dir /tmp/tetra-demo"], json: true,
                    handler: { _, env in try run(env) })
    }

    static func run(_ env: CommandEnvironment) throws -> CommandOutput {
        let temporary = env.options.dir == nil
        let root: String
        if let dir = env.options.dir {
            root = env.core.absolutePath(dir)
        } else {
            let base = env.cli.environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
            var template = Array((base + "/tetra-quickstart.XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else {
                throw CoreError.failed("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
            }
            root = String(cString: made)
        }
        var core = env.core
        core.stateRoot = root
        let paths = core.paths
        try StateRoot.ensure(paths, flagGiven: true)
        if OrgStore(paths: paths).exists(orgName) {
            throw CoreError.conflict("\(root) already has an org '\(orgName)'", hint: "quickstart wants a fresh state root: omit --dir, or give an empty directory")
        }
        var steps: [Step] = []
        func step(_ s: String, _ d: String) {
            steps.append(Step(step: s, detail: d))
        }
        step("state root", root + (temporary ? " (temporary)" : ""))

        // 1. the org, from the built-in template; dev deploys inside the state root.
        let admin = OrgAdmin(context: core)
        let created = try admin.create(orgName, template: "org/default", values: TOMLTable([("domain", .string("demo.example"))]), dryRun: false)
        step("org", "created '\(orgName)' from org/default (\(created.files.count) files, environments \(created.environments.joined(separator: ", ")))")
        let target = root + "/targets/\(orgName)/dev"
        _ = try admin.set(orgName, keyPath: ["environments", "dev", "target"], value: .string(target), dryRun: false)
        step("target", "dev deploys to \(target)")

        // 2. ports: every port the templates use, from dev's range.
        let org = try OrgStore(paths: paths).load(orgName)
        let range = try org.environment("dev").portRange ?? "development"
        let portService = PortService(store: PortStore(paths: paths))
        var ports: [String: Int] = [:]
        for name in ["web"] {
            let change = try core.withLock("ports") { try portService.allocate(name, rangeName: range, dryRun: false) }
            ports[name] = change.port
            step("port", "\(name) = \(change.port ?? 0) (range \(range))")
        }

        // 3. push dev, 4. status.
        let service = OrgService(context: core)
        let pushed = try service.push(org: orgName, env: "dev", message: "tetra quickstart", dryRun: false, approve: false)
        step("push", "dev release \(pushed.release ?? "?") (\(pushed.files) files) at \(target)/current")
        let status = try service.status(org: orgName, env: "dev")
        step("status", "dev is at \(status.first?.release ?? "?"), drift: \(status.first?.drift?.clean == true ? "none" : "found")")

        // 5. the demo service: python3 -m http.server on the web port, serving dev's current
        //    release, with an HTTP health check; started and shown healthy. The org's
        //    snapshot taken by the push above keeps the template's own definition.
        let services = ServiceManager(core: core, org: orgName)
        var serviceStatus: ServiceManager.Status? = nil
        if core.runner.which("python3") == nil {
            step("service", "skipped: python3 is not installed (the demo service is python3 -m http.server)")
        } else {
            // The template's `web` runs ./bin/server, which a demo does not have: its command,
            // cwd and health check are edited (format-preserving) to a python3 static server
            // of dev's current release on the same port.
            let command: [String] = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
            let file = paths.org(orgName) + "/services/web.toml"
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
            step("service", "web started (pid \(started.first?.pid.map(String.init) ?? "?"), port \(ports["web"] ?? 0)), supervised by tetra")
            serviceStatus = try waitHealthy(services, "web", timeout: 20, interrupt: core.interrupt)
            let health = serviceStatus?.health ?? "unknown"
            step("health", "web is \(serviceStatus?.state ?? "?"), \(health): http://127.0.0.1:\(ports["web"] ?? 0)/")
            guard health == "healthy" else {
                _ = try? services.stop(["web"])
                throw CoreError.failed("the demo service did not become healthy within 20s (state \(serviceStatus?.state ?? "?"))",
                                       hint: "it was stopped; see `tetra --dir \(ShellQuote.quote(root)) --org \(orgName) svc logs web --stderr`")
            }
        }

        let stop = "tetra --dir \(ShellQuote.quote(root)) --org \(orgName) svc stop --all"
        let cleanup = (serviceStatus == nil ? "" : stop + " && ")
            + (temporary ? "rm -rf \(ShellQuote.quote(root))"
                         : "tetra --dir \(ShellQuote.quote(root)) org delete \(orgName) --yes && rm -rf \(ShellQuote.quote(root + "/targets/" + orgName))")
        let result = Result(state_root: root, temporary: temporary, org: orgName, ports: ports, target: target,
                            release: pushed.release ?? "", files: pushed.files, status: status, service: serviceStatus,
                            steps: steps, cleanup: cleanup)
        let q = ShellQuote.quote(root)
        var text = "tetra quickstart: done\n\n"
        for s in steps { text += "  \(s.step): \(s.detail)\n" }
        text += "\nLook around (this demo's state root):\n"
        text += "  export TETRA_DIR=\(q) TETRA_ORG=\(orgName)\n"
        text += "  tetra org show \(orgName)\n"
        text += "  cat \(ShellQuote.quote(target))/current/app.env\n"
        text += "  tetra org status \(orgName)\n"
        text += "  tetra org set vars.replicas 2 && tetra org push \(orgName) dev --dry-run && tetra org push \(orgName) dev\n"
        text += "  tetra org rollback \(orgName) dev && tetra org history \(orgName) dev\n"
        if serviceStatus != nil {
            text += "  tetra svc status web && tetra svc logs web -n 5 && curl -s http://127.0.0.1:\(ports["web"] ?? 0)/app.env\n"
        }
        text += "\nClean up:\n  \(cleanup)\n"
        return CommandOutput(json: result, text: text)
    }

    /// Polls the service until its health is known to be healthy (or it failed), for at most
    /// `timeout` seconds.
    static func waitHealthy(_ services: ServiceManager, _ name: String, timeout: TimeInterval,
                            interrupt: InterruptFlag) throws -> ServiceManager.Status {
        let deadline = Monotonic.now() + timeout
        while true {
            let status = try services.status(name)
            if status.health == "healthy" || ["crashloop", "failed", "stopped"].contains(status.state) || Monotonic.now() > deadline {
                return status
            }
            try interrupt.check()
            usleep(100_000)
        }
    }
}
