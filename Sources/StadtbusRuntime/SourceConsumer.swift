import Foundation
import Logging
import StadtbusAMQP
import StadtbusCore
import StadtbusOperations

/// Consumes one source endpoint's queue and runs every delivery through the engine with at
/// most `workers` messages in flight.
///
/// The ack rule (shared/design/message-lifecycle.md): a delivery is acked only after the
/// engine has made every effect durable — deliveries confirmed, or the retry/dead-letter
/// publish confirmed. If that publish fails, the delivery is returned to the broker
/// (nack with requeue) after a short pause, so nothing is lost and nothing spins.
final class SourceConsumer: @unchecked Sendable {
    let endpoint: Endpoint
    let queue: String
    private let connection: AMQPConnection
    private let engine: RoutingEngine
    private let failures: FailurePublisher
    private let workers: Int
    private let metrics: StadtbusMetrics
    private let readiness: Readiness
    private let inFlight: InFlightCounter
    private let logger: Logger
    private let lock = NSLock()
    private var consumer: AMQPConsumer?
    private var stopped = false

    init(
        endpoint: Endpoint, queue: String, connection: AMQPConnection, engine: RoutingEngine, failures: FailurePublisher,
        workers: Int, metrics: StadtbusMetrics, readiness: Readiness, inFlight: InFlightCounter, logger: Logger
    ) {
        self.endpoint = endpoint
        self.queue = queue
        self.connection = connection
        self.engine = engine
        self.failures = failures
        self.workers = max(1, workers)
        self.metrics = metrics
        self.readiness = readiness
        self.inFlight = inFlight
        self.logger = logger
    }

    /// Consumes until ``stop()`` (or cancellation), then waits for in-flight messages.
    func run() async throws {
        let prefetch = UInt16(clamping: endpoint.settings["prefetch"]?.int ?? max(16, workers * 4))
        let consumer = try await connection.consume(queue: queue, prefetch: max(prefetch, UInt16(clamping: workers)))
        let stoppedMeanwhile = lock.withLock {
            self.consumer = consumer
            return stopped
        }
        // A shutdown that began while the consumer was being set up must not be missed.
        if stoppedMeanwhile { await consumer.stopDeliveries() }
        readiness.satisfy("consumer:\(endpoint.name)")
        logger.info("consuming", metadata: ["endpoint": "\(endpoint.name)", "queue": "\(queue)", "workers": "\(workers)"])
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await delivery in consumer.deliveries {
                if running >= workers {
                    await group.next()
                    running -= 1
                }
                running += 1
                group.addTask { await self.handle(delivery) }
            }
            await group.waitForAll()
        }
        logger.info("stopped consuming", metadata: ["endpoint": "\(endpoint.name)"])
    }

    /// Stops taking new deliveries; ``run()`` returns once in-flight ones are finished and
    /// acked (the channel stays open for that until the connection closes).
    func stop() async {
        let consumer: AMQPConsumer? = lock.withLock {
            stopped = true
            return self.consumer
        }
        await consumer?.stopDeliveries()
    }

    private func handle(_ delivery: AMQPDelivery) async {
        inFlight.add(1, metrics: metrics)
        defer { inFlight.add(-1, metrics: metrics) }
        let started = ContinuousClock.now
        let attempt = delivery.headers[AMQPHeaderName.attempt].flatMap(Self.integer) ?? 1
        let message = Message(
            body: delivery.body,
            headers: delivery.headers.compactMapValues(Self.text),
            properties: MessageProperties(
                messageID: delivery.properties.messageID, correlationID: delivery.properties.correlationID,
                contentType: delivery.properties.contentType, timestamp: delivery.properties.timestamp),
            source: endpoint.name, attempt: attempt, redelivered: delivery.redelivered)
        let observer = MetricsObserver(metrics: metrics)
        let disposition = await engine.process(message, route: nil, observer: observer)
        let route = observer.route ?? "unrouted"
        var log = logger
        log[metadataKey: "route"] = "\(route)"
        log[metadataKey: "message_id"] = "\(observer.messageID ?? "(no header)")"
        log[metadataKey: "transport_message_id"] = "\(delivery.properties.messageID ?? "-")"
        do {
            switch disposition {
            case .retry(let next, let delay, let reason, let step):
                try await failures.retry(delivery, attempt: next, delay: delay, reason: reason, step: step, route: observer.route)
                log.notice("retry scheduled", metadata: ["attempt": "\(next)", "delay": "\(delay)", "step": "\(step)", "reason": "\(reason)"])
            case .deadLetter(let reason, let step, let failedRoute, let endpointName):
                let target = endpointName.flatMap { engine.table.endpoints[$0] }.flatMap { $0.type == "amqp" ? $0 : nil }
                try await failures.deadLetter(
                    delivery, endpoint: target, reason: reason, step: step, route: failedRoute ?? observer.route, attempt: attempt)
                log.warning("dead-lettered", metadata: ["step": "\(step)", "reason": "\(reason)", "to": "\(target?.name ?? FailurePublisher.fallbackDeadLetterQueue)"])
            case .completed, .duplicate, .filtered:
                log.debug("processed", metadata: ["disposition": "\(disposition)"])
            }
            try await delivery.ack()
            if observer.route == nil, case .deadLetter = disposition { metrics.count(.received, route: route) }
            RuntimeMetrics(metrics: metrics, broker: "main").count(disposition, route: route, deliveries: observer.deliveries)
            metrics.recordEndToEnd(route: route, duration: ContinuousClock.now - started)
        } catch {
            // The retry or dead-letter publish was not confirmed (or the ack failed because the
            // connection went away): the broker keeps the message and delivers it again.
            log.error("could not settle message; returning it to the broker", metadata: ["error": "\(error)"])
            metrics.countAdapterError(adapter: "amqp")
            try? await Task.sleep(for: .seconds(1))
            try? await delivery.nack(requeue: true)
        }
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

/// Counts messages in flight across all consumers (for the in-flight gauge and draining).
final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func add(_ delta: Int, metrics: StadtbusMetrics) {
        let value = lock.withLock {
            count += delta
            return count
        }
        metrics.setInFlight(value)
    }

    var value: Int { lock.withLock { count } }
}
