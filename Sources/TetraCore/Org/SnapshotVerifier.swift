import FoundationEssentials
import Glibc

/// Objects of the snapshot store are never trusted: every read checks the content against
/// the hash that names it, and `verifyObjects` checks the whole store (`tetra doctor`).
extension SnapshotStore {
    /// Copies object `hash` to `destination`, hashing as it copies. A missing object or one
    /// whose content does not match its hash is an error naming the object (the copy is
    /// removed).
    func copyObject(_ hash: String, to destination: String, mode: mode_t, snapshot: String? = nil) throws {
        let object = objectPath(hash)
        let owner = snapshot.map { "snapshot \($0) needs object \(object)" } ?? "object \(object)"
        guard LocalFiles.exists(object) else {
            throw CoreError.failed("\(owner), which is missing from the snapshot store",
                                   hint: "run 'tetra doctor' to check the whole store")
        }
        let got = try LocalTransport.copyVerifying(from: object, to: destination, mode: mode)
        guard got.hash == hash else {
            unlink(destination)
            throw CoreError.failed("\(owner), whose content is corrupt (its sha256 is \(got.hash), not \(hash))",
                                   hint: "the store was changed outside tetra; remove \(object) and push again from an "
                                       + "unchanged working copy to store it again, and run 'tetra doctor' to check the rest")
        }
    }

    /// One problem of the store found by `verifyObjects`.
    public struct ObjectProblem: Sendable, Equatable {
        public var path: String
        public var message: String
    }

    /// Hashes every object of the store; objects whose content does not match their name,
    /// and stray files, are problems. Returns the number of objects checked.
    public func verifyObjects() throws -> (checked: Int, problems: [ObjectProblem]) {
        var checked = 0
        var problems: [ObjectProblem] = []
        guard let prefixes = try LocalFiles.list(objects) else { return (0, []) }
        for prefix in prefixes.sorted() where prefix != "tmp" {
            let dir = objects + "/" + prefix
            guard LocalFiles.isDirectory(dir) else {
                problems.append(ObjectProblem(path: dir, message: "not an object directory"))
                continue
            }
            for name in (try LocalFiles.list(dir) ?? []).sorted() {
                try interrupt?.check()
                let path = dir + "/" + name
                guard name.utf8.count == 64, name.hasPrefix(prefix) else {
                    problems.append(ObjectProblem(path: path, message: "not a snapshot object"))
                    continue
                }
                checked += 1
                do {
                    let got = try SHA256.hex(ofFile: path)
                    if got != name {
                        problems.append(ObjectProblem(path: path, message: "corrupt: its sha256 is \(got)"))
                    }
                } catch let e as any TetraError {
                    problems.append(ObjectProblem(path: path, message: e.message))
                }
            }
        }
        return (checked, problems)
    }
}
