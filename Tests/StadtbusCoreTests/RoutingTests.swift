import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Route matching, conditions, content-based routing, multicast, wire tap and route-to-route.
final class RoutingTests: XCTestCase {
    func testDeliversAndJournalsMetadataOnly() async throws {
        let h = try Harness([Route(name: "r", source: "in", routing: .to([.endpoint("a")]))])
        let uuid = "11111111-2222-3333-4444-555555555555"
        let disposition = await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid)))
        XCTAssertEqual(disposition, .completed)
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)
        XCTAssertEqual(h.sink.delivered(to: "a").first?.messageID, uuid)
        XCTAssertEqual(try h.kinds(uuid), [.received, .matched, .delivered])
        let events = try h.journal.trail(of: uuid)
        XCTAssertTrue(
            events.allSatisfy { $0.messageType == "0401" && $0.author == "ags:01061046" && $0.reader == "ags:01061017" }
        )
        // Metadata only: nothing of the body (the Betreff) in any field.
        let dump = events.map { "\($0)" }.joined()
        XCTAssertFalse(dump.contains("Bebauungsplan"))
    }

    func testConditionsOnHeaderTransportAndXPathWithNamespaces() async throws {
        let inhalt = try XPathExpression(
            "/t:antrag/t:inhalt/t:betreff[starts-with(., 'Bebauungsplan')]", namespaces: Fixtures.namespaces)
        let routes = [
            Route(
                name: "wrong-type", source: "in", condition: .messageType([ValuePattern("0402")]),
                routing: .to([.endpoint("c")])),
            Route(
                name: "portal", source: "in",
                condition: .all([
                    .messageType([ValuePattern("0401")]), .author([ValuePattern("ags:01061*")]),
                    .transportHeader(name: "x-source", values: [ValuePattern("portal")]), .xpath(inhalt),
                ]), routing: .to([.endpoint("a")])),
            Route(
                name: "fallback", source: "in", condition: .not(.reader([ValuePattern("nobody")])),
                routing: .to([.endpoint("b")])),
        ]
        let h = try Harness(routes)
        let fromPortal = await h.engine.process(Fixtures.message(Fixtures.g2g(), headers: ["x-source": "portal"]))
        XCTAssertEqual(fromPortal, .completed)
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)
        // Without the transport header the second route does not match; the third does.
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g())), .completed)
        XCTAssertEqual(h.sink.delivered(to: "b").count, 1)
        // XPath false (other Betreff) → fallback too.
        let other = Fixtures.g2g(inhalt: "<t:betreff>Hundesteuer</t:betreff>")
        await assertDisposition(
            await h.engine.process(Fixtures.message(other, headers: ["x-source": "portal"])), .completed)
        XCTAssertEqual(h.sink.delivered(to: "b").count, 2)
        XCTAssertEqual(h.sink.delivered(to: "c").count, 0)
    }

    func testNoRouteIsDeadLetteredWithTheHeaderInTheReason() async throws {
        let h = try Harness([
            Route(
                name: "r", source: "in", condition: .messageType([ValuePattern("0402")]), routing: .to([.endpoint("a")])
            )
        ])
        let disposition = await h.engine.process(Fixtures.message(Fixtures.g2g(type: "0499")))
        await assertDeadLetter(
            disposition, step: "route", reasonContains: "no-route: no route from 'in' matches message type '0499'")
        guard case .deadLetter(_, _, let route, let endpoint) = disposition else { return }
        XCTAssertNil(route)
        XCTAssertEqual(endpoint, "dlq")
        // A message on an endpoint without routes, too.
        await assertDeadLetter(
            await h.engine.process(Fixtures.message(Fixtures.g2g(), source: "b")), step: "route",
            reasonContains: "no-route")
    }

    func testChoiceAndOtherwise() async throws {
        let branches = [
            ChoiceBranch(condition: .reader([ValuePattern("ags:01061017")]), destinations: [.endpoint("a")]),
            ChoiceBranch(
                condition: .xpath(try XPathExpression("//t:eilig", namespaces: Fixtures.namespaces)),
                destinations: [.endpoint("b")]),
            ChoiceBranch(condition: nil, destinations: [.endpoint("c")]),
        ]
        let h = try Harness([Route(name: "r", source: "in", routing: .choice(branches))])
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(reader: "ags:01061017"))), .completed)
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(reader: "ags:01061034", inhalt: "<t:eilig/>"))),
            .completed)
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(reader: "ags:01061034"))), .completed)
        XCTAssertEqual(h.sink.deliveries.map(\.endpoint), ["a", "b", "c"])
    }

    func testChoiceWithoutMatchIsDeadLetteredNotDropped() async throws {
        let branches = [
            ChoiceBranch(condition: .reader([ValuePattern("ags:01061017")]), destinations: [.endpoint("a")])
        ]
        let h = try Harness([Route(name: "r", source: "in", routing: .choice(branches))])
        let disposition = await h.engine.process(Fixtures.message(Fixtures.g2g(reader: "ags:09999999")))
        await assertDeadLetter(disposition, step: "choice", reasonContains: "no-choice")
        XCTAssertTrue(h.sink.deliveries.isEmpty)
    }

    func testMulticastRetryResendsOnlyTheFailedDestination() async throws {
        let h = try Harness([
            Route(name: "r", source: "in", routing: .to([.endpoint("a"), .endpoint("b"), .endpoint("c")]))
        ])
        h.sink.fail("b", times: 1)
        let body = Fixtures.g2g()
        let first = await h.engine.process(Fixtures.message(body))
        guard case .retry(let attempt, let delay, let reason, let step) = first else {
            return XCTFail("expected retry, got \(first)")
        }
        XCTAssertEqual(attempt, 2)
        XCTAssertEqual(delay, .seconds(2))
        XCTAssertEqual(step, "deliver")
        XCTAssertTrue(reason.contains("timeout") && reason.contains("b"), reason)
        // a and c were delivered despite b's failure.
        XCTAssertEqual(h.sink.deliveries.map(\.endpoint).sorted(), ["a", "c"])

        let second = await h.engine.process(Fixtures.message(body, attempt: 2))
        XCTAssertEqual(second, .completed)
        XCTAssertEqual(h.sink.attemptCount("a"), 1, "a must not be re-sent")
        XCTAssertEqual(h.sink.attemptCount("c"), 1, "c must not be re-sent")
        XCTAssertEqual(h.sink.attemptCount("b"), 2)
        XCTAssertEqual(h.sink.deliveries.map(\.endpoint).sorted(), ["a", "b", "c"])
    }

    func testWireTapGetsTheInboundBody() async throws {
        let map = MapStep(source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet())
        let h = try Harness([
            Route(name: "r", source: "in", steps: [map], routing: .to([.endpoint("a")]), wireTaps: ["audit"])
        ])
        let body = Fixtures.g2g()
        await assertDisposition(await h.engine.process(Fixtures.message(body)), .completed)
        let tap = try XCTUnwrap(h.sink.delivered(to: "audit").first)
        XCTAssertTrue(tap.isWireTap)
        XCTAssertEqual(tap.body, body)
        let main = try XCTUnwrap(h.sink.delivered(to: "a").first)
        XCTAssertTrue(String(decoding: main.body, as: UTF8.self).contains("t:gemappt"))
    }

    func testReadOnlyStepsForwardTheInboundBytesUnchanged() async throws {
        // Single quotes, a comment and odd spacing: libxml2's serialisation would change all three.
        let body = Array(
            String(decoding: Fixtures.g2g(), as: UTF8.self)
                .replacingOccurrences(
                    of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                    with: "<?xml version='1.0' encoding='UTF-8'?><!-- Eingang -->"
                )
                .replacingOccurrences(of: "<t:inhalt>", with: "<t:inhalt   >").utf8)
        let readOnly: [any RouteStep] = [
            SetHeaderStep(assignments: [("x-art", try Template("{header.messageType}"))]),
            FilterStep(condition: .messageType([ValuePattern("0401")])),
        ]
        let map = MapStep(source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet())
        let h = try Harness([
            Route(name: "pass", source: "in", steps: readOnly, routing: .to([.endpoint("a"), .route("weiter")])),
            Route(name: "weiter", source: nil, steps: readOnly, routing: .to([.endpoint("b")])),
            Route(name: "mapped", source: "c", steps: [map], routing: .to([.endpoint("c"), .route("nach-map")])),
            Route(name: "nach-map", source: nil, steps: readOnly, routing: .to([.endpoint("audit")])),
        ])
        await assertDisposition(await h.engine.process(Fixtures.message(body)), .completed)
        XCTAssertEqual(h.sink.delivered(to: "a").first?.body, body, "read-only steps: the inbound bytes, byte for byte")
        XCTAssertEqual(h.sink.delivered(to: "b").first?.body, body, "also through a route-to-route copy")
        XCTAssertEqual(h.sink.delivered(to: "a").first?.headers["x-art"], "0401")

        await assertDisposition(await h.engine.process(Fixtures.message(body, source: "c")), .completed)
        let mapped = try XCTUnwrap(h.sink.delivered(to: "c").first?.body)
        XCTAssertTrue(String(decoding: mapped, as: UTF8.self).contains("t:gemappt"))
        XCTAssertEqual(
            h.sink.delivered(to: "audit").first?.body, mapped, "a copy made after a map carries the mapped document")
    }

    func testTheStoreIsAskedOncePerDestinationAndMessage() async throws {
        final class CountingStore: IdempotencyStore, @unchecked Sendable {
            let inner = InMemoryIdempotencyStore()
            private let lock = NSLock()
            private(set) var lookups = 0
            func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool {
                lock.withLock { lookups += 1 }
                return try inner.wasDelivered(route: route, messageID: messageID, destination: destination)
            }
            func recordDelivered(route: String, messageID: String, destination: String, at date: Date) throws {
                try inner.recordDelivered(route: route, messageID: messageID, destination: destination, at: date)
            }
            func purge(olderThan date: Date) throws -> Int { try inner.purge(olderThan: date) }
        }
        let store = CountingStore()
        let sink = ScriptedSink()
        let table = try Fixtures.table([Route(name: "r", source: "in", routing: .to([.endpoint("a"), .endpoint("b")]))])
        let engine = RoutingEngine(table: table, sink: sink, idempotency: store, journal: InMemoryAuditJournal())
        let body = Fixtures.g2g()
        await assertDisposition(await engine.process(Fixtures.message(body)), .completed)
        // The early check stops at 'a' (not delivered): 'a' is not asked again, 'b' is asked once.
        XCTAssertEqual(store.lookups, 2)
        XCTAssertEqual(sink.deliveries.count, 2)
        // A redelivery is recognised by the early check alone.
        await assertDisposition(await engine.process(Fixtures.message(body)), .duplicate)
        XCTAssertEqual(store.lookups, 4)
        XCTAssertEqual(sink.deliveries.count, 2)
    }

    func testWireTapFailureKeepsTheMainDeliveryAndIsVisible() async throws {
        let h = try Harness([Route(name: "r", source: "in", routing: .to([.endpoint("a")]), wireTaps: ["audit"])])
        h.sink.failAlways("audit", with: .transient("broker", "channel closed"))
        let uuid = UUID().uuidString.lowercased()
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid))), .completed)
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)
        let failures = try h.journal.trail(of: uuid).filter { $0.kind == .failed }
        XCTAssertEqual(failures.count, 1)
        XCTAssertEqual(failures.first?.detail, "wire-tap audit")
        XCTAssertEqual(failures.first?.reason, "broker: channel closed")
        XCTAssertEqual(try h.kinds(uuid), [.received, .matched, .delivered, .failed])
    }

    func testRouteToRouteRunsTheTargetsStepsOnACopy() async throws {
        let setHeader = SetHeaderStep(assignments: [("x-weiter", try Template("{route}:{header.reader}"))])
        let h = try Harness([
            Route(name: "main", source: "in", routing: .to([.route("kreis"), .endpoint("a")])),
            Route(name: "kreis", source: nil, steps: [setHeader], routing: .to([.endpoint("b")])),
        ])
        let uuid = UUID().uuidString.lowercased()
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid))), .completed)
        XCTAssertEqual(h.sink.delivered(to: "b").first?.headers["x-weiter"], "kreis:ags:01061017")
        XCTAssertNil(h.sink.delivered(to: "a").first?.headers["x-weiter"], "the target's header must not leak back")
        XCTAssertTrue(try h.store.wasDelivered(route: "kreis", messageID: uuid, destination: "b"))
        XCTAssertTrue(try h.store.wasDelivered(route: "main", messageID: uuid, destination: "a"))
        // A redelivery is a duplicate through both routes.
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid))), .duplicate)
        XCTAssertEqual(h.sink.deliveries.count, 2)
    }

    func testRoutingTableRejectsCyclesAndUnknownReferences() throws {
        let extractor = try HeaderExtractor()
        let endpoints = [Endpoint(name: "a", type: "amqp")]
        XCTAssertThrowsError(
            try RoutingTable(
                routes: [
                    Route(name: "x", source: "a", routing: .to([.route("y")])),
                    Route(name: "y", source: nil, routing: .to([.route("z")])),
                    Route(name: "z", source: nil, routing: .to([.route("x")])),
                ], endpoints: endpoints, headerExtractor: extractor)
        ) { error in XCTAssertEqual("\(error)", "routes form a cycle: x → y → z → x") }
        XCTAssertThrowsError(
            try RoutingTable(
                routes: [Route(name: "x", source: "a", routing: .to([.endpoint("nowhere")]))], endpoints: endpoints,
                headerExtractor: extractor)
        ) { error in XCTAssertEqual("\(error)", "route 'x' sends to unknown endpoint 'nowhere'") }
    }
}
