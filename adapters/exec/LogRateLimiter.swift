import Foundation

/// Lets at most `linesPerWindow` log lines through per `window`, and says how many were
/// suppressed before the next one that passes (a chatty program cannot flood the log).
final class LogRateLimiter: @unchecked Sendable {
    enum Decision: Equatable {
        case log(suppressedBefore: Int)
        case suppress
    }

    private let lock = NSLock()
    private let limit: Int
    private let window: Duration
    private var windowStart = ContinuousClock.now
    private var used = 0
    private var suppressed = 0

    init(linesPerWindow: Int, window: Duration) {
        limit = max(1, linesPerWindow)
        self.window = window
    }

    func admit(now: ContinuousClock.Instant = .now) -> Decision {
        lock.withLock {
            if now - windowStart >= window {
                windowStart = now
                used = 0
            }
            guard used < limit else {
                suppressed += 1
                return .suppress
            }
            used += 1
            defer { suppressed = 0 }
            return .log(suppressedBefore: suppressed)
        }
    }
}
