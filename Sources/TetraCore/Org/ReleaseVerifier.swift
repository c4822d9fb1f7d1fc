import FoundationEssentials

/// A release is checked against its manifest before it becomes current again. Releases
/// share unchanged files through hard links, so an edit made in `current` changes the same
/// file in every older release that links it; switching back to such a release would
/// activate the edit. A drifted release is rebuilt from the snapshot it was made from.
extension OrgService {
    /// The drift of release `id` at the target (nil: it is clean, or not at the target).
    func driftBeforeActivating(_ id: ReleaseID, state: TargetState, manager: ReleaseManager) throws -> DriftReport? {
        guard state.releases.contains(id), state.current != id else { return nil }
        context.progress.step("checking \(id) against its manifest")
        let drift = try manager.drift(id)
        if drift.isClean { return nil }
        let files = (drift.changed.map { "~ " + $0 } + drift.missing.map { "- " + $0 } + drift.added.map { "+ " + $0 })
        context.progress.warn("release \(id) at \(manager.target) no longer matches its manifest ("
                              + files.prefix(10).joined(separator: ", ") + (files.count > 10 ? ", ..." : "")
                              + "); it is rebuilt from its snapshot")
        return drift
    }

    /// The snapshot to re-render release `id` from: this machine's history, else (for a
    /// drifted release, which is still at the target) its own metadata. A drifted release
    /// without a snapshot on this machine is refused.
    func rebuildSnapshot(of id: ReleaseID, org: String, env: String, drift: DriftReport?, manager: ReleaseManager) throws -> String? {
        var snap = try history.snapshot(of: id.rawValue, org: org, env: env)
        if snap == nil, drift != nil, let meta = try? manager.metadata(id), !meta.snapshot.isEmpty { snap = meta.snapshot }
        if let drift, snap.map(snapshots.exists) != true {
            let files = drift.changed + drift.missing + drift.added
            throw CoreError.failed("release \(id) at \(manager.target) has drifted (\(files.joined(separator: ", "))) and its "
                                   + "snapshot is not on this machine, so it cannot be rebuilt; current was not switched",
                                   hint: "roll back from the machine that pushed it, or push the wanted state again")
        }
        return snap
    }
}

extension OrgService {
    /// A release's `.tetra-release.toml`, checked: it must parse, name the release, and record
    /// the hash of the release's manifest. A problem is a message naming the file (and the
    /// line and column of a parse error); `org status` reports it instead of "clean".
    func checkedMetadata(_ id: ReleaseID, manager: ReleaseManager) throws -> (metadata: ReleaseMetadata?, problem: String?) {
        let metaPath = "releases/\(id.rawValue)/\(ReleaseManifest.metadataFileName)"
        let listPath = "releases/\(id.rawValue)/\(ReleaseManifest.fileName)"
        let files = try manager.transport.readFiles([metaPath, listPath])
        let shown = "\(manager.target)/\(metaPath)"
        guard let data = files[metaPath] else { return (nil, "\(shown) is missing") }
        let meta: ReleaseMetadata
        do {
            meta = try ReleaseMetadata.parse(String(decoding: data, as: UTF8.self), file: shown)
        } catch let e as any TetraError {
            return (nil, "corrupt release metadata: " + e.message)
        }
        if meta.id != id.rawValue {
            return (meta, "\(shown): id is '\(Names.printable(meta.id))', not \(id)")
        }
        if !meta.contentHash.isEmpty, let list = files[listPath], SHA256.hex(of: list) != meta.contentHash {
            return (meta, "\(shown): content_hash does not match the release's manifest \(ReleaseManifest.fileName)")
        }
        return (meta, nil)
    }
}

extension OrgService {
    public struct RollbackTargetDrift: Encodable, Sendable {
        public var release: String
        public var drift: DriftSummary
    }

    /// When `current` has drifted, the release a plain rollback would activate is checked too:
    /// an edit made in place in `current` changes every older release that shares the file.
    /// nil when there is none or it is clean.
    func rollbackDrift(manager: ReleaseManager) throws -> RollbackTargetDrift? {
        guard let candidate = try manager.rollbackCandidate() else { return nil }
        let drift = try manager.drift(candidate)
        return drift.isClean ? nil : RollbackTargetDrift(release: candidate.rawValue, drift: DriftSummary(drift))
    }
}
