import Synchronization

/// A counting semaphore for async code: at most ``limit`` permits are held at once, and the
/// tasks that wait for one are served in arrival order, suspended (no thread is blocked).
///
/// A waiting task can be cancelled (``acquire()`` throws `CancellationError` and takes no
/// permit) or wait regardless of cancellation (``acquireIgnoringCancellation()``,
/// ``withPermitIgnoringCancellation(_:)``). The limit can be changed while permits are held:
/// raising it admits waiters at once, lowering it lets the holders finish and admits the next
/// waiter only once fewer than the new limit are held.
///
/// ```swift
/// let requests = AsyncSemaphore(limit: 8)
/// try await requests.acquire()
/// defer { requests.release() }
/// ```
public final class AsyncSemaphore: Sendable {
    private struct Waiter {
        let id: UInt64
        /// Resumed with `true` when the waiter was given a permit, `false` when it was cancelled.
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var limit: Int
        var held = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0

        /// Hands permits to waiters while fewer than `limit` are held; returns those to resume.
        mutating func admitWaiters() -> [CheckedContinuation<Bool, Never>] {
            var admitted: [CheckedContinuation<Bool, Never>] = []
            while held < limit, !waiters.isEmpty {
                held += 1
                admitted.append(waiters.removeFirst().continuation)
            }
            return admitted
        }
    }

    private let state: Mutex<State>

    /// Creates a semaphore with `limit` permits (at least one).
    public init(limit: Int) {
        state = Mutex(State(limit: max(1, limit)))
    }

    /// The most permits held at once.
    public var limit: Int { state.withLock { $0.limit } }
    /// How many permits are held now.
    public var held: Int { state.withLock { $0.held } }
    /// How many tasks wait for a permit.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Changes the most permits held at once (at least one). Raising it admits waiting tasks at
    /// once; lowering it takes no permit away from its holder.
    public func setLimit(_ limit: Int) {
        let admitted = state.withLock { state in
            state.limit = max(1, limit)
            return state.admitWaiters()
        }
        for continuation in admitted { continuation.resume(returning: true) }
    }

    /// Takes a permit if one is free and nobody waits before the caller; never suspends.
    public func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.held < state.limit, state.waiters.isEmpty else { return false }
            state.held += 1
            return true
        }
    }

    /// Waits until a permit is free and takes it. If the task is cancelled before it gets one,
    /// it stops waiting and throws `CancellationError` (no permit is taken then, so nothing must
    /// be released).
    public func acquire(isolation: isolated (any Actor)? = #isolation) async throws(CancellationError) {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let admitted = await withTaskCancellationHandler {
            await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Bool, Never>) in
                // Under the lock: the cancellation handler below takes it too, so either it ran
                // before (and `Task.isCancelled` is already true here) or it finds the waiter.
                let answer: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    if state.held < state.limit, state.waiters.isEmpty {
                        state.held += 1
                        return true
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(returning: false)
        }
        if !admitted { throw CancellationError() }
    }

    /// Waits until a permit is free and takes it, whether or not the task is cancelled meanwhile.
    public func acquireIgnoringCancellation(isolation: isolated (any Actor)? = #isolation) async {
        await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Bool, Never>) in
            let admitted = state.withLock { state in
                if state.held < state.limit, state.waiters.isEmpty {
                    state.held += 1
                    return true
                }
                state.nextID += 1
                state.waiters.append(Waiter(id: state.nextID, continuation: continuation))
                return false
            }
            if admitted { continuation.resume(returning: true) }
        }
    }

    /// Gives a permit back: to the longest waiting task, if the limit allows one more holder.
    /// Calling it without holding a permit is a programming error and stops the process.
    public func release() {
        let admitted = state.withLock { state in
            precondition(state.held > 0, "AsyncSemaphore.release() without a permit held")
            state.held -= 1
            return state.admitWaiters()
        }
        for continuation in admitted { continuation.resume(returning: true) }
    }

    /// Runs `body` holding a permit, and releases it when `body` returns or throws. The wait for
    /// the permit is not cancelled with the task.
    public func withPermitIgnoringCancellation<T, Failure: Error>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        await acquireIgnoringCancellation()
        defer { release() }
        return try await body()
    }
}
