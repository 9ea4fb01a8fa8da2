import Synchronization

/// A value that is set once and awaited by any number of tasks: the one-shot "wait until it is
/// there" cell (a listener's bound port, a connection that is established once, the first of a
/// confirm and a timeout).
///
/// The first ``fulfil(_:)`` wins; later ones are ignored and return `false`. Tasks that wait
/// before it are suspended (no thread is blocked) and all resume with the value; tasks that wait
/// after it get the value at once. A waiting task can be cancelled (``wait()`` throws
/// `CancellationError`) or wait regardless (``waitIgnoringCancellation()``).
public final class AsyncPromise<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        /// Waiting tasks by id; resumed with the value, or with `nil` when cancelled.
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates a promise without a value.
    public init() {}

    /// The value, if it was set; never suspends.
    public var value: Value? { state.withLock { $0.value } }
    /// How many tasks wait for the value.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Sets the value and resumes every waiting task, if no value was set before. Returns whether
    /// this call set it.
    @discardableResult
    public func fulfil(_ value: Value) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>]? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        guard let waiters else { return false }
        for continuation in waiters { continuation.resume(returning: value) }
        return true
    }

    /// Waits until the value is set and returns it. If the task is cancelled before, it stops
    /// waiting and throws `CancellationError`.
    public func wait(isolation: isolated (any Actor)? = #isolation) async throws(CancellationError) -> Value {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let value = await withTaskCancellationHandler {
            await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Value?, Never>) in
                // Under the lock: the cancellation handler takes it too, so either it ran before
                // (and `Task.isCancelled` is already true here) or it finds the waiter.
                let ready = state.withLock { state -> Value?? in
                    if let value = state.value { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
        guard let value else { throw CancellationError() }
        return value
    }

    /// Waits until the value is set and returns it, whether or not the task is cancelled meanwhile.
    public func waitIgnoringCancellation(isolation: isolated (any Actor)? = #isolation) async -> Value {
        let value = await withCheckedContinuation(isolation: isolation) {
            (continuation: CheckedContinuation<Value?, Never>) in
            let ready = state.withLock { state -> Value? in
                if let value = state.value { return value }
                state.nextID += 1
                state.waiters[state.nextID] = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        // Only cancellation resumes a waiter with `nil`, and this waiter has no cancellation handler.
        guard let value else { preconditionFailure("AsyncPromise resumed an uncancellable waiter without a value") }
        return value
    }
}
