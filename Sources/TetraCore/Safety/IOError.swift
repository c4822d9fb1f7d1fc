import FoundationEssentials
import Glibc

/// A file-system operation failed (exit 1): `cannot write /x/y: Permission denied`.
public struct IOError: TetraError, Equatable {
    /// "write", "read", "create directory", "lock", "append to", ...
    public var operation: String
    public var path: String
    /// The errno value, 0 when the failure is not a system call error.
    public var code: Int32
    /// The reason (strerror text unless given explicitly).
    public var reason: String
    public var hint: String?

    public init(_ operation: String, path: String, errno code: Int32, hint: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.reason = String(cString: strerror(code))
        self.hint = hint ?? IOError.defaultHint(code)
    }

    public init(_ operation: String, path: String, reason: String, hint: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = 0
        self.reason = reason
        self.hint = hint
    }

    public var exitCode: ExitCode { .failure }
    public var kind: String { "io" }
    public var message: String { "cannot \(operation) \(path): \(reason)" }

    static func defaultHint(_ code: Int32) -> String? {
        switch code {
        case ENOSPC, EDQUOT: return "free some disk space and retry; the previous file was left intact"
        case EACCES, EPERM: return "check the permissions of the file and its directory"
        case EROFS: return "the file system is read-only"
        default: return nil
        }
    }
}
