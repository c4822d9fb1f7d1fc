import FoundationEssentials

/// Readers of JSON Lines files (audit log, histories) that never skip a line silently: a
/// line that does not decode is reported as `path:LINE` (and left out of the records).
public enum JSONLines {
    public static func decode<T: Decodable>(_ type: T.Type, _ data: Data, path: String) -> (records: [T], corrupt: [String]) {
        let decoder = JSONDecoder()
        var records: [T] = []
        var corrupt: [String] = []
        var number = 0
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() {
            number += 1
            if line.isEmpty { continue }
            if let record = try? decoder.decode(T.self, from: Data(line)) {
                records.append(record)
            } else {
                let torn = i == lines.count - 1 ? " (an incomplete last line: a write was cut short)" : ""
                corrupt.append("\(path):\(number): corrupt line skipped, not a valid record\(torn)")
            }
        }
        return (records, corrupt)
    }
}

extension AuditLog {
    /// `read`, with the lines that do not decode named (`path:LINE`).
    public func readChecked(since: Date? = nil, org: String? = nil) throws -> (entries: [AuditEntry], corrupt: [String]) {
        guard let data = try AtomicFile.readIfExists(path) else { return ([], []) }
        let (all, corrupt) = JSONLines.decode(AuditEntry.self, data, path: path)
        let entries = all.filter { e in (since.map { e.time >= $0 } ?? true) && (org.map { e.org == $0 } ?? true) }
        return (entries, corrupt)
    }
}

extension LocalHistory {
    /// `entries`, with the lines that do not decode named (`path:LINE`).
    public func entriesChecked(_ org: String) throws -> (entries: [LocalHistoryEntry], corrupt: [String]) {
        try Names.validate(org, what: "org")
        guard let data = try AtomicFile.readIfExists(file(org)) else { return ([], []) }
        let (records, corrupt) = JSONLines.decode(LocalHistoryEntry.self, data, path: file(org))
        return (records, corrupt)
    }
}

extension ReleaseManager {
    /// `.tetra/history.jsonl`, oldest first, with the lines that do not decode named.
    public func historyChecked() throws -> (entries: [HistoryEntry], corrupt: [String]) {
        let rel = ".tetra/history.jsonl"
        guard let data = try transport.readFiles([rel])[rel] else { return ([], []) }
        let (records, corrupt) = JSONLines.decode(HistoryEntry.self, data, path: "\(target)/\(rel)")
        return (records, corrupt)
    }
}
