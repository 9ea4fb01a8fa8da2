import Synchronization

/// Lets one message per identity through at a time.
///
/// The idempotency store only catches a duplicate that arrives after the original was
/// recorded. A portal that submits twice, or a redelivery that overtakes a slow original,
/// puts both copies in flight together; without this gate both would pass the "already
/// delivered?" check and both be delivered. With it, the second copy waits for the first and
/// then finds its record. The engine leaves the gate only after the first copy's records are
/// committed.
final class IdentityGate: Sendable {
    /// Identities in flight, each with the copies waiting behind it.
    private let busy = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Waits until no other message with `identity` is in flight. Does not suspend when none is
    /// (the usual case).
    func enter(_ identity: String) async {
        let entered = busy.withLock { busy -> Bool in
            guard busy[identity] == nil else { return false }
            busy[identity] = []
            return true
        }
        if entered { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = busy.withLock { busy -> Bool in
                if busy[identity] != nil {
                    busy[identity]?.append(continuation)
                    return false
                }
                busy[identity] = []
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    /// Lets the next waiting copy of `identity` in (or frees the identity).
    func leave(_ identity: String) {
        let next = busy.withLock { busy -> CheckedContinuation<Void, Never>? in
            guard var waiting = busy[identity], !waiting.isEmpty else {
                busy[identity] = nil
                return nil
            }
            let next = waiting.removeFirst()
            busy[identity] = waiting
            return next
        }
        next?.resume()
    }
}
