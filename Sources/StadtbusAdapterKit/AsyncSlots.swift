import Foundation

/// A counting semaphore for async code: at most `limit` holders at once, waiters served in
/// order. Adapters bound their concurrency with it (HTTP requests in flight, frames awaiting
/// an answer from a program).
public final class AsyncSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(_ limit: Int) { available = max(1, limit) }

    /// Waits until a slot is free and takes it.
    public func acquire() async {
        await withCheckedContinuation { continuation in
            lock.lock()
            if available > 0 {
                available -= 1
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    /// Gives a slot back (to the longest waiter, if any).
    public func release() {
        lock.lock()
        if waiters.isEmpty {
            available += 1
            lock.unlock()
        } else {
            let next = waiters.removeFirst()
            lock.unlock()
            next.resume()
        }
    }
}
