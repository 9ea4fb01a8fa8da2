import Foundation
import StadtbusAMQP

/// Publishes with confirms and drains queues through the project's own transport.
public struct TestClient: Sendable {
    public let connection: AMQPConnection

    public static func connect(_ endpoint: AMQPEndpoint = ChaosBroker.endpoint) async throws -> TestClient {
        TestClient(connection: try await AMQPConnection.connect(endpoint))
    }

    /// Empties `queue` (deletes and declares it again; only while no one consumes it).
    public func purge(_ queue: String) async throws {
        try await connection.delete(queues: [queue])
        try await declare(queue)
    }

    public func declare(_ queues: String...) async throws {
        try await connection.declare(AMQPTopology(queues: queues.map { AMQPQueue($0) }))
    }

    /// Publishes `body` (persistent, confirmed) to `queue`; `messageID` becomes the AMQP message-id.
    public func publish(_ body: [UInt8], to queue: String, messageID: String? = nil) async throws {
        try await connection.publisher().publish(
            AMQPOutgoingMessage(
                body: body, properties: AMQPMessageProperties(messageID: messageID, contentType: "application/xml")),
            exchange: "", routingKey: queue)
    }

    /// Consumes `queue` until `expected` messages arrived or `idle` passes without one;
    /// returns the XÖV UUIDs (from the body) in arrival order, and the headers of each.
    /// With `settle`, it goes on listening after `expected` until `settle` passes without a
    /// message (late duplicates).
    ///
    /// Every delivery is acked. The consumer stops (basic.cancel) and waits a second before its
    /// channel closes: RabbitMQ's quorum queues may drop acks that arrive right before a channel
    /// close and requeue those messages (rabbitmq/rabbitmq-server#10327), so a second drain
    /// of the same queue would see them again.
    public func drain(_ queue: String, expected: Int, idle: Duration = .seconds(5), settle: Duration? = nil)
        async throws -> [(
            uuid: String, headers: [String: AMQPHeaderValue]
        )]
    {
        let consumer = try await connection.consume(queue: queue, prefetch: 500)
        var received: [(String, [String: AMQPHeaderValue])] = []
        // One task at a time uses the iterator: the group below is awaited to its end (the losing
        // child cancelled and finished) before the next round hands it to a new child.
        nonisolated(unsafe) var iterator = consumer.deliveries.makeAsyncIterator()
        while true {
            let wait: Duration
            if received.count < expected {
                wait = idle
            } else if let settle {
                wait = settle
            } else {
                break
            }
            let next = await withTaskGroup(of: AMQPDelivery?.self) { group -> AMQPDelivery? in
                group.addTask { await iterator.next() }
                group.addTask {
                    try? await Task.sleep(for: wait)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let delivery = next else { break }
            received.append((Applications.uuid(in: delivery.body), delivery.headers))
            try await delivery.ack()
        }
        await consumer.stopDeliveries()
        try? await Task.sleep(for: .seconds(1))
        await consumer.cancel()
        return received
    }
}
