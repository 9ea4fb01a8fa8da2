import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Shared material and small builders for the engine tests.
enum Fixtures {
    /// `$STADTBUS_SHARED`, or `<package root>/../shared`.
    static var shared: String {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared").path
    }

    static func sharedFile(_ relative: String) throws -> [UInt8] {
        let path = shared + "/xoev/" + relative
        guard let data = FileManager.default.contents(atPath: path) else {
            throw XCTSkip("shared material missing: \(path) (set STADTBUS_SHARED)")
        }
        return Array(data)
    }

    static let namespaces: XMLNamespaces = [
        "t": "urn:stadtbus:test", "g2g": "http://xoev.de/schemata/basisnachricht/g2g/1_1",
        "beh": "http://xoev.de/schemata/basisnachricht/behoerde/1_1",
    ]

    /// A small message with a qualified XÖV g2g header (like XBeteiligung) in namespace `urn:stadtbus:test`.
    static func g2g(
        uuid: String = UUID().uuidString.lowercased(), type: String = "0401", name: String = "test.Antrag.0401",
        author: String = "ags:01061046", reader: String = "ags:01061017",
        inhalt: String = "<t:betreff>Bebauungsplan Nr. 7</t:betreff>"
    ) -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <t:antrag xmlns:t="urn:stadtbus:test" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1" xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1">
              <g2g:nachrichtenkopf.g2g>
                <g2g:identifikation.nachricht>
                  <g2g:nachrichtenUUID>\(uuid)</g2g:nachrichtenUUID>
                  <g2g:nachrichtentyp><code>\(type)</code><name>\(name)</name></g2g:nachrichtentyp>
                  <g2g:erstellungszeitpunkt>2026-11-25T10:00:00Z</g2g:erstellungszeitpunkt>
                </g2g:identifikation.nachricht>
                <g2g:leser><beh:kennung>\(reader)</beh:kennung></g2g:leser>
                <g2g:autor><beh:kennung>\(author)</beh:kennung><beh:name>Stadt Itzehoe</beh:name></g2g:autor>
              </g2g:nachrichtenkopf.g2g>
              <t:inhalt>\(inhalt)</t:inhalt>
            </t:antrag>
            """.utf8)
    }

    static func message(_ body: [UInt8], source: String = "in", attempt: Int = 1, headers: [String: String] = [:])
        -> Message
    {
        Message(
            body: body, headers: headers, properties: MessageProperties(messageID: "amqp-1"), source: source,
            attempt: attempt)
    }

    /// A table over `routes` with endpoints `in`, `a`, `b`, `c`, `audit`, `dlq` and any extra.
    static func table(_ routes: [Route], endpoints extra: [String] = []) throws -> RoutingTable {
        let names = ["in", "a", "b", "c", "audit", "dlq"] + extra
        return try RoutingTable(
            routes: routes, endpoints: names.map { Endpoint(name: $0, type: "amqp") },
            headerExtractor: try HeaderExtractor(),
            defaultDeadLetter: "dlq", version: "test")
    }

    /// An XSLT that wraps the document in `<t:gemappt>` with an `ort` attribute from a parameter.
    static func wrappingStylesheet() throws -> XSLTStylesheet {
        try XSLTStylesheet(
            xml: """
                <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:t="urn:stadtbus:test">
                  <xsl:param name="ort"/>
                  <xsl:template match="/">
                    <t:gemappt ort="{$ort}"><xsl:copy-of select="/*"/></t:gemappt>
                  </xsl:template>
                </xsl:stylesheet>
                """, name: "wrap.xsl")
    }
}

/// A sink whose endpoints can be told to fail; records every successful delivery.
final class ScriptedSink: MessageSink, @unchecked Sendable {
    private let lock = NSLock()
    private var scripted: [String: [DeliveryError]] = [:]
    private var alwaysFailing: [String: DeliveryError] = [:]
    private var stored: [(endpoint: String, message: OutgoingMessage)] = []
    private var attempts: [String: Int] = [:]

    /// The next `count` deliveries to `endpoint` fail with `error`.
    func fail(
        _ endpoint: String, times count: Int = 1,
        with error: DeliveryError = .transient("timeout", "no answer within 20s")
    ) {
        lock.withLock { scripted[endpoint, default: []] += Array(repeating: error, count: count) }
    }

    /// Every delivery to `endpoint` fails with `error`.
    func failAlways(_ endpoint: String, with error: DeliveryError) {
        lock.withLock { alwaysFailing[endpoint] = error }
    }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        try lock.withLock {
            attempts[endpoint.name, default: 0] += 1
            if let error = alwaysFailing[endpoint.name] { throw error }
            if var queue = scripted[endpoint.name], !queue.isEmpty {
                let error = queue.removeFirst()
                scripted[endpoint.name] = queue
                throw error
            }
            stored.append((endpoint.name, message))
        }
    }

    var deliveries: [(endpoint: String, message: OutgoingMessage)] { lock.withLock { stored } }

    func delivered(to endpoint: String) -> [OutgoingMessage] {
        deliveries.filter { $0.endpoint == endpoint }.map(\.message)
    }

    func attemptCount(_ endpoint: String) -> Int { lock.withLock { attempts[endpoint] ?? 0 } }
}

/// A journal that can be told to fail.
final class FlakyJournal: AuditJournal, @unchecked Sendable {
    let inner = InMemoryAuditJournal()
    private let lock = NSLock()
    private var failuresLeft = 0

    struct Down: Error, CustomStringConvertible { var description: String { "journal database is locked" } }

    func failNext(_ count: Int) { lock.withLock { failuresLeft = count } }

    func record(_ events: [AuditEvent]) throws {
        let fail = lock.withLock { () -> Bool in
            defer { failuresLeft = max(0, failuresLeft - 1) }
            return failuresLeft > 0
        }
        if fail { throw Down() }
        try inner.record(events)
    }

    func trail(of messageID: String) throws -> [AuditEvent] { try inner.trail(of: messageID) }
    func purge(olderThan date: Date) throws -> Int { try inner.purge(olderThan: date) }
}

/// A signer that records which documents it signed (by root name) or fails as told.
final class MockSigner: MessageSigner, @unchecked Sendable {
    private let lock = NSLock()
    private var signed: [String] = []
    let failure: SignatureError?

    init(failure: SignatureError? = nil) { self.failure = failure }

    func sign(document: XMLDocument) throws {
        if let failure { throw failure }
        lock.withLock { signed.append(document.rootName ?? "") }
    }

    var signedRoots: [String] { lock.withLock { signed } }
}

/// A verifier that accepts or refuses every document.
struct MockVerifier: SignatureVerifier {
    var failure: SignatureError?
    func verify(document: XMLDocument, header: MessageHeader) throws {
        if let failure { throw failure }
    }
}

/// A custom step (as an adapter module would supply) that fails as told.
struct FlakyStep: RouteStep {
    let failure: StepFailure?
    var name: String { "virus-scan" }
    var label: String { "virus-scan" }
    func run(_ exchange: Exchange) async throws -> StepOutcome {
        if let failure { throw failure }
        exchange.headers["x-scanned"] = "clean"
        return .proceed
    }
}

/// Builds an engine with in-memory stores.
struct Harness {
    let engine: RoutingEngine
    let sink: ScriptedSink
    let store: InMemoryIdempotencyStore
    let journal: InMemoryAuditJournal

    init(_ routes: [Route], endpoints: [String] = []) throws {
        sink = ScriptedSink()
        store = InMemoryIdempotencyStore()
        journal = InMemoryAuditJournal()
        engine = RoutingEngine(
            table: try Fixtures.table(routes, endpoints: endpoints), sink: sink, idempotency: store, journal: journal)
    }

    func kinds(_ messageID: String) throws -> [AuditEvent.Kind] { try journal.trail(of: messageID).map(\.kind) }
}

/// `XCTAssertEqual` for a disposition computed asynchronously.
func assertDisposition(
    _ expression: @autoclosure () async throws -> Disposition, _ expected: Disposition, _ message: String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) async rethrows {
    let disposition = try await expression()
    XCTAssertEqual(disposition, expected, message, file: file, line: line)
}

/// Asserts a dead letter from `step` whose reason contains `fragment`.
func assertDeadLetter(
    _ expression: @autoclosure () async throws -> Disposition, step expectedStep: String,
    reasonContains fragment: String,
    file: StaticString = #filePath, line: UInt = #line
) async rethrows {
    let disposition = try await expression()
    guard case .deadLetter(let reason, let step, _, _) = disposition else {
        XCTFail("expected a dead letter, got \(disposition)", file: file, line: line)
        return
    }
    XCTAssertEqual(step, expectedStep, file: file, line: line)
    XCTAssertTrue(
        reason.contains(fragment), "reason '\(reason)' does not contain '\(fragment)'", file: file, line: line)
}
