import Foundation

/// Lets one message per identity through at a time.
///
/// The idempotency store only catches a duplicate that arrives after the original was
/// recorded. A portal that submits twice, or a redelivery that overtakes a slow original,
/// puts both copies in flight together; without this gate both would pass the "already
/// delivered?" check and both be delivered. With it, the second copy waits for the first and
/// then finds its record.
final class IdentityGate: @unchecked Sendable {
    private let lock = NSLock()
    /// Identities in flight, each with the copies waiting behind it.
    private var busy: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Waits until no other message with `identity` is in flight.
    func enter(_ identity: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if busy[identity] != nil {
                busy[identity]?.append(continuation)
                lock.unlock()
            } else {
                busy[identity] = []
                lock.unlock()
                continuation.resume()
            }
        }
    }

    /// Lets the next waiting copy of `identity` in (or frees the identity).
    func leave(_ identity: String) {
        lock.lock()
        if var waiting = busy[identity], !waiting.isEmpty {
            let next = waiting.removeFirst()
            busy[identity] = waiting
            lock.unlock()
            next.resume()
        } else {
            busy[identity] = nil
            lock.unlock()
        }
    }
}
