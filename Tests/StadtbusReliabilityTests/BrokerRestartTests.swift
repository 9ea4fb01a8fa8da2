import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Scenario 1 and 2 of issue 8: the broker restarted, Stadtbus killed — mid-stream.
final class BrokerRestartTests: ReliabilityTestCase {
    /// 1a: `rabbitmqctl stop_app` for a few seconds, then `start_app`.
    func testBrokerAppRestartMidStream() async throws {
        try await runStream(scenario: "broker-stop-app") { _ in
            try ChaosBroker.stopApp()
            try await Task.sleep(for: .seconds(3))
            try ChaosBroker.startApp()
        }
    }

    /// 1b: the whole broker process stopped and started again (`scripts/broker stop/start chaos`).
    func testBrokerProcessRestartMidStream() async throws {
        try await runStream(scenario: "broker-process-restart") { _ in
            try ChaosBroker.stop()
            try ChaosBroker.start()
        }
    }

    /// 2: Stadtbus SIGKILLed (no drain, no acks) and started again on the same store files.
    func testStadtbusKilledMidStream() async throws {
        try await runStream(scenario: "stadtbus-sigkill") { stadtbus in
            try await stadtbus.kill()
            try await Task.sleep(for: .milliseconds(500))
            try await stadtbus.start()
        }
    }

    /// Streams N messages over ~8 s, injects `fault` once a third is published, then checks
    /// the exact accounting.
    private func runStream(scenario name: String, fault: (StadtbusProcess) async throws -> Void) async throws {
        let scenario = StreamScenario(scenario: name, count: count)
        let stadtbus = try StadtbusProcess(routes: StreamScenario.route())
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let publisher = StreamPublisher(
            client: client, queue: stadtbus.inQueue, items: scenario.items, seconds: max(8, Double(count) / 100))
        await publisher.start()
        try await publisher.waitUntilPublished(scenario.items.count / 3)
        let deliveredBeforeFault = try await stadtbus.metric(Self.delivered)
        try await fault(stadtbus)
        try await publisher.finish()
        _ = try await stadtbus.waitReady(200, seconds: 120)

        let delivered = try await collect(stadtbus.outQueue, expected: scenario.validCount, client: client)
        let dead = try await collect(
            stadtbus.deadLetterQueue, expected: scenario.failingCount, client: client, idle: .seconds(10))
        // Redeliveries the idempotency store acked as duplicates (since the last start of the process).
        let absorbed = try await stadtbus.metric(#"stadtbus_messages_duplicate_total{route="antrag"}"#)
        await stop(stadtbus)
        // One possible duplicate per worker (4 in StadtbusProcess's configuration) and fault.
        let figures = scenario.ledger.check(downstream: delivered.map(\.uuid), deadLetters: dead, inFlightAtFault: 4)
        try scenario.ledger.checkAuditTrail(store: stadtbus.storePath)
        figures.print()
        let repeats = await publisher.repeats
        print(
            "\(name): delivered before the fault \(Int(deliveredBeforeFault)) of \(scenario.validCount), "
                + "redeliveries absorbed as duplicates \(Int(absorbed)), publishes repeated by the test client \(repeats)"
        )
    }

    private static let delivered = #"stadtbus_messages_delivered_total{route="antrag"}"#
}
