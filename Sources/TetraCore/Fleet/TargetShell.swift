import Dispatch
import FoundationEssentials

/// Runs a command at a target: here for a local target, over the target's ssh settings for a
/// remote one. The remote shell gets one string (ssh has no other way), built from the argv
/// with every word quoted by `ShellQuote`, so no word is ever read as shell syntax.
struct TargetShell: Sendable {
    let transport: any ReleaseTransport
    let context: CoreContext
    /// Not stopped by Ctrl-C (going back after an interrupt).
    var uninterruptible = false
    var runner: any ProcessRunning { uninterruptible ? Uninterruptible.runner(context.runner) : context.runner }

    /// Runs `argv` in directory `cwd` of the target with `environment` added; a command that
    /// exits non-zero is a result, not an error (the caller decides); ssh's own failure
    /// (exit 255) is `ToolError.failed`.
    func run(_ argv: [String], cwd: String, environment: [String: String] = [:], timeout: TimeInterval) throws -> ProcessResult {
        let req = request(argv, cwd: cwd, environment: environment, timeout: timeout)
        let result = try runner.run(req)
        if let error = sshFailure(argv, result) { throw error }
        return result
    }

    /// The process that runs `argv` at the target: ssh for a remote one, `argv` itself here.
    func request(_ argv: [String], cwd: String, environment: [String: String] = [:], timeout: TimeInterval?) -> ProcessRequest {
        precondition(!argv.isEmpty)
        if let ssh = transport.remoteShell {
            let assignments = environment.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }
            let words = ["cd", cwd].map(ShellQuote.quote).joined(separator: " ") + " && exec "
                + ShellQuote.join((assignments.isEmpty ? [] : ["env"] + assignments) + argv)
            return ProcessRequest(ssh.program, ssh.arguments(remoteCommand: words), timeout: timeout, outputLimit: 1 << 20)
        }
        return ProcessRequest(argv[0], Array(argv.dropFirst()), environment: environment, workingDirectory: cwd, timeout: timeout,
                              outputLimit: 1 << 20)
    }

    /// ssh's own failure (exit 255: the host could not be reached, or the session broke) as
    /// `ToolError.failed`; nil for any other result.
    func sshFailure(_ argv: [String], _ result: ProcessResult) -> ToolError? {
        guard result.status == 255, let ssh = transport.remoteShell else { return nil }
        return ToolError.failed(argv: [ssh.program, "--", ssh.endpoint.destination, "<\(argv[0])>"], status: 255,
                                stderrTail: ToolError.tail(of: result.stderrString))
    }
}
