/// A failed delivery, as a sink reports it (see ``ClassifiedFailure``).
public typealias DeliveryError = ClassifiedFailure

/// Delivers outgoing messages to endpoints: the runtime's adapters (AMQP publish with
/// confirm, HTTP POST, file rename) behind one protocol.
///
/// `deliver` returns only when the delivery is durable (publish confirmed, 2xx answered,
/// file renamed into place). It throws ``DeliveryError`` to say whether a failure is
/// transient; any other error is treated as transient. Must be safe to call concurrently.
public protocol MessageSink: Sendable {
    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws
}
