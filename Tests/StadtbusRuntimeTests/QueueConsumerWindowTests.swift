import Foundation
import Logging
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore
import StadtbusOperations
import StadtbusXML
import Synchronization
import XCTest

/// Issue 13 item 2: the in-flight window of an AMQP source is not the CPU bound. With a destination
/// that holds every delivery (its "confirm" pending), the consumer keeps `max-in-flight` messages in
/// progress at once — more than there are cores — and never more.
final class QueueConsumerWindowTests: XCTestCase {
    func testWindowKeepsMoreMessagesThanCoresInFlightWhileTheirDeliveriesArePending() async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let window = 4 * cores + 8
        let count = window + 20
        let connection = try await AMQPConnection.connect(RuntimeHarness.broker)
        let queue = "test.window.\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let batch = (0..<count).map { _ in
            AMQPPublishRequest(AMQPOutgoingMessage(body: Self.message()), exchange: "", routingKey: queue)
        }
        for outcome in await connection.publisher().publish(batch) { try outcome.get() }

        let sink = HoldingSink()
        let route = Route(
            name: "r", source: "in", steps: [], routing: .to([.endpoint("out")]),
            errorPolicy: ErrorPolicy(deadLetter: "dlq"))
        let table = try RoutingTable(
            routes: [route], endpoints: ["in", "out", "dlq"].map { Endpoint(name: $0, type: "amqp") },
            headerExtractor: try HeaderExtractor(), defaultDeadLetter: "dlq", version: "test")
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let brokers = BrokerConnections(names: [BrokerSettings.mainName])
        brokers.attach(connection, as: BrokerSettings.mainName)
        let inFlight = InFlightCounter()
        let context = AdapterContext(
            engine: engine, brokers: brokers, metrics: StadtbusMetrics(), readiness: Readiness(), inFlight: inFlight,
            maxInFlight: window, identity: nil, logger: Logger(label: "test.window"))
        XCTAssertEqual(context.maxInFlight, window)
        let consumer = QueueConsumer(
            endpoint: Endpoint(name: "in", type: "amqp", settings: ["prefetch": .int(16)]), queue: queue,
            broker: BrokerSettings.mainName, context: context)
        let running = Task { try await consumer.run() }

        // The whole window reaches the destination and waits there, holding no thread.
        try await bounded(.seconds(30), "\(window) messages held at the destination") {
            await sink.waitUntilHolding(window)
        }
        XCTAssertGreaterThan(window, cores)
        XCTAssertEqual(inFlight.value, window, "the window, not the cores, bounds the messages in progress")
        XCTAssertEqual(connection.statistics.deliveriesAcked, 0, "nothing is acked before its delivery is done")

        sink.release()
        try await bounded(.seconds(30), "all \(count) messages delivered") { await sink.waitUntilDelivered(count) }
        await consumer.stop()
        try await bounded(.seconds(30), "the consumer to finish") { try await running.value }
        await connection.flush()
        XCTAssertEqual(sink.most, window, "never more than the window at once")
        XCTAssertEqual(connection.statistics.deliveriesAcked, count)
        XCTAssertLessThan(connection.statistics.ackFrames, count, "acks completed together share a frame")
        XCTAssertEqual(connection.statistics.channelsClosedByBroker, 0)
        try await connection.delete(queues: [queue])
        await connection.close()
    }

    /// A small message with an XÖV g2g header and a fresh UUID.
    static func message() -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <t:antrag xmlns:t="urn:stadtbus:test" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1" xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1">
              <g2g:nachrichtenkopf.g2g>
                <g2g:identifikation.nachricht>
                  <g2g:nachrichtenUUID>\(UUID().uuidString.lowercased())</g2g:nachrichtenUUID>
                  <g2g:nachrichtentyp><code>0401</code><name>test.Antrag.0401</name></g2g:nachrichtentyp>
                  <g2g:erstellungszeitpunkt>2026-11-25T10:00:00Z</g2g:erstellungszeitpunkt>
                </g2g:identifikation.nachricht>
                <g2g:leser><beh:kennung>ags:01061017</beh:kennung></g2g:leser>
                <g2g:autor><beh:kennung>ags:01061046</beh:kennung><beh:name>Stadt Itzehoe</beh:name></g2g:autor>
              </g2g:nachrichtenkopf.g2g>
              <t:inhalt><t:betreff>Bebauungsplan Nr. 7</t:betreff></t:inhalt>
            </t:antrag>
            """.utf8)
    }
}

/// A destination that holds every delivery until ``release()`` — as a broker that has not confirmed
/// yet — and counts how many it holds at once.
final class HoldingSink: MessageSink {
    private struct State {
        var holding = 0
        var most = 0
        var delivered = 0
        var released = false
        var held: [CheckedContinuation<Void, Never>] = []
        var holdingWatchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var deliveredWatchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// The most deliveries held at once.
    var most: Int { state.withLock { $0.most } }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wake: [CheckedContinuation<Void, Never>] = state.withLock { state in
                state.holding += 1
                state.most = max(state.most, state.holding)
                if state.released {
                    return [continuation]
                }
                state.held.append(continuation)
                return Self.due(&state.holdingWatchers, state.holding)
            }
            for waiter in wake { waiter.resume() }
        }
        let wake = state.withLock { state in
            state.holding -= 1
            state.delivered += 1
            return Self.due(&state.deliveredWatchers, state.delivered)
        }
        for waiter in wake { waiter.resume() }
    }

    /// Lets every held and future delivery through.
    func release() {
        let held = state.withLock { state in
            state.released = true
            defer { state.held.removeAll() }
            return state.held
        }
        for continuation in held { continuation.resume() }
    }

    /// Returns once `count` deliveries are held at the same time.
    func waitUntilHolding(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.holding >= count { return true }
                state.holdingWatchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Returns once `count` deliveries went through.
    func waitUntilDelivered(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.delivered >= count { return true }
                state.deliveredWatchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    private static func due(
        _ watchers: inout [(count: Int, continuation: CheckedContinuation<Void, Never>)], _ value: Int
    ) -> [CheckedContinuation<Void, Never>] {
        let due = watchers.filter { $0.count <= value }.map(\.continuation)
        watchers.removeAll { $0.count <= value }
        return due
    }
}
