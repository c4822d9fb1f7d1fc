import FoundationEssentials
import Glibc

/// Builds `DashFrame`s for one org. It starts no process for a local service: the state
/// files, `/proc` (through the state files' liveness checks) and the metrics rings are read,
/// and a ring is re-read only when its file changed. Docker services (which have no state
/// file) ask docker at most every `dockerEvery` seconds. Keep one builder for a session: it
/// caches the catalog, the rings and the slow panes between frames.
public final class DashFrameBuilder {
    public let core: CoreContext
    public private(set) var org: String
    public private(set) var env: String?
    /// Seconds between re-reads of the definitions, environments, certificates, alerts and
    /// port registry (they change rarely; the services' states are read every frame).
    public var slowEvery: TimeInterval = 5
    public var dockerEvery: TimeInterval = 15
    /// Sparkline points kept per service.
    public static let sparkPoints = 24

    struct RingCache { var mtime: Int = -1; var size: Int = -1; var records: [MetricRecord] = [] }
    var rings: [String: RingCache] = [:]
    var catalog: ServiceCatalog?
    var slowAt: Date = .distantPast
    var slow: (envs: [DashEnvironment], alerts: [DashAlert], certs: [DashCertificate], ports: [PortService.Problem],
               protected: Bool, warnings: [String]) = ([], [], [], [], false, [])
    var docker: [String: (at: Date, status: ServiceManager.Status)] = [:]

    public init(core: CoreContext, org: String, env: String? = nil) {
        self.core = core
        self.org = org
        self.env = env
    }

    /// Switches org or env (`o`, `e` keys): caches are dropped.
    public func select(org: String, env: String?) {
        self.org = org
        self.env = env
        rings = [:]
        catalog = nil
        docker = [:]
        slowAt = .distantPast
    }

    var manager: ServiceManager { ServiceManager(core: core, org: org) }

    /// One frame. Parts that cannot be read become warnings; the org's services failing to
    /// load is an error (exit 3 with its positions).
    public func frame() throws -> DashFrame {
        let now = core.now()
        if catalog == nil || now.timeIntervalSince(slowAt) >= slowEvery || now < slowAt {
            catalog = try manager.catalog()
            refreshSlow(now: now)
            slowAt = now
        }
        let cat = catalog!
        var warnings = slow.warnings + cat.warnings.map { $0.description }
        let services = cat.definitions.map { def in service(def, cat, now: now, warnings: &warnings) }
        return DashFrame(org: org, env: env, time: now, protected: slow.protected, services: services,
                         environments: slow.envs, alerts: slow.alerts, certificates: slow.certs, port_problems: slow.ports,
                         warnings: warnings.isEmpty ? nil : warnings)
    }

    func service(_ def: ServiceDefinition, _ cat: ServiceCatalog, now: Date, warnings: inout [String]) -> DashService {
        let st: ServiceManager.Status
        if def.runtime == .docker, let cached = docker[def.name], now.timeIntervalSince(cached.at) < dockerEvery, now >= cached.at {
            st = cached.status
        } else {
            do { st = try manager.status(def, cat) } catch {
                var row = DashService(name: def.name, runtime: def.runtime, state: .unknown)
                row.message = (error as? any TetraError)?.message ?? "\(error)"
                return row
            }
            if def.runtime == .docker { docker[def.name] = (now, st) }
        }
        var row = DashService(name: def.name, runtime: def.runtime, state: st.state, health: st.health, pid: st.pid,
                              restarts: st.restarts, uptime_seconds: st.uptime_seconds, port: st.port)
        row.started_at = st.started_at
        row.tags = def.tags.isEmpty ? nil : def.tags
        row.message = st.message
        guard def.runtime == .process else { return row }
        let records: [MetricRecord]
        do { records = try ringRecords(def.name) } catch {
            warnings.append("\(error)")
            return row
        }
        guard !records.isEmpty else { return row }
        let recent = records.suffix(Self.sparkPoints)
        row.cpu_points = recent.map { $0.stat(.cpu).map { MetricPoint.rounded($0.avg, .cpu) } ?? 0 }
        row.memory_points = recent.map { $0.stat(.memory).map { MetricPoint.rounded($0.avg, .memory) } ?? 0 }
        // The newest measurements of the process that runs now (not of an earlier run).
        if let last = records.last, st.pid != nil, last.time >= (st.started_at ?? .distantPast) {
            row.cpu_percent = last.stat(.cpu).map { MetricPoint.rounded($0.avg, .cpu) }
            row.memory_bytes = last.stat(.memory).map { UInt64(MetricPoint.rounded($0.avg, .memory)) }
        }
        return row
    }

    /// The sample ring's newest records, re-read only when the file changed (a supervisor
    /// writes one record per metrics interval, 10 s by default).
    func ringRecords(_ service: String) throws -> [MetricRecord] {
        let ring = MetricsStore(paths: core.paths, org: org, service: service).ring(.sample)
        var st = stat()
        guard lstat(ring.path, &st) == 0 else { rings[service] = nil; return [] }
        let mtime = Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec)
        if let c = rings[service], c.mtime == mtime, c.size == Int(st.st_size) { return c.records }
        let records = Array(try ring.read().suffix(Self.sparkPoints))
        rings[service] = RingCache(mtime: mtime, size: Int(st.st_size), records: records)
        return records
    }

    /// Environments (local history: current release, age, who), firing alerts, certificates
    /// expiring within 21 days, port problems.
    func refreshSlow(now: Date) {
        var warnings: [String] = []
        var envs: [DashEnvironment] = []
        var protected = false
        do {
            let loaded = try OrgStore(paths: core.paths).load(org)
            let history = (try? LocalHistory(paths: core.paths).entries(org)) ?? []
            for (name, e) in loaded.config.environments {
                if name == env { protected = e.isProtected }
                var row = DashEnvironment(name: name, protected: e.isProtected, target: e.target,
                                          hosts: e.isFleet ? e.fleetHosts.count : nil, drift: .unknown)
                if let last = history.last(where: { $0.env == name }) {
                    row.release = last.release
                    row.deployed_at = last.time
                    row.by = last.by
                    row.age_seconds = Timestamps.parseISO8601(last.time).map { max(0, Int(now.timeIntervalSince($0))) }
                }
                envs.append(row)
            }
        } catch {
            warnings.append("environments: \((error as? any TetraError)?.message ?? "\(error)")")
        }
        slow = (envs, alerts(&warnings), certificates(&warnings), ports(&warnings), protected, warnings)
    }

    func alerts(_ warnings: inout [String]) -> [DashAlert] {
        do {
            let (list, w) = try AlertService(core: core).list(org: org)
            warnings += w
            return list.alerts.flatMap { rule in
                rule.subjects.filter { $0.status == .firing }.map { s in
                    DashAlert(alert: rule.alert, severity: rule.severity, service: s.service, domain: s.domain, since: s.starts_at ?? s.changed_at,
                              value: s.value)
                }
            }
        } catch {
            warnings.append("alerts: \((error as? any TetraError)?.message ?? "\(error)")")
            return []
        }
    }

    func certificates(_ warnings: inout [String]) -> [DashCertificate] {
        do {
            return try SSLService(core: core).list().filter { $0.days_left <= 21 }
                .sorted { ($0.days_left, $0.domain) < ($1.days_left, $1.domain) }
                .map { DashCertificate(domain: $0.domain, expires_at: $0.not_after, days_left: $0.days_left) }
        } catch {
            warnings.append("certificates: \((error as? any TetraError)?.message ?? "\(error)")")
            return []
        }
    }

    func ports(_ warnings: inout [String]) -> [PortService.Problem] {
        var service = PortService(store: PortStore(paths: core.paths), cache: PortLookupCache(paths: core.paths))
        service.servicesRoot = core.paths
        do {
            return try service.check(owners: ServiceManager.portOwners(paths: core.paths)).problems
        } catch {
            warnings.append("ports: \((error as? any TetraError)?.message ?? "\(error)")")
            return []
        }
    }
}
