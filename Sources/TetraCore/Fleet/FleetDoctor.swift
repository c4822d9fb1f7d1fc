import FoundationEssentials
import Glibc

/// `tetra doctor --env ENV`: every selected host of an environment checked in one round trip
/// each, `rollout.parallel` at once: reachable, this tetra installed there (when the env runs
/// services), free disk at the target, clock skew against this machine, and the services the
/// host's tetra supervises. A local target is checked the same way, here.
public struct FleetDoctor: Sendable {
    let context: CoreContext
    let org: String
    let envName: String
    let env: EnvironmentConfig
    let hosts: [FleetHost]
    let parallel: Int
    let runsServices: Bool

    /// Thresholds (docs/fleets.md, "doctor --env"): a problem below 100 MB or 2 % free, a
    /// warning below 1 GB or 10 %; clock skew a warning past 2 s, a problem past 30 s.
    static let diskProblemBytes: Int64 = 100 << 20
    static let diskWarningBytes: Int64 = 1 << 30
    static let skewWarning: Double = 2
    static let skewProblem: Double = 30

    public init(context: CoreContext, org: String, env envName: String, hosts selector: HostSelector?) throws {
        let loaded = try OrgStore(paths: context.paths).load(org)
        let env = try loaded.environment(envName)
        let service = OrgService(context: context)
        self.context = context
        self.org = org
        self.envName = envName
        self.env = env
        if let spec = try service.fleetSpec(loaded, envName: envName, env: env, options: FleetOptions(hosts: selector)) {
            hosts = spec.hosts
            parallel = spec.parallel
            runsServices = spec.hosts.contains { !($0.services ?? spec.services).isEmpty }
        } else {
            // One target without services: the target itself is the one host.
            if selector != nil {
                throw CoreError.invalidArgument("\(envName) has no hosts (it has one target): leave out --hosts")
            }
            _ = try env.deployTarget()
            hosts = [FleetHost(name: "target", target: env.target ?? "", vars: TOMLTable(), tags: [], services: nil)]
            parallel = 1
            runsServices = false
        }
    }

    public func checks() -> [Doctor.Check] {
        let answers = Slots<[Doctor.Check]>(hosts.count)
        Parallel.forEach(hosts.count, width: parallel) { i in answers.set(i, check(hosts[i])) }
        return answers.values.flatMap { $0 }
    }

    /// What the probe printed: marker lines, then (with services) the host's `svc list --json`.
    struct Probe {
        var remoteTime: Double?
        var totalKB: Int64?
        var availableKB: Int64?
        var binary = false
        var services: HostJSON?

        init(_ stdout: String) {
            var rest: [Substring] = []
            var inJSON = false
            for line in stdout.split(separator: "\n", omittingEmptySubsequences: false) {
                if inJSON { rest.append(line); continue }
                let words = line.split(separator: " ")
                switch words.first {
                case "@@tetra:time": remoteTime = words.dropFirst().first.flatMap { Double($0) }
                case "@@tetra:df" where words.count == 3: totalKB = Int64(words[1]); availableKB = Int64(words[2])
                case "@@tetra:binary": binary = true
                case "@@tetra:services": inJSON = true
                default: break
                }
            }
            if inJSON { services = try? JSONDecoder().decode(HostJSON.self, from: Data(rest.joined(separator: "\n").utf8)) }
        }
    }

    func check(_ host: FleetHost) -> [Doctor.Check] {
        let prefix = envName + "/" + host.name + ": "
        func row(_ what: String, _ status: Doctor.Status, _ detail: String) -> Doctor.Check {
            Doctor.Check(name: prefix + what, status: status, detail: detail)
        }
        let before = Date().timeIntervalSince1970
        let started = Monotonic.now()
        let result: ProcessResult
        let target: DeployTarget
        do {
            target = try env.deployTarget(host.target)
            let transport = ReleaseManager(target: target, context: context, options: env.transportOptions()).transport
            let binary = target.isLocal ? context.executablePath : try HostBinary(context: context).installedPath(targetPath: target.path)
            let argv = ["sh", "-c", Self.probeScript, "tetra-doctor", binary, target.path, target.path + "/.tetra/state", org,
                        runsServices ? "services" : "none"]
            result = try TargetShell(transport: transport, context: context).run(argv, cwd: "/", timeout: 60)
        } catch {
            return [row("reachable", .problem, "unreachable: " + FleetHostRun.message(error))]
        }
        let rtt = Monotonic.now() - started
        let probe = Probe(result.stdoutString)
        var rows = [row("reachable", .ok, target.isLocal ? "local target" : "ssh and back in \(Self.seconds(rtt))")]
        rows.append(diskRow(probe, row))
        rows.append(clockRow(probe, midpoint: before + rtt / 2, rtt: rtt, row))
        if runsServices {
            if !probe.binary {
                rows.append(row("tetra", .warning, "this tetra is not at \(target.path)/.tetra/bin yet: the next push copies it"))
            } else {
                rows.append(row("tetra", .ok, "installed"))
                rows.append(servicesRow(probe, row))
            }
        }
        return rows
    }

    func diskRow(_ p: Probe, _ row: (String, Doctor.Status, String) -> Doctor.Check) -> Doctor.Check {
        guard let total = p.totalKB, let free = p.availableKB, total > 0 else { return row("disk", .warning, "df gave no answer") }
        let bytes = free * 1024
        let percent = Double(free) * 100 / Double(total)
        let detail = "\(SizeValue.format(bytes)) free of \(SizeValue.format(total * 1024)) (\(Int(percent.rounded())) %) at the target"
        if bytes < Self.diskProblemBytes || percent < 2 { return row("disk", .problem, detail) }
        if bytes < Self.diskWarningBytes || percent < 10 { return row("disk", .warning, detail) }
        return row("disk", .ok, detail)
    }

    func clockRow(_ p: Probe, midpoint: Double, rtt: Double, _ row: (String, Doctor.Status, String) -> Doctor.Check) -> Doctor.Check {
        guard let remote = p.remoteTime else { return row("clock", .warning, "date +%s gave no answer") }
        // The host answers in whole seconds: up to 1 s of the difference is that rounding.
        let skew = remote + 0.5 - midpoint
        let magnitude = max(0, abs(skew) - 0.5 - rtt / 2)
        let detail = magnitude == 0 ? "in step with this machine (within 1 s)"
            : "\(Self.seconds(abs(skew))) \(skew > 0 ? "ahead of" : "behind") this machine"
        return row("clock", magnitude > Self.skewProblem ? .problem : magnitude > Self.skewWarning ? .warning : .ok, detail)
    }

    func servicesRow(_ p: Probe, _ row: (String, Doctor.Status, String) -> Doctor.Check) -> Doctor.Check {
        guard let list = p.services?["services"]?.array else {
            return row("services", .warning, "no push with services yet (nothing supervised there)")
        }
        let bad = list.compactMap { s -> String? in
            let name = s["name"]?.text ?? "?"
            let state = s["state"]?.text ?? "unknown"
            let health = s["health"]?.text ?? "unknown"
            if state != "running" { return "\(name) \(state)" }
            if health == "unhealthy" { return "\(name) unhealthy" }
            return nil
        }
        if bad.isEmpty { return row("services", .ok, "\(list.count) running") }
        return row("services", .problem, bad.joined(separator: ", "))
    }

    static func seconds(_ t: Double) -> String { NumberText.fixed(t, digits: 2) + " s" }

    /// At the host: its time, the free space of the file system holding the target (the
    /// nearest existing parent), whether this tetra is installed and, with services, the
    /// host's `svc list`. The data are the script's arguments: `$1` the binary, `$2` the
    /// target, `$3` the state root, `$4` the org, `$5` services or none.
    static let probeScript = """
        b=$1; t=$2; s=$3; o=$4; want=$5
        echo "@@tetra:time $(date +%s)"
        d=$t
        while [ ! -d "$d" ]; do d=$(dirname "$d"); done
        set -- $(df -Pk "$d" | tail -n 1)
        echo "@@tetra:df $2 $4"
        if [ -x "$b" ]; then echo @@tetra:binary; else exit 0; fi
        if [ "$want" = services ] && [ -d "$s/orgs/$o/services" ]; then
            echo @@tetra:services
            exec "$b" svc list --json --dir "$s" --org "$o"
        fi

        """
}
