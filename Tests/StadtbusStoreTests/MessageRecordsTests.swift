import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

@testable import StadtbusStore

/// Issue 13 item 3: all durable records of one message — its deliveries, cases and audit events —
/// go into one group commit when the stores are one file.
final class MessageRecordsTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    private static func message(_ uuid: String) -> Message {
        let body = """
            <t:antrag xmlns:t="urn:stadtbus:test" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1" xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1">
              <g2g:nachrichtenkopf.g2g>
                <g2g:identifikation.nachricht>
                  <g2g:nachrichtenUUID>\(uuid)</g2g:nachrichtenUUID>
                  <g2g:nachrichtentyp><code>0401</code></g2g:nachrichtentyp>
                </g2g:identifikation.nachricht>
                <g2g:autor><beh:kennung>ags:01061046</beh:kennung></g2g:autor>
              </g2g:nachrichtenkopf.g2g>
            </t:antrag>
            """
        return Message(body: Array(body.utf8), source: "in")
    }

    private func engine(_ store: SQLiteStore, routes: [Route], sink: RecordingSink) throws -> RoutingEngine {
        let table = try RoutingTable(
            routes: routes, endpoints: ["in", "a", "b", "dlq"].map { Endpoint(name: $0, type: "amqp") },
            headerExtractor: try HeaderExtractor(), defaultDeadLetter: "dlq")
        return RoutingEngine(
            table: table, sink: sink, idempotency: store.idempotency, journal: store.audit, cases: store.cases)
    }

    /// One message to one destination that registers a case: one transaction holds the delivery
    /// record, the case and the events; a redelivery finds the record and is a duplicate.
    func testOneMessageIsOneTransaction() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let sink = RecordingSink()
        let route = Route(
            name: "r", source: "in", steps: [RegisterCaseStep(key: try Template("{header.messageID}"))],
            routing: .to([.endpoint("a")]))
        let engine = try engine(store, routes: [route], sink: sink)
        for n in 1...3 {
            let disposition = await engine.process(Self.message("m-\(n)"))
            XCTAssertEqual(disposition, .completed)
            XCTAssertEqual(store.groupCommit.transactions, n, "message \(n): one transaction per message")
        }
        XCTAssertTrue(try store.idempotency.wasDelivered(route: "r", messageID: "m-2", destination: "a"))
        XCTAssertNotNil(try store.cases.lookup(key: "m-2"))
        XCTAssertEqual(
            try store.audit.trail(of: "m-2").map(\.kind), [.received, .matched, .step, .delivered, .step])

        let again = await engine.process(Self.message("m-2"))
        XCTAssertEqual(again, .duplicate)
        XCTAssertEqual(sink.deliveries.count, 3, "the redelivery was not delivered again")
    }

    /// A multicast records each delivery before the next one starts (a crash costs at most one
    /// duplicate), the last one with the events.
    func testMulticastCommitsEachDeliveryBeforeTheNext() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let sink = RecordingSink()
        let engine = try engine(
            store, routes: [Route(name: "r", source: "in", routing: .to([.endpoint("a"), .endpoint("b")]))], sink: sink)
        let disposition = await engine.process(Self.message("m-1"))
        XCTAssertEqual(disposition, .completed)
        XCTAssertEqual(store.groupCommit.transactions, 2)
        XCTAssertTrue(try store.idempotency.wasDelivered(route: "r", messageID: "m-1", destination: "a"))
        XCTAssertTrue(try store.idempotency.wasDelivered(route: "r", messageID: "m-1", destination: "b"))
    }

    /// Stores in different files are written one after the other, as before.
    func testSeparateFilesAreWrittenStoreByStore() async throws {
        let idempotency = try SQLiteStore(path: directory.file("idempotency.sqlite"))
        let audit = try SQLiteStore(path: directory.file("audit.sqlite"))
        XCTAssertNil(idempotency.idempotency.committer(journal: audit.audit, cases: idempotency.cases))
        XCTAssertNil(idempotency.idempotency.committer(journal: idempotency.audit, cases: audit.cases))
        XCTAssertNotNil(idempotency.idempotency.committer(journal: idempotency.audit, cases: idempotency.cases))
        let table = try RoutingTable(
            routes: [Route(name: "r", source: "in", routing: .to([.endpoint("a")]))],
            endpoints: ["in", "a"].map { Endpoint(name: $0, type: "amqp") }, headerExtractor: try HeaderExtractor())
        let engine = RoutingEngine(
            table: table, sink: RecordingSink(), idempotency: idempotency.idempotency, journal: audit.audit,
            cases: idempotency.cases)
        let disposition = await engine.process(Self.message("m-1"))
        XCTAssertEqual(disposition, .completed)
        XCTAssertTrue(try idempotency.idempotency.wasDelivered(route: "r", messageID: "m-1", destination: "a"))
        XCTAssertEqual(try audit.audit.trail(of: "m-1").map(\.kind), [.received, .matched, .delivered])
    }

    /// A sink that closes the store once it has delivered, so that the message's commit fails.
    private final class ClosingSink: MessageSink, Sendable {
        let store: SQLiteStore
        init(_ store: SQLiteStore) { self.store = store }
        func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws { store.close() }
    }

    /// A message whose records cannot be committed after its delivery is not completed (and so
    /// not acked): it is retried as a transient failure of the store.
    func testAFailedCommitIsATransientFailure() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let table = try RoutingTable(
            routes: [Route(name: "r", source: "in", routing: .to([.endpoint("a")]))],
            endpoints: ["in", "a"].map { Endpoint(name: $0, type: "amqp") }, headerExtractor: try HeaderExtractor())
        let engine = RoutingEngine(
            table: table, sink: ClosingSink(store), idempotency: store.idempotency, journal: store.audit,
            cases: store.cases)
        let disposition = await engine.process(Self.message("m-1"))
        guard case .retry(let attempt, _, let reason, let step) = disposition else {
            return XCTFail("\(disposition)")
        }
        XCTAssertEqual(attempt, 2)
        XCTAssertEqual(step, "deliver")
        XCTAssertTrue(reason.hasPrefix("idempotency-store:"), reason)
    }
}
