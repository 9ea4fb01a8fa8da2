import ServiceLifecycle
import StadtbusConcurrency

/// Waiting that always ends: shutdown must not hang on work that ignores cancellation (a
/// source stuck on a destination that never answers, a broker command that waits for a
/// reconnect). The work runs in a task of its own; the caller stops waiting at the deadline,
/// when its service is asked to shut down, or when it is cancelled itself — and the work is
/// cancelled and left behind (what it had not finished goes back to the broker, unacked).
///
/// Cancelling a task does not interrupt `await task.value`; racing the work against a timer
/// through a one-shot cell (``AsyncPromise``: the first to fulfil it wins) does.
enum Deadline {
    /// Runs `work` and waits for it until `deadline` at the latest.
    /// - Returns: `true` if `work` finished in time, `false` if the wait was given up.
    static func wait(
        until deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Void
    ) async -> Bool {
        let gate = AsyncPromise<Bool>()
        let worker = Task {
            await work()
            gate.fulfil(true)
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            gate.fulfil(false)
        }
        let finished = await withTaskCancellationHandler {
            await gate.waitIgnoringCancellation()
        } onCancel: {
            gate.fulfil(false)
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
        let gate = AsyncPromise<Result<Value, any Error>?>()
        let worker = Task {
            do { gate.fulfil(.success(try await work())) } catch { gate.fulfil(.failure(error)) }
        }
        let outcome = await withTaskCancellationOrGracefulShutdownHandler {
            await gate.waitIgnoringCancellation()
        } onCancelOrGracefulShutdown: {
            gate.fulfil(nil)
        }
        guard let outcome else {
            worker.cancel()
            return nil
        }
        return try outcome.get()
    }
}
