import FoundationEssentials
import Glibc

/// Creation and checks of the state root.
public enum StateRoot {
    /// The directories every state root has.
    public static func layout(_ p: StatePaths) -> [String] {
        [p.root, p.config, p.orgs, p.ssl, p.state, p.locks]
    }

    /// Creates the state root with mode 0700 if needed. Refuses a path that is a file, and
    /// creates nothing when the nearest existing ancestor is not writable.
    public static func ensure(_ paths: StatePaths, flagGiven: Bool) throws {
        let fm = FileManager.default
        var isDir = false
        if fm.fileExists(atPath: paths.root, isDirectory: &isDir) {
            guard isDir else {
                throw CoreError.invalidArgument("state root \(paths.root) is not a directory",
                                                hint: flagGiven ? "--dir must name a directory" : "set --dir or TETRA_DIR to a directory")
            }
            guard access(paths.root, W_OK | X_OK) == 0 else {
                throw CoreError.failed("state root \(paths.root) is not writable", hint: "check its owner and mode (expected 0700, owned by you)")
            }
        } else {
            // Find the nearest existing ancestor and check it before creating anything.
            var ancestor = PathText.parent(paths.root)
            while !fm.fileExists(atPath: ancestor, isDirectory: &isDir) {
                let parent = PathText.parent(ancestor)
                if parent == ancestor { break }
                ancestor = parent
            }
            guard isDir else {
                throw CoreError.invalidArgument("cannot create state root \(paths.root): \(ancestor) is not a directory")
            }
            guard access(ancestor, W_OK | X_OK) == 0 else {
                throw CoreError.failed("cannot create state root \(paths.root): \(ancestor) is not writable",
                                       hint: "choose another location with --dir or TETRA_DIR")
            }
        }
        for dir in layout(paths) {
            try AtomicFile.ensureDirectory(dir, mode: 0o700)
        }
    }
}
