import FoundationEssentials

/// One `[[alerts]]` rule of org.toml (scope: the org) or of `config/alerts.toml` (scope:
/// every org). docs/alerts.md describes the keys.
public struct AlertRule: Sendable, Equatable {
    public var name: String
    /// The org of the org.toml it is written in; nil for `config/alerts.toml`.
    public var org: String?
    /// A service name or `*` (for `cert_days_left`: a certificate's domain or `*`).
    public var target: String
    public var condition: AlertCondition
    /// How long the condition holds before the alert fires (0: at once).
    public var forSeconds: TimeInterval
    /// While firing, the notification is sent again this often (nil: once).
    public var repeatSeconds: TimeInterval?
    public var notify: [String]
    /// The `severity` label (default `warning`).
    public var severity: String
    /// The file it is written in, as messages show it.
    public var file: String

    public static let defaultSeverity = "warning"

    /// Unique across every rule: `acme/api-hot`, or `*/api-hot` for a rule of config/alerts.toml.
    public var id: String { (org ?? "*") + "/" + name }

    /// Whether this rule is about `service` of `org`.
    public func applies(org: String, service: String) -> Bool {
        condition.measure.isServiceMeasure && (self.org == nil || self.org == org) && (target == "*" || target == service)
    }

    /// Whether this rule is about the certificate of `domain`.
    public func applies(domain: String) -> Bool {
        condition.measure == .cert_days_left && (target == "*" || target == domain)
    }
}

/// How a notifier is reached.
public enum AlertNotifierKind: String, Sendable, Equatable, Codable {
    case webhook, command
}

/// `[notifiers.NAME]`: where a rule's notifications go.
public struct AlertNotifier: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A URL, or a template of one (`{{ secrets.OPS_WEBHOOK }}`) rendered when sending.
        case webhook(String)
        /// An argv; relative program paths are resolved against `directory`.
        case command([String])
    }

    public var name: String
    public var kind: Kind
    /// The org whose secrets a webhook template reads; nil for `config/alerts.toml` (the
    /// secrets of the alert's org).
    public var org: String?
    /// The directory of the file it is written in (org directory or `config/`).
    public var directory: String

    public var kindName: AlertNotifierKind {
        switch kind {
        case .webhook: return .webhook
        case .command: return .command
        }
    }

    /// The webhook URL, rendered with `secrets`. A secret: never printed, logged or passed
    /// in an argv.
    public func webhookURL(secrets: [String: String]) throws -> String {
        guard case .webhook(let template) = kind else { throw CoreError.failed("notifier \(name) is not a webhook") }
        guard template.contains("{{") else { return template }
        var table = TOMLTable()
        for (k, v) in secrets { table[k] = .string(v) }
        do {
            return try Template(source: template, name: "notifiers.\(name).webhook").render(TOMLTable([("secrets", .table(table))]))
                .trimming(.whitespacesAndNewlines)
        } catch let e as ConfigError {
            // Only names and positions, never a secret's value.
            throw CoreError.failed("notifier \(name): its webhook does not render (\(e.problems.map(\.message).joined(separator: "; ")))",
                                   hint: "define the secret in the org's secrets.env")
        }
    }
}

/// Every rule and notifier that applies to an org (or to all of them): org.toml's and those
/// of `config/alerts.toml`. Loaded once; a supervisor keeps it for its lifetime.
public struct AlertRuleSet: Sendable {
    public var rules: [AlertRule]
    /// Notifiers by scope: an org's (`orgs[org][name]`) and the global ones.
    public var orgNotifiers: [String: [String: AlertNotifier]]
    public var globalNotifiers: [String: AlertNotifier]

    public init(rules: [AlertRule] = [], orgNotifiers: [String: [String: AlertNotifier]] = [:], globalNotifiers: [String: AlertNotifier] = [:]) {
        self.rules = rules
        self.orgNotifiers = orgNotifiers
        self.globalNotifiers = globalNotifiers
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// The notifier `name` as rule `rule` sees it (its org's first, then the global ones).
    public func notifier(_ name: String, for rule: AlertRule) -> AlertNotifier? {
        if let org = rule.org, let n = orgNotifiers[org]?[name] { return n }
        return globalNotifiers[name]
    }

    /// The rules about one service.
    public func rules(org: String, service: String) -> [AlertRule] {
        rules.filter { $0.applies(org: org, service: service) }
    }

    /// `config/alerts.toml`.
    public static func globalFile(_ paths: StatePaths) -> String { paths.config + "/alerts.toml" }

    /// The rules of `orgs` (nil: every org of the state root) and of `config/alerts.toml`.
    /// Every problem of every file at once: `ConfigError` (exit 3).
    public static func load(paths: StatePaths, orgs: [String]? = nil) throws -> AlertRuleSet {
        var set = AlertRuleSet()
        var problems: [ConfigProblem] = []
        let global = AlertConfigReader.readGlobal(paths: paths)
        problems += global.problems
        set.rules += global.rules
        set.globalNotifiers = global.notifiers
        let store = OrgStore(paths: paths)
        for org in orgs ?? store.names() {
            let display = "orgs/\(org)/org.toml"
            guard let data = try AtomicFile.readIfExists(paths.org(org) + "/org.toml", limit: InputFile.configLimit) else {
                throw CoreError.notFound(what: "org", name: org, hint: Suggest.didYouMean(org, in: store.names()) ?? "see 'tetra org list'")
            }
            let document: TOMLDocument
            do { document = try TOMLDocument(bytes: Array(data), fileName: display) } catch let e as ConfigError {
                problems += e.problems.map { var p = $0; p.file = p.file ?? display; return p }
                continue
            }
            let read = AlertConfigReader.read(document, file: display, org: org, directory: paths.org(org),
                                              services: nil, globalNotifiers: global.notifierNames, secrets: nil)
            problems += read.problems
            set.rules += read.rules
            set.orgNotifiers[org] = read.notifiers
        }
        if !problems.isEmpty { throw ConfigError(problems, hint: "see docs/alerts.md for the rules' keys and conditions") }
        return set
    }
}
