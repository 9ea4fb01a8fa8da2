import Foundation
import StadtbusAMQP
import StadtbusCore
import Synchronization

/// Publishes messages that cannot be completed now: to a per-delay **retry queue** (whose
/// TTL sends them back to their source queue, so a retry needs no broker plugin and
/// survives a restart), or to a **dead-letter** endpoint with the reason in its headers.
///
/// Both publishes are confirmed by the broker before the inbound message is acked. Retries
/// stay on the broker the message came from; a dead letter goes to its endpoint's broker.
public final class FailurePublisher: Sendable {
    /// The queue dead letters go to when neither the route nor the defaults name one.
    public static let fallbackDeadLetterQueue = "stadtbus.dead-letters"

    private let broker: String
    private let brokers: BrokerConnections
    private let declaredRetryQueues = Mutex<Set<String>>([])

    /// - Parameter broker: the broker the failed messages came from.
    public init(broker: String, brokers: BrokerConnections) {
        self.broker = broker
        self.brokers = brokers
    }

    /// The retry queue for messages from `sourceQueue` that wait `delay`.
    public static func retryQueue(source sourceQueue: String, delay: Duration) -> AMQPQueue {
        let milliseconds = max(
            1, Int64(delay.components.seconds) * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        return AMQPQueue(
            "stadtbus.retry.\(sourceQueue).\(milliseconds)ms", kind: .quorum, overflow: .rejectPublish,
            deadLetterExchange: "", deadLetterRoutingKey: sourceQueue, messageTTL: .milliseconds(milliseconds),
            arguments: ["x-dead-letter-strategy": .string("at-least-once")])
    }

    /// Sends `delivery` to wait `delay` before it returns to its queue as attempt `attempt`.
    public func retry(
        _ delivery: AMQPDelivery, attempt: Int, delay: Duration, reason: String, step: String, route: String?
    ) async throws {
        let (connection, publisher) = try link(broker)
        let queue = Self.retryQueue(source: delivery.queue, delay: delay)
        let needsDeclaration = declaredRetryQueues.withLock { !$0.contains(queue.name) }
        if needsDeclaration {
            try await connection.declare(AMQPTopology(queues: [queue]))
            declaredRetryQueues.withLock { _ = $0.insert(queue.name) }
        }
        var message = AMQPOutgoingMessage(delivery)
        message.properties.headers[AMQPHeaderName.attempt] = .int(Int64(attempt))
        message.properties.headers[AMQPHeaderName.errorReason] = .string(reason)
        message.properties.headers[AMQPHeaderName.errorStep] = .string(step)
        if let route { message.properties.headers[AMQPHeaderName.route] = .string(route) }
        Self.stampFirstSeen(&message)
        try await publisher.publish(
            Self.fitted(message, exchange: "", routingKey: queue.name), exchange: "", routingKey: queue.name,
            mandatory: true)
    }

    /// Sends `delivery` to the dead-letter `endpoint` (an `amqp` endpoint on any configured
    /// broker) or, without one, to the fallback queue on the message's own broker.
    public func deadLetter(
        _ delivery: AMQPDelivery, endpoint: Endpoint?, reason: String, step: String, route: String?, attempt: Int
    ) async throws {
        var message = AMQPOutgoingMessage(delivery)
        message.properties.headers[AMQPHeaderName.errorReason] = .string(reason)
        message.properties.headers[AMQPHeaderName.errorStep] = .string(step)
        message.properties.headers[AMQPHeaderName.route] = .string(route ?? "(none)")
        message.properties.headers[AMQPHeaderName.attempt] = .int(Int64(attempt))
        message.properties.headers[AMQPHeaderName.originalQueue] = .string(delivery.queue)
        Self.stampFirstSeen(&message)
        message.properties.persistent = true
        let target = endpoint.flatMap { $0.type == "amqp" ? $0 : nil }
        let (_, publisher) = try link(target?.settings["broker"]?.string ?? broker)
        let (exchange, routingKey) = target.map(Self.address(of:)) ?? ("", Self.fallbackDeadLetterQueue)
        try await publisher.publish(
            Self.fitted(message, exchange: exchange, routingKey: routingKey), exchange: exchange,
            routingKey: routingKey,
            mandatory: true)
    }

    /// The longest error reason kept when a dead letter or retry would not fit into one AMQP
    /// content header otherwise.
    static let fallbackReasonBytes = 4096

    /// A copy of `message` that AMQP can carry, so that a retry or dead letter never fails for
    /// the reason the message is being set aside (a property or header key over 255 bytes, or
    /// headers too large for one frame): over-long properties and keys are cut (see
    /// ``AMQPOutgoingMessage/shortenedForPublishing()``); if the headers are still too large, the
    /// message's own headers are dropped and the reason is cut. Every change is named in the
    /// ``AMQPHeaderName/shortened`` header.
    static func fitted(_ message: AMQPOutgoingMessage, exchange: String, routingKey: String) -> AMQPOutgoingMessage {
        var fitted = message.shortenedForPublishing()
        guard (try? fitted.validateForPublishing(exchange: exchange, routingKey: routingKey)) == nil else {
            return fitted
        }
        var notes = fitted.properties.headers[AMQPHeaderName.shortened]?.stringValue.map { [$0] } ?? []
        let dropped = fitted.properties.headers.keys.filter { !$0.hasPrefix("x-stadtbus-") }.sorted()
        for key in dropped { fitted.properties.headers[key] = nil }
        if !dropped.isEmpty { notes.append("\(dropped.count) headers dropped (too large for one AMQP frame)") }
        if let reason = fitted.properties.headers[AMQPHeaderName.errorReason]?.stringValue,
            reason.utf8.count > fallbackReasonBytes
        {
            fitted.properties.headers[AMQPHeaderName.errorReason] = .string(
                String(decoding: reason.utf8.prefix(fallbackReasonBytes), as: UTF8.self) + "…")
            notes.append("\(AMQPHeaderName.errorReason) cut from \(reason.utf8.count) bytes")
        }
        fitted.properties.headers[AMQPHeaderName.shortened] = .string(notes.joined(separator: "; "))
        return fitted
    }

    /// Where an `amqp` endpoint's messages are published: (exchange, routing key).
    public static func address(of endpoint: Endpoint) -> (exchange: String, routingKey: String) {
        if let queue = endpoint.settings["queue"]?.string { return ("", queue) }
        return (endpoint.settings["exchange"]?.string ?? "", endpoint.settings["routing-key"]?.string ?? "")
    }

    private func link(_ name: String) throws -> (AMQPConnection, AMQPPublisher) {
        guard let connection = brokers.connection(name), let publisher = brokers.publisher(name) else {
            throw AMQPError.connectionLost("broker '\(name)' is not connected")
        }
        return (connection, publisher)
    }

    private static func stampFirstSeen(_ message: inout AMQPOutgoingMessage) {
        if message.properties.headers[AMQPHeaderName.firstSeen] == nil {
            message.properties.headers[AMQPHeaderName.firstSeen] = .timestamp(Date())
        }
    }
}
