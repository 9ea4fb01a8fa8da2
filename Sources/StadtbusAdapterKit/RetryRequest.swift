/// What a ``Settlement`` needs to schedule a retry of a message (a transient failure).
public struct RetryRequest: Sendable, Equatable {
    /// The number of the next attempt (the current one + 1).
    public var attempt: Int
    /// How long the message waits before it comes back.
    public var delay: Duration
    /// Why this attempt failed.
    public var reason: String
    /// The step (or delivery) that failed.
    public var step: String
    /// The route that took the message, if any.
    public var route: String?

    public init(attempt: Int, delay: Duration, reason: String, step: String, route: String?) {
        self.attempt = attempt
        self.delay = delay
        self.reason = reason
        self.step = step
        self.route = route
    }
}
