import FoundationEssentials
import TetraCore

/// Under --verbose: reports every external command (argv redacted) with its exit status and
/// duration on stderr, then delegates to the real runner.
struct VerboseRunner: ProcessRunning {
    let base: any ProcessRunning
    let sink: OutputSink

    func run(_ request: ProcessRequest) throws -> ProcessResult {
        sink.write("tetra: run: \(request.displayArgv.joined(separator: " "))\n")
        let result = try base.run(request)
        let ms = Int(result.duration * 1000)
        sink.write("tetra: exit \(result.status)\(result.timedOut ? " (timed out)" : "") after \(ms)ms\n")
        return result
    }

    func which(_ executable: String) -> String? { base.which(executable) }
}
