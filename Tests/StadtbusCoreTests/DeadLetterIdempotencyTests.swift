import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Regression (reliability suite, broker process restart with N = 3000): a message whose dead
/// letter was confirmed but whose ack was lost in the restart came back as a redelivery and was
/// dead-lettered again. A confirmed dead letter is now recorded; its redelivery is a duplicate.
final class DeadLetterIdempotencyTests: XCTestCase {
    private func harness() throws -> Harness {
        let h = try Harness([
            Route(name: "r", source: "in", steps: [], routing: .to([.endpoint("a")]), errorPolicy: ErrorPolicy())
        ])
        h.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        return h
    }

    private func message(_ body: [UInt8], redelivered: Bool, headers: [String: String] = [:]) -> Message {
        Message(
            body: body, headers: headers, properties: MessageProperties(messageID: "amqp-1"), source: "in",
            redelivered: redelivered)
    }

    func testARedeliveryOfAConfirmedDeadLetterIsADuplicate() async throws {
        let h = try harness()
        let body = Fixtures.g2g()
        let uuid = try HeaderExtractor().header(of: XMLDocument(parsing: body)).messageID
        let first = message(body, redelivered: false)
        await assertDeadLetter(await h.engine.process(first), step: "deliver", reasonContains: "http-400")
        try await h.engine.recordDeadLettered(first, headerMessageID: uuid, route: "r")

        await assertDisposition(await h.engine.process(message(body, redelivered: true)), .duplicate)
        let kinds = try h.kinds(uuid)
        XCTAssertEqual(kinds.filter { $0 == .deadLettered }.count, 1, "\(kinds)")
        XCTAssertEqual(kinds.last, .duplicate)
    }

    func testWithoutARecordOrForAFreshPublishOrAReplayItIsDeadLetteredAgain() async throws {
        let h = try harness()
        let body = Fixtures.g2g()
        let uuid = try HeaderExtractor().header(of: XMLDocument(parsing: body)).messageID
        // Redelivered, but the dead letter was never confirmed (no record): dead-lettered.
        await assertDeadLetter(
            await h.engine.process(message(body, redelivered: true)), step: "deliver", reasonContains: "http-400")
        try await h.engine.recordDeadLettered(message(body, redelivered: false), headerMessageID: uuid, route: "r")
        // A fresh publish of the same UUID is not a redelivery: dead-lettered.
        await assertDeadLetter(
            await h.engine.process(message(body, redelivered: false)), step: "deliver", reasonContains: "http-400")
        // A replayed dead letter (`stadtbus dlq replay`) is a new input, even when redelivered.
        let replay = message(body, redelivered: true, headers: ["x-stadtbus-replayed-at": "2026-11-25T18:00:00Z"])
        await assertDeadLetter(await h.engine.process(replay), step: "deliver", reasonContains: "http-400")
    }

    func testUnparseableMessagesAreKeyedByTheirTransportMessageID() async throws {
        let h = try harness()
        let junk = Array("<<not xml".utf8)
        let first = message(junk, redelivered: false)
        await assertDeadLetter(await h.engine.process(first), step: "parse", reasonContains: "unparseable")
        try await h.engine.recordDeadLettered(first, headerMessageID: nil, route: nil)
        await assertDisposition(await h.engine.process(message(junk, redelivered: true)), .duplicate)
    }
}
