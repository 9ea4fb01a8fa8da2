import Synchronization

/// Waiting that always ends: shutdown must not hang on work that ignores cancellation (a
/// source stuck on a destination that never answers, a broker command that waits for a
/// reconnect). The work runs in a task of its own; the caller stops waiting at the deadline
/// or when it is cancelled itself, and the work is cancelled and left behind (the process is
/// about to exit; what it had not finished goes back to the broker, unacked).
enum Deadline {
    /// Runs `work` and waits for it until `deadline` at the latest.
    /// - Returns: `true` if `work` finished in time, `false` if the wait was given up.
    static func wait(
        until deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Void
    ) async -> Bool {
        let gate = OneShot()
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

    /// A Bool delivered once to one waiter, whichever of several parties comes first.
    private final class OneShot: Sendable {
        private enum State {
            case empty
            case waiting(CheckedContinuation<Bool, Never>)
            case done(Bool)
        }

        private let state = Mutex(State.empty)

        func wait() async -> Bool {
            await withCheckedContinuation { continuation in
                let ready: Bool? = state.withLock { state in
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

        func resume(_ value: Bool) {
            let waiting: CheckedContinuation<Bool, Never>? = state.withLock { state in
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
}
