import FoundationEssentials

/// The data of one `tetra dash` frame (docs/dash.md, docs/json.md): what `--json` prints and
/// what the text and terminal renderers draw. Built by `DashFrameBuilder.frame()`.
public struct DashFrame: Sendable, Encodable {
    public var org: String
    public var env: String?
    public var time: Date
    /// Whether actions on the selected environment need the service's name typed.
    public var protected: Bool
    public var services: [DashService]
    public var environments: [DashEnvironment]
    public var alerts: [DashAlert]
    public var certificates: [DashCertificate]
    public var port_problems: [PortService.Problem]
    public var warnings: [String]?

    public init(org: String, env: String? = nil, time: Date, protected: Bool = false, services: [DashService] = [],
                environments: [DashEnvironment] = [], alerts: [DashAlert] = [], certificates: [DashCertificate] = [],
                port_problems: [PortService.Problem] = [], warnings: [String]? = nil) {
        self.org = org
        self.env = env
        self.time = time
        self.protected = protected
        self.services = services
        self.environments = environments
        self.alerts = alerts
        self.certificates = certificates
        self.port_problems = port_problems
        self.warnings = warnings
    }
}

/// One service row: its state from the state file, its newest measurements and the recent
/// CPU and memory points (oldest first) for the sparklines.
public struct DashService: Sendable, Encodable, Equatable {
    public var name: String
    public var host: String?
    public var runtime: ServiceDefinition.Runtime
    public var state: ServiceStateName
    public var health: ServiceHealthName
    public var pid: Int32?
    public var cpu_percent: Double?
    public var memory_bytes: UInt64?
    public var cpu_points: [Double]?
    public var memory_points: [Double]?
    public var restarts: Int
    public var started_at: Date?
    public var uptime_seconds: Int?
    public var port: Int?
    public var tags: [String]?
    public var message: String?

    public init(name: String, host: String? = nil, runtime: ServiceDefinition.Runtime = .process, state: ServiceStateName,
                health: ServiceHealthName = .none, pid: Int32? = nil, restarts: Int = 0, uptime_seconds: Int? = nil, port: Int? = nil) {
        self.name = name
        self.host = host
        self.runtime = runtime
        self.state = state
        self.health = health
        self.pid = pid
        self.restarts = restarts
        self.uptime_seconds = uptime_seconds
        self.port = port
    }

    /// The search resource the `/` filter matches (`name`, `state:`, `host:`, `tag:`).
    public func searchResource(org: String) -> SearchResource {
        SearchResource(kind: .service, name: name, org: org, host: host ?? "local", tags: tags ?? [], state: state.rawValue)
    }
}

/// Whether an environment's targets differ from its current release. The dashboard does not
/// reach targets, so it says `unknown` (`tetra org status` checks).
public enum DashDrift: String, Sendable, Encodable { case unknown }

public struct DashEnvironment: Sendable, Encodable, Equatable {
    public var name: String
    public var protected: Bool
    public var target: String?
    public var hosts: Int?
    public var release: String?
    public var deployed_at: String?
    public var by: String?
    public var age_seconds: Int?
    public var drift: DashDrift
}

public struct DashAlert: Sendable, Encodable, Equatable {
    public var alert: String
    public var severity: String
    public var service: String?
    public var domain: String?
    public var since: String?
    public var value: String?
}

public struct DashCertificate: Sendable, Encodable, Equatable {
    public var domain: String
    public var expires_at: String
    public var days_left: Int
}

/// Filters services with the search grammar (docs/search.md): `api`, `state:running`,
/// `host:local`, `tag:web`, `-state:stopped`. An empty filter keeps every service.
public enum DashFilter {
    public static func apply(_ text: String, to services: [DashService], org: String, now: Date) throws -> [DashService] {
        guard !text.trimming(.whitespaces).isEmpty else { return services }
        let query = try SearchQuery.parse(text)
        return services.filter { query.matches($0.searchResource(org: org), now: now) }
    }
}
