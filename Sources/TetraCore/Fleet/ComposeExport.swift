import FoundationEssentials

/// What `tetra export compose ENV` wrote (see docs/fleets.md): the services in the file and
/// those noted as comments.
public struct ComposeExport: Encodable, Sendable {
    public var org: String
    public var env: String
    /// Docker runtime services, written as Compose services (in the environment's order).
    public var services: [String]
    /// Process runtime services, noted in the file as comments (not containerised).
    public var skipped: [String]
    /// The file written (`-o FILE`).
    public var file: String?
    /// The Compose file itself, when it was not written to a file.
    public var compose: String?
}

extension OrgService {
    /// The Compose file of an environment's services (its `services` and its hosts' own
    /// lists), each definition rendered for the environment as a push renders it (for an
    /// environment with hosts, for the first host that runs it). Secrets are `${NAME}`
    /// references, never values.
    public func exportCompose(org name: String, env envName: String) throws -> ComposeExport {
        try Names.validate(name, what: "org")
        try Names.validate(envName, what: "env")
        let org = try store.load(name)
        let env = try org.environment(envName)
        let (spec, problems) = FleetSpec.read(env, envName: envName, org: org)
        if !problems.isEmpty { throw ConfigError(problems) }
        let hosts = spec?.hosts ?? []
        var names: [String] = []
        for list in [env.services ?? []] + hosts.map({ $0.services ?? env.services ?? [] }) {
            for service in list where !names.contains(service) { names.append(service) }
        }
        let inputs = validator.inputs(orgDirectory: org.directory)
        try inputs.checkSecrets()
        let secrets = ComposeSecrets(names: Array(inputs.secrets(for: envName).keys))
        var defs: [ServiceDefinition] = []
        var configProblems: [ConfigProblem] = []
        for service in names {
            let host = hosts.first { ($0.services ?? env.services ?? []).contains(service) } ?? hosts.first
            do {
                defs.append(try renderedDefinition(service, org: org, envName: envName, host: host, inputs: inputs, secrets: secrets))
            } catch let e as ConfigError {
                configProblems += e.problems
            }
        }
        if !configProblems.isEmpty { throw ConfigError(configProblems) }
        var writer = ComposeWriter(org: name, env: envName, secrets: secrets, manager: ServiceManager(core: context, org: name),
                                   containerised: Set(defs.filter { $0.runtime == .docker }.map(\.name)))
        for def in defs {
            let port = try def.port.map { ref -> Int in
                switch ref {
                case .number(let n): return n
                case .named(let p):
                    guard let n = inputs.ports[p] else {
                        throw CoreError.notFound(what: "port", name: p, hint: "service \(def.name) uses it: register it with `tetra ports set \(p) PORT`")
                    }
                    return n
                }
            }
            writer.add(def, port: port)
        }
        return ComposeExport(org: name, env: envName, services: writer.written, skipped: writer.skipped, compose: writer.text)
    }

    /// `services/<name>.toml` rendered for the environment (and host), secrets as sentinels.
    private func renderedDefinition(_ service: String, org: LoadedOrg, envName: String, host: FleetHost?, inputs: OrgValidator.Inputs,
                                    secrets: ComposeSecrets) throws -> ServiceDefinition {
        let file = org.directory + "/services/\(service).toml"
        guard let data = try AtomicFile.readIfExists(file, limit: InputFile.configLimit) else {
            throw CoreError.notFound(what: "service", name: service, hint: "environment \(envName) lists it; its definition is \(file)")
        }
        let context = try OrgRenderContext.build(org: org.document.table, environment: envName, ports: inputs.ports,
                                                 secrets: secrets.sentinels, file: org.orgFile, host: host?.templateTable)
        let text = try Template(source: String(decoding: data, as: UTF8.self), name: file)
            .renderResult(context, partials: nil, interrupt: self.context.interrupt).text
        return try ServiceDefinition.parse(try TOMLDocument(parsing: text, fileName: file), file: file, expectedName: service).0
    }
}

/// Secret values in a rendered definition: a random sentinel per name, turned into a Compose
/// `${NAME}` reference when the file is written, so no value is ever read into the file.
struct ComposeSecrets {
    let sentinels: [String: String]

    init(names: [String]) {
        let token = TargetLockRecord.newToken()
        sentinels = Dictionary(uniqueKeysWithValues: names.map { ($0, "@@tetra-secret-\(token)-\($0)@@") })
    }

    /// A literal for Compose: `$` doubled (Compose interpolates `$`), sentinels as `${NAME}`.
    func literal(_ text: String) -> String { references(text.replacingAll("$", with: "$$")) }

    /// Sentinels as `${NAME}`.
    func references(_ text: String) -> String {
        var s = text
        for (name, sentinel) in sentinels where s.contains(sentinel) { s = s.replacingAll(sentinel, with: "${\(name)}") }
        return s
    }
}

/// Writes the Compose YAML: every scalar a double-quoted string (`YAMLText.quoted`), so no
/// value is read as a number, boolean or null.
struct ComposeWriter {
    let org: String
    let env: String
    let secrets: ComposeSecrets
    let manager: ServiceManager
    /// The docker services of the file (`depends_on` names only these).
    let containerised: Set<String>
    var written: [String] = []
    var skipped: [String] = []
    private var body = ""
    private var comments = ""
    private var volumes: [String] = []

    init(org: String, env: String, secrets: ComposeSecrets, manager: ServiceManager, containerised: Set<String>) {
        self.org = org
        self.env = env
        self.secrets = secrets
        self.manager = manager
        self.containerised = containerised
    }

    func q(_ s: String) -> String { YAMLText.quoted(secrets.literal(s)) }

    mutating func add(_ def: ServiceDefinition, port: Int?) {
        guard def.runtime == .docker else {
            skipped.append(def.name)
            comments += "  # process service '\(def.name)' runs \(def.command.map { YAMLText.quoted(secrets.references($0)) }.joined(separator: " ")): not containerised\n"
            return
        }
        written.append(def.name)
        let o = manager.dockerRunOptions(def, port: port)
        body += "  \(YAMLText.quoted(def.name)):\n    image: \(q(o.image))\n"
        list("command", o.command)
        // A secret named like a plain variable wins, as with `docker run -e`.
        let environment = o.environment.filter { !def.secrets.contains($0.0) } + def.secrets.map { ($0, "${\($0)}") }
        if !environment.isEmpty {
            body += "    environment:\n"
            for (key, value) in environment {
                body += "      \(YAMLText.quoted(key)): " + (def.secrets.contains(key) ? YAMLText.quoted(value) : q(value)) + "\n"
            }
        }
        list("ports", o.ports)
        list("volumes", o.volumes)
        for source in o.volumes.compactMap(Self.namedVolume) where !volumes.contains(source) { volumes.append(source) }
        if let network = o.network { body += "    network_mode: \(q(network))\n" }
        if let restart = o.restart { body += "    restart: \(q(restart))\n" }
        if let test = o.healthCommand {
            body += "    healthcheck:\n      test: [\"CMD-SHELL\", \(q(test))]\n"
            for (key, seconds) in [("interval", o.healthInterval), ("timeout", o.healthTimeout), ("start_period", o.healthStartPeriod)] {
                if let seconds { body += "      \(key): \(q(DurationValue.format(seconds)))\n" }
            }
            if let retries = o.healthRetries { body += "      retries: \(retries)\n" }
        }
        if let stop = o.stopTimeout { body += "    stop_grace_period: \(q("\(stop)s"))\n" }
        list("depends_on", def.dependsOn.filter(containerised.contains))
    }

    private mutating func list(_ key: String, _ items: [String]) {
        guard !items.isEmpty else { return }
        body += "    \(key):\n" + items.map { "      - \(q($0))\n" }.joined()
    }

    /// The source of a named volume (`data:/var/lib/x`), nil for a bind mount (a path).
    static func namedVolume(_ spec: String) -> String? {
        guard let colon = spec.firstIndex(of: ":") else { return nil }
        let source = String(spec[..<colon])
        guard let first = source.first, first.isLetter || first.isNumber, !source.contains("/") else { return nil }
        return source
    }

    /// The whole file; `depends_on` keeps only services in the file.
    var text: String {
        var out = "# Docker Compose file of the services of \(org)/\(env), written by tetra export compose.\n"
        out += "# Secrets are ${NAME} references, never values: give them in the environment or an .env file.\n"
        out += (written.isEmpty ? "services: {}\n" : "services:\n") + body + comments
        if !volumes.isEmpty {
            out += "volumes:\n" + volumes.map { "  \(YAMLText.quoted($0)):\n    name: \(q($0))\n" }.joined()
        }
        return out
    }
}

/// YAML scalars. A TOML basic string (`TOMLSerializer.appendBasicString`: `\"`, `\\`, `\b`,
/// `\t`, `\n`, `\f`, `\r`, `\uXXXX`, `\UXXXXXXXX`, every control, format, separator and
/// unassigned character escaped) is also a valid YAML double-quoted scalar (1.1 and 1.2),
/// read back as the same string: one escaper serves both.
enum YAMLText {
    static func quoted(_ s: String) -> String {
        var out = ""
        TOMLSerializer.appendBasicString(s, to: &out)
        return out
    }
}
