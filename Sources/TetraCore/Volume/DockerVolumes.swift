import FoundationEssentials

/// The Docker daemon cannot be used (exit 6): it does not answer, or refuses us.
public enum DockerError: TetraError, Equatable {
    case daemonUnreachable(host: String, detail: String)
    case permissionDenied(host: String, detail: String)

    public var exitCode: ExitCode { .toolFailed }
    public var kind: String {
        switch self {
        case .daemonUnreachable: return "docker_unreachable"
        case .permissionDenied: return "docker_permission"
        }
    }

    public var message: String {
        switch self {
        case .daemonUnreachable(let host, let detail):
            return "the Docker daemon at \(host) does not answer" + (detail.isEmpty ? "" : ": \(detail)")
        case .permissionDenied(let host, let detail):
            return "permission denied talking to the Docker daemon at \(host)" + (detail.isEmpty ? "" : ": \(detail)")
        }
    }

    public var hint: String? {
        switch self {
        case .daemonUnreachable:
            return "start dockerd (systemctl start docker), or point DOCKER_HOST (unix://, tcp://, ssh://user@host) at a running engine"
        case .permissionDenied:
            return "add your user to the 'docker' group (then log in again), or run with a DOCKER_HOST you may use"
        }
    }
}

/// Docker could not run a helper container (exit 6), e.g. its image is missing.
public struct DockerHelperError: TetraError, Equatable {
    public var message: String
    public var hint: String?
    public var exitCode: ExitCode { .toolFailed }
    public var kind: String { "tool_failed" }
}

/// One line of `docker volume ls --format '{{json .}}'`.
public struct DockerVolumeSummary: Sendable, Equatable, Decodable {
    public var name: String
    public var driver: String
    /// `docker volume ls` gives them as one string: `k=v,k2=v2`.
    public var labels: String?
    enum CodingKeys: String, CodingKey { case name = "Name", driver = "Driver", labels = "Labels" }

    /// The labels as a dictionary (a value holding a comma is cut there: use inspect for exact values).
    public var labelTable: [String: String] {
        var out: [String: String] = [:]
        for item in (labels ?? "").split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        return out
    }
}

/// `docker volume inspect --format '{{json .}}'`.
public struct DockerVolume: Sendable, Equatable, Decodable {
    public var name: String
    public var driver: String
    public var mountpoint: String
    public var scope: String
    public var createdAt: String?
    public var labels: [String: String]
    public var options: [String: String]

    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", mountpoint = "Mountpoint", scope = "Scope", createdAt = "CreatedAt"
        case labels = "Labels", options = "Options"
    }

    public init(name: String, driver: String = "local", mountpoint: String = "", scope: String = "local",
                createdAt: String? = nil, labels: [String: String] = [:], options: [String: String] = [:]) {
        self.name = name
        self.driver = driver
        self.mountpoint = mountpoint
        self.scope = scope
        self.createdAt = createdAt
        self.labels = labels
        self.options = options
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        driver = try c.decodeIfPresent(String.self, forKey: .driver) ?? ""
        mountpoint = try c.decodeIfPresent(String.self, forKey: .mountpoint) ?? ""
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? ""
        createdAt = try c.decodeIfPresent(String.self, forKey: .createdAt)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        options = try c.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
    }
}

/// Docker's state of a container; `unknown` for a value this tetra does not know.
public enum DockerContainerState: String, Sendable, Equatable, Codable {
    case created, restarting, running, removing, paused, exited, dead, unknown
}

/// A container that references a volume (`docker ps -a --filter volume=NAME`).
public struct DockerContainerRef: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var image: String
    public var state: DockerContainerState
    /// "Up 3 minutes", "Exited (0) 2 hours ago".
    public var status: String

    /// Docker's keys, for decoding `docker ps` lines; tetra's JSON uses the property names.
    enum DockerKeys: String, CodingKey { case id = "ID", name = "Names", image = "Image", state = "State", status = "Status" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DockerKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id) ?? ""
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        image = try c.decodeIfPresent(String.self, forKey: .image) ?? ""
        state = try c.decodeIfPresent(String.self, forKey: .state).flatMap(DockerContainerState.init) ?? .unknown
        status = try c.decodeIfPresent(String.self, forKey: .status) ?? ""
    }

    public init(id: String, name: String, image: String, state: DockerContainerState, status: String) {
        self.id = id
        self.name = name
        self.image = image
        self.state = state
        self.status = status
    }
}

/// One volume of `docker system df -v`: its disk usage and how many containers use it.
public struct DockerVolumeUsage: Sendable, Equatable, Decodable {
    public var name: String
    /// Docker's human size ("1.234MB", "0B", "N/A").
    public var size: String
    public var links: String

    enum CodingKeys: String, CodingKey { case name = "Name", size = "Size", links = "Links" }

    /// The size in bytes, when docker computed it (decimal units as docker prints them).
    public var bytes: Int64? { DockerSize.bytes(size) }
}

/// Docker's human sizes: "0B", "12.3kB", "1.5MB", "2GB" (decimal, as go-units HumanSize prints).
public enum DockerSize {
    public static func bytes(_ text: String) -> Int64? {
        let t = text.trimming(.whitespaces)
        let number = t.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        let unit = t.dropFirst(number.count).trimming(.whitespaces).lowercased()
        let scale: Double
        switch unit {
        case "b", "": scale = 1
        case "kb": scale = 1e3
        case "mb": scale = 1e6
        case "gb": scale = 1e9
        case "tb": scale = 1e12
        case "pb": scale = 1e15
        case "kib": scale = 1024
        case "mib": scale = 1_048_576
        case "gib": scale = 1_073_741_824
        case "tib": scale = 1_099_511_627_776
        default: return nil
        }
        return Int64((value * scale).rounded())
    }
}

/// `docker volume rm` refused: containers still reference the volume.
struct DockerVolumeInUse: Error { var detail: String }

extension Docker {
    /// Time limit of a metadata call (ls, inspect, create, rm, ps, df): a daemon that does not
    /// answer within it is reported as unreachable.
    public static let callTimeout: TimeInterval = 60

    public static let installHint = "install the Docker CLI (Debian: apt-get install docker.io) or add docker to PATH; tetra drives volumes through it (DOCKER_HOST is honoured)"

    /// The engine named in messages.
    public var hostDescription: String {
        if let host, !host.isEmpty { return Redactor.redactURLCredentials(host) }
        return "the default host (unix:///var/run/docker.sock or the current docker context)"
    }

    /// Runs `docker args` and classifies "cannot reach the daemon" failures; other non-zero
    /// exits are returned for the caller to judge.
    public func call(_ args: [String], timeout: TimeInterval? = Docker.callTimeout, inputFile: String? = nil,
                     inputDescriptor: Int32? = nil, outputFile: String? = nil) throws -> ProcessResult {
        var request = ProcessRequest("docker", args, timeout: timeout, outputLimit: 256 << 20)
        request.inputFile = inputFile
        request.inputDescriptor = inputDescriptor
        request.outputFile = outputFile
        let result: ProcessResult
        do {
            result = try runner.run(request)
        } catch ToolError.notInstalled(let tool, _) {
            throw ToolError.notInstalled(tool: tool, hint: Self.installHint)
        }
        if result.timedOut {
            throw DockerError.daemonUnreachable(host: hostDescription,
                                                detail: "'docker \(args.first ?? "")' got no answer within \(ToolError.formatSeconds(timeout ?? 0))")
        }
        if result.status != 0, let error = classify(result.stderrString) { throw error }
        return result
    }

    /// Like `call`, and a non-zero exit throws `ToolError.failed` with the argv and stderr tail.
    @discardableResult
    public func checked(_ args: [String], timeout: TimeInterval? = Docker.callTimeout) throws -> ProcessResult {
        let result = try call(args, timeout: timeout)
        if result.status != 0 {
            throw ToolError.failed(argv: ["docker"] + args, status: result.status,
                                   stderrTail: Redactor().redact(ToolError.tail(of: result.stderrString)))
        }
        return result
    }

    /// A daemon error in docker's stderr, if that is what it is.
    func classify(_ stderr: String) -> DockerError? {
        let detail = ToolError.tail(of: stderr, lines: 2, maxChars: 300).trimming(.whitespacesAndNewlines)
        let lower = stderr.lowercased()
        if lower.contains("permission denied while trying to connect to the docker daemon") {
            return .permissionDenied(host: hostDescription, detail: Redactor().redact(detail))
        }
        if lower.contains("cannot connect to the docker daemon") || lower.contains("error during connect")
            || lower.contains("is the docker daemon running") {
            return .daemonUnreachable(host: hostDescription, detail: Redactor().redact(detail))
        }
        return nil
    }

    static func jsonLines<T: Decodable>(_ type: T.Type, _ text: String) throws -> [T] {
        let decoder = JSONDecoder()
        return try text.split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = line.trimming(.whitespaces)
            guard !trimmed.isEmpty else { return nil }
            do {
                return try decoder.decode(T.self, from: Data(trimmed.utf8))
            } catch {
                throw CoreError.failed("unexpected output from docker: \(Names.printable(trimmed, maxLength: 200))")
            }
        }
    }

    // MARK: - volumes

    /// `docker volume ls --format '{{json .}}' [--filter F]...`
    public func volumeList(filters: [String] = [], timeout: TimeInterval? = Docker.callTimeout) throws -> [DockerVolumeSummary] {
        let r = try checked(["volume", "ls", "--format", "{{json .}}"] + filters.flatMap { ["--filter", $0] }, timeout: timeout)
        return try Self.jsonLines(DockerVolumeSummary.self, r.stdoutString)
    }

    /// `docker volume inspect --format '{{json .}}' NAME...`: the volumes that exist (a name
    /// removed meanwhile is left out). Asked in batches, to keep argv short.
    public func volumeInspect(_ names: [String]) throws -> [DockerVolume] {
        var out: [DockerVolume] = []
        var start = 0
        while start < names.count {
            let batch = Array(names[start..<min(names.count, start + 200)])
            start += batch.count
            let args = ["volume", "inspect", "--format", "{{json .}}"] + batch
            let r = try call(args)
            if r.status != 0 {
                let problems = r.stderrString.split(whereSeparator: \.isNewline).filter { !$0.lowercased().contains("no such volume") }
                if !problems.isEmpty {
                    throw ToolError.failed(argv: ["docker"] + args, status: r.status, stderrTail: ToolError.tail(of: r.stderrString))
                }
            }
            out += try Self.jsonLines(DockerVolume.self, r.stdoutString)
        }
        return out
    }

    /// One volume, or nil when it does not exist.
    public func volumeInspect(_ name: String) throws -> DockerVolume? {
        try volumeInspect([name]).first { $0.name == name }
    }

    /// `docker volume create [--driver=D] [--opt=k=v]... [--label=k=v]... NAME` (the `=` forms:
    /// a value can never be taken for a flag).
    public func volumeCreate(_ name: String, driver: String?, options: [(String, String)], labels: [(String, String)]) throws {
        var args = ["volume", "create"]
        if let driver { args.append("--driver=\(driver)") }
        args += options.map { "--opt=\($0.0)=\($0.1)" }
        args += labels.map { "--label=\($0.0)=\($0.1)" }
        args.append(name)
        try checked(args)
    }

    /// `docker volume rm NAME`; a volume still referenced throws `DockerVolumeInUse`.
    public func volumeRemove(_ name: String) throws {
        let args = ["volume", "rm", name]
        let r = try call(args)
        guard r.status != 0 else { return }
        let err = r.stderrString
        if err.contains("volume is in use") { throw DockerVolumeInUse(detail: ToolError.tail(of: err, lines: 1)) }
        if err.lowercased().contains("no such volume") { throw CoreError.notFound(what: "volume", name: name) }
        throw ToolError.failed(argv: ["docker"] + args, status: r.status, stderrTail: ToolError.tail(of: err))
    }

    /// Format of `docker ps` lines: named fields only (`{{json .}}` would make docker compute
    /// every container's size).
    public static let containerFormat = #"{"ID":{{json .ID}},"Names":{{json .Names}},"Image":{{json .Image}},"State":{{json .State}},"Status":{{json .Status}}}"#

    /// Containers (running or not) that reference the volume:
    /// `docker ps -a --filter volume=NAME`.
    public func containers(usingVolume name: String) throws -> [DockerContainerRef] {
        let r = try checked(["ps", "-a", "--filter", "volume=\(name)", "--format", Self.containerFormat])
        return try Self.jsonLines(DockerContainerRef.self, r.stdoutString)
    }

    /// Sizes and link counts of all volumes: `docker system df -v --format '{{json .Volumes}}'`.
    public func volumeUsage() throws -> [DockerVolumeUsage] {
        // Computing sizes walks every volume: a generous limit.
        let r = try checked(["system", "df", "-v", "--format", "{{json .Volumes}}"], timeout: 600)
        let text = r.stdoutString.trimming(.whitespacesAndNewlines)
        if text.isEmpty || text == "null" { return [] }
        do {
            return try JSONDecoder().decode([DockerVolumeUsage].self, from: Data(text.utf8))
        } catch {
            throw CoreError.failed("unexpected output from docker system df: \(Names.printable(text, maxLength: 200))")
        }
    }

    /// `docker rm -f NAME`, ignoring every failure (cleanup of a helper container).
    public func removeContainerQuietly(_ name: String) {
        _ = try? runner.run(ProcessRequest("docker", ["rm", "-f", name], timeout: 20, killGrace: 1))
    }
}
