import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// The operator's repair loop: a message no route covers is dead-lettered; the operator adds a
/// route (hot reload on SIGHUP), lists the dead letters and replays them; they are delivered.
final class DeadLetterReplayTests: EndToEndTestCase {
    func testListAndReplayAfterAddingTheMissingRoute() async throws {
        let stadtbus = try StadtbusProcess()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        // An xdomea message (type 0501): the configuration has a route for 0401 only.
        let xdomea = try Data(
            contentsOf: Paths.shared.appendingPathComponent(
                "xoev/xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml"))
        try await client.publish(Array(xdomea), to: stadtbus.inQueue)
        try await waitFor("the xdomea message dead-lettered") {
            try await stadtbus.metric(#"stadtbus_messages_dead_lettered_total{route="unrouted"}"#) >= 1
        }

        let listed = try stadtbus.command(["dlq", "list", "--queue", stadtbus.deadLetterQueue])
        XCTAssertTrue(listed.contains("242f44e8-bebf-4503-a086-db252c6a4277/0501"), listed)
        XCTAssertTrue(listed.contains("no-route"), listed)
        let shown = try stadtbus.command(["dlq", "show", "1", "--queue", stadtbus.deadLetterQueue])
        XCTAssertTrue(shown.contains("x-stadtbus-error-step: route"), shown)
        XCTAssertTrue(shown.contains("<xdomea:Kopf>"), shown)

        // The operator adds the missing route and reloads.
        try stadtbus.appendRoute(
            """
              - name: aussonderung
                from: portal
                when: { message-type: "0501" }
                to: [eakte]
            """)
        try stadtbus.signal(SIGHUP)
        try await waitFor("the reload after SIGHUP") {
            try await stadtbus.metric(#"stadtbus_config_reloads_total{result="ok"}"#) >= 1
        }
        let reloads = try await stadtbus.metric(#"stadtbus_config_reloads_total{result="ok"}"#)
        XCTAssertEqual(reloads, 1, stadtbus.log)

        let replayed = try stadtbus.command(["dlq", "replay", "--all", "--queue", stadtbus.deadLetterQueue])
        XCTAssertTrue(replayed.contains("replayed 1 of 1"), replayed)
        let delivered = try await client.drain(stadtbus.outQueue, expected: 1)
        XCTAssertEqual(delivered.count, 1)
        XCTAssertNotNil(delivered.first?.headers["x-stadtbus-replayed-at"])
        let left = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(1))
        XCTAssertEqual(left.count, 0, "the replayed message left the dead-letter queue")
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}
