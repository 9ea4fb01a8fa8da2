import Foundation
import StadtbusAMQP
import StadtbusRuntime
import StadtbusTestSupport
import XCTest

/// Configuration reload through the running service group.
final class RuntimeReloadTests: XCTestCase {
    /// A route added to the configuration: after the reload its source runs (readiness) and
    /// moves messages; the first route keeps working.
    func testReloadStartsTheSourceOfANewRoute() async throws {
        let queues = TestQueues()
        let directory = try RuntimeHarness.makeDirectory()
        let endpoints = """
              portal: { type: amqp, queue: \(queues.name("in")) }
              eakte: { type: amqp, queue: \(queues.name("out")) }
              nachbar: { type: amqp, queue: \(queues.name("in2")) }
              archiv: { type: amqp, queue: \(queues.name("out2")) }
            """
        let first = """
              - name: antrag
                from: portal
                to: [eakte]
            """
        let harness = try RuntimeHarness(
            directory: directory, yaml: configuration(directory: directory, endpoints: endpoints, routes: first))
        try await harness.waitUntilReady()
        XCTAssertNil(harness.readiness.report.conditions["consumer:nachbar"], "no route reads nachbar yet")

        try harness.rewrite(
            configuration(
                directory: directory, endpoints: endpoints,
                routes: first + "\n"
                    + """
                      - name: weiterleitung
                        from: nachbar
                        to: [archiv]
                    """))
        let outcome = try await harness.reload()
        guard case .reloaded(let loaded) = outcome else {
            return XCTFail("not reloaded: \(outcome)\n\(harness.events.text)")
        }
        XCTAssertEqual(loaded.table.routes.count, 2)
        XCTAssertNotNil(harness.readiness.report.conditions["consumer:nachbar"], "registered by the reload")
        try await harness.waitFor(condition: "consumer:nachbar")

        let client = try await TestClient.connect(RuntimeHarness.broker)
        let old = UUID().uuidString.lowercased()
        let new = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: old), to: queues.name("in"))
        try await client.publish(Applications.make(uuid: new), to: queues.name("in2"))
        let archived = try await client.drain(queues.name("out2"), expected: 1, idle: .seconds(20))
        XCTAssertEqual(archived.map(\.uuid), [new], harness.events.text)
        let delivered = try await client.drain(queues.name("out"), expected: 1, idle: .seconds(20))
        XCTAssertEqual(delivered.map(\.uuid), [old], harness.events.text)

        try await harness.shutdown()
        XCTAssertFalse(harness.events.contains("drain timeout"), harness.events.text)
        try await client.connection.delete(queues: ["in", "out", "in2", "out2"].map(queues.name))
        await client.connection.close()
    }

    /// A route removed from the configuration: after the reload its source is stopped and its
    /// readiness condition gone; the remaining route keeps moving messages.
    func testReloadStopsTheSourceOfARemovedRoute() async throws {
        let queues = TestQueues()
        let directory = try RuntimeHarness.makeDirectory()
        let endpoints = """
              portal: { type: amqp, queue: \(queues.name("in")) }
              eakte: { type: amqp, queue: \(queues.name("out")) }
              nachbar: { type: amqp, queue: \(queues.name("in2")) }
              archiv: { type: amqp, queue: \(queues.name("out2")) }
            """
        let kept = """
              - name: antrag
                from: portal
                to: [eakte]
            """
        let removed = """
              - name: weiterleitung
                from: nachbar
                to: [archiv]
            """
        let harness = try RuntimeHarness(
            directory: directory,
            yaml: configuration(directory: directory, endpoints: endpoints, routes: kept + "\n" + removed))
        try await harness.waitUntilReady()
        XCTAssertEqual(harness.readiness.report.conditions["consumer:nachbar"], true)

        try harness.rewrite(configuration(directory: directory, endpoints: endpoints, routes: kept))
        guard case .reloaded = try await harness.reload() else {
            return XCTFail("not reloaded\n\(harness.events.text)")
        }
        XCTAssertNil(harness.readiness.report.conditions["consumer:nachbar"], harness.events.text)
        let events = harness.events
        _ = try await bounded(.seconds(20), "the removed route's consumer to stop") {
            await events.first("stopped consuming", metadata: ["endpoint": "nachbar"])
        }
        XCTAssertNotNil(events.index(of: "stopping the source of an endpoint no route reads from"), events.text)
        XCTAssertEqual(harness.readiness.report.conditions["consumer:portal"], true)

        let client = try await TestClient.connect(RuntimeHarness.broker)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: queues.name("in"))
        let delivered = try await client.drain(queues.name("out"), expected: 1, idle: .seconds(20))
        XCTAssertEqual(delivered.map(\.uuid), [uuid], harness.events.text)

        try await harness.shutdown()
        try await client.connection.delete(queues: ["in", "out", "in2", "out2"].map(queues.name))
        await client.connection.close()
    }

    /// With file watching on, a changed configuration file is reloaded without being asked:
    /// the new route's source starts.
    func testAChangedFileIsReloadedWhenWatching() async throws {
        let queues = TestQueues()
        let directory = try RuntimeHarness.makeDirectory()
        let endpoints = """
              portal: { type: amqp, queue: \(queues.name("in")) }
              eakte: { type: amqp, queue: \(queues.name("out")) }
            """
        let harness = try RuntimeHarness(
            directory: directory, yaml: configuration(directory: directory, endpoints: endpoints, routes: "  []"),
            watchInterval: .milliseconds(100))
        try await harness.waitUntilReady()
        XCTAssertNil(harness.readiness.report.conditions["consumer:portal"])

        try harness.rewrite(
            configuration(
                directory: directory, endpoints: endpoints,
                routes: """
                      - name: antrag
                        from: portal
                        to: [eakte]
                    """))
        try await harness.waitFor(condition: "consumer:portal")
        XCTAssertNotNil(harness.events.index(of: "configuration reloaded"), harness.events.text)

        try await harness.shutdown()
        let client = try await TestClient.connect(RuntimeHarness.broker)
        try await client.connection.delete(queues: ["in", "out"].map(queues.name))
        await client.connection.close()
    }
}
