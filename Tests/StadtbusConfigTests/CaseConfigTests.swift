import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusXML
import XCTest

/// `register-case`, `correlate`, `case:` conditions, `require`, `address-directory:` and
/// `directory:` destinations, from YAML to routed messages.
final class CaseConfigTests: XCTestCase {
    private func load() throws -> LoadedConfiguration {
        do {
            return try ConfigFixtures.loader().load(path: ConfigFixtures.path("cases/stadtbus.yaml"))
        } catch let error as ConfigurationError {
            XCTFail("cases/stadtbus.yaml does not load:\n\(error)")
            throw error
        }
    }

    func testTheCaseConfigurationIsCompiled() throws {
        let loaded = try load()
        XCTAssertEqual(
            loaded.settings.stores.cases, loaded.settings.stores.idempotency, "cases default to the idempotency file")
        XCTAssertEqual(loaded.settings.stores.caseRetention, .seconds(90 * 86_400))
        let entry = AddressEntry(kennung: "ags:01061017", endpoint: "nachbar.breitenburg", name: "Gemeinde Breitenburg")
        XCTAssertEqual(loaded.settings.addressDirectory, AddressDirectory([entry]))
        XCTAssertEqual(loaded.table.addressDirectory.entry(for: "ags:01061017"), entry)
        XCTAssertTrue(
            loaded.dependencies.contains { $0.hasSuffix("cases/address-directory.yaml") },
            "reload watches the directory file")
        let antrag = try XCTUnwrap(loaded.table.route(named: "antrag"))
        XCTAssertEqual(antrag.steps.map(\.label), ["require 2 checks", "register-case {header.messageID}"])
        let register = try XCTUnwrap(antrag.steps[1] as? RegisterCaseStep)
        XCTAssertEqual(register.attributes.map(\.name), ["art", "az"])
        let antwort = try XCTUnwrap(loaded.table.route(named: "antwort"))
        XCTAssertEqual(antwort.steps.map(\.label), ["correlate {transport.x-ref}", "set-header x-az"])
        guard case .choice(let branches) = antwort.routing else { return XCTFail("expected a choice") }
        XCTAssertEqual(branches.first?.condition.map { "\($0)" }, "case art 'gebuehr'")
        guard case .to(let destinations) = loaded.table.route(named: "nachbar")?.routing else {
            return XCTFail("expected 'to'")
        }
        XCTAssertEqual(destinations, [.directory(.reader)])
    }

    func testAnAnswerIsCorrelatedWithTheCaseItsRequestRegistered() async throws {
        let loaded = try load()
        let sink = CollectingSink()
        let cases = InMemoryCaseRegistry()
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal(),
            cases: cases)
        let uuid = UUID().uuidString.lowercased()
        await assertEqual(
            await engine.process(Message(body: ConfigFixtures.g2g(uuid: uuid), source: "portal")), .completed)
        let record = try XCTUnwrap(try cases.lookup(key: uuid))
        XCTAssertEqual(record.attributes, ["art": "gebuehr", "az": "BP-7"])
        XCTAssertEqual(record.route, "antrag")

        let answer = Message(body: ConfigFixtures.g2g(), headers: ["x-ref": uuid], source: "antworten")
        await assertEqual(await engine.process(answer), .completed)
        let toStatus = sink.deliveries.filter { $0.0 == "status" }
        XCTAssertEqual(toStatus.count, 1, "a fee case also goes to the status endpoint")
        XCTAssertEqual(toStatus.first?.1.headers["x-az"], "BP-7")

        let unknown = Message(body: ConfigFixtures.g2g(), headers: ["x-ref": "RE-0815"], source: "antworten")
        await assertEqual(
            await engine.process(unknown),
            .deadLetter(
                reason: "unknown-case: unknown case 'RE-0815' (no route registered it)", step: "correlate",
                route: "antwort", endpoint: "dlq"))
    }

    func testDirectoryDestinationsResolveTheReader() async throws {
        let loaded = try load()
        let sink = CollectingSink()
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        await assertEqual(
            await engine.process(Message(body: ConfigFixtures.g2g(reader: "ags:01061017"), source: "nachbarn")),
            .completed)
        XCTAssertEqual(sink.deliveries.map(\.0), ["nachbar.breitenburg"])
        await assertEqual(
            await engine.process(Message(body: ConfigFixtures.g2g(reader: "ags:01061099"), source: "nachbarn")),
            .deadLetter(
                reason:
                    "unknown-recipient: no address directory entry for reader 'ags:01061099' — add it to 'address-directory:'",
                step: "deliver",
                route: "nachbar", endpoint: "dlq"))
    }

    func testDryRunShowsTheResolvedEndpoint() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-dry-run-\(UUID().uuidString).xml")
        try Data(ConfigFixtures.g2g(reader: "ags:01061017")).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = await DryRun.run(
            config: ConfigFixtures.path("cases/stadtbus.yaml"), route: "nachbar", messagePath: file.path,
            loader: ConfigFixtures.loader())
        XCTAssertEqual(result.disposition, .completed, result.text)
        XCTAssertTrue(
            result.text.contains(
                "directory [nachbar]: reader 'ags:01061017' → nachbar.breitenburg (Gemeinde Breitenburg)"), result.text)
        XCTAssertTrue(result.text.contains("  → nachbar.breitenburg [route nachbar]"), result.text)
    }

    func testDryRunCorrelatesWithTheCasesItIsGiven() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-dry-run-\(UUID().uuidString).xml")
        try Data(ConfigFixtures.g2g()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let cases = InMemoryCaseRegistry([
            CaseRecord(key: "k-1", route: "antrag", attributes: ["art": "gebuehr", "az": "BP-7"])
        ])
        let result = await DryRun.run(
            config: ConfigFixtures.path("cases/stadtbus.yaml"), route: "antwort", messagePath: file.path,
            headers: ["x-ref=k-1"],
            loader: ConfigFixtures.loader(), cases: cases)
        XCTAssertEqual(result.disposition, .completed, result.text)
        XCTAssertTrue(
            result.text.contains("case 'k-1' (registered by route antrag): art=gebuehr, az=BP-7"), result.text)
    }

    private func assertEqual(
        _ disposition: @autoclosure () async -> Disposition, _ expected: Disposition, file: StaticString = #filePath,
        line: UInt = #line
    ) async {
        let actual = await disposition()
        XCTAssertEqual(actual, expected, file: file, line: line)
    }
}
