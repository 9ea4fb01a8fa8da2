import Foundation
import Logging

/// Something that happened to a connection, for logs and operations metrics.
public enum AMQPConnectionEvent: Sendable, Equatable {
    /// Connected (first time: `reconnectCount` 0, then the number of successful reconnects).
    case connected(endpoint: String, reconnectCount: Int)
    /// The connection was lost; unconfirmed publishes will be re-sent after the reconnect.
    case disconnected(AMQPError)
    /// Waiting `delay` before reconnect attempt `attempt`.
    case reconnecting(attempt: Int, delay: Duration)
    /// The broker blocked publishing (memory or disk alarm).
    case blocked(reason: String)
    case unblocked
    /// The broker cancelled a consumer or refused to restart it (e.g. its queue was deleted); it is retried
    /// every 5 s while the connection stays up.
    case consumerCancelled(queue: String)
    /// The connection was closed by the application.
    case closed
}

/// Counters of one connection (a snapshot).
public struct AMQPConnectionStatistics: Sendable, Equatable {
    public var isConnected = false
    /// Successful reconnects after the first connect.
    public var reconnects = 0
    /// Reconnect attempts (successful or not) after the first connect.
    public var reconnectAttempts = 0
    /// Publishes written to the socket (re-sent ones count again).
    public var published = 0
    /// Publishes the broker confirmed (basic.ack, not returned).
    public var confirmed = 0
    /// Publishes the broker nacked.
    public var nacked = 0
    /// Mandatory publishes the broker returned as unroutable.
    public var returned = 0
    /// Unconfirmed publishes re-sent after a reconnect.
    public var republished = 0
    /// Waiting for a confirm or for room in the publish window.
    public var outstanding = 0
    /// Deliveries received by consumers.
    public var delivered = 0
    /// Deliveries acked at the broker (each counted once, however many share a cumulative ack).
    public var deliveriesAcked = 0
    /// Deliveries nacked or rejected.
    public var deliveriesRejected = 0
    /// Channels the broker closed (an error on that channel, such as 406 for an unknown delivery tag).
    public var channelsClosedByBroker = 0
    /// `basic.ack` frames sent for deliveries: one cumulative ack settles all deliveries completed in
    /// order since the previous one, so this is usually far below ``deliveriesAcked``.
    public var ackFrames = 0
    public var lastConfirmLatency: Duration = .zero
    public var maxConfirmLatency: Duration = .zero
    /// Sum over all settled publishes; divide by `confirmed + nacked` for the mean.
    public var confirmLatencyTotal: Duration = .zero

    /// Mean time from writing a publish to its confirm.
    public var meanConfirmLatency: Duration {
        let settled = confirmed + nacked
        return settled == 0 ? .zero : confirmLatencyTotal / settled
    }
}

/// A connection to one broker, owned by a dedicated thread (rabbitmq-c connections are not thread-safe).
///
/// After the first successful ``connect(_:publishWindow:logger:)`` the connection reconnects by itself with
/// exponential backoff and jitter; declared topology is declared again, consumers resume, unconfirmed
/// publishes are re-sent. Deliveries received on a previous connection can no longer be acked (the broker
/// redelivers them). Publishing and consuming can share a connection; for heavy traffic use one of each
/// (a broker that blocks publishers then does not block acks).
public final class AMQPConnection: Sendable {
    let core: ConnectionCore

    /// The endpoint this connection uses.
    public var endpoint: AMQPEndpoint { core.endpoint }

    private init(core: ConnectionCore) {
        self.core = core
    }

    /// Connects and logs in. Fails fast on the first attempt (with ``AMQPError/connectionFailed(endpoint:reason:)``,
    /// ``AMQPError/loginRefused(endpoint:reason:)``, ``AMQPError/tlsFailed(endpoint:reason:)``, …);
    /// later connection losses are handled by reconnecting.
    /// - Parameter publishWindow: how many publishes may wait for their confirm at once (pipelining).
    public static func connect(
        _ endpoint: AMQPEndpoint, publishWindow: Int = 1000, logger: Logger = Logger(label: "stadtbus.amqp")
    ) async throws -> AMQPConnection {
        let core = try ConnectionCore(endpoint: endpoint, publishWindow: publishWindow, logger: logger)
        try await core.start()
        return AMQPConnection(core: core)
    }

    /// Declares exchanges, queues and bindings (in that order); they are declared again after reconnects.
    /// - Throws: ``AMQPError/declarationFailed(what:code:text:)`` when the broker refuses one, e.g. a queue that
    ///   exists with other arguments (406 PRECONDITION_FAILED).
    public func declare(_ topology: AMQPTopology) async throws {
        try await withCheckedThrowingContinuation { continuation in
            core.submit(.declare(topology, continuation))
        }
    }

    /// Deletes queues (including the messages in them) and exchanges, and forgets them for re-declaration.
    /// Meant for tests and tooling; deleting a queue that does not exist is not an error.
    public func delete(queues: [String] = [], exchanges: [String] = []) async throws {
        try await withCheckedThrowingContinuation { continuation in
            core.submit(.delete(queues: queues, exchanges: exchanges, continuation))
        }
    }

    /// A publisher using this connection's confirm channel.
    public func publisher() -> AMQPPublisher {
        AMQPPublisher(core: core)
    }

    /// Starts consuming `queue` with manual acknowledgements, at most `prefetch` unacked deliveries at a time.
    /// - Throws: ``AMQPError/channelClosed(code:text:)`` when the queue does not exist (404).
    public func consume(queue: String, prefetch: UInt16 = 100) async throws -> AMQPConsumer {
        let (stream, continuation) = AsyncStream<AMQPDelivery>.makeStream()
        let channel = core.allocateConsumerChannel()
        let registration = ConsumerRegistration(
            channel: channel, queue: queue, prefetch: prefetch, continuation: continuation)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            core.submit(.consume(registration, c))
        }
        return AMQPConsumer(queue: queue, deliveries: stream, channel: channel, core: core)
    }

    /// Connection events (connected, disconnected, reconnecting, …). Each call returns a new stream.
    public func events() -> AsyncStream<AMQPConnectionEvent> {
        core.events()
    }

    /// A snapshot of the connection's counters and confirm latencies.
    public var statistics: AMQPConnectionStatistics { core.statistics }

    /// Returns once every settlement (ack, nack, reject) made before the call has been written to the
    /// connection — acks of deliveries completed in order go out as one cumulative ack per consumer —
    /// or can no longer be (the connection was lost or closed; the broker then redelivers). Completed
    /// deliveries waiting behind one still in progress are not forced out (they are acked when it
    /// completes, when enough of them pile up, or when the consumer or connection closes).
    public func flush() async {
        await withCheckedContinuation { continuation in
            core.submit(.flush(continuation))
        }
    }

    /// Waits (up to 5 s) for outstanding publishes to be confirmed, then closes the connection.
    /// Publishes still unconfirmed fail with ``AMQPError/closed``; unacked deliveries are redelivered by the broker.
    public func close() async {
        await core.requestClose()
    }
}

/// Publishes with publisher confirms. Many publishes may be in flight at once (up to the connection's
/// publish window); each call returns when the broker has confirmed its message.
public final class AMQPPublisher: Sendable {
    let core: ConnectionCore

    init(core: ConnectionCore) {
        self.core = core
    }

    /// Publishes `message` and returns once the broker confirmed it (the message is then the broker's
    /// responsibility: persisted for persistent messages on durable queues).
    ///
    /// If the connection is lost before the confirm, the message is re-sent after the reconnect (so a
    /// consumer may see it twice: at-least-once).
    /// - Parameter mandatory: fail with ``AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)`` when no
    ///   queue is bound for the routing key, instead of the broker dropping the message silently.
    /// - Throws: ``AMQPError/nackedByBroker(exchange:routingKey:)``, ``AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)``,
    ///   ``AMQPError/channelClosed(code:text:)`` (e.g. 404 for a missing exchange), ``AMQPError/closed``,
    ///   and ``AMQPError/invalidMessage(_:)`` — at once, before anything is sent — when AMQP cannot carry
    ///   the message (see ``AMQPOutgoingMessage/validateForPublishing(exchange:routingKey:)``); that is
    ///   permanent, and the connection is not affected.
    public func publish(
        _ message: AMQPOutgoingMessage, exchange: String, routingKey: String, mandatory: Bool = true
    ) async throws {
        try message.validateForPublishing(exchange: exchange, routingKey: routingKey)
        try await withCheckedThrowingContinuation { continuation in
            core.submit(
                .publish(
                    PendingPublish(
                        message: message, exchange: exchange, routingKey: routingKey, mandatory: mandatory,
                        waiter: .single(continuation))))
        }
    }

    /// Publishes several messages and returns once the broker has confirmed (or refused) every one of
    /// them, with one outcome per message in the order given.
    ///
    /// The batch is handed to the connection thread at once and its caller resumed once, when the last
    /// confirm arrived — not once per message — so confirms the broker sends together (`multiple`) cost
    /// one hand-off. Each message is validated first; one that AMQP cannot carry fails alone with
    /// ``AMQPError/invalidMessage(_:)`` and is not sent. The other outcomes are those of
    /// ``publish(_:exchange:routingKey:mandatory:)``.
    public func publish(_ batch: [AMQPPublishRequest]) async -> [Result<Void, AMQPError>] {
        var outcomes = [Result<Void, AMQPError>?](repeating: nil, count: batch.count)
        var valid: [(index: Int, request: AMQPPublishRequest)] = []
        valid.reserveCapacity(batch.count)
        for (index, request) in batch.enumerated() {
            do {
                try request.message.validateForPublishing(exchange: request.exchange, routingKey: request.routingKey)
                valid.append((index, request))
            } catch {
                outcomes[index] = .failure(error as? AMQPError ?? .invalidMessage("\(error)"))
            }
        }
        if !valid.isEmpty {
            let confirmed = await withCheckedContinuation { continuation in
                let waiting = ConfirmBatch(count: valid.count, continuation: continuation)
                core.submit(
                    .publishBatch(
                        valid.enumerated().map { position, entry in
                            PendingPublish(
                                message: entry.request.message, exchange: entry.request.exchange,
                                routingKey: entry.request.routingKey, mandatory: entry.request.mandatory,
                                waiter: .batch(waiting, index: position))
                        }))
            }
            for (position, entry) in valid.enumerated() { outcomes[entry.index] = confirmed[position] }
        }
        return outcomes.map { $0 ?? .failure(.closed) }
    }
}

/// One message of a batch for ``AMQPPublisher/publish(_:)``.
public struct AMQPPublishRequest: Sendable {
    public var message: AMQPOutgoingMessage
    public var exchange: String
    public var routingKey: String
    /// Fail with ``AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)`` when no queue is bound.
    public var mandatory: Bool

    public init(_ message: AMQPOutgoingMessage, exchange: String, routingKey: String, mandatory: Bool = true) {
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
    }
}

/// A consumer of one queue. Iterate ``deliveries``; settle every delivery with ack, nack or reject.
public final class AMQPConsumer: Sendable {
    public let queue: String
    /// Deliveries in broker order. The stream continues across reconnects and ends when the consumer is
    /// cancelled or the connection is closed.
    public let deliveries: AsyncStream<AMQPDelivery>
    let channel: UInt16
    let core: ConnectionCore

    init(queue: String, deliveries: AsyncStream<AMQPDelivery>, channel: UInt16, core: ConnectionCore) {
        self.queue = queue
        self.deliveries = deliveries
        self.channel = channel
        self.core = core
    }

    /// Stops consuming. Unacked deliveries go back to the queue.
    /// Stops new deliveries (basic.cancel) but keeps the channel open: deliveries already
    /// received can still be acked, nacked or rejected. ``deliveries`` ends. This is how a
    /// graceful shutdown lets in-flight messages finish; unsettled deliveries return to the
    /// queue when the connection closes.
    public func stopDeliveries() async {
        await withCheckedContinuation { continuation in
            core.submit(.stopDeliveries(channel, continuation))
        }
    }

    public func cancel() async {
        await withCheckedContinuation { continuation in
            core.submit(.cancel(channel, continuation))
        }
    }
}

/// A message received from a queue.
public struct AMQPDelivery: Sendable {
    public let body: [UInt8]
    public let properties: AMQPMessageProperties
    /// The broker delivered this message before (to this or another consumer) without an ack.
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let queue: String
    let token: DeliveryToken
    let core: ConnectionCore

    public var headers: [String: AMQPHeaderValue] { properties.headers }
    public var messageID: String? { properties.messageID }

    init(
        body: [UInt8], properties: AMQPMessageProperties, redelivered: Bool, exchange: String, routingKey: String,
        queue: String, token: DeliveryToken, core: ConnectionCore
    ) {
        self.body = body
        self.properties = properties
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.queue = queue
        self.token = token
        self.core = core
    }

    /// Acknowledges the delivery: the broker forgets the message. Call only after every effect is durable.
    ///
    /// Like every AMQP ack, it is not confirmed by the broker: it is handed to the connection's thread,
    /// which acks the deliveries of a consumer cumulatively — at the end of its current turn, one
    /// `basic.ack(multiple)` for the highest tag up to which every delivery is complete. A delivery
    /// completed while an earlier one is still in progress waits for it (or is acked alone once half the
    /// prefetch is waiting so, or when the consumer or the connection closes). If the connection breaks
    /// before the ack reaches the broker, the broker redelivers the message (at-least-once; the
    /// idempotency store catches the duplicate). A second settlement of the same delivery is dropped.
    /// - Throws: ``AMQPError/staleDelivery`` if the delivery came from a connection or channel that is gone;
    ///   nothing is sent (an ack with that delivery tag would hit another message), the broker redelivers.
    public func ack() async throws {
        try settle(.ack)
    }

    /// Negatively acknowledges: `requeue: true` puts the message back into the queue, `false` dead-letters
    /// it (or drops it when the queue has no dead-letter exchange).
    /// - Throws: ``AMQPError/staleDelivery`` as ``ack()``.
    public func nack(requeue: Bool) async throws {
        try settle(.nack(requeue: requeue))
    }

    /// Rejects the delivery (like ``nack(requeue:)``; basic.reject).
    public func reject(requeue: Bool) async throws {
        try settle(.reject(requeue: requeue))
    }

    private func settle(_ settlement: Settlement) throws {
        try core.settle(token, settlement)
    }
}

extension AMQPOutgoingMessage {
    /// A message with the body and properties of a received delivery (for relaying or re-publishing).
    public init(_ delivery: AMQPDelivery) {
        self.init(body: delivery.body, properties: delivery.properties)
    }
}
