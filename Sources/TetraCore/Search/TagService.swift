import FoundationEssentials
import Glibc

/// `tetra tag add|remove KIND NAME TAG` (docs/search.md): edits the file that holds the
/// resource's `tags`, format-preserving and atomically, under the lock of what it edits:
/// org.toml (`[org]`, `[environments.ENV]`, a host's table in `hosts`) and a service's
/// definition under the org's lock, ports.toml (`[tags]`) under the ports lock, a
/// certificate's meta.toml under its lock. A volume's labels are fixed by docker when it is
/// created: `volume create --tag` sets them.
public struct TagService: Sendable {
    let core: CoreContext
    public init(core: CoreContext) { self.core = core }

    public enum Action: String, Encodable, Sendable { case added, removed, unchanged }

    public struct Change: Encodable, Sendable {
        public var kind: SearchKind
        public var name: String
        public var org: String?
        public var env: String?
        public var tag: String
        public var action: Action
        public var tags: [String]
        public var file: String
    }

    /// `org` is the current org for envs, hosts and services; `env` the env of a host.
    public func change(kind: SearchKind, name: String, org: String?, env: String?, tag: String, add: Bool) throws -> Change {
        try Tags.validate(tag)
        switch kind {
        case .org:
            try Names.validate(name, what: "org")
            return try editOrg(name, path: [.key("org"), .key("tags")], kind: kind, name: name, env: nil, tag: tag, add: add)
        case .env:
            let org = try required(org, "an env")
            try Names.validate(name, what: "env")
            let loaded = try OrgStore(paths: core.paths).load(org)
            _ = try loaded.environment(name)
            return try editOrg(org, path: [.key("environments"), .key(name), .key("tags")], kind: kind, name: name, env: name, tag: tag, add: add)
        case .host:
            let org = try required(org, "a host")
            guard let env else { throw CoreError.invalidArgument("a host is named within its environment: give --env ENV") }
            let e = try OrgStore(paths: core.paths).load(org).environment(env)
            guard let i = e.fleetHosts.firstIndex(where: { $0.name == name }), e.hosts?.indices.contains(i) == true,
                  case .table = e.hosts![i] else {
                throw CoreError.notFound(what: "host", name: name, hint: "a host written as a URL string has no tags: write it as a table { target = \"...\", tags = [...] }")
            }
            return try editOrg(org, path: [.key("environments"), .key(env), .key("hosts"), .index(i), .key("tags")], kind: kind, name: name, env: env,
                               tag: tag, add: add)
        case .service:
            let org = try required(org, "a service")
            try Names.validate(name, what: "service")
            let file = ServicePaths(paths: core.paths, org: org, name: name).definition
            guard FileManager.default.fileExists(atPath: file) else { throw CoreError.notFound(what: "service", name: name) }
            return try core.withLock("org." + org) {
                try edit(file, path: [.key("tags")], mode: 0o644, kind: kind, name: name, org: org, env: nil, tag: tag, add: add)
            }
        case .port:
            let store = PortStore(paths: core.paths)
            return try core.withLock("ports") {
                guard try store.loadValid().registry.ports.contains(where: { $0.name == name }) else {
                    throw CoreError.notFound(what: "port", name: name)
                }
                return try edit(store.path, path: [.key("tags"), .key(name)], mode: 0o644, kind: kind, name: name, org: nil, env: nil, tag: tag, add: add)
            }
        case .certificate:
            return try certificate(name, tag: tag, add: add)
        case .volume:
            throw CoreError.invalidArgument("docker fixes a volume's labels when it is created: tags of a volume are given with 'tetra volume create NAME --tag TAG'")
        case .template, .release:
            throw CoreError.invalidArgument("\(kind.rawValue)s have no tags (tags go on orgs, envs, hosts, services, ports, certificates and volumes)")
        }
    }

    func required(_ org: String?, _ what: String) throws -> String {
        guard let org else { throw CoreError.invalidArgument("\(what) belongs to an org: give --org NAME (or set TETRA_ORG)") }
        try Names.validate(org, what: "org")
        return org
    }

    func editOrg(_ org: String, path: [TOMLPathComponent], kind: SearchKind, name: String, env: String?, tag: String, add: Bool) throws -> Change {
        guard OrgStore(paths: core.paths).exists(org) else { throw CoreError.notFound(what: "org", name: org) }
        return try core.withLock("org." + org) {
            try edit(core.paths.org(org) + "/org.toml", path: path, mode: 0o644, kind: kind, name: name, org: org, env: env, tag: tag, add: add)
        }
    }

    /// Reads `file`, adds or removes `tag` in the string array at `path` (removing the key
    /// when the list becomes empty), writes it back atomically when it changed.
    func edit(_ file: String, path: [TOMLPathComponent], mode: mode_t, kind: SearchKind, name: String, org: String?, env: String?,
              tag: String, add: Bool) throws -> Change {
        guard let data = try AtomicFile.readIfExists(file, limit: InputFile.configLimit) else {
            throw CoreError.notFound(what: "file", name: file)
        }
        var doc = try TOMLDocument(bytes: Array(data), fileName: file)
        var tags: [String] = []
        if let current = doc.value(atPath: path) {
            guard case .array(let items) = current else { throw CoreError.failed("\(file): \(TOMLPathComponent.render(path)) is not an array of tags") }
            tags = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        var action = Action.unchanged
        if add, !tags.contains(tag) { tags.append(tag); action = .added }
        if !add, let i = tags.firstIndex(of: tag) { tags.remove(at: i); action = .removed }
        if action != .unchanged {
            if tags.isEmpty {
                try doc.remove(path)
                // ports.toml: an empty [tags] table goes with its last entry.
                if path.count == 2, path[0] == .key("tags"), case .table(let t)? = doc.value(atPath: [path[0]]), t.isEmpty {
                    try doc.remove([path[0]])
                }
            } else { try doc.set(path, to: .array(tags.map { .string($0) })) }
            var st = stat()
            let keep = stat(file, &st) == 0 ? st.st_mode & 0o777 : mode
            try AtomicFile.write(Data(doc.render().utf8), to: file, mode: keep)
        }
        return Change(kind: kind, name: name, org: org, env: env, tag: tag, action: action, tags: tags, file: file)
    }

    func certificate(_ domain: String, tag: String, add: Bool) throws -> Change {
        let ssl = SSLService(core: core)
        let d = try SSLService.validateDomain(domain)
        let dir = ssl.directory(for: d)
        return try core.withLock("ssl." + SSLService.directoryName(for: d)) {
            var meta = try ssl.meta(d)
            var tags = meta.tags ?? []
            var action = Action.unchanged
            if add, !tags.contains(tag) { tags.append(tag); action = .added }
            if !add, let i = tags.firstIndex(of: tag) { tags.remove(at: i); action = .removed }
            if action != .unchanged {
                meta.tags = tags.isEmpty ? nil : tags
                try AtomicFile.write(string: meta.toml, to: dir + "/meta.toml", mode: 0o644)
            }
            return Change(kind: .certificate, name: d, org: nil, env: nil, tag: tag, action: action, tags: tags, file: dir + "/meta.toml")
        }
    }
}
