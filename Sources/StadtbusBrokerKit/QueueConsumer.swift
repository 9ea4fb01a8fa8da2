import Foundation
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusCore
import Synchronization

/// Consumes one queue and keeps up to `max-in-flight` of its deliveries in progress at once:
/// the source of `amqp` endpoints, and the broker side of adapters that first put what they
/// receive into a queue (`http-in`).
///
/// The window is not a CPU knob. Each delivery in it is a task that is suspended — holding no
/// thread — while it waits for its publisher confirms, its store commit or its ack; CPU-bound
/// work runs on the cooperative pool or the message-work threads, as many as there are cores.
/// So throughput follows window ÷ confirm latency until the CPU is busy. The prefetch is raised
/// to the window, so that the broker can fill it. Acks go to the connection thread, which sends
/// one cumulative ack for the deliveries completed in order (see ``AMQPDelivery/ack()``).
///
/// The ack rule (shared/design/message-lifecycle.md) is applied by ``SourcePump`` with an
/// ``AMQPSettlement``: a delivery is acked only after the engine has made every effect
/// durable — deliveries confirmed, or the retry/dead-letter publish confirmed. If that publish
/// fails, the delivery is returned to the broker (nack with requeue) after a short pause, so
/// nothing is lost and nothing spins.
public final class QueueConsumer: MessageSource, Sendable {
    public let endpoint: Endpoint
    public let queue: String
    private let broker: String
    private let context: AdapterContext
    private let failures: FailurePublisher
    private let pump: SourcePump
    /// How many deliveries may be in progress at once (`max-in-flight`).
    private let window: Int
    /// The consumer once ``run()`` has set it up, and whether ``stop()`` was called.
    private let state = Mutex<(consumer: AMQPConsumer?, stopped: Bool)>((nil, false))

    /// - Parameters:
    ///   - endpoint: the route's source endpoint (messages are processed as coming from it).
    ///   - queue: the queue to consume.
    ///   - broker: the broker holding the queue (`main` or a name under `brokers:`).
    public init(endpoint: Endpoint, queue: String, broker: String, context: AdapterContext) {
        self.endpoint = endpoint
        self.queue = queue
        self.broker = broker
        self.context = context
        self.failures = context.failurePublisher(for: broker)
        self.pump = SourcePump(context: context, adapter: "amqp")
        self.window = max(1, context.maxInFlight)
    }

    /// Consumes until ``stop()`` (or cancellation), then waits for in-flight messages.
    public func run() async throws {
        let readiness = "consumer:\(endpoint.name)"
        context.readiness.expect(readiness, reason: "waiting for broker '\(broker)'")
        let connection = await context.brokers.waitForConnection(broker)
        // A prefetch below the window would keep it from filling.
        let prefetch = UInt16(clamping: max(endpoint.settings["prefetch"]?.int ?? 0, window))
        let consumer = try await connection.consume(queue: queue, prefetch: prefetch)
        let stoppedMeanwhile = state.withLock {
            $0.consumer = consumer
            return $0.stopped
        }
        // A shutdown that began while the consumer was being set up must not be missed.
        if stoppedMeanwhile { await consumer.stopDeliveries() }
        context.readiness.satisfy(readiness)
        context.logger.info(
            "consuming",
            metadata: [
                "endpoint": "\(endpoint.name)", "queue": "\(queue)", "broker": "\(broker)",
                "max-in-flight": "\(window)", "prefetch": "\(prefetch)",
            ])
        await withTaskGroup(of: Void.self) { group in
            var inProgress = 0
            for await delivery in consumer.deliveries {
                // A full window waits for one of its messages to finish.
                while inProgress >= window, await group.next() != nil { inProgress -= 1 }
                inProgress += 1
                group.addTask { await self.handle(delivery) }
            }
            await group.waitForAll()
        }
        context.logger.info("stopped consuming", metadata: ["endpoint": "\(endpoint.name)"])
    }

    /// Stops taking new deliveries; ``run()`` returns once in-flight ones are finished and
    /// acked (the channel stays open for that until the connection closes).
    public func stop() async {
        let consumer: AMQPConsumer? = state.withLock {
            $0.stopped = true
            return $0.consumer
        }
        await consumer?.stopDeliveries()
    }

    /// Runs `delivery` through the pump, which applies the ack rule and settles it.
    private func handle(_ delivery: AMQPDelivery) async {
        let attempt = delivery.headers[AMQPHeaderName.attempt].flatMap(Self.integer) ?? 1
        let message = Message(
            body: delivery.body,
            headers: delivery.headers.compactMapValues(Self.text),
            properties: MessageProperties(
                messageID: delivery.properties.messageID, correlationID: delivery.properties.correlationID,
                contentType: delivery.properties.contentType, timestamp: delivery.properties.timestamp),
            source: endpoint.name, attempt: attempt, redelivered: delivery.redelivered)
        await pump.pump(message, settlement: AMQPSettlement(delivery: delivery, failures: failures))
    }

    private static func integer(_ value: AMQPHeaderValue) -> Int? {
        switch value {
        case .int(let number): return Int(number)
        case .string(let text): return Int(text)
        default: return nil
        }
    }

    private static func text(_ value: AMQPHeaderValue) -> String? {
        switch value {
        case .string, .int, .bool, .double: return value.description
        case .timestamp(let date): return date.formatted(.iso8601)
        default: return nil
        }
    }
}
