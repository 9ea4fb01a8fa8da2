import Foundation
import StadtbusAdapters
import StadtbusConfig
import StadtbusCore
import XCTest

/// Hot reload: an invalid change keeps the running configuration, a valid one applies,
/// and messages processed meanwhile are delivered exactly once.
final class ReloadTests: XCTestCase {
    private var directory = ""
    private var stamp = Date(timeIntervalSinceNow: -3600)

    override func setUpWithError() throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-reload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try write("endpoints.yaml", Self.endpoints)
        try write("main.yaml", Self.config(route: "v1", header: "1"))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let endpoints = """
        endpoints:
          in: { type: amqp, queue: in }
          out: { type: amqp, queue: out }
        """

    static func config(route: String, header: String, step: String = "set-header") -> String {
        """
        include: [endpoints.yaml]
        routes:
          - name: \(route)
            from: in
            steps:
              - \(step): { x-version: "\(header)" }
            to: out
        """
    }

    /// Writes a file and gives it a distinct modification time (so the poller sees every change
    /// even on file systems with coarse timestamps).
    private func write(_ name: String, _ text: String) throws {
        stamp += 2
        try Self.write(name, text, in: directory, stamp: stamp)
    }

    /// Writes `text` to `name` in `directory` with modification time `stamp` (usable from a task).
    private static func write(_ name: String, _ text: String, in directory: String, stamp: Date) throws {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: stamp], ofItemAtPath: path)
    }

    private var mainPath: String { directory + "/main.yaml" }

    private func setUpEngine() throws -> (RoutingEngine, ConfigurationWatcher, CollectingSink) {
        let loader = ConfigurationLoader(environment: [:], adapterTypes: StandardAdapters.registry.types)
        let loaded = try loader.load(path: mainPath)
        let sink = CollectingSink()
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        return (engine, ConfigurationWatcher(path: mainPath, current: loaded, loader: loader, engine: engine), sink)
    }

    func testInvalidChangeKeepsTheRunningConfigurationAndValidChangeApplies() async throws {
        let (engine, watcher, sink) = try setUpEngine()
        XCTAssertFalse(watcher.hasChanged())

        try write("main.yaml", Self.config(route: "v2", header: "2", step: "set-heder"))
        XCTAssertTrue(watcher.hasChanged())
        guard case .failed(let error) = watcher.reload() else {
            return XCTFail("an invalid config must not be swapped in")
        }
        XCTAssertEqual(error.diagnostics.map(\.message), ["unknown step 'set-heder' — did you mean 'set-header'?"])
        XCTAssertEqual(engine.table.routes.map(\.name), ["v1"])
        XCTAssertFalse(watcher.hasChanged(), "the same broken state is not reported again")
        let disposition = await engine.process(Message(body: ConfigFixtures.g2g(), source: "in"))
        XCTAssertEqual(disposition, .completed)
        XCTAssertEqual(sink.deliveries.last?.1.headers["x-version"], "1")

        try write("main.yaml", Self.config(route: "v2", header: "2"))
        guard case .reloaded = watcher.reload() else { return XCTFail("a valid config must be swapped in") }
        XCTAssertEqual(engine.table.routes.map(\.name), ["v2"])
        let second = await engine.process(Message(body: ConfigFixtures.g2g(), source: "in"))
        XCTAssertEqual(second, .completed)
        XCTAssertEqual(sink.deliveries.last?.1.headers["x-version"], "2")
    }

    func testAChangeInAnIncludedFileIsNoticed() throws {
        let (engine, watcher, _) = try setUpEngine()
        try write("endpoints.yaml", Self.endpoints + "\n  extra: { type: amqp, queue: extra }\n")
        XCTAssertTrue(watcher.hasChanged())
        guard case .reloaded(let loaded) = watcher.reload() else { return XCTFail("expected a reload") }
        XCTAssertNotNil(loaded.settings.endpoints["extra"])
        XCTAssertNotNil(engine.table.endpoints["extra"])
    }

    func testAnEditedStylesheetTakesEffectOnReload() async throws {
        func stylesheet(_ value: String) -> String {
            """
            <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
              <xsl:template match="/"><ergebnis>\(value)</ergebnis></xsl:template>
            </xsl:stylesheet>
            """
        }
        try write("map.xsl", stylesheet("eins"))
        try write(
            "main.yaml",
            "include: [endpoints.yaml]\nroutes:\n  - { name: r, from: in, steps: [ { map: { xslt: map.xsl } } ], to: out }\n"
        )
        let (engine, watcher, sink) = try setUpEngine()
        _ = await engine.process(Message(body: ConfigFixtures.g2g(), source: "in"))
        try write("map.xsl", stylesheet("zwei"))
        XCTAssertTrue(watcher.hasChanged())
        guard case .reloaded = watcher.reload() else { return XCTFail("expected a reload") }
        _ = await engine.process(Message(body: ConfigFixtures.g2g(), source: "in"))
        let results = sink.deliveries.map { String(decoding: $0.1.body, as: UTF8.self) }
        XCTAssertEqual(results.count, 2)
        XCTAssertTrue(results[0].contains("<ergebnis>eins</ergebnis>"), results[0])
        XCTAssertTrue(results[1].contains("<ergebnis>zwei</ergebnis>"), results[1])
    }

    func testThePollerReloadsWhileMessagesAreProcessedExactlyOnce() async throws {
        let (engine, watcher, sink) = try setUpEngine()
        watcher.start(interval: .milliseconds(20))
        defer { watcher.stop() }

        let count = 300
        let bodies = (0..<count).map { _ in ConfigFixtures.g2g() }
        let directory = directory
        let invalidStamp = stamp + 2
        let validStamp = stamp + 4
        stamp += 4
        let changes = Task {
            try await Task.sleep(for: .milliseconds(30))
            try ReloadTests.write(
                "main.yaml", ReloadTests.config(route: "v2", header: "2", step: "valdate"), in: directory,
                stamp: invalidStamp)  // invalid
            try await Task.sleep(for: .milliseconds(120))
            try ReloadTests.write(
                "main.yaml", ReloadTests.config(route: "v3", header: "3"), in: directory, stamp: validStamp)  // valid
        }
        let results = await withTaskGroup(of: Disposition.self, returning: [Disposition].self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(index))  // spread over ~0.3 s
                    return await engine.process(Message(body: body, source: "in"))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        try await changes.value
        // The last change may land after the messages: wait for the poller (a state, not a
        // time: the deadline only ends a test that would otherwise hang).
        let deadline = ContinuousClock.now + .seconds(60)
        while engine.table.routes.map(\.name) != ["v3"], ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }

        XCTAssertEqual(results.filter { $0 == .completed }.count, count)
        let ids = sink.deliveries.map(\.1.messageID)
        XCTAssertEqual(ids.count, count)
        XCTAssertEqual(Set(ids).count, count, "no message was delivered twice")
        XCTAssertEqual(engine.table.routes.map(\.name), ["v3"])
        // (Typically about half the messages run on v1 and half on v3; the split depends on timing,
        // so it is not asserted. The engine test swaps at a fixed point.)
        // Every message ran on exactly one table: its route and header agree, and none ran on the invalid one.
        for (_, message) in sink.deliveries {
            XCTAssertTrue(
                [("v1", "1"), ("v3", "3")].contains { $0.0 == message.route && $0.1 == message.headers["x-version"] },
                "\(message.route)")
        }
    }
}
