import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Transient delivery failures go through the per-delay retry queues (TTL, dead-lettered back
/// to the source queue) and end delivered once — or dead-lettered after the last attempt.
final class RetryTests: EndToEndTestCase {
    func testDestinationDownThenUpIsRetriedAndDeliveredOnce() async throws {
        let exchange = "e2e.eakte.\(UUID().uuidString.prefix(8).lowercased())"
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: antrag
                    from: portal
                    to: [eakte-exchange]
                    on-error: { retry: { attempts: 10, backoff: 1s..1s }, dead-letter: dlq }
                """, extraEndpoints: "  eakte-exchange: { type: amqp, exchange: \(exchange), routing-key: vorgaenge }")
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        // Nothing is bound to the eAkte exchange yet: every delivery is unroutable (transient).
        let uuids = (0..<5).map { _ in UUID().uuidString.lowercased() }
        for uuid in uuids { try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue) }
        try await waitFor("five retries") {
            try await stadtbus.metric(#"stadtbus_messages_retried_total{route="antrag"}"#) >= 5
        }
        let retried = try await stadtbus.metric(#"stadtbus_messages_retried_total{route="antrag"}"#)
        XCTAssertGreaterThanOrEqual(retried, 5)

        // The eAkte comes back: its queue is bound; the waiting retries are delivered.
        try await client.connection.declare(
            AMQPTopology(bindings: [AMQPBinding(exchange: exchange, queue: stadtbus.outQueue, routingKey: "vorgaenge")])
        )
        let delivered = try await client.drain(stadtbus.outQueue, expected: uuids.count, idle: .seconds(10))
        XCTAssertEqual(delivered.map(\.uuid).sorted(), uuids.sorted(), "each message delivered exactly once")
        for message in delivered {
            XCTAssertGreaterThanOrEqual(
                Int(message.headers["x-stadtbus-attempt"]?.description ?? "") ?? 0, 2, "\(message.headers)")
            XCTAssertNil(message.headers["x-stadtbus-error-reason"], "an earlier attempt's error does not travel on")
            XCTAssertEqual(message.headers["x-stadtbus-route"]?.stringValue, "antrag")
        }
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(1))
        XCTAssertEqual(dead.count, 0)
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }

    func testRetriesExhaustedEndInTheDeadLetterQueueWithTheAttemptCount() async throws {
        let exchange = "e2e.nowhere.\(UUID().uuidString.prefix(8).lowercased())"
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: antrag
                    from: portal
                    to: [nowhere]
                    on-error: { retry: { attempts: 3, backoff: 200ms..400ms }, dead-letter: dlq }
                """, extraEndpoints: "  nowhere: { type: amqp, exchange: \(exchange) }")
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue)
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(15))
        XCTAssertEqual(dead.map(\.uuid), [uuid])
        XCTAssertEqual(dead.first?.headers["x-stadtbus-attempt"]?.description, "3")
        XCTAssertEqual(dead.first?.headers["x-stadtbus-error-step"]?.stringValue, "deliver")
        XCTAssertTrue(
            dead.first?.headers["x-stadtbus-error-reason"]?.stringValue?.contains("unroutable") ?? false, "\(dead)")
        let retried = try await stadtbus.metric(#"stadtbus_messages_retried_total{route="antrag"}"#)
        XCTAssertEqual(retried, 2)
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}
