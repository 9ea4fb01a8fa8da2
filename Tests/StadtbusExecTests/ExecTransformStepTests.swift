import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

@testable import ExecAdapter

/// `exec-transform`: the program's `ok` body replaces the document.
final class ExecTransformStepTests: XCTestCase {
    private let adapter = ExecAdapter()

    override func tearDown() async throws {
        await adapter.shutdown()  // stops the step's program
    }

    private func engine(sink: GatedSink) throws -> RoutingEngine {
        let factory = try XCTUnwrap(adapter.steps.first)
        let step = try factory.makeStep(settings: [
            "command": .path(ExecFixtures.program("transform.py")), "timeout": .duration(.seconds(20)),
            "max-in-flight": .int(2), "restart-backoff": .string("50ms..200ms"),
        ])
        let route = Route(name: "r", source: "in", steps: [step], routing: .to([.endpoint("out")]))
        let table = try RoutingTable(
            routes: [route], endpoints: ["in", "out", "dlq"].map { Endpoint(name: $0, type: "memory") },
            headerExtractor: try HeaderExtractor(), defaultDeadLetter: "dlq", version: "test")
        return RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
    }

    func testOkBodyReplacesTheDocument() async throws {
        let sink = GatedSink()
        let engine = try engine(sink: sink)
        let disposition = await engine.process(Message(body: Array(ExecFixtures.g2g().utf8), source: "in"))
        XCTAssertEqual(disposition, .completed)
        let body = try XCTUnwrap(sink.bodies.first)
        XCTAssertTrue(body.contains("Umgewandelt"), body)
        XCTAssertFalse(body.contains("Bebauungsplan"), body)
    }

    func testNonXMLAnswerIsAPermanentFailure() async throws {
        let sink = GatedSink()
        let engine = try engine(sink: sink)
        let message = ExecFixtures.g2g().replacingOccurrences(of: "Bebauungsplan", with: "NOXML")
        let disposition = await engine.process(Message(body: Array(message.utf8), source: "in"))
        guard case .deadLetter(let reason, let step, _, _) = disposition else {
            return XCTFail("expected a dead letter, got \(disposition)")
        }
        XCTAssertEqual(step, "exec-transform")
        XCTAssertTrue(reason.contains("not XML"), reason)
        XCTAssertTrue(sink.delivered.isEmpty)
    }
}
