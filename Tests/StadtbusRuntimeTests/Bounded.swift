import StadtbusConcurrency

/// Why a bounded wait in a test gave up.
struct WaitTimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits for `work` at most `limit`, even if `work` ignores cancellation (the point of several
/// tests): the work runs in a task of its own and is left behind when the limit passes.
/// - Throws: ``WaitTimedOut`` naming `what`, or what `work` threw.
func bounded<Value: Sendable>(
    _ limit: Duration, _ what: String, _ work: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let outcome = AsyncPromise<Result<Value, any Error>>()
    let worker = Task {
        do { outcome.fulfil(.success(try await work())) } catch { outcome.fulfil(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        outcome.fulfil(.failure(WaitTimedOut(description: "gave up after \(limit) waiting for \(what)")))
    }
    let result = await outcome.waitIgnoringCancellation()
    timer.cancel()
    worker.cancel()
    return try result.get()
}

/// A flag that tasks can wait for (e.g. "the stuck source holds its message").
final class Flag: Sendable {
    private let raised = AsyncPromise<Void>()

    func raise() { raised.fulfil(()) }

    var isRaised: Bool { raised.value != nil }

    /// Waits until raised (not interrupted by cancellation: wrap it in ``bounded(_:_:_:)``).
    func wait() async { await raised.waitIgnoringCancellation() }
}
