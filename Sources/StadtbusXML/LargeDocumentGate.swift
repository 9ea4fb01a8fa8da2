internal import CXMLShim
import Synchronization

/// Bounds how many large documents are processed at the same time, process-wide.
///
/// A parsed tree takes several times the document's size; four 16 MB documents in parallel
/// raised the resident memory to 1.9 GB. Documents over ``XMLParseLimits/largeDocumentBytes``
/// pass this gate at most ``XMLParseLimits/maxLargeDocumentsAtOnce`` at a time; the others wait
/// in arrival order, suspended (no thread is held). After a large document is done, the memory
/// glibc kept for it is handed back to the system. Smaller documents pass at once.
public final class LargeDocumentGate: Sendable {
    /// The gate shared by every source of the process (queue consumers, http-in, files).
    public static let shared = LargeDocumentGate()

    private struct Waiter {
        let limit: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var running = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    /// Creates a gate (tests make their own; sources use ``shared``).
    public init() {}

    /// How many large documents are being processed now.
    public var running: Int { state.withLock { $0.running } }
    /// How many large documents wait for their turn.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Runs `body` for a document of `bytes` bytes: at once if it is not large under `limits`,
    /// else once fewer than `limits.maxLargeDocumentsAtOnce` large documents are in `body`.
    /// Waiting is not cancelled with the task (the document is processed when its turn comes).
    public func withAdmission<T, Failure: Error>(
        forDocumentOf bytes: Int, limits: XMLParseLimits, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        guard bytes > limits.largeDocumentBytes else { return try await body() }
        await enter(limit: max(1, limits.maxLargeDocumentsAtOnce))
        defer {
            leave()
            stadtbus_release_free_memory()
        }
        return try await body()
    }

    private func enter(limit: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                if state.running < limit, state.waiters.isEmpty {
                    state.running += 1
                    return true
                }
                state.waiters.append(Waiter(limit: limit, continuation: continuation))
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.running -= 1
            guard let first = state.waiters.first, state.running < first.limit else { return nil }
            state.waiters.removeFirst()
            state.running += 1
            return first.continuation
        }
        next?.resume()
    }
}
