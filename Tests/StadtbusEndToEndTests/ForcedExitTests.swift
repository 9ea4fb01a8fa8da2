import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// A second SIGTERM ends Stadtbus at once: the unfinished message is not acked and goes back
/// to its queue (the broker delivers it again after the restart).
final class ForcedExitTests: EndToEndTestCase {
    func testSecondSigtermExitsWithoutAckingTheMessageInFlight() async throws {
        // A receiver that takes 30 s to answer keeps one message in flight. It binds a port
        // the kernel chooses and tells it (a port found free earlier may be taken meanwhile).
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
            s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            threading.Timer(60, s.shutdown).start()
            print("ready", s.server_address[1], flush=True)
            s.serve_forever()
            """,
        ]
        let ready = Pipe()
        receiver.standardOutput = ready
        try receiver.run()
        defer { receiver.terminate() }
        // The receiver must be listening before the first delivery, or that delivery fails
        // fast (connection refused → retry) and nothing stays in flight.
        var announced = ""
        while !announced.contains("\n") {
            let chunk = ready.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw EndToEndFailure("the receiver exited before listening") }
            announced += String(decoding: chunk, as: UTF8.self)
        }
        guard
            let port = announced.split(separator: " ").last.flatMap({
                Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
            })
        else { throw EndToEndFailure("the receiver announced no port: \(announced)") }

        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: langsam
                    from: portal
                    to: [langsamer-empfaenger]
                """,
            extraEndpoints:
                "  langsamer-empfaenger: { type: http-out, url: \"http://127.0.0.1:\(port)/\", timeout: 60s }")
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let uuid = UUID().uuidString.lowercased()
        try await client.publish(Applications.make(uuid: uuid), to: stadtbus.inQueue)
        try await waitFor("the message in flight at the slow receiver") {
            try await stadtbus.metric("stadtbus_in_flight_messages") >= 1
        }
        let inFlight = try await stadtbus.metric("stadtbus_in_flight_messages")
        XCTAssertEqual(inFlight, 1)

        try stadtbus.signal(SIGTERM)  // graceful: would wait for the slow receiver
        // The first signal was taken (two pending SIGTERMs would merge into one).
        try await waitFor("the first SIGTERM's drain") { stadtbus.log.contains("shutting down: no new messages") }
        XCTAssertTrue(stadtbus.isRunning, "the first SIGTERM drains")
        let forcedAt = ContinuousClock.now
        try stadtbus.signal(SIGTERM)
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 1, stadtbus.log)
        XCTAssertLessThan(
            ContinuousClock.now - forcedAt, .seconds(10), "the second SIGTERM does not wait for the receiver")

        // Not acked: the application is back in the portal queue.
        let back = try await client.drain(stadtbus.inQueue, expected: 1, idle: .seconds(5))
        XCTAssertEqual(back.map(\.uuid), [uuid])
    }
}
