import FoundationEssentials
import TetraCore

/// Under --verbose: reports every external command (argv redacted) with its exit status and
/// duration on stderr, then delegates to the real runner.
struct VerboseRunner: ProcessRunning {
    let base: any ProcessRunning
    let sink: OutputSink

    func run(_ request: ProcessRequest) throws -> ProcessResult {
        try logged(request) { try base.run(request) }
    }

    func run(_ request: ProcessRequest, onOutput: @escaping @Sendable (OutputChunk) -> Void) throws -> ProcessResult {
        try logged(request) { try base.run(request, onOutput: onOutput) }
    }

    private func logged(_ request: ProcessRequest, _ body: () throws -> ProcessResult) throws -> ProcessResult {
        sink.write("tetra: run: \(request.displayArgv.joined(separator: " "))\n")
        let result = try body()
        let ms = Int(result.duration * 1000)
        sink.write("tetra: exit \(result.status)\(result.timedOut ? " (timed out)" : "") after \(ms)ms\n")
        return result
    }

    func which(_ executable: String) -> String? { base.which(executable) }
}
