import FoundationEssentials

/// Reads `git fetch --progress` output (stderr, lines ended by `\r` while they redraw) for
/// the progress display: the bytes received so far, and the objects received of the total.
///
/// A line: `Receiving objects:  45% (450/1000), 1.20 MiB | 512.00 KiB/s` (`Unpacking objects:`
/// for small fetches, which git unpacks instead of keeping the pack). git shows the size
/// in its own units (`bytes`, `KiB`, `MiB`, `GiB`, two decimals), so the bytes are as exact
/// as git's display; git leaves the size out while little has arrived, and the whole line
/// out when the fetch is quick.
final class GitFetchProgress: @unchecked Sendable {
    private let progress: any ProgressReporter
    private let lock = Lock()
    private var line: [UInt8] = []
    private var kept: [UInt8] = []
    private var bytes: Int64 = 0
    private var reported: Int64 = 0
    private var objects: (done: Int, total: Int)?

    init(progress: any ProgressReporter) { self.progress = progress }

    func feed(_ chunk: OutputChunk) {
        guard chunk.stream == .stderr else { return }
        lock.lock()
        for byte in chunk.data {
            if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                parse(String(decoding: line, as: UTF8.self))
                // What is kept for error messages: whole lines, not each redraw.
                if byte == UInt8(ascii: "\n") { kept += line + [byte] }
                line.removeAll(keepingCapacity: true)
            } else if line.count < 512 {
                line.append(byte)
            }
        }
        let grown = bytes - reported
        reported = bytes
        lock.unlock()
        if grown > 0 { progress.advance(files: 0, bytes: grown) }
    }

    /// stderr without the redrawn progress lines (for an error's stderr tail).
    var stderr: Data { lock.lock(); defer { lock.unlock() }; return Data(kept + line) }

    /// "received 1000 objects (12.3 MB)", once git showed its counts; nil when it did not.
    var summary: String? {
        lock.lock(); defer { lock.unlock() }
        guard let objects else { return nil }
        return "received \(objects.done) of \(objects.total) object\(objects.total == 1 ? "" : "s")"
            + (bytes > 0 ? " (\(ProgressFormat.bytes(bytes)))" : "")
    }

    private func parse(_ text: String) {
        guard text.hasPrefix("Receiving objects:") || text.hasPrefix("Unpacking objects:") else { return }
        let words = text.split(separator: " ").map { $0.filter { $0 != "(" && $0 != ")" && $0 != "," } }
        for (i, word) in words.enumerated() {
            let pair = word.split(separator: "/")
            if pair.count == 2, let done = Int(pair[0]), let total = Int(pair[1]) { objects = (done, total) }
            // The first size: the amount received (a rate follows after "|").
            if i > 0, word == "|" { break }
            if i > 0, let scale = Self.units[word], let value = Double(words[i - 1]) {
                bytes = max(bytes, Int64(value * scale))
            }
        }
    }

    private static let units: [String: Double] = ["byte": 1, "bytes": 1, "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824]
}
