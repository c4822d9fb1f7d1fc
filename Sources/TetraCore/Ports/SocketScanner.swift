import FoundationEssentials
import Glibc

/// A listening socket found in /proc/net.
public struct ListeningSocket: Sendable, Equatable, Codable {
    /// The /proc/net table it was found in.
    public enum Proto: String, Sendable, Equatable, Codable, CaseIterable, Comparable {
        case tcp, tcp6, udp, udp6
        public var isTCP: Bool { self == .tcp || self == .tcp6 }
        public static func < (a: Proto, b: Proto) -> Bool { a.rawValue < b.rawValue }
    }
    public var proto: Proto
    public var address: String        // "127.0.0.1", "::", ...
    public var port: Int
    public var inode: UInt64
    public var pid: Int32?
    public var process: String?

    public init(proto: Proto, address: String, port: Int, inode: UInt64, pid: Int32? = nil, process: String? = nil) {
        self.proto = proto
        self.address = address
        self.port = port
        self.inode = inode
        self.pid = pid
        self.process = process
    }
}

/// Reads listening TCP and UDP sockets (IPv4 and IPv6) from /proc/net and maps their inodes
/// to the owning process through /proc/<pid>/fd.
public struct SocketScanner: Sendable {
    public var procRoot: String

    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    /// TCP state 0A is LISTEN. UDP has no listen state: a bound, unconnected socket (state 07,
    /// remote address zero) is what "listening" means for UDP.
    public func scan(resolveProcesses: Bool = true) -> [ListeningSocket] {
        var sockets: [ListeningSocket] = []
        for proto in ListeningSocket.Proto.allCases {
            guard let text = try? String(contentsOfFile: "\(procRoot)/net/\(proto)", encoding: .utf8) else { continue }
            sockets += Self.parse(table: text, proto: proto)
        }
        if resolveProcesses {
            let owners = inodeOwners()
            for i in sockets.indices {
                if let owner = owners[sockets[i].inode] {
                    sockets[i].pid = owner.pid
                    sockets[i].process = owner.name
                }
            }
        }
        return sockets.sorted { ($0.port, $0.proto, $0.address) < ($1.port, $1.proto, $1.address) }
    }

    /// Parses one /proc/net/{tcp,tcp6,udp,udp6} table.
    public static func parse(table: String, proto: ListeningSocket.Proto) -> [ListeningSocket] {
        var result: [ListeningSocket] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10 else { continue }
            let local = fields[1], remote = fields[2], state = fields[3]
            if proto.isTCP {
                guard state == "0A" else { continue }
            } else {
                guard state == "07", remote.split(separator: ":").last == "0000" else { continue }
            }
            let parts = local.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1], radix: 16), let inode = UInt64(fields[9]) else { continue }
            guard let address = decodeAddress(String(parts[0])) else { continue }
            result.append(ListeningSocket(proto: proto, address: address, port: port, inode: inode))
        }
        return result
    }

    /// /proc/net addresses are hex in host byte order per 32-bit word (little-endian here).
    static func decodeAddress(_ hex: String) -> String? {
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { i -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
        }
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        // Each 32-bit word is stored in host (little-endian) order: reverse within words.
        var ordered: [UInt8] = []
        for w in stride(from: 0, to: bytes.count, by: 4) { ordered += bytes[w..<w + 4].reversed() }
        if ordered.count == 4 {
            return ordered.map(String.init).joined(separator: ".")
        }
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { raw in for (i, b) in ordered.enumerated() { raw[i] = b } }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// socket inode → (pid, process name), from /proc/<pid>/fd links `socket:[inode]`.
    /// Processes we may not inspect are skipped.
    public func inodeOwners() -> [UInt64: (pid: Int32, name: String)] {
        var owners: [UInt64: (pid: Int32, name: String)] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return owners }
        for entry in entries {
            guard let pid = Int32(entry) else { continue }
            let fdDir = "\(procRoot)/\(entry)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDir) else { continue }
            var name: String? = nil
            for fd in fds {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(fd)"),
                      target.hasPrefix("socket:["), target.hasSuffix("]"),
                      let inode = UInt64(target.dropFirst(8).dropLast()) else { continue }
                if name == nil {
                    name = (try? String(contentsOfFile: "\(procRoot)/\(entry)/comm", encoding: .utf8))?
                        .trimming(.whitespacesAndNewlines) ?? "?"
                }
                // Lowest pid wins when a socket is shared (a parent and its forked workers).
                if let existing = owners[inode], existing.pid < pid { continue }
                owners[inode] = (pid, name!)
            }
        }
        return owners
    }
}

/// Whether a port can be bound right now on this machine: TCP and UDP, all addresses, IPv4
/// and IPv6 (a listener on 127.0.0.1 or ::1 also makes the wildcard bind fail).
public enum PortProbe {
    public static func isFree(_ port: Int) -> Bool {
        for type in [SOCK_STREAM, SOCK_DGRAM] {
            if !canBind(port, family: AF_INET, type: Int32(type.rawValue)) { return false }
            if !canBind(port, family: AF_INET6, type: Int32(type.rawValue)) { return false }
        }
        return true
    }

    static func canBind(_ port: Int, family: Int32, type: Int32) -> Bool {
        let fd = socket(family, type, 0)
        if fd < 0 { return family == AF_INET6 } // no IPv6 on this host: only IPv4 matters
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr = in_addr(s_addr: INADDR_ANY)
            return withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        } else {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &yes, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            addr.sin6_addr = in6addr_any
            return withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
                }
            }
        }
    }
}
