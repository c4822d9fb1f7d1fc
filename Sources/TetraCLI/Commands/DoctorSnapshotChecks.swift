import FoundationEssentials
import TetraCore

extension Doctor {
    /// The snapshot store: every object's content must match its hash (a corrupt object
    /// would be deployed by a rollback or promote re-rendered from its snapshot).
    func snapshotChecks() -> [Check] {
        let store = SnapshotStore(paths: core.paths, interrupt: core.interrupt)
        do {
            let (checked, problems) = try store.verifyObjects()
            if problems.isEmpty {
                return [Check(name: "snapshots", status: .ok, detail: "\(checked) objects match their hashes")]
            }
            return problems.map { Check(name: "snapshots", status: .problem, detail: "\($0.path): \($0.message)") }
        } catch let error as any TetraError {
            return [Check(name: "snapshots", status: .problem, detail: error.message)]
        } catch {
            return [Check(name: "snapshots", status: .problem, detail: "\(error)")]
        }
    }
}
