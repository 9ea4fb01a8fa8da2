import Foundation
import StadtbusAMQP
import XCTest

/// Connection loss and heartbeats on the `chaos` node (tests here close all of its connections).
final class ReconnectTests: XCTestCase {
    override func setUp() async throws {
        try Broker.start("chaos")
        ReliabilityTests.port = try Broker.port("chaos")
    }

    func testAckFromPreviousConnectionIsNotSentAndMessageIsRedelivered() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint(port: ReliabilityTests.port))
        defer { Task { await connection.close() } }
        let events = connection.events()
        let queue = uniqueName("stale")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: [1, 2, 3], messageID: "stale-1"), exchange: "", routingKey: queue)
        let first = try await next(consumer)
        XCTAssertFalse(first.redelivered)

        try Broker.ctl("chaos", "close_all_connections", "test: connection loss")
        // the same consumer stream continues on the new connection with the redelivered message
        let second = try await next(consumer, timeout: 30)
        XCTAssertEqual(second.messageID, "stale-1")
        XCTAssertTrue(second.redelivered)
        do {
            try await first.ack()
            XCTFail("ack of a delivery from the previous connection was accepted")
        } catch AMQPError.staleDelivery {}
        try await second.ack()
        XCTAssertEqual(connection.statistics.reconnects, 1)

        var seen: [AMQPConnectionEvent] = []
        try await withTimeout(10) {
            var iterator = events.makeAsyncIterator()
            var collected: [AMQPConnectionEvent] = []
            while let event = await iterator.next() {
                collected.append(event)
                if case .connected = event { break }
            }
            return collected
        }.forEach { seen.append($0) }
        XCTAssertTrue(seen.contains { if case .disconnected = $0 { return true } else { return false } }, "\(seen)")
        XCTAssertTrue(seen.contains { if case .reconnecting = $0 { return true } else { return false } }, "\(seen)")
        XCTAssertTrue(
            seen.contains { if case .connected(_, let count) = $0 { return count == 1 } else { return false } },
            "\(seen)")
        // nothing left behind: the queue is empty after the ack
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: [9], messageID: "after"), exchange: "", routingKey: queue)
        let third = try await next(consumer)
        XCTAssertEqual(third.messageID, "after")
        try await third.ack()
    }

    func testConnectionLossWithPendingAcksLosesNothing() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint(port: ReliabilityTests.port))
        defer { Task { await connection.close() } }
        let queue = uniqueName("pending-acks")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let ids = (1...5).map { "p\($0)" }
        for id in ids {
            try await connection.publisher().publish(
                AMQPOutgoingMessage(body: [1], messageID: id), exchange: "", routingKey: queue)
        }
        let consumer = try await connection.consume(queue: queue, prefetch: 20)
        var first: [AMQPDelivery] = []
        for _ in ids { first.append(try await next(consumer)) }
        // 2, 3 and 4 are complete but wait behind 1 (below the hold limit of half the prefetch): their
        // acks are pending when the connection goes.
        for delivery in first[1...3] { try await delivery.ack() }
        await connection.flush()
        XCTAssertEqual(connection.statistics.ackFrames, 0)
        try Broker.ctl("chaos", "close_all_connections", "test: connection loss with pending acks")
        // Everything comes back on the new connection, nothing is lost.
        var again: [AMQPDelivery] = []
        for _ in ids { again.append(try await next(consumer, timeout: 30)) }
        XCTAssertEqual(Set(again.compactMap(\.messageID)), Set(ids))
        XCTAssertTrue(again.allSatisfy(\.redelivered))
        for delivery in first {
            do {
                try await delivery.ack()
                XCTFail("ack of a delivery from the previous connection was accepted")
            } catch AMQPError.staleDelivery {}
        }
        for delivery in again { try await delivery.ack() }
        await connection.flush()
        XCTAssertEqual(connection.statistics.deliveriesAcked, 5)
        XCTAssertEqual(connection.statistics.channelsClosedByBroker, 0)
        // Nothing left behind.
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: [9], messageID: "after"), exchange: "", routingKey: queue)
        let last = try await next(consumer)
        XCTAssertEqual(last.messageID, "after")
        try await last.ack()
    }

    func testHeartbeatsKeepAnIdleConnectionAlive() async throws {
        // heartbeat 1 s: the broker closes a connection that stays silent for two intervals
        let connection = try await AMQPConnection.connect(Broker.endpoint(port: ReliabilityTests.port, heartbeat: 1))
        try await Task.sleep(for: .seconds(5))
        XCTAssertEqual(connection.statistics.reconnects, 0)
        XCTAssertTrue(connection.statistics.isConnected)
        let queue = uniqueName("heartbeat")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue, kind: .classic, autoDelete: true)]))
        await connection.close()
    }
}
