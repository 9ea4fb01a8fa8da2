import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import StadtbusOperations
import StadtbusXML
import XCTest

@testable import ExecAdapter

/// Paths, endpoints and report reading for the exec tests.
enum ExecFixtures {
    static var programs: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Programs")
    }

    static func program(_ name: String) -> String {
        let path = programs.appendingPathComponent(name).path
        chmod(path, 0o755)
        return path
    }

    /// A fresh, empty report file for one test.
    static func reportFile() -> String {
        let path = NSTemporaryDirectory() + "exec-report-\(UUID().uuidString).jsonl"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return path
    }

    static func endpoint(
        // A generous timeout: a loaded machine may take seconds to start Python. Tests of the
        // timeout itself pass a short one.
        _ program: String, report: String, timeout: Duration = .seconds(20), maxInFlight: Int = 8,
        extra: [String: String] = [:]
    ) -> Endpoint {
        let environment = ["EXEC_TEST_REPORT": report].merging(extra) { $1 }
        return Endpoint(
            name: "prog", type: "exec",
            settings: [
                "command": .path(self.program(program)),
                "environment": .map(environment.mapValues(ConfigValue.string)),
                "timeout": .duration(timeout),
                "max-in-flight": .int(maxInFlight),
                "restart-backoff": .string("50ms..200ms"),
            ])
    }

    /// The report's lines (one JSON object each).
    static func lines(_ report: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: report, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    static func events(_ report: String, _ event: String) -> [[String: Any]] {
        lines(report).filter { $0["event"] as? String == event }
    }

    /// Polls `condition` until it holds (at most 60 s; a correctness wait, not a speed check).
    static func waitUntil(
        _ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: () -> Bool
    ) async {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            if ContinuousClock.now > deadline {
                XCTFail("timed out waiting for: \(what)", file: file, line: line)
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    static func outgoing(_ body: String, id: String = UUID().uuidString) -> OutgoingMessage {
        OutgoingMessage(
            body: Array(body.utf8), headers: ["x-case": "42"],
            properties: MessageProperties(contentType: "application/xml"),
            messageID: id, route: "r")
    }

    static func context(engine: RoutingEngine) -> AdapterContext {
        var logger = Logger(label: "stadtbus.exec.tests")
        logger.logLevel = .debug
        return AdapterContext(
            engine: engine, metrics: StadtbusMetrics(), readiness: Readiness(),
            inFlight: InFlightCounter(), maxInFlight: 2, identity: nil, logger: logger)
    }

    /// A small XÖV message with a g2g header.
    static func g2g(uuid: String = UUID().uuidString.lowercased()) -> String {
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
            <g2g:autor><beh:kennung>ags:01061046</beh:kennung><beh:name>Stadt Itzehoe</beh:name></g2g:autor>
          </g2g:nachrichtenkopf.g2g>
          <t:inhalt>Bebauungsplan</t:inhalt>
        </t:antrag>
        """
    }
}

/// An in-memory sink: records deliveries, can hold deliveries to `out` behind a gate and
/// fail chosen bodies transiently once.
final class GatedSink: MessageSink, @unchecked Sendable {
    private let lock = NSLock()
    private var gateOpen = true
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []
    private var failOnceMarkers: Set<String> = []
    private(set) var entered: [String] = []
    private var stored: [String] = []
    private var storedBodies: [String] = []
    private var attempts: [String: Int] = [:]

    func closeGate() { lock.withLock { gateOpen = false } }

    func openGate() {
        let waiters = lock.withLock {
            gateOpen = true
            defer { gateWaiters = [] }
            return gateWaiters
        }
        waiters.forEach { $0.resume() }
    }

    func failOnce(whenBodyContains marker: String) { lock.withLock { _ = failOnceMarkers.insert(marker) } }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let body = String(decoding: message.body, as: UTF8.self)
        lock.withLock {
            entered.append(message.messageID)
            attempts[message.messageID, default: 0] += 1
        }
        await withCheckedContinuation { continuation in
            let open = lock.withLock { () -> Bool in
                if gateOpen { return true }
                gateWaiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
        try lock.withLock {
            if let marker = failOnceMarkers.first(where: { body.contains($0) }) {
                failOnceMarkers.remove(marker)
                throw DeliveryError.transient("http-503", "scripted failure")
            }
            stored.append(message.messageID)
            storedBodies.append(body)
        }
    }

    var delivered: [String] { lock.withLock { stored } }
    var bodies: [String] { lock.withLock { storedBodies } }
    var enteredIDs: [String] { lock.withLock { entered } }
    func attemptCount(_ id: String) -> Int { lock.withLock { attempts[id] ?? 0 } }
}

/// Whether a process with `pid` exists (a zombie counts; a reaped one does not).
func processExists(_ pid: Int) -> Bool { kill(pid_t(pid), 0) == 0 }
