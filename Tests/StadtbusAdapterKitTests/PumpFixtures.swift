import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import StadtbusOperations
import StadtbusXML

/// A real engine (in-memory stores, one route `r` from `in` to `a`, dead letters to `dlq`) and
/// the pump in front of it, as the settlement tests use them.
struct PumpRig {
    let engine: RoutingEngine
    let sink: RecordingSink
    let inFlight: InFlightCounter
    let pump: SourcePump

    init(policy: ErrorPolicy = ErrorPolicy(deadLetter: "dlq"), steps: [any RouteStep] = []) throws {
        sink = RecordingSink()
        let route = Route(name: "r", source: "in", steps: steps, routing: .to([.endpoint("a")]), errorPolicy: policy)
        let table = try RoutingTable(
            routes: [route], endpoints: ["in", "a", "dlq"].map { Endpoint(name: $0, type: "amqp") },
            headerExtractor: try HeaderExtractor(), defaultDeadLetter: "dlq", version: "test")
        engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        inFlight = InFlightCounter()
        pump = SourcePump(
            engine: engine, metrics: StadtbusMetrics(), inFlight: inFlight, logger: Logger(label: "test.pump"),
            adapter: "test", giveBackPause: .zero)
    }

    /// A retry policy whose first delay is 2 s (long enough to see the file is not due yet).
    static let retrying = ErrorPolicy(
        retry: RetryPolicy(maxAttempts: 3, minDelay: .seconds(2), maxDelay: .seconds(300)), deadLetter: "dlq")

    /// A small XÖV document with a g2g header.
    static func body(uuid: String = UUID().uuidString.lowercased(), author: String = "ags:01061046") -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <t:antrag xmlns:t="urn:stadtbus:test" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1" xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1">
              <g2g:nachrichtenkopf.g2g>
                <g2g:identifikation.nachricht>
                  <g2g:nachrichtenUUID>\(uuid)</g2g:nachrichtenUUID>
                  <g2g:nachrichtentyp><code>0401</code><name>test.Antrag.0401</name></g2g:nachrichtentyp>
                  <g2g:erstellungszeitpunkt>2026-11-25T10:00:00Z</g2g:erstellungszeitpunkt>
                </g2g:identifikation.nachricht>
                <g2g:leser><beh:kennung>ags:01061017</beh:kennung></g2g:leser>
                <g2g:autor><beh:kennung>\(author)</beh:kennung><beh:name>Stadt Itzehoe</beh:name></g2g:autor>
              </g2g:nachrichtenkopf.g2g>
              <t:inhalt><t:betreff>Bebauungsplan Nr. 7</t:betreff></t:inhalt>
            </t:antrag>
            """.utf8)
    }
}
