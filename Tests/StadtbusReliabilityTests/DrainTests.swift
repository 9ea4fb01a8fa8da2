import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// The suite's own instrument: a drained queue stays drained. RabbitMQ's quorum queues may drop
/// acks sent right before a channel closes (rabbitmq/rabbitmq-server#10327); without the pause
/// in ``TestClient/drain(_:expected:idle:settle:)`` a second drain saw 167 of 200 messages again
/// and the suite reported them as downstream duplicates.
final class DrainTests: ReliabilityTestCase {
    func testASecondDrainOfTheSameQueueSeesNothing() async throws {
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        let queue = "e2e.drain.\(UUID().uuidString.prefix(8).lowercased())"
        try await client.declare(queue)
        let uuids = (0..<200).map { _ in UUID().uuidString.lowercased() }
        for uuid in uuids { try await client.publish(Applications.make(uuid: uuid), to: queue) }
        let first = try await client.drain(queue, expected: uuids.count)
        let second = try await client.drain(queue, expected: 1, idle: .seconds(2))
        XCTAssertEqual(first.map(\.uuid).sorted(), uuids.sorted())
        XCTAssertEqual(second.count, 0, "acked messages came back")
    }
}
