/// Errors of the AMQP transport. Every case carries what an operator needs to act on it.
public enum AMQPError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bad configuration (missing secret, unreadable certificate file, …).
    case configuration(String)
    /// TCP connect failed (broker down, wrong host/port, firewall).
    case connectionFailed(endpoint: String, reason: String)
    /// The broker refused the login (ACCESS_REFUSED: wrong user/password, or no access to the vhost).
    case loginRefused(endpoint: String, reason: String)
    /// TLS handshake or certificate verification failed.
    case tlsFailed(endpoint: String, reason: String)
    /// The connection was lost (socket error, heartbeat timeout, broker closed it).
    case connectionLost(String)
    /// The broker closed a channel, e.g. NOT_FOUND (404) for a missing exchange or PRECONDITION_FAILED (406).
    case channelClosed(code: Int, text: String)
    /// A mandatory publish could not be routed to any queue; the broker returned it (basic.return).
    case unroutable(exchange: String, routingKey: String, replyCode: Int, replyText: String)
    /// The broker refused to take responsibility for a publish (basic.nack), e.g. the target queue is full
    /// and has `x-overflow: reject-publish`.
    case nackedByBroker(exchange: String, routingKey: String)
    /// A declaration (exchange, queue, binding) was refused by the broker.
    case declarationFailed(what: String, code: Int, text: String)
    /// The delivery came from a connection or channel that no longer exists; it cannot be acked or
    /// rejected any more. The broker redelivers it (at-least-once).
    case staleDelivery
    /// The connection object was closed by the application.
    case closed
    /// Any other library failure.
    case protocolError(String)
    /// The message itself cannot be published, on any connection, ever: a property or header that
    /// AMQP cannot carry (a short string over 255 bytes, say). Permanent: retrying cannot help, and the
    /// connection stays up. The text names the field and its size.
    case invalidMessage(String)

    public var description: String {
        switch self {
        case .configuration(let text):
            return "AMQP configuration error: \(text)"
        case .connectionFailed(let endpoint, let reason):
            return "cannot connect to \(endpoint): \(reason) (is the broker running and the port right?)"
        case .loginRefused(let endpoint, let reason):
            return "broker \(endpoint) refused the login: \(reason) (check user, password and vhost permissions)"
        case .tlsFailed(let endpoint, let reason):
            return
                "TLS with \(endpoint) failed: \(reason) (check the CA file, the broker certificate's host name and the client certificate)"
        case .connectionLost(let reason):
            return "AMQP connection lost: \(reason)"
        case .channelClosed(let code, let text):
            return "broker closed the channel: \(code) \(text)"
        case .unroutable(let exchange, let routingKey, let code, let text):
            return
                "message unroutable: exchange '\(exchange)' has no binding for routing key '\(routingKey)' (broker returned it: \(code) \(text))"
        case .nackedByBroker(let exchange, let routingKey):
            return
                "broker rejected the message published to exchange '\(exchange)' with routing key '\(routingKey)' (basic.nack; e.g. target queue full with x-overflow=reject-publish)"
        case .declarationFailed(let what, let code, let text):
            return "broker refused to declare \(what): \(code) \(text)"
        case .staleDelivery:
            return
                "delivery belongs to a closed connection or channel; it was not acked and the broker will redeliver it"
        case .closed:
            return "AMQP connection closed by the application"
        case .protocolError(let text):
            return "AMQP protocol error: \(text)"
        case .invalidMessage(let text):
            return "message cannot be published: \(text)"
        }
    }
}
