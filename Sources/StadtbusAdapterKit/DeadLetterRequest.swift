import StadtbusCore

/// What a ``Settlement`` needs to dead-letter a message (a permanent failure or retries exhausted).
public struct DeadLetterRequest: Sendable, Equatable {
    /// Why the message failed.
    public var reason: String
    /// The step (or delivery) that failed.
    public var step: String
    /// The route the failure belongs to (``IntakeResult/failedRoute``), if any.
    public var route: String?
    /// The attempt that failed.
    public var attempt: Int
    /// The dead-letter endpoint (the route's `on-error`, else the configured default); `nil`
    /// when none is configured or it is unknown, so the transport's fallback is used.
    public var endpoint: Endpoint?

    public init(reason: String, step: String, route: String?, attempt: Int, endpoint: Endpoint?) {
        self.reason = reason
        self.step = step
        self.route = route
        self.attempt = attempt
        self.endpoint = endpoint
    }
}
