import Foundation
import StadtbusAMQP
import StadtbusRuntime
import StadtbusTestSupport
import XCTest

/// The runtime as a service group, in process: a message moves, and a graceful shutdown runs
/// in reverse start order and ends within its bounds even when a source never returns.
final class RuntimeShutdownTests: XCTestCase {
    /// amqp → amqp moves a message; the shutdown then stops the sources (the consumer ends),
    /// shuts the adapters down while `/ready` still answers "shutting down", closes the
    /// stores and the broker connections, and stops the operations server last.
    func testAMQPRouteMovesAMessageAndShutdownRunsInReverseStartOrder() async throws {
        let queues = TestQueues()
        let directory = try RuntimeHarness.makeDirectory()
        let events = EventLog()
        let recorder = RecordingAdapter(events: events)
        let harness = try RuntimeHarness(
            directory: directory,
            yaml: configuration(
                directory: directory,
                endpoints: """
                      portal: { type: amqp, queue: \(queues.name("in")) }
                      eakte: { type: amqp, queue: \(queues.name("out")) }
                    """,
                routes: """
                      - name: antrag
                        from: portal
                        to: [eakte]
                    """),
            adapters: [recorder], events: events)
        recorder.operationsPort.value = try await harness.operationsPort()
        try await harness.waitUntilReady()

        let client = try await TestClient.connect(RuntimeHarness.broker)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: queues.name("in"))
        let delivered = try await client.drain(queues.name("out"), expected: 1, idle: .seconds(20))
        XCTAssertEqual(delivered.map(\.uuid), [uuid], events.text)

        try await harness.shutdown()
        let order = [
            events.index(of: "shutting down: no new messages"),
            events.index(of: "stopped consuming", metadata: ["endpoint": "portal"]),
            events.index(of: "sources stopped"),
            events.index(of: "recorder: adapter shutdown"),
            events.index(of: "adapters shut down"),
            events.index(of: "stores closed"),
            events.index(of: "broker connections closed"),
            events.index(of: "operations endpoint stopped"),
        ]
        XCTAssertFalse(order.contains(nil), "a shutdown step is missing:\n\(events.text)")
        let positions = order.compactMap { $0 }
        XCTAssertEqual(positions, positions.sorted(), "shutdown steps out of order:\n\(events.text)")
        XCTAssertFalse(events.contains("drain timeout"), events.text)
        let shutdown = events.all.first { $0.message == "recorder: adapter shutdown" }
        XCTAssertEqual(shutdown?.metadata["ready_status"], "503", "the operations server answers during the shutdown")
        XCTAssertTrue(
            shutdown?.metadata["ready_body"]?.contains("routes: shutting down") ?? false,
            "\(shutdown?.metadata ?? [:])")

        try await client.connection.delete(queues: [queues.name("in"), queues.name("out")])
        await client.connection.close()
    }

    /// A source whose `run()` never returns, not even after `stop()`: the shutdown still ends
    /// within the drain timeout plus the close grace (adapters, then broker connections), says
    /// so in the log, and the message the source held is not acked — the broker has it again.
    func testASourceThatNeverReturnsCannotHoldUpTheShutdown() async throws {
        let queues = TestQueues()
        let directory = try RuntimeHarness.makeDirectory()
        let events = EventLog()
        let stuck = StuckAdapter(events: events)
        let drainTimeout = Duration.seconds(1)
        let closeGrace = Duration.seconds(2)
        let harness = try RuntimeHarness(
            directory: directory,
            yaml: configuration(
                directory: directory,
                endpoints: """
                      inbox: { type: stuck, queue: \(queues.name("in")) }
                      eakte: { type: amqp, queue: \(queues.name("out")) }
                    """,
                routes: """
                      - name: antrag
                        from: inbox
                        to: [eakte]
                    """),
            adapters: [stuck], events: events, drainTimeout: drainTimeout, closeGrace: closeGrace)
        defer { stuck.release.raise() }
        try await harness.waitUntilReady()

        let client = try await TestClient.connect(RuntimeHarness.broker)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: queues.name("in"))
        try await bounded(.seconds(20), "the stuck source to take the message") { await stuck.holding.wait() }

        // Fails (instead of hanging) if the drain waited for the source: `shutdown(within:)`
        // gives up after a minute.
        let took = try await harness.shutdown()
        XCTAssertGreaterThanOrEqual(took, drainTimeout, "the drain waited for the source first")
        XCTAssertLessThan(took, drainTimeout + closeGrace * 2, "bounded by the drain timeout and close grace")
        XCTAssertTrue(events.contains("drain timeout: unfinished messages stay with the broker"), events.text)
        XCTAssertTrue(events.contains("stuck source asked to stop"), events.text)
        XCTAssertNotNil(events.index(of: "operations endpoint stopped"), events.text)
        XCTAssertFalse(stuck.release.isRaised)

        let back = try await client.drain(queues.name("in"), expected: 1, idle: .seconds(20))
        XCTAssertEqual(back.map(\.uuid), [uuid], "the unacked message is with the broker again")
        let out = try await client.drain(queues.name("out"), expected: 1, idle: .seconds(1))
        XCTAssertTrue(out.isEmpty, "nothing was delivered")

        try await client.connection.delete(queues: [queues.name("in"), queues.name("out")])
        await client.connection.close()
    }
}
