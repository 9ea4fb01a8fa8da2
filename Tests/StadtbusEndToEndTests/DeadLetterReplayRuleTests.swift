import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// `stadtbus dlq replay` sends a dead letter only into the source queue of the route it names,
/// so the message passes the route's steps (`verify` included) again. Anyone who can publish
/// to the dead-letter queue writes its headers: a letter that points elsewhere is refused and
/// stays in the dead-letter queue (issue 12, item 3).
///
/// No Stadtbus instance runs here: nothing consumes the queues, so what the command published
/// (with confirms, before it exited) is exactly what the queues hold afterwards.
final class DeadLetterReplayRuleTests: EndToEndTestCase {
    private static let routes = """
          - name: von-nachbarn
            from: portal
            steps:
              - verify
            to: [eakte]
        """

    override func setUp() async throws {
        try await super.setUp()
        try shell(["certs/make-dev-certs"])  // the trust store the `verify` step loads
    }

    func testReplayGoesOnlyToTheSourceOfTheNamedRoute() async throws {
        let stadtbus = try StadtbusProcess(routes: Self.routes)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await client.declare(stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue)
        defer {
            let queues = [stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue]
            Task { try? await client.connection.delete(queues: queues) }
        }

        // Unsigned applications planted in the dead-letter queue, each claiming a way into the
        // verified output queue `eakte` (read by the records system, which trusts it).
        let forged = UUID().uuidString.lowercased()
        try await plant(forged, route: .string("von-nachbarn"), originalQueue: stadtbus.outQueue, client, stadtbus)
        let unrouted = UUID().uuidString.lowercased()
        try await plant(unrouted, route: .string("(none)"), originalQueue: stadtbus.outQueue, client, stadtbus)
        let unknownRoute = UUID().uuidString.lowercased()
        try await plant(
            unknownRoute, route: .string("gibt-es-nicht"), originalQueue: stadtbus.outQueue, client, stadtbus)
        let noRoute = UUID().uuidString.lowercased()
        try await plant(noRoute, route: nil, originalQueue: stadtbus.outQueue, client, stadtbus)
        // A dead letter as Stadtbus writes it: back to the route's source queue, to be verified again.
        let genuine = UUID().uuidString.lowercased()
        try await plant(genuine, route: .string("von-nachbarn"), originalQueue: stadtbus.inQueue, client, stadtbus)

        let (succeeded, output) = runReplay(stadtbus)
        XCTAssertFalse(succeeded, "a refusal makes the command fail: \(output)")
        XCTAssertTrue(output.contains("replayed 1 of 5 dead letters; refused 4"), output)
        XCTAssertTrue(
            output.contains(
                "x-stadtbus-original-queue '\(stadtbus.outQueue)' is not the source of route 'von-nachbarn' (queue '\(stadtbus.inQueue)')"
            ),
            output)
        XCTAssertTrue(
            output.contains("unrouted dead letter names queue '\(stadtbus.outQueue)', which no route"), output)
        XCTAssertTrue(output.contains("route 'gibt-es-nicht' is not in the configuration"), output)
        XCTAssertTrue(output.contains("no x-stadtbus-route header"), output)
        XCTAssertTrue(output.contains("→ \(stadtbus.inQueue)"), output)

        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(2))
        XCTAssertEqual(delivered.map(\.uuid), [], "nothing reached the verified output queue")
        let source = try await client.drain(stadtbus.inQueue, expected: 1)
        XCTAssertEqual(source.map(\.uuid), [genuine])
        XCTAssertNotNil(source.first?.headers["x-stadtbus-replayed-at"])
        let left = try await client.drain(stadtbus.deadLetterQueue, expected: 4)
        XCTAssertEqual(Set(left.map(\.uuid)), [forged, unrouted, unknownRoute, noRoute], "refused letters stay")
    }

    func testAnUnroutedDeadLetterReplaysToTheQueueItCameFromWhenARouteReadsIt() async throws {
        let stadtbus = try StadtbusProcess(routes: Self.routes)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await client.declare(stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue)
        defer {
            let queues = [stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue]
            Task { try? await client.connection.delete(queues: queues) }
        }
        let uuid = UUID().uuidString.lowercased()
        try await plant(uuid, route: .string("(none)"), originalQueue: stadtbus.inQueue, client, stadtbus)

        let (succeeded, output) = runReplay(stadtbus)
        XCTAssertTrue(succeeded, output)
        XCTAssertTrue(output.contains("replayed 1 of 1 dead letters"), output)
        let source = try await client.drain(stadtbus.inQueue, expected: 1)
        XCTAssertEqual(source.map(\.uuid), [uuid])
    }

    /// Publishes an unsigned application to the dead-letter queue with dead-letter headers.
    private func plant(
        _ uuid: String, route: AMQPHeaderValue?, originalQueue: String, _ client: TestClient,
        _ stadtbus: StadtbusProcess
    ) async throws {
        var headers: [String: AMQPHeaderValue] = [
            "x-stadtbus-original-queue": .string(originalQueue),
            "x-stadtbus-error-reason": .string("no-signature: the message carries no signature"),
            "x-stadtbus-error-step": .string("verify"),
            "x-stadtbus-attempt": .int(1),
        ]
        headers["x-stadtbus-route"] = route
        try await client.connection.publisher().publish(
            AMQPOutgoingMessage(
                body: Applications.make(uuid: uuid),
                properties: AMQPMessageProperties(contentType: "application/xml", headers: headers)),
            exchange: "", routingKey: stadtbus.deadLetterQueue)
    }

    /// `stadtbus dlq replay --all` on the test's dead-letter queue: whether it exited 0, and its output.
    private func runReplay(_ stadtbus: StadtbusProcess) -> (Bool, String) {
        do {
            return (true, try stadtbus.command(["dlq", "replay", "--all", "--queue", stadtbus.deadLetterQueue]))
        } catch {
            return (false, "\(error)")
        }
    }
}
