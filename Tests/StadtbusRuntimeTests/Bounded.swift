import Synchronization
import XCTest

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
    let outcome = Outcome<Value>()
    let worker = Task {
        do { outcome.deliver(.success(try await work())) } catch { outcome.deliver(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        outcome.deliver(.failure(WaitTimedOut(description: "gave up after \(limit) waiting for \(what)")))
    }
    let result = await outcome.wait()
    timer.cancel()
    worker.cancel()
    return try result.get()
}

/// The first result delivered, to one waiter.
private final class Outcome<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Result<Value, any Error>, Never>)
        case done(Result<Value, any Error>)
    }

    private let state = Mutex(State.empty)

    func wait() async -> Result<Value, any Error> {
        await withCheckedContinuation { continuation in
            let ready: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .empty:
                    state = .waiting(continuation)
                    return nil
                case .waiting:
                    preconditionFailure("one waiter")
                case .done(let result):
                    return result
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func deliver(_ result: Result<Value, any Error>) {
        let waiting: CheckedContinuation<Result<Value, any Error>, Never>? = state.withLock { state in
            switch state {
            case .empty:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .done:
                return nil
            }
        }
        waiting?.resume(returning: result)
    }
}

/// A flag that tasks can wait for (e.g. "the stuck source holds its message").
final class Flag: Sendable {
    private let state = Mutex<(raised: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func raise() {
        let waiters = state.withLock { state in
            state.raised = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var isRaised: Bool { state.withLock { $0.raised } }

    /// Waits until raised (not interrupted by cancellation: wrap it in ``bounded(_:_:_:)``).
    func wait() async {
        await withCheckedContinuation { continuation in
            let raised = state.withLock { state in
                if state.raised { return true }
                state.waiters.append(continuation)
                return false
            }
            if raised { continuation.resume() }
        }
    }
}
