import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Stadtbus as operators run it: the real executable, a real broker, real XÖV messages.
final class OperationsEndToEndTests: EndToEndTestCase {
    /// /metrics counters move as the flow predicts: N valid applications delivered, 2 invalid
    /// ones dead-lettered with the failing step and reason in their headers.
    func testMetricsFollowARealFlow() async throws {
        let stadtbus = try StadtbusProcess()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let valid = (0..<40).map { _ in UUID().uuidString.lowercased() }
        let invalid = (0..<2).map { _ in UUID().uuidString.lowercased() }
        for uuid in valid { try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue) }
        for uuid in invalid { try await client.publish(Applications.invalid(uuid: uuid), to: stadtbus.inQueue) }

        let delivered = try await client.drain(stadtbus.outQueue, expected: valid.count)
        XCTAssertEqual(Set(delivered.map(\.uuid)), Set(valid))
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: invalid.count)
        XCTAssertEqual(Set(dead.map(\.uuid)), Set(invalid))
        for letter in dead {
            XCTAssertEqual(letter.headers["x-stadtbus-error-step"]?.stringValue, "validate")
            XCTAssertTrue(
                letter.headers["x-stadtbus-error-reason"]?.stringValue?.contains("planname") ?? false,
                "\(letter.headers)")
            XCTAssertEqual(letter.headers["x-stadtbus-route"]?.stringValue, "antrag")
        }
        // A message is in its queue once the publish is confirmed; the counters move a moment
        // later, after the ack. Wait for that state instead of racing it.
        try await waitFor("the counters of all 42 messages") {
            let delivered = try await stadtbus.metric(#"stadtbus_messages_delivered_total{route="antrag"}"#)
            let deadLettered = try await stadtbus.metric(#"stadtbus_messages_dead_lettered_total{route="antrag"}"#)
            let inFlight = try await stadtbus.metric("stadtbus_in_flight_messages")
            return delivered + deadLettered >= 42 && inFlight == 0
        }

        let value1 = try await stadtbus.metric(#"stadtbus_messages_received_total{route="antrag"}"#)
        XCTAssertEqual(value1, 42)
        let value2 = try await stadtbus.metric(#"stadtbus_messages_delivered_total{route="antrag"}"#)
        XCTAssertEqual(value2, 40)
        let value3 = try await stadtbus.metric(#"stadtbus_messages_dead_lettered_total{route="antrag"}"#)
        XCTAssertEqual(value3, 2)
        let validations = try await stadtbus.metric(
            #"stadtbus_step_duration_seconds_count{route="antrag",step="validate"}"#)
        XCTAssertEqual(validations, 42)
        let value4 = try await stadtbus.metric("stadtbus_in_flight_messages")
        XCTAssertEqual(value4, 0)
        let value5 = try await stadtbus.metric("stadtbus_ready")
        XCTAssertEqual(value5, 1)
        let metrics = try await stadtbus.get("/metrics").body
        for uuid in valid + invalid { XCTAssertFalse(metrics.contains(uuid), "a message UUID leaked into /metrics") }

        // `stadtbus status` reads the same endpoints into a table.
        let status = try shell([
            Paths.executable.path, "status", "--url", "http://127.0.0.1:\(stadtbus.httpPort)", "--interval", "0.2",
        ])
        XCTAssertTrue(status.contains("READY"), status)
        let row = status.split(separator: "\n").first { $0.hasPrefix("antrag ") }.map(String.init) ?? ""
        XCTAssertEqual(
            row.split(separator: " ").map(String.init), ["antrag", "0.0", "42", "40", "0", "2", "0"], status)
        let value6 = await stadtbus.terminate()
        XCTAssertEqual(value6, 0, stadtbus.log)
    }

    /// /ready turns 503 with the broker's reason while the broker is down, 200 again after.
    func testReadinessFollowsTheBroker() async throws {
        let stadtbus = try StadtbusProcess()
        try await stadtbus.start()
        _ = try await stadtbus.waitReady(200)
        try ChaosBroker.stopApp()
        do {
            let body = try await stadtbus.waitReady(503, seconds: 60)
            XCTAssertTrue(body.contains(#""ready":false"#), body)
            XCTAssertTrue(body.contains("broker"), body)
        } catch {
            try? ChaosBroker.startApp()
            throw error
        }
        try ChaosBroker.startApp()
        _ = try await stadtbus.waitReady(200, seconds: 60)
        let value7 = try await stadtbus.metric(#"stadtbus_broker_reconnects_total{broker="main"}"#)
        XCTAssertGreaterThanOrEqual(value7, 1)
        let value8 = await stadtbus.terminate()
        XCTAssertEqual(value8, 0, stadtbus.log)
    }

    /// A stop right after start (while consumers attach) ends promptly with status 0.
    func testStopRightAfterStartDoesNotHang() async throws {
        let stadtbus = try StadtbusProcess()
        try await stadtbus.start()
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }

    /// SIGTERM in the middle of a flow: Stadtbus drains and exits 0; after a restart every
    /// message has arrived exactly once (the idempotency store removes redeliveries).
    func testSigtermDuringAFlowLosesNothing() async throws {
        let stadtbus = try StadtbusProcess()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await client.declare(stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue)
        let uuids = (0..<1500).map { _ in UUID().uuidString.lowercased() }
        for uuid in uuids { try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue) }

        try await stadtbus.start()
        // Let it get going, then stop it mid-stream.
        for _ in 0..<500 {
            if try await stadtbus.metric(#"stadtbus_messages_delivered_total{route="antrag"}"#) >= 100 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let deliveredBeforeStop = try await stadtbus.metric(#"stadtbus_messages_delivered_total{route="antrag"}"#)
        let value9 = await stadtbus.terminate()
        XCTAssertEqual(value9, 0, stadtbus.log)
        XCTAssertLessThan(
            deliveredBeforeStop, Double(uuids.count), "the stop must land mid-stream for this test to mean anything")

        try await stadtbus.start()
        let delivered = try await client.drain(stadtbus.outQueue, expected: uuids.count, idle: .seconds(15))
        // A graceful stop acks what it finished: nothing comes back as a redelivered duplicate.
        let duplicates = try await stadtbus.metric(#"stadtbus_messages_duplicate_total{route="antrag"}"#)
        XCTAssertEqual(duplicates, 0, "messages finished before SIGTERM were acked, not redelivered")
        let value10 = await stadtbus.terminate()
        XCTAssertEqual(value10, 0, stadtbus.log)
        let counts = Dictionary(delivered.map { ($0.uuid, 1) }, uniquingKeysWith: +)
        XCTAssertEqual(Set(counts.keys), Set(uuids), "count in = count out")
        XCTAssertEqual(counts.values.filter { $0 > 1 }.count, 0, "no duplicates downstream")
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(1))
        XCTAssertEqual(dead.count, 0)
    }
}
