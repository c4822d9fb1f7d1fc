import FoundationEssentials
import Glibc

/// A mutex (pthread), for the few shared counters and buffers; `NSLock` is a Foundation API.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Threads without Foundation's `Thread`: detached pthreads with a name (seen in `ps -L`, gdb).
public enum Threads {
    /// Starts `body` on a new detached thread. Stops the process when the system cannot make
    /// one (as Foundation's Thread does). `stackSize` in bytes (nil: the system's default).
    public static func start(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        final class Box { let name: String; let body: @Sendable () -> Void; init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b } }
        let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        if let stackSize { pthread_attr_setstacksize(&attr, max(stackSize, 1 << 14)) }
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = tetra_pthread_setname_np(pthread_self(), String(decoding: box.name.utf8.prefix(15), as: UTF8.self))
            box.body()
            return nil
        }, box)
        guard rc == 0 else { fatalError("cannot start thread \(name): \(String(cString: strerror(rc)))") }
    }

    /// Sleeps the calling thread (`Thread.sleep(forTimeInterval:)`).
    public static func sleep(_ seconds: TimeInterval) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var rest = timespec()
        while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
    }
}

/// glibc declares it only under _GNU_SOURCE, which the Glibc module does not define; bound by
/// name (like `renameat2` and `syncfs`: integer and pointer arguments pass alike in Swift and C).
@_silgen_name("pthread_setname_np")
private func tetra_pthread_setname_np(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
