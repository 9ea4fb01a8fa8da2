import Foundation
import StadtbusAMQP
import StadtbusCore

/// Delivers outgoing messages to `amqp` endpoints: a publish with the mandatory flag that
/// returns only when the broker has confirmed it (the message is then durable).
///
/// Endpoint settings: `queue` (publish through the default exchange) or `exchange` with an
/// optional `routing-key`; `persistent` (default true).
struct AMQPSink: MessageSink {
    let publisher: AMQPPublisher
    let metrics: RuntimeMetrics

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let (exchange, routingKey) = Self.address(of: endpoint)
        var headers: [String: AMQPHeaderValue] = message.headers.mapValues { .string($0) }
        // Stadtbus's own headers on a delivery: the route and the attempt that succeeded; the
        // error of an earlier attempt would mislead the receiver, so it does not travel on.
        headers[AMQPHeaderName.route] = .string(message.route)
        headers[AMQPHeaderName.errorReason] = nil
        headers[AMQPHeaderName.errorStep] = nil
        headers[AMQPHeaderName.attempt] = .int(Int64(message.headers[AMQPHeaderName.attempt].flatMap { Int($0) } ?? 1))
        let properties = AMQPMessageProperties(
            messageID: message.messageID,
            correlationID: message.properties.correlationID ?? message.messageID,
            timestamp: Date(),
            contentType: message.properties.contentType ?? "application/xml",
            persistent: endpoint.settings["persistent"]?.bool ?? true,
            headers: headers)
        let started = ContinuousClock.now
        do {
            try await publisher.publish(
                AMQPOutgoingMessage(body: message.body, properties: properties), exchange: exchange, routingKey: routingKey,
                mandatory: true)
            metrics.publishConfirmed(after: ContinuousClock.now - started)
        } catch let error as AMQPError {
            throw Self.deliveryError(error)
        }
    }

    /// Where an endpoint's messages are published: (exchange, routing key).
    static func address(of endpoint: Endpoint) -> (exchange: String, routingKey: String) {
        if let queue = endpoint.settings["queue"]?.string { return ("", queue) }
        return (endpoint.settings["exchange"]?.string ?? "", endpoint.settings["routing-key"]?.string ?? "")
    }

    /// Every broker-side failure may go away (a restarted broker, a queue drained, a binding
    /// added by an operator): retry, and dead-letter when the route's attempts are spent.
    static func deliveryError(_ error: AMQPError) -> DeliveryError {
        switch error {
        case .unroutable: return .transient("unroutable", error.description)
        case .nackedByBroker: return .transient("broker-nack", error.description)
        case .channelClosed(let code, _) where code == 404: return .transient("not-found", error.description)
        default: return .transient("broker", error.description)
        }
    }
}

/// Dispatches each delivery to the sink for its endpoint's adapter type.
struct EndpointSink: MessageSink {
    let sinks: [String: any MessageSink]

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        guard let sink = sinks[endpoint.type] else {
            throw DeliveryError.permanent(
                "adapter-unavailable",
                "endpoint '\(endpoint.name)' has adapter type '\(endpoint.type)', which this Stadtbus build cannot deliver to")
        }
        try await sink.deliver(message, to: endpoint)
    }
}
