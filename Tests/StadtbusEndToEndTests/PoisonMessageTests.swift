import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12, item 1: one message must not take the instance down. An identity too long for
/// AMQP is dead-lettered with the reason and the instance carries on; and the drain timeout
/// ends the process even when a message's processing cannot finish.
final class PoisonMessageTests: EndToEndTestCase {
    func testOverlongIdentityIsDeadLetteredAndTheInstanceCarriesOn() async throws {
        // No validation step: the identity alone would have been published as the message-id.
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: weiter
                    from: portal
                    to: [eakte]
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let overlong = String(repeating: "a", count: 312)
        try await client.publish(Applications.make(uuid: overlong), to: stadtbus.inQueue)
        let deadLetters = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(30))
        XCTAssertEqual(deadLetters.count, 1, stadtbus.log)
        let reason = deadLetters.first?.headers[AMQPHeaderName.errorReason]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("message identity is 312 bytes; at most 200 are accepted"), reason)

        let good = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: good), to: stadtbus.inQueue)
        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(30))
        XCTAssertEqual(delivered.map(\.uuid), [good], stadtbus.log)
        let ready = try await stadtbus.get("/ready")
        XCTAssertEqual(ready.status, 200, ready.body)
        let reconnects = try await stadtbus.metric("stadtbus_broker_reconnects_total{broker=\"main\"}")
        XCTAssertEqual(reconnects, 0, "the oversized identity did not break the broker connection")
    }

    /// A dead letter copies the inbound properties. Invalid UTF-8 grows when decoded (each bad
    /// byte becomes a 3-byte U+FFFD): a 200-byte correlation-id comes back as 600 bytes, which
    /// AMQP cannot carry — the dead letter must still be written, shortened and marked.
    func testDeadLetterOfAMessageWithInvalidUTF8PropertiesIsWritten() async throws {
        let stadtbus = try StadtbusProcess()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let python =
            try shell(["bash", "-c", "source scripts/lib.sh && ensure_pika"])
            .split(separator: "\n").last.map(String.init) ?? "python3"
        let script = """
            import sys, pika
            connection = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', int(sys.argv[1])))
            channel = connection.channel()
            channel.confirm_delivery()
            properties = pika.BasicProperties(correlation_id=b'\\xff' * 200, content_type='application/xml', delivery_mode=2)
            channel.basic_publish('', sys.argv[2], b'this is not XML', properties)
            connection.close()
            """
        try shell([python, "-c", script, "\(ChaosBroker.port)", stadtbus.inQueue])
        let deadLetters = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(30))
        XCTAssertEqual(deadLetters.count, 1, stadtbus.log)
        let headers = deadLetters.first?.headers ?? [:]
        XCTAssertTrue(headers[AMQPHeaderName.errorReason]?.stringValue?.hasPrefix("unparseable") ?? false, "\(headers)")
        let note = headers[AMQPHeaderName.shortened]?.stringValue ?? ""
        XCTAssertTrue(note.contains("correlation-id (600 bytes)"), note)
        let ready = try await stadtbus.get("/ready")
        XCTAssertEqual(ready.status, 200, ready.body)
    }

    func testDrainTimeoutEndsTheProcessWhileADestinationNeverAnswers() async throws {
        // A destination that accepts connections and never answers: the message cannot finish
        // before the http-out timeout (far beyond the drain timeout).
        let silent = try SilentListener()
        defer { silent.close() }
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: stumm
                    from: portal
                    to: [stummer-empfaenger]
                """,
            extraEndpoints:
                "  stummer-empfaenger: { type: http-out, url: \"http://127.0.0.1:\(silent.port)/\", timeout: 600s }")
        stadtbus.drainTimeout = 2
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue)
        var inFlight = 0.0
        for _ in 0..<600 where inFlight < 1 {
            inFlight = try await stadtbus.metric("stadtbus_in_flight_messages")
            if inFlight < 1 { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertEqual(inFlight, 1, "the message is stuck at the silent destination")

        // terminate() sends one SIGTERM and waits up to 40 s, then kills (-9): a shutdown that
        // ignores the drain timeout fails here instead of stalling.
        let status = await stadtbus.terminate()
        XCTAssertNotEqual(status, -9, "one SIGTERM must end the process after the drain timeout: \(stadtbus.log)")
        XCTAssertEqual(status, 0, stadtbus.log)
        XCTAssertTrue(stadtbus.log.contains("drain timeout"), stadtbus.log)

        // Not acked: the message is back in its queue.
        let back = try await client.drain(stadtbus.inQueue, expected: 1, idle: .seconds(10))
        XCTAssertEqual(back.map(\.uuid), [uuid])
    }
}

/// A TCP listener on a free loopback port that accepts connections (the kernel completes the
/// handshake) and never reads or answers.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw EndToEndFailure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            Glibc.close(descriptor)
            throw EndToEndFailure("cannot listen on loopback: errno \(errno)")
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            Glibc.close(descriptor)
            throw EndToEndFailure("getsockname failed: errno \(errno)")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(descriptor) }
}
