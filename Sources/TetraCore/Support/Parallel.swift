import Dispatch
import FoundationEssentials

/// Runs work items on up to `width` threads at once and waits for all of them.
enum Parallel {
    static func forEach(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || width <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let slots = DispatchSemaphore(value: min(width, count))
        let done = DispatchSemaphore(value: 0)
        for i in 0..<count {
            slots.wait()
            Threads.start(name: "tetra-fleet") {
                body(i)
                slots.signal()
                done.signal()
            }
        }
        for _ in 0..<count { done.wait() }
    }

    /// `body` of every item, on up to `width` threads at once; the results in item order.
    static func map<T>(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let slots = Slots<T>(count)
        forEach(count, width: width) { i in slots.set(i, body(i)) }
        return slots.values
    }
}

/// Results of parallel work, one slot per item, filled from worker threads.
final class Slots<T>: @unchecked Sendable {
    private let lock = Lock()
    private var items: [T?]

    init(_ count: Int) { items = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: T) { lock.withLock { items[i] = value } }
    func get(_ i: Int) -> T? { lock.withLock { items[i] } }

    /// The filled slots, in item order.
    var values: [T] { lock.withLock { items.compactMap { $0 } } }
}
