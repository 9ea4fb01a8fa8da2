import Foundation
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore
import StadtbusOperations

/// Delivers outgoing messages to `amqp` endpoints: a publish with the mandatory flag that
/// returns only when the broker has confirmed it (the message is then durable).
///
/// Endpoint settings: `queue` (publish through the default exchange) or `exchange` with an
/// optional `routing-key`; `persistent` (default true); `broker` (default main).
///
/// A broker that is down fails the delivery at once as transient (`broker-unavailable`): the
/// message waits in a retry queue on its own broker instead of holding a worker, and nothing
/// was handed to the unreachable broker, so the retry cannot duplicate it.
struct AMQPSink: MessageSink {
    let brokers: BrokerConnections
    let metrics: StadtbusMetrics

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let broker = endpoint.settings["broker"]?.string ?? BrokerSettings.mainName
        guard brokers.isConnected(broker), let publisher = brokers.publisher(broker) else {
            throw DeliveryError.transient(
                "broker-unavailable", "broker '\(broker)' of endpoint '\(endpoint.name)' is not connected")
        }
        let (exchange, routingKey) = FailurePublisher.address(of: endpoint)
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
                AMQPOutgoingMessage(body: message.body, properties: properties), exchange: exchange,
                routingKey: routingKey,
                mandatory: true)
            RuntimeMetrics(metrics: metrics, broker: broker).publishConfirmed(after: ContinuousClock.now - started)
        } catch let error as AMQPError {
            throw Self.deliveryError(error)
        }
    }

    /// Every broker-side failure may go away (a restarted broker, a queue drained, a binding
    /// added by an operator): retry, and dead-letter when the route's attempts are spent. A
    /// message AMQP cannot carry (a property over 255 bytes) never will be: dead-letter it now.
    static func deliveryError(_ error: AMQPError) -> DeliveryError {
        switch error {
        case .invalidMessage(let text): return .permanent("invalid-message", "cannot be published over AMQP: \(text)")
        case .unroutable: return .transient("unroutable", error.description)
        case .nackedByBroker: return .transient("broker-nack", error.description)
        case .channelClosed(let code, _) where code == 404: return .transient("not-found", error.description)
        default: return .transient("broker", error.description)
        }
    }
}
