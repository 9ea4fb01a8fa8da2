import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Retries, dead letters, idempotency, hostile input, journal failures, hot swap.
final class ReliabilityTests: XCTestCase {
    private func route(
        _ policy: ErrorPolicy = ErrorPolicy(), steps: [any RouteStep] = [], to: [Destination] = [.endpoint("a")]
    ) -> Route {
        Route(name: "r", source: "in", steps: steps, routing: .to(to), errorPolicy: policy)
    }

    func testTransientFailureIsRetriedWithBackoffThenDeadLettered() async throws {
        let policy = ErrorPolicy(
            retry: RetryPolicy(maxAttempts: 3, minDelay: .seconds(2), maxDelay: .seconds(300)), deadLetter: "dlq")
        let h = try Harness([route(policy)])
        h.sink.failAlways("a", with: .transient("http-503", "Service Unavailable"))
        let body = Fixtures.g2g()
        let uuid = try HeaderExtractor().header(of: XMLDocument(parsing: body)).messageID

        await assertDisposition(
            await h.engine.process(Fixtures.message(body, attempt: 1)),
            .retry(attempt: 2, delay: .seconds(2), reason: "http-503: a: Service Unavailable", step: "deliver"))
        await assertDisposition(
            await h.engine.process(Fixtures.message(body, attempt: 2)),
            .retry(attempt: 3, delay: .seconds(4), reason: "http-503: a: Service Unavailable", step: "deliver"))
        await assertDisposition(
            await h.engine.process(Fixtures.message(body, attempt: 3)),
            .deadLetter(
                reason: "http-503: a: Service Unavailable (gave up after 3 attempts)", step: "deliver", route: "r",
                endpoint: "dlq"))
        let kinds = try h.kinds(uuid)
        XCTAssertEqual(kinds.filter { $0 == .retried }.count, 2)
        XCTAssertEqual(kinds.filter { $0 == .deadLettered }.count, 1)
        XCTAssertEqual(try h.journal.trail(of: uuid).last { $0.kind == .deadLettered }?.attempt, 3)
    }

    func testPermanentFailureIsDeadLetteredAtOnce() async throws {
        let h = try Harness([route()])
        h.sink.failAlways("a", with: .permanent("http-400", "Bad Request: unknown Aktenzeichen"))
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g())),
            .deadLetter(
                reason: "http-400: a: Bad Request: unknown Aktenzeichen", step: "deliver", route: "r", endpoint: "dlq"))
    }

    func testOnlyListedCodesAreRetried() async throws {
        let policy = ErrorPolicy(retry: RetryPolicy(maxAttempts: 5, retryOn: ["timeout"]))
        let h = try Harness([route(policy)])
        h.sink.fail("a", times: 1, with: .transient("http-500", "Internal Server Error"))
        await assertDeadLetter(
            await h.engine.process(Fixtures.message(Fixtures.g2g())), step: "deliver", reasonContains: "http-500")
        h.sink.fail("a", times: 1, with: .transient("timeout", "20s"))
        guard case .retry = await h.engine.process(Fixtures.message(Fixtures.g2g())) else {
            return XCTFail("timeout must be retried")
        }
    }

    func testBackoffDoublesUpToTheMaximum() {
        let policy = RetryPolicy(maxAttempts: 10, minDelay: .seconds(2), maxDelay: .seconds(300))
        XCTAssertEqual(
            (1...10).map { policy.delay(afterAttempt: $0) },
            [2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map { Duration.seconds($0) })
        XCTAssertEqual(
            RetryPolicy(minDelay: .milliseconds(500), maxDelay: .seconds(1)).delay(afterAttempt: 1), .milliseconds(500))
    }

    /// A double submission: both copies are in flight at once (e.g. two workers), yet the
    /// destination gets the message once and the second copy is acked as a duplicate.
    func testCopiesInFlightTogetherAreDeliveredOnce() async throws {
        final class SlowSink: MessageSink, @unchecked Sendable {
            let lock = NSLock()
            var count = 0
            func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
                try await Task.sleep(for: .milliseconds(200))
                lock.withLock { count += 1 }
            }
        }
        let sink = SlowSink()
        let engine = RoutingEngine(
            table: try Fixtures.table([route()]), sink: sink, idempotency: InMemoryIdempotencyStore(),
            journal: InMemoryAuditJournal())
        let body = Fixtures.g2g()
        async let first = engine.process(Fixtures.message(body))
        async let second = engine.process(Fixtures.message(body))
        let results = await [first, second]
        XCTAssertEqual(sink.lock.withLock { sink.count }, 1)
        XCTAssertTrue(results.contains(.completed) && results.contains(.duplicate), "\(results)")
    }

    func testRedeliveryIsDeliveredOnceAndAckedAsDuplicate() async throws {
        let signer = MockSigner()
        let h = try Harness([
            route(steps: [SignStep(keyName: "itzehoe", signer: signer)], to: [.endpoint("a"), .endpoint("b")])
        ])
        let body = Fixtures.g2g()
        await assertDisposition(await h.engine.process(Fixtures.message(body)), .completed)
        var redelivered = Fixtures.message(body)
        redelivered.redelivered = true
        await assertDisposition(await h.engine.process(redelivered), .duplicate)
        XCTAssertEqual(h.sink.deliveries.count, 2)
        XCTAssertEqual(signer.signedRoots.count, 1, "a duplicate is recognised before the steps run")
        let uuid = try XCTUnwrap(h.sink.deliveries.first?.message.messageID)
        XCTAssertEqual(try h.kinds(uuid).filter { $0 == .duplicate }.count, 1)
    }

    func testConcurrentRedeliveriesOfManyMessagesDeliverEachOnce() async throws {
        let h = try Harness([route()])
        let bodies = (0..<50).map { _ in Fixtures.g2g() }
        await withTaskGroup(of: Void.self) { group in
            for body in bodies {
                group.addTask { _ = await h.engine.process(Fixtures.message(body)) }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for body in bodies {
                group.addTask { _ = await h.engine.process(Fixtures.message(body, attempt: 1)) }
            }
        }
        XCTAssertEqual(h.sink.deliveries.count, 50)
        XCTAssertEqual(Set(h.sink.deliveries.map(\.message.messageID)).count, 50)
    }

    func testSharedCompiledStepsUnderConcurrentLoad() async throws {
        // One compiled schema, stylesheet and XPath shared by all workers, as in production.
        let real = try Fixtures.sharedFile("xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        let schema = try XMLSchema(
            path: Fixtures.shared + "/xoev/xbeteiligung-1.2/schemas/xbeteiligung-kommunaleBauleitplanung.xsd")
        let steps: [any RouteStep] = [
            ValidateStep(schemaName: "xbeteiligung", schema: schema),
            SetHeaderStep(assignments: [
                (
                    "x-plan",
                    try Template(
                        "{xpath:string(//xbet:planID)}",
                        namespaces: ["xbet": "https://www.xleitstelle.de/xbeteiligung/12"])
                )
            ]),
            MapStep(
                source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet(),
                parameters: ["ort": try Template("{header.messageID}")]),
        ]
        let h = try Harness([route(steps: steps)])
        let text = String(decoding: real, as: UTF8.self)
        let uuids = (0..<64).map { _ in UUID().uuidString.lowercased() }
        let bodies = uuids.map {
            Array(text.replacingOccurrences(of: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb", with: $0).utf8)
        }
        let results = await withTaskGroup(of: Disposition.self, returning: [Disposition].self) { group in
            for body in bodies { group.addTask { await h.engine.process(Fixtures.message(body)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: .completed, count: 64))
        for (_, message) in h.sink.deliveries {
            XCTAssertEqual(message.headers["x-plan"], "ID_0f8d6117-043f-4b83-941b-e219390e7c68")
            let document = try XMLDocument(parsing: message.body)
            XCTAssertEqual(
                try document.evaluate("string(/*/@ort)").stringValue, message.messageID,
                "each result belongs to its own message")
        }
        XCTAssertEqual(Set(h.sink.deliveries.map(\.message.messageID)), Set(uuids))
    }

    func testHostileAndBrokenInputEndsInSpecificDeadLetters() async throws {
        let h = try Harness([route()])
        let xxe = """
            <?xml version="1.0"?>
            <!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <t>&x;</t>
            """
        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
            <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
            <lolz>&lol3;</lolz>
            """
        var invalidUTF8 = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>".utf8)
        invalidUTF8 += [0xC3, 0x28, 0xFF]
        invalidUTF8 += Array("</t>".utf8)
        let deep = String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300)
        let cases: [(String, [UInt8], String, String)] = [
            ("XXE", Array(xxe.utf8), "parse", "DOCTYPE"),
            ("billion laughs", Array(laughs.utf8), "parse", "DOCTYPE"),
            ("invalid UTF-8", invalidUTF8, "parse", "encoding"),
            ("not XML", Array("Sehr geehrte Damen und Herren".utf8), "parse", "not well-formed"),
            ("empty", [], "parse", "empty"),
            ("too deep", Array(deep.utf8), "parse", "nest"),
            (
                "no header", Array("<t:antrag xmlns:t=\"urn:stadtbus:test\"/>".utf8), "header",
                "unknown-message-type: no header profile recognises root element 'antrag' in namespace 'urn:stadtbus:test'"
            ),
            ("blank UUID", Fixtures.g2g(uuid: "  "), "header", "no-header: header (xoev-g2g) lacks 'identity'"),
            (
                "header without UUID",
                Array(
                    String(decoding: Fixtures.g2g(uuid: ""), as: UTF8.self).replacingOccurrences(
                        of: "<g2g:nachrichtenUUID></g2g:nachrichtenUUID>", with: ""
                    ).utf8),
                "header", "no-header"
            ),
        ]
        for (name, body, step, fragment) in cases {
            let disposition = await h.engine.process(Fixtures.message(body))
            await assertDeadLetter(disposition, step: step, reasonContains: fragment)
            if case .deadLetter = disposition {} else { XCTFail("\(name): \(disposition)") }
        }
        XCTAssertTrue(h.sink.deliveries.isEmpty)
        // Each failure is journalled (under the transport id, since there is no header).
        XCTAssertEqual(try h.journal.trail(of: "amqp-1").filter { $0.kind == .deadLettered }.count, cases.count)
    }

    func testAnEmptyMessageIDIsNeverUsedForIdempotency() async throws {
        // A profile whose identity is a string expression: "" must count as no identity (the extractor
        // refuses it; the engine would too), never as an ID shared by unrelated messages.
        let profile = HeaderProfile(
            name: "kopf", rootNamespaces: ["urn:stadtbus:kopf"], namespaces: ["k": "urn:stadtbus:kopf"],
            detect: "/k:nachricht",
            identity: ["normalize-space(/k:nachricht/k:id)"], messageType: "/k:nachricht/k:typ")
        let table = try RoutingTable(
            routes: [route()], endpoints: [Endpoint(name: "a", type: "amqp")],
            headerExtractor: try HeaderExtractor(profiles: [profile]))
        let sink = ScriptedSink()
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let body = Array("<k:nachricht xmlns:k=\"urn:stadtbus:kopf\"><k:id> </k:id><k:typ>1</k:typ></k:nachricht>".utf8)
        for _ in 0..<2 {
            await assertDeadLetter(
                await engine.process(Fixtures.message(body)), step: "header",
                reasonContains: "no-header: header (kopf) lacks 'identity'")
        }
        XCTAssertTrue(sink.deliveries.isEmpty)
    }

    func testIdempotencyStoreFailureIsTransient() async throws {
        struct BrokenStore: IdempotencyStore {
            struct Locked: Error, CustomStringConvertible { var description: String { "database is locked" } }
            func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool { throw Locked() }
            func recordDelivered(route: String, messageID: String, destination: String, at date: Date) throws {
                throw Locked()
            }
            func purge(olderThan date: Date) throws -> Int { 0 }
        }
        let sink = ScriptedSink()
        let engine = RoutingEngine(
            table: try Fixtures.table([route()]), sink: sink, idempotency: BrokenStore(),
            journal: InMemoryAuditJournal())
        await assertDisposition(
            await engine.process(Fixtures.message(Fixtures.g2g())),
            .retry(attempt: 2, delay: .seconds(2), reason: "idempotency-store: database is locked", step: "deliver"))
        XCTAssertTrue(sink.deliveries.isEmpty, "nothing is delivered when the store cannot say whether it was already")
    }

    func testJournalFailureAsksForARetryWithoutRedelivering() async throws {
        let sink = ScriptedSink()
        let store = InMemoryIdempotencyStore()
        let journal = FlakyJournal()
        let engine = RoutingEngine(
            table: try Fixtures.table([route()]), sink: sink, idempotency: store, journal: journal)
        journal.failNext(1)
        let body = Fixtures.g2g()
        guard case .retry(_, _, let reason, let step) = await engine.process(Fixtures.message(body)) else {
            return XCTFail("expected retry")
        }
        XCTAssertEqual(step, "audit")
        XCTAssertTrue(reason.contains("journal database is locked"))
        await assertDisposition(await engine.process(Fixtures.message(body, attempt: 2)), .duplicate)
        XCTAssertEqual(sink.deliveries.count, 1)
    }

    func testSwappingTheTableWhileMessagesAreProcessedLosesAndDoublesNothing() async throws {
        let old = try Fixtures.table([Route(name: "v1", source: "in", routing: .to([.endpoint("a")]))])
        let new = try Fixtures.table([
            Route(
                name: "v2", source: "in", steps: [SetHeaderStep(assignments: [("x-version", try Template("2"))])],
                routing: .to([.endpoint("a")]))
        ])
        let sink = ScriptedSink()
        let engine = RoutingEngine(
            table: old, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let bodies = (0..<200).map { _ in Fixtures.g2g() }
        let results = await withTaskGroup(of: Disposition.self, returning: [Disposition].self) { group in
            for (index, body) in bodies.enumerated() {
                if index == 100 { engine.replace(with: new) }
                group.addTask { await engine.process(Fixtures.message(body)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results.filter { $0 == .completed }.count, 200)
        let ids = sink.deliveries.map(\.message.messageID)
        XCTAssertEqual(ids.count, 200)
        XCTAssertEqual(Set(ids).count, 200)
        XCTAssertEqual(engine.table.routes.map(\.name), ["v2"])
        // Every message ran entirely on one table: v2 messages carry the header, v1 ones do not.
        for (_, message) in sink.deliveries {
            XCTAssertEqual(message.route == "v2", message.headers["x-version"] == "2")
        }
    }
}
