import FoundationEssentials
import Glibc

/// One problem of a validation, as `org validate` and `doctor` report it:
/// `path:line:column: key: message`. `path` is relative to the state root for files inside
/// it (`orgs/acme/org.toml`, `config/ports.toml`); line and column are absent when the
/// problem is about a whole file.
public struct ValidationProblem: Sendable, Equatable, Encodable, CustomStringConvertible {
    public var path: String
    public var line: Int?
    public var column: Int?
    /// The dotted key the problem is about (`environments.prod.keep_releases`), when known.
    public var key: String?
    public var message: String

    public init(path: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// A `ConfigProblem` with its file shown relative to `root` when it is inside it.
    public init(_ problem: ConfigProblem, root: String) {
        var file = problem.file ?? ""
        let prefix = root.hasSuffix("/") ? root : root + "/"
        if file.hasPrefix(prefix) { file = String(file.dropFirst(prefix.count)) }
        self.init(path: file, line: problem.position?.line, column: problem.position?.column,
                  key: (problem.keyPath?.isEmpty ?? true) ? nil : problem.keyPath, message: problem.message)
    }

    public var description: String {
        var prefix = path.isEmpty ? "" : path + ":"
        if let line, let column { prefix += "\(line):\(column):" }
        if !prefix.isEmpty { prefix += " " }
        if let key { prefix += key + ": " }
        return prefix + message
    }

    /// Sorted by path, then position (whole-file problems first), then message; the same
    /// problem found twice (e.g. a broken template for every environment) kept once, with
    /// the environments it was found for merged into its `(env a, b)` suffix.
    public static func normalized(_ problems: [ValidationProblem]) -> [ValidationProblem] {
        var order: [String] = []
        var byKey: [String: (ValidationProblem, [String])] = [:]
        for p in problems {
            var base = p
            var envs: [String] = []
            var last: Range<String.Index>? = nil
            while let found = p.message[(last?.upperBound ?? p.message.startIndex)...].firstRange(ofLiteral: " (env ") { last = found }
            if let r = last, p.message.hasSuffix(")") {
                base.message = String(p.message[..<r.lowerBound])
                envs = [String(p.message[r.upperBound...].dropLast())]
            }
            let key = "\(base.path)\u{0}\(base.line ?? 0)\u{0}\(base.column ?? 0)\u{0}\(base.key ?? "")\u{0}\(base.message)"
            if let existing = byKey[key] {
                byKey[key] = (existing.0, existing.1 + envs.filter { !existing.1.contains($0) })
            } else {
                order.append(key)
                byKey[key] = (base, envs)
            }
        }
        let merged = order.map { key -> ValidationProblem in
            var (p, envs) = byKey[key]!
            if !envs.isEmpty { p.message += " (env \(envs.joined(separator: ", ")))" }
            return p
        }
        return merged.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if x.path != y.path { return x.path < y.path }
            if (x.line ?? 0, x.column ?? 0) != (y.line ?? 0, y.column ?? 0) { return (x.line ?? 0, x.column ?? 0) < (y.line ?? 0, y.column ?? 0) }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// The result of validating one org: every problem of every file at once.
public struct OrgValidation: Sendable, Encodable {
    public var org: String
    public var valid: Bool
    /// Environments and services as far as they could be read.
    public var environments: [String]
    public var services: [String]
    public var problems: [ValidationProblem]
    /// Unknown keys: reported, not problems (exit 0 when nothing else is wrong).
    public var warnings: [ValidationProblem]
}

extension OrgValidator {
    /// One validation pass over an org (`org validate`, `doctor`): org.toml (syntax, types,
    /// every environment), the port registry and secrets.env it renders with, every
    /// service definition (syntax, types, values, `depends_on` naming services of the org
    /// without cycles, named ports registered, secrets defined, no two services on one
    /// port) and every template of `files/` rendered for every environment. Problems of
    /// every file are collected; nothing stops at the first. Throws only when the org does
    /// not exist (exit 4) or its name is malformed (exit 2).
    public func validate(org name: String) throws -> OrgValidation {
        let store = OrgStore(paths: paths)
        try Names.validate(name, what: "org")
        guard store.exists(name) else {
            throw CoreError.notFound(what: "org", name: name,
                                     hint: Suggest.didYouMean(name, in: store.names()) ?? "see 'tetra org list'")
        }
        let directory = paths.org(name)
        let display = "orgs/\(name)/org.toml"
        var problems: [ConfigProblem] = []
        var warnings: [ConfigProblem] = []
        let inputs = self.inputs(orgDirectory: directory)
        try inputs.checkSecrets()
        var environments: [String] = []

        let orgDocument = Self.readDocument(directory + "/org.toml", display: display, problems: &problems)
        if let document = orgDocument {
            let decoded = LoadedOrg.decode(document, file: display)
            problems += decoded.problems
            warnings += decoded.warnings
            if let config = decoded.value {
                let org = LoadedOrg(name: name, directory: directory, orgFile: display, document: document, config: config, warnings: [])
                environments = org.environmentNames
                problems += self.problems(org, inputs: inputs, failed: decoded.failed)
                problems += MetricsSettings.problems(config.metrics, document: document, file: display)
            } else {
                problems += inputs.problems
            }
        } else {
            problems += inputs.problems
        }

        let services = serviceProblems(org: name, inputs: inputs)
        problems += services.problems
        warnings += services.warnings
        if let document = orgDocument {
            let alerts = AlertConfigReader.validate(document, file: display, org: name, paths: paths, services: services.names, secrets: inputs.secrets)
            problems += alerts.problems
            warnings += alerts.warnings
        }

        let all = ValidationProblem.normalized(problems.map { ValidationProblem($0, root: paths.root) })
        return OrgValidation(org: name, valid: all.isEmpty, environments: environments, services: services.names,
                             problems: all, warnings: ValidationProblem.normalized(warnings.map { ValidationProblem($0, root: paths.root) }))
    }

    /// Reads and parses a TOML file; a read or syntax error is added to `problems` (nil then).
    static func readDocument(_ file: String, display: String, problems: inout [ConfigProblem]) -> TOMLDocument? {
        do {
            guard let data = try AtomicFile.readIfExists(file, limit: InputFile.configLimit) else {
                problems.append(ConfigProblem(file: display, message: "file not found"))
                return nil
            }
            return try TOMLDocument(bytes: Array(data), fileName: display)
        } catch let e as ConfigError {
            problems += e.problems.map { var p = $0; p.file = p.file ?? display; return p }
        } catch let e as any TetraError {
            problems.append(ConfigProblem(file: display, message: e.message))
        } catch {
            problems.append(ConfigProblem(file: display, message: "\(error)"))
        }
        return nil
    }
}
