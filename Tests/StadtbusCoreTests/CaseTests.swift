import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// The case registry (`register-case`, `correlate`, `case:` conditions, `{case.…}` templates),
/// `require` and address-directory destinations.
final class CaseTests: XCTestCase {
    private struct Setup {
        let engine: RoutingEngine
        let sink: ScriptedSink
        let cases: InMemoryCaseRegistry
        let store: InMemoryIdempotencyStore
    }

    private func setup(
        _ routes: [Route], cases: [CaseRecord] = [], directory: AddressDirectory = AddressDirectory()
    ) throws -> Setup {
        let names = ["in", "a", "b", "nachbar", "dlq"]
        let table = try RoutingTable(
            routes: routes, endpoints: names.map { Endpoint(name: $0, type: "amqp") },
            headerExtractor: try HeaderExtractor(),
            defaultDeadLetter: "dlq", version: "test", addressDirectory: directory)
        let sink = ScriptedSink()
        let registry = InMemoryCaseRegistry(cases)
        let store = InMemoryIdempotencyStore()
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: store, journal: InMemoryAuditJournal(), cases: registry)
        return Setup(engine: engine, sink: sink, cases: registry, store: store)
    }

    private func route(
        _ steps: [any RouteStep], routing: Routing = .to([.endpoint("a")]), retry: RetryPolicy = RetryPolicy()
    ) -> Route {
        Route(
            name: "r", source: "in", steps: steps, routing: routing,
            errorPolicy: ErrorPolicy(retry: retry, deadLetter: "dlq"))
    }

    private func correlate(_ key: String = "{transport.x-ref}") throws -> CorrelateStep {
        CorrelateStep(key: try Template(key))
    }

    private static let fee = CaseRecord(
        key: "antrag-1", route: "portal", attributes: ["art": "gebuehr", "ort": "Itzehoe"],
        registeredAt: Date(timeIntervalSinceReferenceDate: 1000))

    // MARK: - Registry

    func testInMemoryRegistryUpsertsAndKeepsTheFirstRegistrationTime() throws {
        let registry = InMemoryCaseRegistry()
        let first = Date(timeIntervalSinceReferenceDate: 100)
        try registry.register(
            key: "k", case: CaseRecord(key: "k", route: "r1", attributes: ["a": "1"], registeredAt: first))
        try registry.register(
            key: "k", case: CaseRecord(key: "k", route: "r2", attributes: ["a": "2"], registeredAt: first + 50))
        let found = try XCTUnwrap(try registry.lookup(key: "k"))
        XCTAssertEqual(found, CaseRecord(key: "k", route: "r2", attributes: ["a": "2"], registeredAt: first))
        XCTAssertNil(try registry.lookup(key: "K"))
    }

    func testInMemoryRegistryPurgesOldCases() throws {
        let registry = InMemoryCaseRegistry([
            CaseRecord(key: "old", route: "r", registeredAt: Date(timeIntervalSinceReferenceDate: 10)),
            CaseRecord(key: "new", route: "r", registeredAt: Date(timeIntervalSinceReferenceDate: 1000)),
        ])
        XCTAssertEqual(try registry.purge(olderThan: Date(timeIntervalSinceReferenceDate: 500)), 1)
        XCTAssertNil(try registry.lookup(key: "old"))
        XCTAssertNotNil(try registry.lookup(key: "new"))
    }

    // MARK: - register-case

    func testRegisterCaseIsWrittenOnlyAfterTheDeliverySucceeded() async throws {
        let register = RegisterCaseStep(
            key: try Template("{header.messageID}"),
            attributes: [
                ("art", try Template("antrag")),
                ("betreff", try Template("{xpath:string(//t:betreff)}", namespaces: Fixtures.namespaces)),
            ])
        let s = try setup([route([register])])
        s.sink.fail("a")
        let body = Fixtures.g2g(uuid: "uuid-1")
        let first = await s.engine.process(Fixtures.message(body))
        guard case .retry = first else { return XCTFail("expected a retry, got \(first)") }
        XCTAssertNil(try s.cases.lookup(key: "uuid-1"), "no case before the delivery is durable")

        await assertDisposition(await s.engine.process(Fixtures.message(body, attempt: 2)), .completed)
        let record = try XCTUnwrap(try s.cases.lookup(key: "uuid-1"))
        XCTAssertEqual(record.route, "r")
        XCTAssertEqual(record.attributes, ["art": "antrag", "betreff": "Bebauungsplan Nr. 7"])
    }

    func testARedeliveryRegistersACaseLostBetweenDeliveryAndRegistration() async throws {
        let s = try setup([route([RegisterCaseStep(key: try Template("{header.messageID}"))])])
        // The crash window: the delivery was recorded, the registration was not.
        try s.store.recordDelivered(route: "r", messageID: "uuid-2", destination: "a", at: Date())
        await assertDisposition(await s.engine.process(Fixtures.message(Fixtures.g2g(uuid: "uuid-2"))), .duplicate)
        XCTAssertTrue(s.sink.deliveries.isEmpty)
        XCTAssertNotNil(try s.cases.lookup(key: "uuid-2"))
    }

    func testRegisterCaseWithAnEmptyKeyFailsPermanently() async throws {
        let s = try setup([route([RegisterCaseStep(key: try Template("{transport.missing}"))])])
        await assertDeadLetter(
            await s.engine.process(Fixtures.message(Fixtures.g2g())), step: "register-case",
            reasonContains: "case-key-empty: ")
        XCTAssertTrue(s.cases.cases.isEmpty)
    }

    // MARK: - correlate

    func testCorrelateMakesTheCaseAvailableToTemplatesAndMapParameters() async throws {
        let steps: [any RouteStep] = [
            try correlate(),
            SetHeaderStep(assignments: [
                ("x-art", try Template("{case.art}")),
                ("x-vorgang", try Template("{case.key}/{case.route}/{case.fehlt}")),
            ]),
            MapStep(
                source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet(),
                parameters: ["ort": try Template("{case.ort}")]),
        ]
        let s = try setup([route(steps)], cases: [Self.fee])
        let message = Fixtures.message(Fixtures.g2g(), headers: ["x-ref": "antrag-1"])
        await assertDisposition(await s.engine.process(message), .completed)
        let delivered = try XCTUnwrap(s.sink.delivered(to: "a").first)
        XCTAssertEqual(delivered.headers["x-art"], "gebuehr")
        XCTAssertEqual(delivered.headers["x-vorgang"], "antrag-1/portal/")
        XCTAssertTrue(String(decoding: delivered.body, as: UTF8.self).contains("ort=\"Itzehoe\""))
    }

    func testCorrelateWithAnUnknownKeyDeadLetters() async throws {
        let s = try setup([route([try correlate()])], cases: [Self.fee])
        let disposition = await s.engine.process(Fixtures.message(Fixtures.g2g(), headers: ["x-ref": "RE-4711"]))
        XCTAssertEqual(
            disposition,
            .deadLetter(
                reason: "unknown-case: unknown case 'RE-4711' (no route registered it)", step: "correlate", route: "r",
                endpoint: "dlq"))
        XCTAssertTrue(s.sink.deliveries.isEmpty)
    }

    func testACaseTemplateWithoutCorrelateFailsPermanently() async throws {
        let s = try setup([route([SetHeaderStep(assignments: [("x-art", try Template("{case.art}"))])])])
        await assertDeadLetter(
            await s.engine.process(Fixtures.message(Fixtures.g2g())), step: "set-header",
            reasonContains: "put a 'correlate' step before")
    }

    func testChoiceDecidesOnACaseAttribute() async throws {
        let choice = Routing.choice([
            ChoiceBranch(
                condition: .caseAttribute(name: "art", values: [ValuePattern("gebuehr")]),
                destinations: [.endpoint("a"), .endpoint("b")]),
            ChoiceBranch(condition: nil, destinations: [.endpoint("a")]),
        ])
        let invoice = CaseRecord(key: "RE-1", route: "rechnungen", attributes: ["art": "rechnung"])
        let s = try setup([route([try correlate()], routing: choice)], cases: [Self.fee, invoice])
        await assertDisposition(
            await s.engine.process(Fixtures.message(Fixtures.g2g(), headers: ["x-ref": "antrag-1"])), .completed)
        await assertDisposition(
            await s.engine.process(Fixtures.message(Fixtures.g2g(), headers: ["x-ref": "RE-1"])), .completed)
        XCTAssertEqual(s.sink.delivered(to: "a").count, 2)
        XCTAssertEqual(s.sink.delivered(to: "b").count, 1, "only the fee case also goes to b")
    }

    func testCaseConditionsAreFalseWithoutACase() throws {
        let context = ConditionContext(
            header: try header(), headers: [:], document: try XMLDocument(parsing: Fixtures.g2g()))
        XCTAssertFalse(try Condition.caseAttribute(name: "art", values: [ValuePattern("*")]).evaluate(context))
        var withCase = context
        withCase.correlatedCase = Self.fee
        XCTAssertTrue(try Condition.caseAttribute(name: "art", values: [ValuePattern("geb*")]).evaluate(withCase))
        XCTAssertTrue(try Condition.caseAttribute(name: "route", values: [ValuePattern("portal")]).evaluate(withCase))
    }

    // MARK: - require

    private func requirements(_ pairs: [(String, String)]) throws -> RequireStep {
        RequireStep(
            requirements: try pairs.map {
                Requirement(xpath: try XPathExpression($0.0, namespaces: Fixtures.namespaces), message: $0.1)
            })
    }

    func testRequirePassesWhenEveryCheckHolds() async throws {
        let step = try requirements([
            ("boolean(//t:betreff)", "Betreff fehlt"), ("string-length(//g2g:nachrichtenUUID) > 0", "UUID fehlt"),
        ])
        let s = try setup([route([step])])
        await assertDisposition(await s.engine.process(Fixtures.message(Fixtures.g2g())), .completed)
    }

    func testRequireFailsPermanentlyListingEveryFailedCheck() async throws {
        let step = try requirements([
            ("boolean(//t:rechnungsnummer)", "BT-1 invoice number missing"), ("boolean(//t:betreff)", "Betreff fehlt"),
            ("boolean(//t:leitwegID)", "BT-10 Leitweg-ID missing"),
        ])
        let s = try setup([route([step])])
        let disposition = await s.engine.process(Fixtures.message(Fixtures.g2g()))
        guard case .deadLetter(let reason, let failedStep, _, _) = disposition else {
            return XCTFail("expected a dead letter, got \(disposition)")
        }
        XCTAssertEqual(failedStep, "require")
        XCTAssertEqual(
            reason,
            "requirement-failed: 2 of 3 requirements failed: BT-1 invoice number missing; BT-10 Leitweg-ID missing")
    }

    // MARK: - Address directory

    private let directory = AddressDirectory([
        AddressEntry(kennung: "ags:01061017", endpoint: "nachbar", name: "Gemeinde Breitenburg"),
        AddressEntry(kennung: "ags:01061046", endpoint: "b", name: "Stadt Itzehoe"),
    ])

    func testDirectoryDestinationsResolveReaderAndAuthor() async throws {
        let s = try setup([route([], routing: .to([.directory(.reader), .directory(.author)]))], directory: directory)
        await assertDisposition(
            await s.engine.process(Fixtures.message(Fixtures.g2g(author: "ags:01061046", reader: "ags:01061017"))),
            .completed)
        XCTAssertEqual(s.sink.delivered(to: "nachbar").count, 1)
        XCTAssertEqual(s.sink.delivered(to: "b").count, 1)
    }

    func testAnUnknownReaderIsAPermanentUnknownRecipient() async throws {
        let s = try setup([route([], routing: .to([.directory(.reader)]))], directory: directory)
        let disposition = await s.engine.process(Fixtures.message(Fixtures.g2g(reader: "ags:09999999")))
        await assertDeadLetter(
            disposition, step: "deliver",
            reasonContains: "unknown-recipient: no address directory entry for reader 'ags:09999999'")
        XCTAssertTrue(s.sink.deliveries.isEmpty)
    }

    func testATableRefusesADirectoryEntryForAnUnknownEndpoint() throws {
        let broken = AddressDirectory([AddressEntry(kennung: "ags:1", endpoint: "nirgendwo")])
        XCTAssertThrowsError(try setup([route([], routing: .to([.directory(.reader)]))], directory: broken)) {
            XCTAssertEqual("\($0)", "address directory entry 'ags:1' names unknown endpoint 'nirgendwo'")
        }
    }

    private func header() throws -> MessageHeader {
        try HeaderExtractor().header(of: try XMLDocument(parsing: Fixtures.g2g()))
    }
}
