import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Scenario 3 of issue 8: the eAkte (simulators/eakte.py, flaky) fails 30 % of the calls —
/// 20 % answered 500, 10 % hanging past the http-out endpoint's 1 s timeout.
///
/// A hanging request is never recorded by the simulator (the hang happens before the request
/// is accepted, see simulators/README.md): a timed-out call was not accepted, so its retry is
/// not a duplicate. Duplicates are what the simulator itself counts (`duplicates`).
final class FlakyDownstreamTests: ReliabilityTestCase {
    func testFlakyHTTPDownstreamGetsEverythingExactlyOnce() async throws {
        let eakte = try SimulatedEAkte()
        try await eakte.control(["mode": "flaky", "failure-rate": 0.2, "timeout-rate": 0.1, "hang-seconds": 1.5])
        let mapping = Paths.root.appendingPathComponent("mappings/beteiligung-to-xdomea.xsl").path
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: akte
                    from: portal
                    when: { message-type: "0401" }
                    steps:
                      - validate: { schema: xbeteiligung }
                      - map:
                          xslt: \(mapping)
                          parameters: { eingangszeit: "{header.createdAt}", dms-instanz: itzehoe-dms }
                    to: [eakte-http]
                    on-error: { retry: { attempts: 30, backoff: 200ms..1s }, dead-letter: dlq }
                """,
            extraEndpoints: "  eakte-http: { type: http-out, url: \(eakte.url), timeout: 1s }")
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let scenario = StreamScenario(scenario: "http-flaky-30pct", count: count)
        let publisher = StreamPublisher(client: client, queue: stadtbus.inQueue, items: scenario.items, seconds: 2)
        await publisher.start()
        try await publisher.finish()

        let filed = try await eakte.waitForUnique(scenario.validCount, seconds: 60 + Double(count) / 2)
        let dead = try await collect(
            stadtbus.deadLetterQueue, expected: scenario.failingCount, client: client, idle: .seconds(10))
        // Late copies (a retry of something already filed) would arrive within the backoff.
        try await Task.sleep(for: .seconds(3))
        let final = try await eakte.received()
        let retried = try await stadtbus.metric(#"stadtbus_messages_retried_total{route="akte"}"#)
        await stop(stadtbus)

        XCTAssertEqual(filed.unique, scenario.validCount)
        XCTAssertEqual(final.duplicates, 0, "the simulator counted duplicates")
        XCTAssertGreaterThan(retried, 0, "the flaky mode must have caused retries for this test to mean anything")
        let figures = scenario.ledger.check(downstream: final.ids, deadLetters: dead)
        try scenario.ledger.checkAuditTrail(store: stadtbus.storePath)
        figures.print()
        print("http-flaky-30pct: retries \(Int(retried)), simulator duplicates \(final.duplicates)")
    }
}
