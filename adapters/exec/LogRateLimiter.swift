import Foundation
import Synchronization

/// Lets at most `linesPerWindow` log lines through per `window`, and says how many were
/// suppressed before the next one that passes (a chatty program cannot flood the log).
final class LogRateLimiter: Sendable {
    enum Decision: Equatable {
        case log(suppressedBefore: Int)
        case suppress
    }

    private let limit: Int
    private let window: Duration
    /// The current window's start, lines let through in it, and lines suppressed since the last one let through.
    private let state = Mutex((windowStart: ContinuousClock.now, used: 0, suppressed: 0))

    init(linesPerWindow: Int, window: Duration) {
        limit = max(1, linesPerWindow)
        self.window = window
    }

    func admit(now: ContinuousClock.Instant = .now) -> Decision {
        state.withLock { state in
            if now - state.windowStart >= window {
                state.windowStart = now
                state.used = 0
            }
            guard state.used < limit else {
                state.suppressed += 1
                return .suppress
            }
            state.used += 1
            defer { state.suppressed = 0 }
            return .log(suppressedBefore: state.suppressed)
        }
    }
}
