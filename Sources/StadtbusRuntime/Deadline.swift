import ServiceLifecycle
import Synchronization

/// Waiting that always ends: shutdown must not hang on work that ignores cancellation (a
/// source stuck on a destination that never answers, a broker command that waits for a
/// reconnect). The work runs in a task of its own; the caller stops waiting at the deadline,
/// when its service is asked to shut down, or when it is cancelled itself — and the work is
/// cancelled and left behind (what it had not finished goes back to the broker, unacked).
///
/// Cancelling a task does not interrupt `await task.value`; racing the work against a timer
/// through a one-shot cell does.
enum Deadline {
    /// Runs `work` and waits for it until `deadline` at the latest.
    /// - Returns: `true` if `work` finished in time, `false` if the wait was given up.
    static func wait(
        until deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Void
    ) async -> Bool {
        let gate = OneShot<Bool>()
        let worker = Task {
            await work()
            gate.resume(true)
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            gate.resume(false)
        }
        let finished = await withTaskCancellationHandler {
            await gate.wait()
        } onCancel: {
            gate.resume(false)
        }
        timer.cancel()
        if !finished { worker.cancel() }
        return finished
    }

    /// Runs `work` and waits for it until the calling service is asked to shut down gracefully
    /// (or the calling task is cancelled).
    /// - Returns: what `work` returned, or `nil` if the wait was given up.
    /// - Throws: what `work` threw, if it finished before.
    static func untilShutdown<Value: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ work: @escaping @Sendable () async throws -> Value
    ) async throws -> Value? {
        let gate = OneShot<Result<Value, any Error>?>()
        let worker = Task {
            do { gate.resume(.success(try await work())) } catch { gate.resume(.failure(error)) }
        }
        let outcome = await withTaskCancellationOrGracefulShutdownHandler {
            await gate.wait()
        } onCancelOrGracefulShutdown: {
            gate.resume(nil)
        }
        guard let outcome else {
            worker.cancel()
            return nil
        }
        return try outcome.get()
    }
}

/// A value delivered once to one waiter, whichever of several parties comes first.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, Never>)
        case done(Value)
    }

    private let state = Mutex(State.empty)

    /// Waits for the first ``resume(_:)`` (returns at once if it happened already).
    func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = state.withLock { state in
                switch state {
                case .empty:
                    state = .waiting(continuation)
                    return nil
                case .waiting:
                    preconditionFailure("OneShot has one waiter")
                case .done(let value):
                    return value
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Delivers `value` unless a value was delivered before.
    func resume(_ value: Value) {
        let waiting: CheckedContinuation<Value, Never>? = state.withLock { state in
            switch state {
            case .empty:
                state = .done(value)
                return nil
            case .waiting(let continuation):
                state = .done(value)
                return continuation
            case .done:
                return nil
            }
        }
        waiting?.resume(returning: value)
    }
}
