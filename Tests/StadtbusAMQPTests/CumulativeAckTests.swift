import Foundation
import StadtbusAMQP
import XCTest

/// Cumulative acks against a real broker: every delivery acked once, none lost, none twice (a tag acked
/// twice makes the broker close the channel with 406, counted in `channelsClosedByBroker`).
final class CumulativeAckTests: XCTestCase {
    override func setUp() async throws {
        try Broker.start("main")
    }

    /// Publishes `count` messages `m1`…`mN` and receives them on a new consumer, in order.
    private func deliveries(
        _ count: Int, on connection: AMQPConnection, queue: String, kind: AMQPQueue.Kind = .quorum
    ) async throws -> (AMQPConsumer, [AMQPDelivery]) {
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue, kind: kind)]))
        let batch = (1...count).map {
            AMQPPublishRequest(
                AMQPOutgoingMessage(body: [UInt8($0)], messageID: "m\($0)"), exchange: "", routingKey: queue)
        }
        for outcome in await connection.publisher().publish(batch) { try outcome.get() }
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        var received: [AMQPDelivery] = []
        for _ in 0..<count { received.append(try await next(consumer)) }
        XCTAssertEqual(received.map(\.messageID), (1...count).map { "m\($0)" })
        return (consumer, received)
    }

    /// Asserts that nothing is left in `queue`: a marker published now is the next delivery.
    private func assertQueueHoldsNothingBut(marker: String, queue: String, port: Int = 5672) async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint(port: port))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: [0], messageID: marker), exchange: "", routingKey: queue)
        let first = try await next(consumer)
        XCTAssertEqual(first.messageID, marker, "a message came back: \(first.messageID ?? "?")")
        try await first.ack()
        try await connection.delete(queues: [queue])
        await connection.close()
    }

    func testOutOfOrderCompletionAcksEveryDeliveryOnceWithCumulativeAcks() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        let queue = uniqueName("cumulative")
        let (_, received) = try await deliveries(5, on: connection, queue: queue)
        let before = connection.statistics
        // Each completion in its own turn of the connection loop (flush() waits for the turn).
        for number in [3, 1, 2, 5, 4] {
            try await received[number - 1].ack()
            await connection.flush()
        }
        let after = connection.statistics
        XCTAssertEqual(after.deliveriesAcked - before.deliveriesAcked, 5, "every delivery acked once")
        XCTAssertEqual(after.ackFrames - before.ackFrames, 3, "ack 1, then 2–3 at once, then 4–5 at once")
        XCTAssertEqual(after.channelsClosedByBroker, 0, "no tag was acked twice")
        // An ack after the fact is dropped, not sent again.
        try await received[2].ack()
        await connection.flush()
        XCTAssertEqual(connection.statistics.ackFrames, after.ackFrames)
        await connection.close()
        XCTAssertEqual(connection.statistics.channelsClosedByBroker, 0)
        try await assertQueueHoldsNothingBut(marker: "end", queue: queue)
    }

    func testNackInTheMiddleOfABatchRequeuesOnlyThatDelivery() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let queue = uniqueName("nack-middle")
        let (consumer, received) = try await deliveries(5, on: connection, queue: queue)
        let before = connection.statistics
        // 4 and 5 wait behind 1; the nack of 3 goes out at once; completing 1 lets one cumulative ack
        // reach over the nacked 3 up to 5, however the loop splits these into turns.
        try await received[3].ack()
        try await received[4].ack()
        try await received[2].nack(requeue: true)
        try await received[1].ack()
        try await received[0].ack()
        await connection.flush()
        let after = connection.statistics
        XCTAssertEqual(after.deliveriesAcked - before.deliveriesAcked, 4)
        XCTAssertEqual(after.deliveriesRejected - before.deliveriesRejected, 1)
        XCTAssertEqual(after.ackFrames - before.ackFrames, 1, "one cumulative ack for 1, 2, 4, 5")
        let again = try await next(consumer)
        XCTAssertEqual(again.messageID, "m3")
        XCTAssertTrue(again.redelivered)
        try await again.ack()
        await connection.flush()
        XCTAssertEqual(connection.statistics.channelsClosedByBroker, 0)
        await connection.close()
        try await assertQueueHoldsNothingBut(marker: "end", queue: queue)
    }

    func testManyConcurrentCompletionsShareFewAckFrames() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        let queue = uniqueName("many")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let count = 2000
        let batch = (1...count).map {
            AMQPPublishRequest(AMQPOutgoingMessage(body: [1], messageID: "m\($0)"), exchange: "", routingKey: queue)
        }
        for outcome in await connection.publisher().publish(batch) { try outcome.get() }
        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        let before = connection.statistics
        await withTaskGroup(of: Void.self) { group in
            var seen = 0
            for await delivery in consumer.deliveries {
                group.addTask { try? await delivery.ack() }
                seen += 1
                if seen == count { break }
            }
        }
        await connection.flush()
        let after = connection.statistics
        XCTAssertEqual(after.deliveriesAcked - before.deliveriesAcked, count)
        XCTAssertLessThan(after.ackFrames - before.ackFrames, count, "acks completed together share a frame")
        XCTAssertEqual(after.channelsClosedByBroker, 0)
        await connection.close()
        try await assertQueueHoldsNothingBut(marker: "end", queue: queue)
    }
}
