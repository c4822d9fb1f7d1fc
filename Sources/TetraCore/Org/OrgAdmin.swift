import FoundationEssentials
import Glibc

/// Creating, deleting and editing orgs in the state root.
public struct OrgAdmin: Sendable {
    public let context: CoreContext
    public var paths: StatePaths { context.paths }
    public init(context: CoreContext) { self.context = context }

    var service: OrgService { OrgService(context: context) }
    var by: String { context.userName + "@" + context.hostName }

    public struct Created: Encodable, Sendable {
        public var org: String
        public var template: String
        public var directory: String
        public var files: [String]
        public var environments: [String]
        public var dry_run: Bool
    }

    /// Creates `orgs/NAME` from a directory template (built-in or library): rendered with
    /// `name = NAME` and `values`, checked to decode, written beside and renamed into place.
    public func create(_ name: String, template templateName: String, values: TOMLTable, dryRun: Bool) throws -> Created {
        try Names.validate(name, what: "org")
        let catalog = TemplateCatalog(paths: paths)
        let entry = try catalog.require(templateName)
        guard entry.kind == .directory else {
            throw CoreError.invalidArgument("template '\(templateName)' is a file template; an org needs a directory template with an org.toml",
                                            hint: "see 'tetra template list' (org/default is built in)")
        }
        let loaded = try catalog.load(entry)
        var input = values
        input["name"] = .string(name)
        let partials = CatalogPartials(catalog: catalog)
        let outputs = try loaded.render(input, partials: partials)
        guard outputs.contains(where: { $0.path == "org.toml" }) else {
            throw ConfigError(ConfigProblem(file: entry.location, message: "the template has no org.toml; it is not an org template"))
        }
        let dest = paths.org(name)
        if LocalFiles.exists(dest) {
            throw CoreError.conflict("org '\(name)' already exists (\(dest))", hint: "choose another name, or 'tetra org delete \(name) --yes' first")
        }
        try AtomicFile.ensureDirectory(paths.orgs, mode: 0o700)
        let temp = paths.orgs + "/.create-\(name)-" + TargetLockRecord.newToken()
        guard mkdir(temp, 0o755) == 0 else { throw IOError("create directory", path: temp, errno: errno) }
        var done = false
        defer { if !done { try? LocalFiles.removeTree(temp) } }
        for o in outputs {
            let path = temp + "/" + o.path
            try AtomicFile.ensureDirectory(PathText.parent(path), mode: 0o755)
            try AtomicFile.write(Data(o.contents.utf8), to: path, mode: mode_t(o.mode))
        }
        let org = try LoadedOrg.load(name: name, directory: temp, displayName: "orgs/\(name)/org.toml")
        let result = Created(org: name, template: entry.name, directory: dest, files: outputs.map(\.path).sorted(),
                             environments: org.environmentNames, dry_run: dryRun)
        if dryRun { return result }
        try install(temp, as: name)
        done = true
        return result
    }

    /// Renames a prepared org directory `temp` to `orgs/NAME` in one step (exit 5 when an org
    /// of that name appeared meanwhile).
    func install(_ temp: String, as name: String) throws {
        let dest = paths.org(name)
        try context.interrupt.check()
        guard rename(temp, dest) == 0 else {
            let e = errno
            if e == EEXIST || e == ENOTEMPTY { throw CoreError.conflict("org '\(name)' already exists (\(dest))") }
            throw IOError("rename", path: dest, errno: e)
        }
    }

    public struct Deleted: Encodable, Sendable {
        public var org: String
        public var directory: String
        public var snapshot: String
        public var dry_run: Bool
    }

    /// Removes `orgs/NAME` after snapshotting it (secrets.env goes with it).
    public func delete(_ name: String, dryRun: Bool) throws -> Deleted {
        let store = OrgStore(paths: paths)
        try Names.validate(name, what: "org")
        guard LocalFiles.isDirectory(paths.org(name)) else {
            throw CoreError.notFound(what: "org", name: name, hint: Suggest.didYouMean(name, in: store.names()) ?? "see 'tetra org list'")
        }
        if dryRun { return Deleted(org: name, directory: paths.org(name), snapshot: "", dry_run: true) }
        return try service.withOrgLock(name) {
            let snap = try SnapshotStore(paths: paths, interrupt: context.interrupt)
                .take(org: name, directory: paths.org(name), reason: "before org delete", by: by, now: context.now())
            let aside = paths.orgs + "/.deleted-\(name)-" + TargetLockRecord.newToken()
            guard rename(paths.org(name), aside) == 0 else { throw IOError("rename", path: paths.org(name), errno: errno) }
            try? LocalFiles.removeTree(aside)
            if let settings = try? GlobalSettings.load(paths), settings.defaultOrg == name {
                context.progress.warn("'\(name)' was the default org (default_org in config/tetra.toml); choose another with 'tetra org use'")
            }
            return Deleted(org: name, directory: paths.org(name), snapshot: snap.id, dry_run: false)
        }
    }

    public struct Edited: Encodable, Sendable {
        public var org: String
        public var key: String
        public var changed: Bool
        public var diff: [String]
        public var snapshot: String?
        public var dry_run: Bool
    }

    /// `org set KEY.PATH VALUE`: a format-preserving edit of org.toml, refused when the result
    /// no longer decodes (exit 3, nothing changed); snapshot first.
    public func set(_ name: String, keyPath: [String], value: TOMLValue, dryRun: Bool) throws -> Edited {
        let org = try OrgStore(paths: paths).load(name)
        let file = org.directory + "/org.toml"
        var doc = org.document
        let before = doc.render()
        try doc.set(keyPath, to: value)
        let after = doc.render()
        _ = try TOMLDecoder().decode(OrgConfig.self, from: try TOMLDocument(parsing: after, fileName: org.orgFile))
        var result = Edited(org: name, key: keyPath.joined(separator: "."), changed: before != after,
                            diff: ConfigFiles.changedLines(before, after), snapshot: nil, dry_run: dryRun)
        if dryRun || before == after { return result }
        try service.withOrgLock(name) {
            let snap = try SnapshotStore(paths: paths, interrupt: context.interrupt)
                .take(org: name, directory: org.directory, reason: "before org set \(result.key)", by: by, now: context.now())
            result.snapshot = snap.id
            var st = stat()
            let mode = stat(file, &st) == 0 ? st.st_mode & 0o7777 : 0o644
            try AtomicFile.write(Data(after.utf8), to: file, mode: mode)
        }
        return result
    }

    /// `org use NAME`: `default_org` in config/tetra.toml (format-preserving).
    public func use(_ name: String) throws {
        let store = OrgStore(paths: paths)
        _ = try store.load(name)
        let file = paths.globalConfig
        let data = try AtomicFile.readIfExists(file)
        var doc = try TOMLDocument(bytes: data.map { Array($0) } ?? [], fileName: file)
        try doc.set(["default_org"], to: .string(name))
        try AtomicFile.write(Data(doc.render().utf8), to: file, mode: 0o600)
    }
}
