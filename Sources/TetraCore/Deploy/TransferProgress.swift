import FoundationEssentials
import Glibc

/// Turns rsync's `--info=progress2` output (stdout, lines ended by `\r`) into progress
/// increments: the bytes of file data rsync sent or received so far (its first number),
/// and files done. Each chunk of output makes at most one `advance` call.
///
/// A progress2 line: `  1,234,567  45%  1.23MB/s  0:00:01 (xfr#12, to-chk=88/100)`.
/// `to-chk=R/T` (`ir-chk` while the list is still growing): T entries listed, R of them not
/// checked yet; entries include "." and the directories. `xfr#N`: N files transferred.
final class RsyncProgress: @unchecked Sendable {
    enum Files {
        /// Files checked (sent, or found unchanged at the target): entries checked less
        /// `uncounted` (the directories and "."), so the count never runs ahead of the truth.
        case checked(uncounted: Int)
        /// Files transferred (a fetch into an empty directory transfers every file).
        case transferred
    }

    private let progress: any ProgressReporter
    private let files: Files
    private let lock = Lock()
    private var line: [UInt8] = []
    private var kept: [UInt8] = []
    private var bytes: Int64 = 0
    private var done = 0
    private var reportedBytes: Int64 = 0
    private var reportedFiles = 0

    init(progress: any ProgressReporter, files: Files) {
        self.progress = progress
        self.files = files
    }

    /// The argument that asks rsync for this output; nil when the local rsync is older than
    /// 3.1 (no `--info`) or its version cannot be read.
    static func argument(runner: any ProcessRunning, program: String) -> String? {
        guard let text = try? ToolCall.versionOutput(runner, program, ["--version"]),
              let version = ToolVersion.rsync(text) else { return nil }
        let parts = version.split(separator: ".").map { Int($0.prefix(while: { $0.isNumber })) ?? 0 }
        let (major, minor) = (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
        return major > 3 || (major == 3 && minor >= 1) ? "--info=progress2" : nil
    }

    func feed(_ chunk: OutputChunk) {
        guard chunk.stream == .stdout else { return }
        lock.lock()
        for byte in chunk.data {
            if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                if !parse(line), byte == UInt8(ascii: "\n") { kept += line + [byte] }
                line.removeAll(keepingCapacity: true)
            } else if line.count < 512 {
                line.append(byte)
            }
        }
        let (f, b) = (done - reportedFiles, bytes - reportedBytes)
        reportedFiles = done
        reportedBytes = bytes
        lock.unlock()
        if f > 0 || b > 0 { progress.advance(files: max(f, 0), bytes: max(b, 0)) }
    }

    /// The output without the progress lines (the --stats report): it stays small however
    /// long the transfer, where the progress lines could outgrow the runner's output limit.
    var report: String { lock.lock(); defer { lock.unlock() }; return String(decoding: kept + line, as: UTF8.self) }

    /// One line: whether it is a progress2 line (counted) or not (kept for the report).
    private func parse(_ raw: [UInt8]) -> Bool {
        let text = String(decoding: raw, as: UTF8.self)
        let words = text.split(separator: " ")
        guard let first = words.first, first.first?.isNumber == true,
              let count = Int64(first.filter { $0 != "," }), words.count >= 4, words[1].hasSuffix("%") else { return false }
        bytes = max(bytes, count)
        for word in words.dropFirst(4) {
            let w = word.filter { $0 != "(" && $0 != ")" && $0 != "," }
            switch files {
            case .transferred:
                if w.hasPrefix("xfr#"), let n = Int(w.dropFirst(4)) { done = max(done, n) }
            case .checked(let uncounted):
                guard w.hasPrefix("to-chk=") || w.hasPrefix("ir-chk=") else { continue }
                let pair = w.dropFirst(7).split(separator: "/")
                if pair.count == 2, let left = Int(pair[0]), let total = Int(pair[1]) {
                    done = max(done, total - left - uncounted)
                }
            }
        }
        return true
    }
}
