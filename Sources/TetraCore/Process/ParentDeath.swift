import FoundationEssentials
import Glibc

/// Tools die with tetra, also when tetra is killed with -9 (no handler runs then): the
/// runner starts every tool through `tetra __parent-death PPID TOOL ARG...`, which asks the
/// kernel for SIGKILL when its parent goes (PR_SET_PDEATHSIG, kept across exec) and then
/// execs the tool in place (same pid, same environment and descriptors). Supervisors of
/// services are started another way (detached with setsid) and are not affected.
public enum ParentDeath {
    /// The hidden first argument of the wrapper mode (main handles it before anything else).
    public static let command = "__parent-death"

    /// The argv that runs `executable` through `wrapper` (the tetra binary).
    static func wrap(wrapper: String, executable: String, arguments: [String]) -> (String, [String]) {
        (wrapper, [command, String(getpid()), executable] + arguments)
    }

    /// The wrapper: `arguments` is `PPID TOOL ARG...`. Returns only when the exec failed,
    /// with the message to print (main exits 127).
    public static func exec(_ arguments: [String]) -> String {
        guard arguments.count >= 2, let parent = pid_t(arguments[0]) else { return "usage: \(command) PPID TOOL [ARG...]" }
        _ = tetra_prctl(1 /* PR_SET_PDEATHSIG */, UInt(SIGKILL), 0, 0, 0)
        // The parent may have died before the request took effect: then go now.
        if getppid() != parent { return "parent \(parent) is gone" }
        let tool = Array(arguments.dropFirst())
        var argv: [UnsafeMutablePointer<CChar>?] = tool.map { strdup($0) }
        argv.append(nil)
        execv(tool[0], argv)
        return "cannot run \(tool[0]): \(String(cString: strerror(errno)))"
    }
}

/// `prctl` (sys/prctl.h is not in the Glibc module, and a static binary cannot dlsym it):
/// bound by name, like `renameat2`; its arguments are integers, passed alike by Swift and C.
@_silgen_name("prctl")
private func tetra_prctl(_ option: Int32, _ a2: UInt, _ a3: UInt, _ a4: UInt, _ a5: UInt) -> Int32
