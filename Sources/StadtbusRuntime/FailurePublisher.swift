import Foundation
import StadtbusAMQP
import StadtbusCore

/// Publishes messages that cannot be completed now: to a per-delay **retry queue** (whose
/// TTL sends them back to their source queue, so a retry needs no broker plugin and
/// survives a restart), or to a **dead-letter** endpoint with the reason in its headers.
///
/// Both publishes are confirmed by the broker before the inbound message is acked.
final class FailurePublisher: @unchecked Sendable {
    /// The queue dead letters go to when neither the route nor the defaults name one.
    static let fallbackDeadLetterQueue = "stadtbus.dead-letters"

    private let connection: AMQPConnection
    private let publisher: AMQPPublisher
    private let lock = NSLock()
    private var declaredRetryQueues: Set<String> = []

    init(connection: AMQPConnection) {
        self.connection = connection
        self.publisher = connection.publisher()
    }

    /// The retry queue for messages from `sourceQueue` that wait `delay`.
    static func retryQueue(source sourceQueue: String, delay: Duration) -> AMQPQueue {
        let milliseconds = max(1, Int64(delay.components.seconds) * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        return AMQPQueue(
            "stadtbus.retry.\(sourceQueue).\(milliseconds)ms", kind: .quorum, overflow: .rejectPublish,
            deadLetterExchange: "", deadLetterRoutingKey: sourceQueue, messageTTL: .milliseconds(milliseconds),
            arguments: ["x-dead-letter-strategy": .string("at-least-once")])
    }

    /// Sends `delivery` to wait `delay` before it returns to its queue as attempt `attempt`.
    func retry(_ delivery: AMQPDelivery, attempt: Int, delay: Duration, reason: String, step: String, route: String?) async throws {
        let queue = Self.retryQueue(source: delivery.queue, delay: delay)
        let needsDeclaration = lock.withLock { !declaredRetryQueues.contains(queue.name) }
        if needsDeclaration {
            try await connection.declare(AMQPTopology(queues: [queue]))
            lock.withLock { _ = declaredRetryQueues.insert(queue.name) }
        }
        var message = AMQPOutgoingMessage(delivery)
        message.properties.headers[AMQPHeaderName.attempt] = .int(Int64(attempt))
        message.properties.headers[AMQPHeaderName.errorReason] = .string(reason)
        message.properties.headers[AMQPHeaderName.errorStep] = .string(step)
        if let route { message.properties.headers[AMQPHeaderName.route] = .string(route) }
        Self.stampFirstSeen(&message, delivery: delivery)
        try await publisher.publish(message, exchange: "", routingKey: queue.name, mandatory: true)
    }

    /// Sends `delivery` to the dead-letter `endpoint` (or the fallback queue) with why.
    func deadLetter(
        _ delivery: AMQPDelivery, endpoint: Endpoint?, reason: String, step: String, route: String?, attempt: Int
    ) async throws {
        var message = AMQPOutgoingMessage(delivery)
        message.properties.headers[AMQPHeaderName.errorReason] = .string(reason)
        message.properties.headers[AMQPHeaderName.errorStep] = .string(step)
        message.properties.headers[AMQPHeaderName.route] = .string(route ?? "(none)")
        message.properties.headers[AMQPHeaderName.attempt] = .int(Int64(attempt))
        message.properties.headers[AMQPHeaderName.originalQueue] = .string(delivery.queue)
        Self.stampFirstSeen(&message, delivery: delivery)
        message.properties.persistent = true
        let (exchange, routingKey) =
            endpoint.map(AMQPSink.address(of:)) ?? ("", Self.fallbackDeadLetterQueue)
        try await publisher.publish(message, exchange: exchange, routingKey: routingKey, mandatory: true)
    }

    private static func stampFirstSeen(_ message: inout AMQPOutgoingMessage, delivery: AMQPDelivery) {
        if message.properties.headers[AMQPHeaderName.firstSeen] == nil {
            message.properties.headers[AMQPHeaderName.firstSeen] = .timestamp(Date())
        }
    }
}
