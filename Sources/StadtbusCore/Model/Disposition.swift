/// What the runtime must do with an inbound message before it acks it.
///
/// Every path through the engine ends in exactly one disposition; the engine never throws
/// and never crashes on bad input (see `shared/design/message-lifecycle.md`).
public enum Disposition: Sendable, Equatable {
    /// Delivered to every destination (durably): ack.
    case completed
    /// Every destination already had this message (a redelivery): ack.
    case duplicate
    /// A `filter` step dropped the message on purpose: ack.
    case filtered
    /// A transient failure: publish to the retry queue for `attempt` (the next attempt
    /// number) with the TTL `delay`, then ack.
    case retry(attempt: Int, delay: Duration, reason: String, step: String)
    /// A permanent failure (or retries exhausted): publish to the dead-letter endpoint
    /// (`endpoint` from the route's `on-error`, or the runtime's default when `nil`) with
    /// `reason`, `step` and `route` in the AMQP headers, then ack.
    case deadLetter(reason: String, step: String, route: String?, endpoint: String?)

    /// Whether the runtime acks the message without publishing anything further.
    public var isFinal: Bool {
        switch self {
        case .completed, .duplicate, .filtered: return true
        case .retry, .deadLetter: return false
        }
    }
}
