import Foundation
import StadtbusAdapterKit
import StadtbusCore
import StadtbusXML
import XCTest

@testable import ExecAdapter

/// The exec source: a program sends three messages; each is settled only once the engine's
/// disposition is durable (delivered after a gate opens, delivered after a retry, rejected).
final class ExecSourceTests: XCTestCase {
    func testMessagesAreSettledOnlyAfterTheEnginesDisposition() async throws {
        let report = ExecFixtures.reportFile()
        let directory = NSTemporaryDirectory() + "exec-source-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: report)
            try? FileManager.default.removeItem(atPath: directory)
        }
        let first = UUID().uuidString.lowercased()
        let second = UUID().uuidString.lowercased()
        let bodies = [
            ExecFixtures.g2g(uuid: first),
            ExecFixtures.g2g(uuid: second).replacingOccurrences(of: "Bebauungsplan", with: "FLAKY"), "kein XML",
        ]
        var paths: [String] = []
        for (index, body) in bodies.enumerated() {
            let path = directory + "/\(index + 1).xml"
            try Data(body.utf8).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }

        let sink = GatedSink()
        sink.closeGate()
        sink.failOnce(whenBodyContains: "FLAKY")
        var endpoint = ExecFixtures.endpoint(
            "source.py", report: report, extra: ["EXEC_TEST_BODIES": paths.joined(separator: ":")])
        endpoint.settings["max-in-flight"] = .int(3)
        let route = Route(
            name: "r", source: "prog", routing: .to([.endpoint("out")]),
            errorPolicy: ErrorPolicy(
                retry: RetryPolicy(maxAttempts: 3, minDelay: .milliseconds(100), maxDelay: .milliseconds(200))))
        let table = try RoutingTable(
            routes: [route],
            endpoints: [endpoint, Endpoint(name: "out", type: "memory"), Endpoint(name: "dlq", type: "memory")],
            headerExtractor: try HeaderExtractor(), defaultDeadLetter: "dlq", version: "test")
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let source = try ExecAdapter().makeSource(for: endpoint, context: ExecFixtures.context(engine: engine))
        let running = Task { try await source.run() }

        await ExecFixtures.waitUntil("three messages sent") { ExecFixtures.events(report, "sent").count == 3 }
        await ExecFixtures.waitUntil("the non-XML message is rejected") {
            ExecFixtures.events(report, "settled").contains { $0["seq"] as? Int == 3 }
        }
        await ExecFixtures.waitUntil("both XML messages reach the sink") {
            Set(sink.enteredIDs).isSuperset(of: [first, second])
        }
        XCTAssertEqual(
            ExecFixtures.events(report, "settled").compactMap { $0["seq"] as? Int }, [3],
            "nothing is accepted while its delivery is not durable")

        sink.openGate()
        await ExecFixtures.waitUntil("all three settled") { ExecFixtures.events(report, "settled").count == 3 }
        let settled = Dictionary(
            uniqueKeysWithValues: ExecFixtures.events(report, "settled").compactMap { line -> (Int, String)? in
                guard let seq = line["seq"] as? Int, let status = line["status"] as? String else { return nil }
                return (seq, status)
            })
        XCTAssertEqual(settled, [1: "accepted", 2: "accepted", 3: "rejected"])
        XCTAssertEqual(Set(sink.delivered), [first, second])
        XCTAssertEqual(sink.attemptCount(second), 2, "the flaky message was held and run again")
        let rejected = try XCTUnwrap(ExecFixtures.events(report, "settled").first { $0["seq"] as? Int == 3 })
        XCTAssertFalse((rejected["reason"] as? String ?? "").isEmpty, "a rejection says why")

        await source.stop()
        try await running.value
        XCTAssertEqual(ExecFixtures.events(report, "eof").count, 1, "the program saw the end of its input at shutdown")
    }
}
