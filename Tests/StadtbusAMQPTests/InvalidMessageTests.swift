import Foundation
import StadtbusTestSupport
import XCTest

@testable import StadtbusAMQP

/// A message AMQP cannot carry (a short string over 255 bytes) fails alone and for good; the
/// connection carries on (issue 12, item 1: one oversized field took a whole instance down).
final class InvalidMessageTests: XCTestCase {
    override func setUp() async throws {
        try Broker.start("main")
    }

    private static let long = String(repeating: "x", count: 300)

    func testOversizedShortStringsFailPermanentlyAndTheConnectionCarriesOn() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let queue = uniqueName("invalid")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let publisher = connection.publisher()

        let bad: [(String, AMQPOutgoingMessage)] = [
            ("correlation-id", AMQPOutgoingMessage(body: [1], messageID: "bad-1", correlationID: Self.long)),
            ("content-type", AMQPOutgoingMessage(body: [2], messageID: "bad-2", contentType: Self.long)),
            ("headers key", AMQPOutgoingMessage(body: [3], messageID: "bad-3", headers: [Self.long: "v"])),
            (
                "headers.outer key",
                AMQPOutgoingMessage(body: [4], messageID: "bad-4", headers: ["outer": .table([Self.long: 1])])
            ),
            (
                "message-id",
                // 150 characters, 300 bytes
                AMQPOutgoingMessage(body: [5], messageID: String(repeating: "ü", count: 150))
            ),
        ]
        for (field, message) in bad {
            do {
                // Bounded: on the old code the publish was re-sent after every reconnect and never returned.
                try await withTimeout(20) { try await publisher.publish(message, exchange: "", routingKey: queue) }
                XCTFail("publishing with an oversized \(field) succeeded")
            } catch let error as AMQPError {
                guard case .invalidMessage(let text) = error else { return XCTFail("\(field): \(error)") }
                XCTAssertTrue(text.hasPrefix(field), text)
                XCTAssertTrue(text.contains("is 300 bytes; AMQP allows at most 255"), text)
            }
        }
        do {
            try await publisher.publish(AMQPOutgoingMessage(body: [9]), exchange: "", routingKey: Self.long)
            XCTFail("publishing with an oversized routing key succeeded")
        } catch AMQPError.invalidMessage(let text) {
            XCTAssertEqual(text, "routing key is 300 bytes; AMQP allows at most 255")
        }

        // The same connection publishes and consumes a good message, without a reconnect.
        let good = AMQPOutgoingMessage(
            body: Array("<ok/>".utf8), messageID: "good-1", correlationID: String(repeating: "c", count: 255),
            contentType: "application/xml")
        try await withTimeout(20) { try await publisher.publish(good, exchange: "", routingKey: queue) }
        let delivery = try await next(consumer)
        XCTAssertEqual(delivery.messageID, "good-1")
        XCTAssertEqual(delivery.properties.correlationID?.utf8.count, 255)
        try await delivery.ack()
        // The statistics are a snapshot the connection thread refreshes once per loop.
        var stats = connection.statistics
        for _ in 0..<200 where stats.published < 1 {
            try await Task.sleep(for: .milliseconds(50))
            stats = connection.statistics
        }
        XCTAssertEqual(stats.reconnects, 0)
        XCTAssertEqual(stats.reconnectAttempts, 0)
        XCTAssertTrue(stats.isConnected)
        XCTAssertEqual(stats.published, 1, "only the good message was written to the socket")
    }

    /// Defence in depth: a publish rabbitmq-c refuses to encode (here it bypasses the check in
    /// `publish`) fails with `.invalidMessage` and is never re-sent; the other publishes go on.
    func testPublishRabbitMQCannotEncodeFailsAloneAndIsNotResent() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let queue = uniqueName("unencodable")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let poison = AMQPOutgoingMessage(body: [1], messageID: "poison", correlationID: Self.long)
        do {
            try await withTimeout(20) {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    connection.core.submit(
                        .publish(
                            PendingPublish(
                                message: poison, exchange: "", routingKey: queue, mandatory: true,
                                waiter: .single(continuation))))
                }
            }
            XCTFail("rabbitmq-c encoded a 300-byte correlation-id")
        } catch AMQPError.invalidMessage(let text) {
            XCTAssertTrue(text.contains("could not encode"), text)
        }
        // The channel may have been broken by a half-written publish: the connection may
        // reconnect once, but then delivers; the poison is not re-sent.
        try await withTimeout(30) {
            try await connection.publisher().publish(
                AMQPOutgoingMessage(body: [2], messageID: "after"), exchange: "", routingKey: queue)
        }
        let delivery = try await next(consumer, timeout: 30)
        XCTAssertEqual(delivery.messageID, "after")
        try await delivery.ack()
        try await Task.sleep(for: .seconds(1))
        let before = connection.statistics
        try await Task.sleep(for: .seconds(2))
        let after = connection.statistics
        XCTAssertLessThanOrEqual(after.reconnectAttempts, 1, "the poison publish is not re-sent after a reconnect")
        XCTAssertEqual(before.reconnectAttempts, after.reconnectAttempts)
        XCTAssertEqual(after.republished, 0)
    }

    func testShortenedForPublishingAlwaysFitsAndSaysWhatWasCut() throws {
        let invalidUTF8Grown = String(repeating: "\u{FFFD}", count: 200)  // 200 bad bytes decoded: 600 bytes
        let message = AMQPOutgoingMessage(
            body: [],
            properties: AMQPMessageProperties(
                messageID: "m", correlationID: invalidUTF8Grown, contentType: Self.long,
                headers: [Self.long: .table([Self.long: "v"]), "keep": "yes"]))
        XCTAssertThrowsError(try message.validateForPublishing(exchange: "", routingKey: "q"))
        let fitted = message.shortenedForPublishing()
        XCTAssertNoThrow(try fitted.validateForPublishing(exchange: "", routingKey: "q"))
        XCTAssertEqual(fitted.properties.messageID, "m")
        XCTAssertEqual(fitted.properties.contentType?.utf8.count, 255)
        // whole characters only: 85 × 3 bytes
        XCTAssertEqual(fitted.properties.correlationID, String(repeating: "\u{FFFD}", count: 85))
        XCTAssertEqual(fitted.headers["keep"], "yes")
        let note = try XCTUnwrap(fitted.headers[AMQPHeaderName.shortened]?.stringValue)
        XCTAssertTrue(note.contains("correlation-id (600 bytes)"), note)
        XCTAssertTrue(note.contains("content-type (300 bytes)"), note)
        XCTAssertTrue(note.contains("headers key"), note)
    }
}
