import Foundation

/// An index of every `ssl/<domain>/meta.toml` (`state/cache/ssl.index`), so that `ssl list`
/// with a thousand certificates costs one `stat` per certificate instead of an open, a read,
/// a close and a parse. Each entry carries the `FileStamp` of the meta.toml it was read
/// from, and is used only while that file still has exactly that stamp and had settled
/// before the index was written (FileStamp's rule); any other entry is read from its file
/// again. The index never decides an error or a warning: those come from the files.
///
/// Format: a header line `tetra-ssl-index 1 CREATED_NS CHECKSUM`, then one line per
/// certificate, tab-separated, with `\\`, tab and newline escaped:
/// dir, stamp, domain, subject, issuer, not_before, not_after, serial, fingerprint, source,
/// key_type, created, then the optional acme_server, acme_ca, email, http_port, webroot,
/// days (empty: absent; `=value`: present), then the names. Dates are seconds since 1970
/// as Swift prints a Double (exact round trip). Written without fsync; the checksum makes a
/// torn file a miss. Deleting it is always safe.
struct SSLMetaIndex {
    let path: String
    var margin: Int64 = FileStamp.margin
    static let magic = "tetra-ssl-index 1"

    struct Entry: Equatable {
        var dir: String
        var stamp: FileStamp
        var meta: CertificateMeta
    }

    init(path: String) { self.path = path }
    init(paths: StatePaths) { self.init(path: paths.state + "/cache/ssl.index") }

    /// The entries by directory name and when the index was written; empty on any problem.
    func load() -> (created: Int64, entries: [String: Entry]) {
        guard let data = FileManager.default.contents(atPath: path) else { return (0, [:]) }
        return data.withUnsafeBytes { raw -> (Int64, [String: Entry]) in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let headerEnd = bytes.firstIndex(of: 0x0A) else { return (0, [:]) }
            let header = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<headerEnd]), as: UTF8.self).split(separator: " ")
            guard header.count == 4, header[0] + " " + header[1] == Self.magic, let created = Int64(header[2]),
                  UInt64(header[3]) == FileStamp.checksum(UnsafeBufferPointer(rebasing: bytes[(headerEnd + 1)...])) else { return (0, [:]) }
            // Byte-level: Character-based splitting costs ~50x more on a thousand lines.
            var entries: [String: Entry] = [:]
            var i = headerEnd + 1
            let n = bytes.count
            var fields: [String] = []
            fields.reserveCapacity(24)
            while i < n {
                fields.removeAll(keepingCapacity: true)
                var start = i
                while true {
                    let c = i < n ? bytes[i] : 0x0A
                    if c == 0x09 || c == 0x0A {
                        guard let field = Self.unescape(UnsafeBufferPointer(rebasing: bytes[start..<i])) else { return (0, [:]) }
                        fields.append(field)
                        start = i + 1
                        if c == 0x0A { break }
                    }
                    i += 1
                }
                i += 1
                guard let entry = Self.decode(fields) else { return (0, [:]) }
                entries[entry.dir] = entry
            }
            return (created, entries)
        }
    }

    /// Writes `entries` (only those whose file had settled by now: a fresher one would never
    /// be trusted). Failures are ignored: the index is optional.
    func save(_ entries: [Entry]) {
        let now = FileStamp.now()
        var body = ""
        for e in entries where e.stamp.settled(before: now, margin: margin) {
            body += Self.encode(e)
            body += "\n"
        }
        var bytes = Array(body.utf8)
        let sum = bytes.withUnsafeBufferPointer { FileStamp.checksum($0) }
        var data = Data("\(Self.magic) \(now) \(sum)\n".utf8)
        data.append(contentsOf: bytes)
        bytes = []
        do {
            try AtomicFile.ensureDirectory((path as NSString).deletingLastPathComponent, mode: 0o700)
            try AtomicFile.write(data, to: path, mode: 0o600, durable: false)
        } catch {
            // Without an index the next list reads the files.
        }
    }

    static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return s }
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(c)
            }
        }
        return out
    }

    static func unescape(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        guard b.contains(0x5C) else { return String(decoding: b, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            i += 1
            guard c == 0x5C else { out.append(c); continue }
            guard i < b.count else { return nil }
            switch b[i] {
            case 0x5C: out.append(0x5C)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            default: return nil
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encode(_ e: Entry) -> String {
        let m = e.meta
        func date(_ d: Date) -> String { "\(d.timeIntervalSince1970)" }
        func opt(_ s: String?) -> String { s.map { "=" + $0 } ?? "" }
        var fields = [e.dir, e.stamp.fields, m.domain, m.subject, m.issuer, date(m.not_before), date(m.not_after),
                      m.serial, m.fingerprint_sha256, m.source.rawValue, m.key_type, date(m.created),
                      opt(m.acme_server), opt(m.acme_ca), opt(m.email), opt(m.http_port.map(String.init)),
                      opt(m.webroot), opt(m.days.map(String.init))]
        fields += m.names
        return fields.map(escape).joined(separator: "\t")
    }

    /// One line, for tests.
    static func decode(_ line: Substring) -> Entry? {
        var fields: [String] = []
        for raw in line.utf8.split(separator: 0x09, omittingEmptySubsequences: false) {
            guard let field = Array(raw).withUnsafeBufferPointer({ unescape($0) }) else { return nil }
            fields.append(field)
        }
        return decode(fields)
    }

    static func decode(_ f: [String]) -> Entry? {
        guard f.count >= 18 else { return nil }
        func date(_ s: String) -> Date? { Double(s).map { Date(timeIntervalSince1970: $0) } }
        func opt(_ s: String) -> String?? {
            if s.isEmpty { return .some(nil) }
            return s.hasPrefix("=") ? .some(String(s.dropFirst())) : nil
        }
        guard let stamp = FileStamp(fields: f[1].utf8.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }),
              let notBefore = date(f[5]), let notAfter = date(f[6]), let created = date(f[11]),
              let source = CertificateSource(rawValue: f[9]),
              let acmeServer = opt(f[12]), let acmeCA = opt(f[13]), let email = opt(f[14]),
              let httpPort = opt(f[15]), let webroot = opt(f[16]), let days = opt(f[17]) else { return nil }
        let info = CertificateInfo(subject: f[3], issuer: f[4], notBefore: notBefore, notAfter: notAfter,
                                   serial: f[7], fingerprint: f[8], names: Array(f[18...]))
        var meta = CertificateMeta(domain: f[2], info: info, source: source, keyType: f[10], created: created)
        meta.acme_server = acmeServer
        meta.acme_ca = acmeCA
        meta.email = email
        meta.webroot = webroot
        if let p = httpPort { guard let n = Int(p) else { return nil }; meta.http_port = n }
        if let d = days { guard let n = Int(d) else { return nil }; meta.days = n }
        return Entry(dir: f[0], stamp: stamp, meta: meta)
    }
}
