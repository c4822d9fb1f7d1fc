import FoundationEssentials

/// The target's journal `.tetra/journal`: what a commit is about to do, written before it
/// finalizes a release or switches `current`, removed once its history line is appended.
/// A commit killed in between leaves it behind; the next command that takes the target's
/// lock reconciles it (`LocalTransport.reconcileJournal`, `RemoteScripts.appendReconcile`):
/// - `current` is the journal's release: the switch happened, so its history line is
///   appended to `.tetra/history.jsonl` unless it is there already;
/// - otherwise nothing was activated: a release the commit finalized is removed (it was
///   never current and is in no history).
///
/// Three lines: `releases/<activate>`, the finalized release id or `-`, the history line.
public struct TargetJournal: Sendable, Equatable {
    public static let fileName = "journal"

    public var activate: ReleaseID
    public var finalize: ReleaseID?
    public var historyLine: String

    public init(_ plan: CommitPlan) {
        activate = plan.activate
        finalize = plan.finalize
        historyLine = plan.historyLine
    }

    /// `releases/<id>`, as `current` reads once switched.
    public var link: String { "releases/" + activate.rawValue }

    public var text: String { link + "\n" + (finalize?.rawValue ?? "-") + "\n" + historyLine + "\n" }

    public static func parse(_ text: String) -> TargetJournal? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[0].hasPrefix("releases/"),
              let activate = try? ReleaseID(String(lines[0].dropFirst("releases/".count))) else { return nil }
        var finalize: ReleaseID? = nil
        if lines[1] != "-" {
            guard let id = try? ReleaseID(lines[1]) else { return nil }
            finalize = id
        }
        return TargetJournal(CommitPlan(finalize: finalize, activate: activate, historyLine: lines[2], prune: [], unlockToken: nil))
    }
}
