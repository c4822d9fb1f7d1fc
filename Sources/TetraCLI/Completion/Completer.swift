import FoundationEssentials
import TetraCore

/// Supplies names known only at run time (orgs, port names, ...). Groups that do not
/// exist yet return nothing.
public protocol DynamicNameProviding: Sendable {
    func names(_ kind: DynamicNames, words: [String]) -> [String]
}

/// Answers `tetra __complete WORDS...`: WORDS are the words after `tetra`, the last one being
/// the (possibly empty) word under the cursor. Prints one candidate a line; a line `:file` or
/// `:directory` asks the shell for file or directory completion instead.
public struct Completer: Sendable {
    public let root: CommandSpec
    public let provider: any DynamicNameProviding

    public init(root: CommandSpec, provider: any DynamicNameProviding) {
        self.root = root
        self.provider = provider
    }

    public struct Position: Sendable {
        public var node: CommandSpec
        public var path: [String]
        public var positionals: [String]
        /// The flag whose value is being completed.
        public var pendingFlag: FlagSpec?
    }

    /// Walks the words before the cursor the way the parser does.
    public func locate(_ preceding: [String]) -> Position {
        var node = root
        var path: [String] = []
        var positionals: [String] = []
        var pending: FlagSpec? = nil
        var afterDoubleDash = false
        for word in preceding {
            if pending != nil { pending = nil; continue }
            if afterDoubleDash { positionals.append(word); continue }
            if word == "--" { afterDoubleDash = true; continue }
            let flags = ArgumentParser.flags(for: node)
            if word.hasPrefix("--") {
                let name = String(word.dropFirst(2).prefix { $0 != "=" })
                if let spec = flags.first(where: { $0.name == name }), spec.takesValue, !word.contains("=") { pending = spec }
                continue
            }
            if word.hasPrefix("-"), word.count > 1 {
                if let last = word.dropFirst().last, word.count == 2,
                   let spec = flags.first(where: { $0.short == last }), spec.takesValue {
                    pending = spec
                }
                continue
            }
            if positionals.isEmpty, let child = node.subcommand(word) {
                node = child
                path.append(word)
                continue
            }
            positionals.append(word)
        }
        return Position(node: node, path: path, positionals: positionals, pendingFlag: pending)
    }

    public func complete(_ words: [String]) -> [String] {
        let current = words.last ?? ""
        let position = locate(Array(words.dropLast()))

        if let flag = position.pendingFlag {
            return values(for: flag.completion, prefix: current, words: words)
        }
        if current.hasPrefix("--"), let eq = current.firstIndex(of: "=") {
            let name = String(current[current.index(current.startIndex, offsetBy: 2)..<eq])
            guard let spec = ArgumentParser.flags(for: position.node).first(where: { $0.name == name }) else { return [] }
            let prefix = String(current[current.index(after: eq)...])
            return values(for: spec.completion, prefix: prefix, words: words).map {
                $0.hasPrefix(":") ? $0 : "--\(name)=\($0)"
            }
        }
        if current.hasPrefix("-") {
            return ArgumentParser.flags(for: position.node)
                .filter { !$0.hidden }
                .map { "--" + $0.name }
                .filter { $0.hasPrefix(current) }
        }
        var candidates: [String] = []
        if position.positionals.isEmpty {
            candidates += position.node.visibleSubcommands.map(\.name).filter { $0.hasPrefix(current) }
        }
        if position.node.handler != nil, let arg = argument(at: position.positionals.count, of: position.node) {
            candidates += values(for: arg.completion, prefix: current, words: words)
        }
        return candidates
    }

    func argument(at index: Int, of node: CommandSpec) -> ArgSpec? {
        if index < node.arguments.count { return node.arguments[index] }
        if let last = node.arguments.last, last.variadic { return last }
        return nil
    }

    func values(for kind: CompletionKind, prefix: String, words: [String]) -> [String] {
        switch kind {
        case .none: return []
        case .file: return [":file"]
        case .directory: return [":directory"]
        case .choices(let c): return c.filter { $0.hasPrefix(prefix) }
        case .dynamic(let d):
            if d == .commands { return commandNames(words: words).filter { $0.hasPrefix(prefix) } }
            return provider.names(d, words: words).filter { $0.hasPrefix(prefix) }.sorted()
        }
    }

    /// For `tetra help A B`: the subcommands of the path given so far.
    func commandNames(words: [String]) -> [String] {
        var node = root
        // words: ["help", "ports", ""] → walk after "help".
        for word in words.dropFirst().dropLast() {
            guard let child = node.subcommand(word) else { return [] }
            node = child
        }
        return node.visibleSubcommands.map(\.name)
    }
}

/// Dynamic names read from the state root. Each later group adds its names here.
public struct StateNameProvider: DynamicNameProviding {
    public let paths: StatePaths
    /// Runs external programs for names that live outside the state root (docker volumes);
    /// nil: those are not completed.
    public let runner: (any ProcessRunning)?
    /// The org from TETRA_ORG or config (a `--org` among the words wins), for service names.
    public var org: String?
    public init(paths: StatePaths, runner: (any ProcessRunning)? = nil, org: String? = nil) {
        self.paths = paths
        self.runner = runner
        self.org = org
    }

    public func names(_ kind: DynamicNames, words: [String]) -> [String] {
        switch kind {
        case .orgs:
            return subdirectories(paths.orgs).filter { FileManager.default.fileExists(atPath: paths.org($0) + "/org.toml") }
        case .ports:
            return (try? PortStore(paths: paths).load().registry.ports.map(\.name)) ?? []
        case .portRanges:
            return (try? PortStore(paths: paths).load().registry.ranges.map(\.name)) ?? []
        case .templates:
            return TemplateCatalog(paths: paths).activeNames()
        case .volumes:
            return volumeNames()
        case .domains:
            return SSLService.storedDomains(paths)
        case .services:
            guard let org = orgInWords(words) else { return [] }
            return ((try? FileManager.default.contentsOfDirectory(atPath: paths.org(org) + "/services")) ?? [])
                .filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.filter(Names.isValid)
        case .envs:
            guard let org = orgInWords(words) else { return [] }
            return (try? OrgStore(paths: paths).load(org).environmentNames) ?? []
        case .releases:
            // From this machine's history only (no network).
            guard let org = orgInWords(words) else { return [] }
            let env = envInWords(words, org: org)
            let entries = (try? LocalHistory(paths: paths).entries(org, env: env)) ?? []
            return Array(Set(entries.map(\.release)))
        case .snapshots:
            // Of the org named on the line (`org snapshot diff ID ID2 ORG`: any word naming an
            // existing org), else --org, $TETRA_ORG or default_org; from this machine's store.
            let named = words.dropLast().last { !$0.hasPrefix("-") && Names.isValid($0) && OrgStore(paths: paths).exists($0) }
            guard let org = named ?? orgInWords(words) else { return [] }
            return Array(Set(((try? SnapshotStore(paths: paths).log(org)) ?? []).map(\.id)))
        case .alerts:
            // Rules of every org and of config/alerts.toml (none while they do not validate).
            return Array(Set(((try? AlertRuleSet.load(paths: paths))?.rules ?? []).map(\.name)))
        case .commands:
            return []
        }
    }

    /// Volume names from `docker volume ls`: fast and silent (a 1.5s limit; no docker, no
    /// daemon or any error: nothing).
    func volumeNames() -> [String] {
        guard let runner, runner.which("docker") != nil else { return [] }
        let request = ProcessRequest("docker", ["volume", "ls", "--format", "{{.Name}}"], timeout: 1.5, killGrace: 0.2,
                                     outputLimit: 4 << 20)
        guard let result = try? runner.run(request), result.succeeded else { return [] }
        return result.stdoutString.split(whereSeparator: \.isNewline).map(String.init).filter(Names.isValid)
    }

    /// The org the words act on: --org, else `org VERB ORG ...`, else the resolved org
    /// (TETRA_ORG or default_org, given by the caller).
    func orgInWords(_ words: [String]) -> String? {
        let done = Array(words.dropLast())
        if let i = done.firstIndex(where: { $0 == "--org" }), i + 1 < done.count, Names.isValid(done[i + 1]) { return done[i + 1] }
        if let w = done.first(where: { $0.hasPrefix("--org=") }), Names.isValid(String(w.dropFirst(6))) { return String(w.dropFirst(6)) }
        let positional = done.filter { !$0.hasPrefix("-") }
        if positional.first == "org", positional.count >= 3, Names.isValid(positional[2]), OrgStore(paths: paths).exists(positional[2]) {
            return positional[2]
        }
        return org.flatMap { Names.isValid($0) ? $0 : nil }
    }

    /// The env the words name (`org rollback ORG ENV`, `env rollback ENV`), if any.
    func envInWords(_ words: [String], org: String) -> String? {
        let envs = (try? OrgStore(paths: paths).load(org).environmentNames) ?? []
        return words.dropLast().last { envs.contains($0) }
    }

    func subdirectories(_ path: String) -> [String] {
        guard let items = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return items.filter { !$0.hasPrefix(".") }.filter {
            var isDir = false
            return FileManager.default.fileExists(atPath: path + "/" + $0, isDirectory: &isDir) && isDir
        }
    }
}
