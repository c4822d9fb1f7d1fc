import FoundationEssentials

/// `ports check`, `ports scan`, `ports reconcile`.
extension PortService {
    public struct Problem: Sendable, Encodable, Equatable {
        /// What is wrong (docs/json.md lists the set); `unknown-key` is a warning's kind.
        public enum Kind: String, Sendable, Encodable, Equatable {
            case invalid, duplicate, reserved, privileged, bound
            case unknownKey = "unknown-key"
        }
        public var kind: Kind
        public var name: String?
        public var port: Int?
        public var message: String
        public var position: String?
    }

    public struct CheckReport: Sendable, Encodable {
        public var problems: [Problem]
        public var warnings: [Problem]
        public var ok: Bool { problems.isEmpty }
    }

    /// Who owns a port name: the pids of the service that declares it (and its process
    /// group). Until a service owns a name, a process listening on its port is reported but
    /// is not a conflict: tetra cannot tell it from the rightful owner.
    public typealias OwnerLookup = @Sendable (String) -> Set<Int32>?

    public func check(owners: OwnerLookup = { _ in nil }) throws -> CheckReport {
        let loaded = try store.load(editing: true)
        let reg = loaded.registry
        var problems: [Problem] = loaded.problems.map {
            Problem(kind: .invalid, name: $0.keyPath, port: nil, message: $0.description, position: $0.position?.description)
        }
        let warnings: [Problem] = loaded.warnings.map {
            Problem(kind: .unknownKey, name: $0.keyPath, port: nil, message: $0.description, position: $0.position?.description)
        }
        var byPort: [Int: [String]] = [:]
        for (name, port) in reg.ports { byPort[port, default: []].append(name) }
        for (port, names) in byPort.sorted(by: { $0.key < $1.key }) where names.count > 1 {
            problems.append(Problem(kind: .duplicate, name: names.joined(separator: ","), port: port,
                                    message: "port \(port) is registered \(names.count) times: \(names.joined(separator: ", "))",
                                    position: nil))
        }
        for (name, port) in reg.ports {
            if reg.reserved.contains(port) {
                problems.append(Problem(kind: .reserved, name: name, port: port,
                                        message: "\(name): port \(port) is reserved", position: loaded.document.position(of: ["ports", name])?.description))
            }
            if port < 1024 {
                problems.append(Problem(kind: .privileged, name: name, port: port,
                                        message: "\(name): port \(port) is privileged (below 1024)", position: loaded.document.position(of: ["ports", name])?.description))
            }
        }
        let sockets = scan()
        for (name, port) in reg.ports {
            guard let owned = owners(name) else { continue }
            for s in sockets where s.port == port {
                guard let pid = s.pid else { continue }
                if !owned.contains(pid) {
                    problems.append(Problem(kind: .bound, name: name, port: port,
                                            message: "\(name): port \(port) is bound by pid \(pid) (\(s.process ?? "?")), not by its service",
                                            position: nil))
                }
            }
        }
        return CheckReport(problems: problems, warnings: warnings)
    }

    public struct ScanEntry: Sendable, Encodable, Equatable {
        public var proto: ListeningSocket.Proto
        public var address: String
        public var port: Int
        public var pid: Int32?
        public var process: String?
        public var name: String?
    }

    public func scanListening() throws -> [ScanEntry] {
        let reg = try store.loadValid().registry
        return scan().map { s in
            ScanEntry(proto: s.proto, address: s.address, port: s.port, pid: s.pid, process: s.process,
                      name: reg.names(using: s.port).first)
        }
    }

    public struct ReconcileRow: Sendable, Encodable, Equatable {
        public var name: String?
        public var declared: Int?
        public var actual: [Int]
        public enum Status: String, Sendable, Encodable, Equatable {
            case correct
            case declaredButNotListening = "declared-but-not-listening"
            case listeningOnAnotherPort = "listening-on-another-port"
            case listeningButUndeclared = "listening-but-undeclared"
        }
        public var status: Status
        public var pid: Int32?
        public var process: String?
    }

    public struct ReconcileReport: Sendable, Encodable {
        public var rows: [ReconcileRow]
        public var mismatches: Int
        enum CodingKeys: String, CodingKey { case rows, mismatches = "mismatch_count" }
    }

    /// Declared vs actual. "Undeclared" is reported for listeners inside a declared range
    /// (the ports tetra manages), not for every system daemon.
    public func reconcile(owners: OwnerLookup = { _ in nil }) throws -> ReconcileReport {
        let reg = try store.loadValid().registry
        let sockets = scan()
        var rows: [ReconcileRow] = []
        let declaredPorts = Set(reg.ports.map(\.port))
        for (name, port) in reg.ports {
            if let s = sockets.first(where: { $0.port == port }) {
                rows.append(ReconcileRow(name: name, declared: port, actual: [port], status: .correct, pid: s.pid, process: s.process))
                continue
            }
            if let pids = owners(name) {
                let elsewhere = sockets.filter { s in s.pid.map { pids.contains($0) } ?? false }
                if !elsewhere.isEmpty {
                    rows.append(ReconcileRow(name: name, declared: port, actual: Array(Set(elsewhere.map(\.port))).sorted(),
                                             status: .listeningOnAnotherPort, pid: elsewhere[0].pid, process: elsewhere[0].process))
                    continue
                }
            }
            rows.append(ReconcileRow(name: name, declared: port, actual: [], status: .declaredButNotListening, pid: nil, process: nil))
        }
        var seen = Set<Int>()
        for s in sockets where !declaredPorts.contains(s.port) && !reg.rangeNames(containing: s.port).isEmpty {
            guard seen.insert(s.port).inserted else { continue }
            // A service listening on a port other than its declared one is already reported.
            if rows.contains(where: { $0.status == .listeningOnAnotherPort && $0.actual.contains(s.port) }) { continue }
            rows.append(ReconcileRow(name: nil, declared: nil, actual: [s.port], status: .listeningButUndeclared, pid: s.pid, process: s.process))
        }
        return ReconcileReport(rows: rows, mismatches: rows.filter { $0.status != .correct }.count)
    }
}
