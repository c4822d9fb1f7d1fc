import FoundationEssentials
import Glibc

/// `org pull ENV --write` copies files changed at the target back into `files/`; a local
/// file that changed since the release was made is a conflict (both sides changed it).
extension OrgService {
    struct PullConflicts {
        /// Local files that differ from what the release was made from.
        var changed: [String] = []
        /// Local files that already hold the target's content (nothing to write).
        var unchanged: [String] = []
    }

    /// Sorts the files `--write` would write. What the release was made from is the file in
    /// the release's snapshot (`files/PATH`) when that snapshot is on this machine, else the
    /// file as the release's manifest records it (a plain file is deployed as it is).
    func pullConflicts(_ paths: [String], org: LoadedOrg, release: ReleaseID, manager: ReleaseManager,
                       fetched: String) throws -> PullConflicts {
        var base: [String: String] = [:]
        var fromSnapshot = false
        if let meta = try? manager.metadata(release), !meta.snapshot.isEmpty, snapshots.exists(meta.snapshot) {
            for file in try snapshots.manifest(meta.snapshot) where file.path.hasPrefix("files/") {
                base[String(file.path.dropFirst(6))] = file.hash
            }
            fromSnapshot = true
        }
        if !fromSnapshot { base = try manager.readManifest(release).files }
        var out = PullConflicts()
        for path in paths {
            let local = org.filesDirectory + "/" + path
            var st = stat()
            let exists = lstat(local, &st) == 0
            let localHash = exists && (st.st_mode & S_IFMT) == S_IFREG ? try SHA256.hex(ofFile: local) : nil
            if let localHash, localHash == (try? SHA256.hex(ofFile: fetched + "/" + path)) {
                out.unchanged.append(path)
            } else if exists ? localHash == nil || localHash != base[path] : base[path] != nil {
                out.changed.append(path)
            }
        }
        return out
    }

    static func pullConflictError(_ paths: [String], org: String, env: String) -> CoreError {
        CoreError.conflict("\(paths.count) local file\(paths.count == 1 ? "" : "s") changed since the release of \(env) was made "
                           + "and changed at the target too: " + paths.map { "files/" + $0 }.joined(separator: ", ")
                           + "; nothing was written",
                           hint: "compare with 'tetra org pull \(org) \(env)' and 'tetra org diff \(org) \(env)'; "
                               + "'--write --force' overwrites them (the org is snapshotted first)")
    }
}
