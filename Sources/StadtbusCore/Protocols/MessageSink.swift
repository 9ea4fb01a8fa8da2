/// Whether a failure may go away by itself (retry) or never will (dead letter at once).
public enum FailureKind: String, Sendable, Equatable {
    /// A timeout, an HTTP 5xx, a broker hiccup: retry with backoff.
    case transient
    /// Invalid content, a refused signature, a 4xx: retrying cannot help.
    case permanent
}

/// A failed delivery, as a sink reports it.
public struct DeliveryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var kind: FailureKind
    /// A short machine-readable code (`timeout`, `http-503`, `broker`, `http-400`, …) that
    /// a route's `retry-on` can select.
    public var code: String
    /// What happened, for a human.
    public var message: String

    public init(_ kind: FailureKind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public static func transient(_ code: String, _ message: String) -> DeliveryError { .init(.transient, code: code, message: message) }
    public static func permanent(_ code: String, _ message: String) -> DeliveryError { .init(.permanent, code: code, message: message) }

    public var description: String { "\(code): \(message)" }
}

/// Delivers outgoing messages to endpoints: the runtime's adapters (AMQP publish with
/// confirm, HTTP POST, file rename) behind one protocol.
///
/// `deliver` returns only when the delivery is durable (publish confirmed, 2xx answered,
/// file renamed into place). It throws ``DeliveryError`` to say whether a failure is
/// transient; any other error is treated as transient. Must be safe to call concurrently.
public protocol MessageSink: Sendable {
    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws
}
