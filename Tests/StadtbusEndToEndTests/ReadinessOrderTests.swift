import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12, item 13: `/ready` answered 200 before the http-in listener's condition existed,
/// and the POST that followed was refused. Every source registers its condition before
/// anything can make `/ready` 200; an http-in source satisfies it only once it is listening.
final class ReadinessOrderTests: EndToEndTestCase {
    /// An instance whose http-in listener binds port 0 (`StadtbusProcess.httpInPort()` reads it).
    private func makeInstance() throws -> StadtbusProcess {
        try StadtbusProcess(
            routes: """
                  - name: antrag-http
                    from: portal.eingang
                    to: [eakte]
                """,
            extraEndpoints: """
                  portal.eingang:
                    type: http-in
                    listen: "127.0.0.1:0"
                    path: /eingang/portal
                    auth: none
                    queue: e2e.\(UUID().uuidString.prefix(8).lowercased()).ready-order
                """)
    }

    private struct Report: Decodable {
        var ready: Bool
        var conditions: [String: Bool]
    }

    /// Deterministic: while the broker is unreachable nothing can satisfy the broker condition,
    /// so `/ready` shows what is registered before it could first turn 200 — the source's
    /// condition must already be there (the old code registered it only after connecting).
    func testSourceConditionsExistBeforeTheBrokerIsConnected() async throws {
        let stadtbus = try makeInstance()
        // Bound but not listening until the test ends: connecting is refused, and nothing else can take the port.
        let refusing = try RefusingLoopbackPort()
        let unreachable = refusing.port
        let configuration = try String(contentsOfFile: stadtbus.configPath, encoding: .utf8)
        let brokerLine = "  port: \(ChaosBroker.port)\n"
        XCTAssertTrue(configuration.contains(brokerLine))
        try configuration.replacingOccurrences(of: brokerLine, with: "  port: \(unreachable)\n")
            .write(toFile: stadtbus.configPath, atomically: true, encoding: .utf8)
        try await stadtbus.start()
        let body = try await stadtbus.waitReady(503)
        let report = try JSONDecoder().decode(Report.self, from: Data(body.utf8))
        XCTAssertFalse(report.ready)
        XCTAssertEqual(report.conditions["broker:main"], false, body)
        XCTAssertEqual(report.conditions["consumer:portal.eingang"], false, body)
        _ = await stadtbus.terminate()
        withExtendedLifetime(refusing) {}
    }

    /// Whenever `/ready` answers 200, the http-in listener's conditions are listed and the
    /// listener accepts connections.
    func testReadyOnlyOnceTheHTTPInListenerAccepts() async throws {
        let stadtbus = try makeInstance()
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await client.declare(stadtbus.inQueue, stadtbus.outQueue, stadtbus.deadLetterQueue)
        try await stadtbus.start()
        var sawReady = false
        for _ in 0..<600 where !sawReady {
            guard let answer = try? await stadtbus.get("/ready") else { continue }
            let report = try JSONDecoder().decode(Report.self, from: Data(answer.body.utf8))
            if answer.status == 200 {
                sawReady = true
                XCTAssertEqual(report.conditions["consumer:portal.eingang"], true, answer.body)
                XCTAssertEqual(report.conditions["listener:127.0.0.1:0"], true, answer.body)
                // The listener logs its port before its condition turns true, so this does not wait.
                let listenPort = try await stadtbus.httpInPort()
                XCTAssertTrue(Self.accepts(port: listenPort), "ready, but the http-in listener refuses connections")
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        XCTAssertTrue(sawReady, stadtbus.log)
        _ = await stadtbus.terminate()
    }

    private static func accepts(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }
}
