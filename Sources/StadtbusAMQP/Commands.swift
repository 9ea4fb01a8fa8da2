import CRabbitMQ
import Foundation

/// A publish waiting for its confirm.
final class PendingPublish {
    let message: AMQPOutgoingMessage
    let exchange: String
    let routingKey: String
    let mandatory: Bool
    let continuation: CheckedContinuation<Void, any Error>
    var sentAt = ContinuousClock.now
    /// Set when a basic.return for this publish arrived; the following ack then fails the publish.
    var returned: AMQPError?

    init(
        message: AMQPOutgoingMessage, exchange: String, routingKey: String, mandatory: Bool,
        continuation: CheckedContinuation<Void, any Error>
    ) {
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.continuation = continuation
    }
}

/// Identifies a delivery on one incarnation of one channel.
struct DeliveryToken: Sendable {
    let channel: UInt16
    let epoch: UInt64
    let tag: UInt64
}

enum Settlement: Sendable {
    case ack
    case nack(requeue: Bool)
    case reject(requeue: Bool)
}

/// A registered consumer (owner-thread state).
final class ConsumerRegistration {
    let channel: UInt16
    let queue: String
    let prefetch: UInt16
    let continuation: AsyncStream<AMQPDelivery>.Continuation
    var active = false
    /// Deliveries were stopped (basic.cancel) while the channel stays open for settlements;
    /// a stopped consumer is not restarted after a reconnect.
    var stopped = false

    init(channel: UInt16, queue: String, prefetch: UInt16, continuation: AsyncStream<AMQPDelivery>.Continuation) {
        self.channel = channel
        self.queue = queue
        self.prefetch = prefetch
        self.continuation = continuation
    }
}

enum Command {
    case publish(PendingPublish)
    case settle(DeliveryToken, Settlement)
    case declare(AMQPTopology, CheckedContinuation<Void, any Error>)
    case delete(queues: [String], exchanges: [String], CheckedContinuation<Void, any Error>)
    case consume(ConsumerRegistration, CheckedContinuation<Void, any Error>)
    case cancel(UInt16, CheckedContinuation<Void, Never>)
    case stopDeliveries(UInt16, CheckedContinuation<Void, Never>)
}

/// Content (header + body frames) being assembled for a basic.deliver or basic.return.
struct Assembly {
    enum Kind {
        case deliver(tag: UInt64, redelivered: Bool)
        case returned(code: Int, text: String)
    }

    var kind: Kind
    var exchange: String
    var routingKey: String
    var properties = AMQPMessageProperties()
    var bodySize = 0
    var body: [UInt8] = []
}
