import FoundationEssentials
import Glibc

/// `verify` hooks: run on a host in the new release's directory after it was switched,
/// every command passing in one round, retried until the batch's deadline.
struct FleetVerifier: Sendable {
    let context: CoreContext
    let commands: [[String]]
    let ports: [String: Int]

    func verify(_ run: FleetHostRun, id: ReleaseID, deadline: TimeInterval) throws {
        guard !commands.isEmpty else { return }
        let shell = TargetShell(transport: run.transport, context: context)
        let dir = run.releaseDirectory(id)
        let argvs = try commands.map { try $0.map { try Self.substitute($0, release: dir, ports: ports) } }
        while true {
            try context.interrupt.check()
            var failure: String? = nil
            for argv in argvs {
                let result: ProcessResult
                do {
                    result = try shell.run(argv, cwd: dir, timeout: max(1, min(30, deadline - Monotonic.now())))
                } catch let e as ToolError {
                    // ssh could not reach the host this time: a failed round, retried.
                    failure = e.message
                    break
                }
                if result.status != 0 || result.timedOut {
                    let tail = ToolError.tail(of: result.stderrString + result.stdoutString)
                    failure = ShellQuote.join(argv) + (result.timedOut ? " timed out" : " exited with status \(result.status)")
                        + (tail.isEmpty ? "" : ": " + tail)
                    break
                }
            }
            guard let failure else { return }
            if Monotonic.now() + 1 >= deadline {
                throw CoreError.failed("verify failed on \(run.host.name): \(failure)",
                                       hint: "it went back to its previous release; see the verify hooks of the environment")
            }
            context.progress.step("\(run.host.name): waiting for verify (\(failure))")
            for _ in 0..<10 where !context.interrupt.isRaised { Threads.sleep(0.1) }
        }
    }

    /// `{release}` and `{ports.NAME}` in a verify word; an unknown port name is an error.
    static func substitute(_ word: String, release: String, ports: [String: Int]) throws -> String {
        var out = word.replacingAll("{release}", with: release)
        while let start = out.firstRange(ofLiteral: "{ports.") {
            guard let end = out[start.upperBound...].firstIndex(of: "}") else { break }
            let name = String(out[start.upperBound..<end])
            guard let port = ports[name] else {
                throw CoreError.notFound(what: "port", name: name, hint: "verify uses {ports.\(name)}; register it: tetra ports set \(name) PORT")
            }
            out.replaceSubrange(start.lowerBound...end, with: String(port))
        }
        return out
    }
}

/// `pre_push` and `post_push` hooks: argv arrays run here, in the org's directory, with
/// `TETRA_ORG`, `TETRA_ENV`, `TETRA_HOSTS` and `TETRA_RELEASE` set.
struct FleetHooks: Sendable {
    let context: CoreContext
    let directory: String
    let environment: [String: String]
    static let timeout: TimeInterval = 600

    /// Runs every `pre_push` hook; the first failure stops the push (exit 1, nothing changed).
    func prePush(_ hooks: [[String]]) throws -> [HookRun] {
        var runs: [HookRun] = []
        for argv in hooks {
            try context.interrupt.check()
            let run = try self.run(.prePush, argv, extra: [:])
            runs.append(run)
            if run.status != 0 {
                throw CoreError.failed("pre_push hook failed: \(run.command): \(run.error ?? "exit \(run.status)")",
                                       hint: "nothing was changed on any host")
            }
        }
        return runs
    }

    /// Runs every `post_push` hook with the outcome (`TETRA_OUTCOME`) and the report as a
    /// JSON file (`TETRA_RESULT_JSON`); a failure is reported, never the push's result.
    func postPush(_ hooks: [[String]], outcome: FleetPushOutcome) -> [HookRun] {
        guard !hooks.isEmpty else { return [] }
        var runs: [HookRun] = []
        let file = context.paths.state + "/tmp/fleet-result-\(getpid())-" + TargetLockRecord.newToken() + ".json"
        defer { unlink(file) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            try AtomicFile.write(try encoder.encode(outcome), to: file, mode: 0o600)
        } catch {
            context.progress.warn("post_push: could not write the result file: \(error)")
        }
        for argv in hooks {
            let run = (try? self.run(.postPush, argv, extra: ["TETRA_OUTCOME": outcome.outcome.rawValue, "TETRA_RESULT_JSON": file]))
                ?? HookRun(hook: .postPush, command: ShellQuote.join(argv), status: -1, error: "could not be started")
            if run.status != 0 { context.progress.warn("post_push hook failed: \(run.command): \(run.error ?? "exit \(run.status)")") }
            runs.append(run)
        }
        return runs
    }

    /// `post_push` runs also after Ctrl-C (not stopped by the interrupt; a second Ctrl-C ends
    /// tetra at once).
    private func run(_ hook: HookRun.Hook, _ argv: [String], extra: [String: String]) throws -> HookRun {
        context.progress.step("\(hook.rawValue): " + ShellQuote.join(argv))
        let request = ProcessRequest(argv[0], Array(argv.dropFirst()), environment: environment.merging(extra) { $1 },
                                     workingDirectory: directory, timeout: Self.timeout)
        let command = ShellQuote.join(argv)
        do {
            let result = try (hook == .postPush ? Uninterruptible.runner(context.runner) : context.runner).run(request)
            let tail = ToolError.tail(of: result.stderrString + result.stdoutString)
            let error = result.timedOut ? "timed out" : result.status == 0 ? nil : "exited with status \(result.status)" + (tail.isEmpty ? "" : ": " + tail)
            return HookRun(hook: hook, command: command, status: result.timedOut ? -1 : result.status, error: error)
        } catch let e as CoreError where e.exitCode == .interrupted {
            throw e
        } catch {
            return HookRun(hook: hook, command: command, status: -1, error: FleetHostRun.message(error))
        }
    }
}
