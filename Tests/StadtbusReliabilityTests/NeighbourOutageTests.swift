import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Scenario 4 of issue 8: the route hands over to a queue on a second broker (this checkout's
/// `neighbour` node, `brokers: nachbar`), which is unreachable for 30 s mid-stream.
/// Publishes to the disconnected broker fail fast as `broker-unavailable` and wait in retry
/// queues on the main broker; everything must arrive exactly once on the neighbour's queue.
final class NeighbourOutageTests: ReliabilityTestCase {
    override func setUp() async throws {
        try await super.setUp()
        try NeighbourBroker.start()
        try? NeighbourBroker.startApp()
    }

    func testNeighbourBrokerUnreachableFor30Seconds() async throws {
        let neighbourQueue = "e2e.nachbar.\(UUID().uuidString.prefix(8).lowercased())"
        let stadtbus = try StadtbusProcess(
            routes: StreamScenario.route(to: "nachbar-eingang"),
            extraEndpoints: "  nachbar-eingang: { type: amqp, queue: \(neighbourQueue), broker: nachbar }",
            extraSettings: """
                brokers:
                  nachbar:
                    host: 127.0.0.1
                    port: \(NeighbourBroker.port)
                    user: guest
                    password-env: STADTBUS_E2E_PASSWORD
                """)
        let neighbour = try await TestClient.connect(NeighbourBroker.endpoint)
        try await neighbour.declare(neighbourQueue)
        await neighbour.connection.close()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let scenario = StreamScenario(scenario: "neighbour-down-30s", count: count)
        let publisher = StreamPublisher(
            client: client, queue: stadtbus.inQueue, items: scenario.items, seconds: max(10, Double(count) / 100))
        await publisher.start()
        try await publisher.waitUntilPublished(scenario.items.count / 3)
        try NeighbourBroker.stopApp()
        do {
            try await Task.sleep(for: .seconds(30))
        } catch {
            try? NeighbourBroker.startApp()
            throw error
        }
        try NeighbourBroker.startApp()
        try await publisher.finish()
        let retried = try await stadtbus.metric(#"stadtbus_messages_retried_total{route="antrag"}"#)

        let receiver = try await TestClient.connect(NeighbourBroker.endpoint)
        defer { Task { await receiver.connection.close() } }
        let delivered = try await collect(
            neighbourQueue, expected: scenario.validCount, client: receiver, idle: .seconds(60))
        let dead = try await collect(
            stadtbus.deadLetterQueue, expected: scenario.failingCount, client: client, idle: .seconds(10))
        await stop(stadtbus)

        XCTAssertGreaterThan(retried, 0, "the outage must have sent messages through the retry queues")
        // A publish in flight when the neighbour went away may be re-sent after the reconnect.
        let figures = scenario.ledger.check(downstream: delivered.map(\.uuid), deadLetters: dead, inFlightAtFault: 4)
        try scenario.ledger.checkAuditTrail(store: stadtbus.storePath)
        figures.print()
        print("neighbour-down-30s: retries \(Int(retried))")
    }
}
