import FoundationEssentials
import Glibc

/// One thing a search can return (docs/search.md). `name` identifies it within its kind and
/// scope (`org`, `env`, `host`); `detail` says what it is in a few words (a port's number, a
/// target, a release's hosts).
public struct SearchResource: Encodable, Sendable, Equatable {
    public var kind: SearchKind
    public var name: String
    public var org: String?
    public var env: String?
    public var host: String?
    public var description: String?
    public var tags: [String]?
    public var state: String?
    public var expires_at: Date?
    public var commit: String?
    public var detail: String?

    public init(kind: SearchKind, name: String, org: String? = nil, env: String? = nil, host: String? = nil,
                description: String? = nil, tags: [String] = [], state: String? = nil, expiresAt: Date? = nil,
                commit: String? = nil, detail: String? = nil) {
        self.kind = kind
        self.name = name
        self.org = org
        self.env = env
        self.host = host
        self.description = description
        self.tags = tags.isEmpty ? nil : tags
        self.state = state
        self.expires_at = expiresAt
        self.commit = commit
        self.detail = detail
    }
}

/// Gathers the resources of a state root, reading files only (state files, configs, meta.toml,
/// history), except volumes: `docker volume ls`, one process, asked only when the query can
/// match a volume and docker is installed.
public struct SearchCatalog: Sendable {
    let core: CoreContext
    var paths: StatePaths { core.paths }

    public init(core: CoreContext) { self.core = core }

    /// Every resource of the kinds `kinds` (all when nil). Unreadable parts are skipped with a
    /// warning on stderr: a search answers from what it can read.
    public func resources(kinds: Set<SearchKind>? = nil) -> [SearchResource] {
        let wants: @Sendable (SearchKind) -> Bool = { k in kinds?.contains(k) ?? true }
        var out: [SearchResource] = []
        if wants(.org) || wants(.env) || wants(.host) || wants(.service) || wants(.release) {
            // Orgs are read in parallel, each with the fast TOML reader (no positions: a search
            // reports no config problems, `org validate` does).
            let names = OrgStore(paths: paths).names()
            out += Parallel.map(names.count, width: 4) { i in orgResources(names[i], wants: wants) }.flatMap { $0 }
        }
        if wants(.port) { out += portResources() }
        if wants(.certificate) { out += certificateResources() }
        if wants(.template) { out += templateResources() }
        if wants(.volume) { out += volumeResources() }
        return out
    }

    static func table(_ path: String) -> TOMLTable? {
        guard let data = try? AtomicFile.readIfExists(path, limit: InputFile.configLimit) else { return nil }
        return try? TOMLParser.parse(bytes: Array(data), file: path)
    }

    static func strings(_ v: TOMLValue?) -> [String] { v?.arrayValue?.compactMap(\.stringValue) ?? [] }

    func orgResources(_ name: String, wants: (SearchKind) -> Bool) -> [SearchResource] {
        var out: [SearchResource] = []
        guard let toml = Self.table(paths.org(name) + "/org.toml") else {
            if wants(.org) { out.append(SearchResource(kind: .org, name: name, state: "invalid", detail: "org.toml does not load")) }
            return out
        }
        let info = toml["org"]?.tableValue
        let envs = toml["environments"]?.tableValue ?? TOMLTable()
        if wants(.org) {
            out.append(SearchResource(kind: .org, name: name, org: name, description: info?["description"]?.stringValue,
                                      tags: Self.strings(info?["tags"]), detail: "\(envs.count) environment\(envs.count == 1 ? "" : "s")"))
        }
        for (envName, value) in envs {
            guard let env = value.tableValue else { continue }
            let hosts = env["hosts"]?.arrayValue
            if wants(.env) {
                out.append(SearchResource(kind: .env, name: envName, org: name, env: envName, description: env["description"]?.stringValue,
                                          tags: Self.strings(env["tags"]), state: env["protected"]?.boolValue == true ? "protected" : nil,
                                          detail: env["target"]?.stringValue ?? "\(hosts?.count ?? 0) hosts"))
            }
            if wants(.host), let hosts {
                out += hostResources(hosts, org: name, env: envName)
            }
        }
        if wants(.service) { out += serviceResources(name) }
        if wants(.release) { out += releaseResources(name) }
        return out
    }

    /// An env's hosts: a table's `name` (else its target's host) and `tags`; a URL string's host.
    func hostResources(_ hosts: [TOMLValue], org: String, env: String) -> [SearchResource] {
        hosts.compactMap { value in
            let t = value.tableValue
            guard let target = t?["target"]?.stringValue ?? value.stringValue else { return nil }
            let name = t?["name"]?.stringValue ?? (try? DeployTarget.parse(target, sshKey: nil, sshPort: nil))?.ssh?.host ?? "local"
            return SearchResource(kind: .host, name: name, org: org, env: env, host: name, tags: Self.strings(t?["tags"]), detail: target)
        }
    }

    /// This machine's services of an org: their definitions (description, tags, command) and,
    /// from the state file, their state.
    func serviceResources(_ org: String) -> [SearchResource] {
        let dir = paths.org(org) + "/services"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
        return files.compactMap { file in
            let name = String(file.dropLast(5))
            guard Names.isValid(name), let def = Self.table(dir + "/" + file) else { return nil }
            let sp = ServicePaths(paths: paths, org: org, name: name)
            var state = "stopped"
            if let data = try? AtomicFile.readIfExists(sp.stateFile), let rec = try? ServiceRecord.decode(data, path: sp.stateFile) {
                state = rec.state
            }
            let command = Self.strings(def["command"])
            return SearchResource(kind: .service, name: name, org: org, description: def["description"]?.stringValue, tags: Self.strings(def["tags"]),
                                  state: state, detail: command.isEmpty ? def["image"]?.stringValue : command.joined(separator: " "))
        }
    }

    /// The releases this machine pushed (its history), newest first per env.
    func releaseResources(_ org: String) -> [SearchResource] {
        guard let entries = try? LocalHistory(paths: paths).entries(org) else { return [] }
        var seen = Set<String>()
        var out: [SearchResource] = []
        for e in entries.reversed() where e.action != "rollback" && seen.insert(e.env + "/" + e.release).inserted {
            out.append(SearchResource(kind: .release, name: e.release, org: org, env: e.env, host: e.hosts?.joined(separator: ","),
                                      description: e.message, commit: e.commit,
                                      detail: "\(e.action) by \(e.by) at \(e.time)" + (e.hosts.map { " to \($0.joined(separator: ", "))" } ?? "")))
        }
        return out
    }

    func portResources() -> [SearchResource] {
        guard let loaded = try? PortStore(paths: paths).load() else { return [] }
        return loaded.registry.ports.map { p in
            SearchResource(kind: .port, name: p.name, tags: loaded.registry.tags[p.name] ?? [], detail: String(p.port))
        }
    }

    func certificateResources() -> [SearchResource] {
        let ssl = SSLService(core: core)
        guard let metas = try? ssl.metas() else { return [] }
        let now = core.now()
        return metas.map { m in
            SearchResource(kind: .certificate, name: m.domain, tags: m.tags ?? [], state: m.not_after < now ? "expired" : "valid",
                           expiresAt: m.not_after, detail: m.names.joined(separator: ", "))
        }
    }

    func templateResources() -> [SearchResource] {
        guard let entries = try? TemplateCatalog(paths: paths).entries() else { return [] }
        return entries.filter(\.active).map { t in
            SearchResource(kind: .template, name: t.name, state: t.origin.rawValue, detail: t.location)
        }
    }

    func volumeResources() -> [SearchResource] {
        let volumes = VolumeManager(core: core)
        guard core.runner.which("docker") != nil, let list = try? volumes.docker.volumeList(timeout: 5) else { return [] }
        return list.map { v in
            let labels = v.labelTable
            return SearchResource(kind: .volume, name: v.name, org: labels[VolumeManager.orgLabel], env: labels[VolumeManager.envLabel],
                                  tags: VolumeManager.tags(labels), detail: v.driver)
        }
    }
}
