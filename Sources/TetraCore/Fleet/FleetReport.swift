import FoundationEssentials

/// What a push to an environment of many hosts did (`org push`, `env promote`,
/// `org rollback` of such an environment): one row per host and the outcome.
public struct FleetPushOutcome: Encodable, Sendable {
    public enum Outcome: String, Encodable, Sendable {
        /// Every selected host runs the new release.
        case success
        /// Some hosts failed (within `max_failures`); the others keep the new release.
        case partial
        /// Too many hosts failed: every host this push activated went back.
        case rolled_back
        /// Too many hosts could not be reached or sent the release: nothing was switched.
        case failed
    }

    public var org: String
    public var env: String
    public var action: DeployAction
    public var dry_run: Bool
    public var release: String?
    public var snapshot: String?
    public var source: String
    public var outcome: Outcome
    public var hosts: [FleetHostReport]
    public var host_count: Int
    public var failed_count: Int
    public var max_failures: Int
    public var batch_count: Int
    public var hooks: [HookRun]

    /// Exit code: 0 for success; 6 when no host could be reached or run tetra; else 1.
    public var exitCode: ExitCode {
        FleetExit.code(failed: outcome == .success ? 0 : max(1, failed_count),
                       unreachable: outcome == .failed ? hosts.filter { $0.result == .unreachable || $0.result == .unsupported }.count : 0,
                       hosts: hosts.count)
    }
}

/// The exit code of a command run on many hosts (push, exec, svc --env): 0 when no host
/// failed, 6 when no host could be reached (or, for a push, run this tetra), else 1.
public enum FleetExit {
    public static func code(failed: Int, unreachable: Int, hosts: Int) -> ExitCode {
        if failed == 0 { return .success }
        return hosts > 0 && unreachable == hosts ? .toolFailed : .failure
    }
}

/// One host's row of a fleet push.
public struct FleetHostReport: Encodable, Sendable {
    /// The last phase the host reached.
    public enum Phase: String, Encodable, Sendable {
        case reach, upload, activate, services, verify, done
    }
    public enum Result: String, Encodable, Sendable {
        /// Runs the new release (verified when the env has verify hooks).
        case ok
        /// Could not be reached (ssh failed, timed out).
        case unreachable
        /// Cannot run this tetra (its `uname -sm` is another platform's); nothing was switched.
        case unsupported
        /// Failed here (upload, activation or verification); back on its previous release
        /// when it had been switched.
        case failed
        /// Was switched and verified, then went back because too many other hosts failed.
        case rolled_back
        /// Was sent the release but not switched (the push stopped before its batch).
        case not_activated
        /// Dry run: what would be sent.
        case planned
    }

    public var host: String
    public var target: String
    public var release: String?
    public var previous: String?
    public var phase: Phase
    public var result: Result
    public var duration_ms: Int
    public var error: String?
    public var transport: String?
    public var files_sent: Int?
    public var bytes_sent: Int64?
    public var changes: FileChanges?
}

/// A hook that ran here (`pre_push`, `post_push`).
public struct HookRun: Encodable, Sendable {
    public enum Hook: String, Encodable, Sendable {
        case prePush = "pre_push"
        case postPush = "post_push"
    }
    public var hook: Hook
    public var command: String
    public var status: Int32
    public var error: String?
}
