import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// A second SIGTERM ends Stadtbus at once: the unfinished message is not acked and goes back
/// to its queue (the broker delivers it again after the restart).
final class ForcedExitTests: EndToEndTestCase {
    func testSecondSigtermExitsWithoutAckingTheMessageInFlight() async throws {
        // A receiver that takes 30 s to answer keeps one message in flight.
        let port = freeLoopbackPort()
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        receiver.arguments = [
            "python3", "-c",
            """
            import http.server, time, threading
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    time.sleep(30); self.send_response(200); self.end_headers()
                def log_message(self, *a): pass
            s = http.server.ThreadingHTTPServer(("127.0.0.1", \(port)), H)
            threading.Timer(60, s.shutdown).start()
            print("ready", flush=True)
            s.serve_forever()
            """,
        ]
        let ready = Pipe()
        receiver.standardOutput = ready
        try receiver.run()
        defer { receiver.terminate() }
        // The receiver must be listening before the first delivery, or that delivery fails
        // fast (connection refused → retry) and nothing stays in flight.
        _ = ready.fileHandleForReading.availableData

        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: langsam
                    from: portal
                    to: [langsamer-empfaenger]
                """, extraEndpoints: "  langsamer-empfaenger: { type: http-out, url: \"http://127.0.0.1:\(port)/\", timeout: 60s }")
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue)
        for _ in 0..<200 {
            if try await stadtbus.metric("stadtbus_in_flight_messages") >= 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let inFlight = try await stadtbus.metric("stadtbus_in_flight_messages")
        XCTAssertEqual(inFlight, 1)

        try stadtbus.signal(SIGTERM)  // graceful: would wait for the slow receiver
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertTrue(stadtbus.isRunning, "the first SIGTERM drains")
        let forcedAt = ContinuousClock.now
        try stadtbus.signal(SIGTERM)
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 1, stadtbus.log)
        XCTAssertLessThan(ContinuousClock.now - forcedAt, .seconds(10), "the second SIGTERM does not wait for the receiver")

        // Not acked: the application is back in the portal queue.
        let back = try await client.drain(stadtbus.inQueue, expected: 1, idle: .seconds(5))
        XCTAssertEqual(back.map(\.uuid), [uuid])
    }
}
