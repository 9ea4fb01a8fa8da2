import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The portal flow over HTTP with the real `stadtbus` binary: XBeteiligung 0401 applications
/// POSTed to an `http-in` endpoint are answered 202, then validated by the route reading the
/// endpoint and delivered to the destination queue; a schema-invalid one is dead-lettered.
final class HTTPInEndToEndTests: EndToEndTestCase {
    func testPortalSubmissionsOverHTTPArriveAtTheDestination() async throws {
        let secrets = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-http-in-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: secrets) }
        let token = "portal-\(UUID().uuidString)"
        let tokenFile = secrets.appendingPathComponent("portal.token")
        try "\(token)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let intake = "e2e.\(UUID().uuidString.prefix(8).lowercased()).http-in"
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: antrag-http
                    from: portal.eingang
                    when: { message-type: "0401" }
                    steps:
                      - validate: { schema: xbeteiligung }
                    to: [eakte]
                """,
            extraEndpoints: """
                  portal.eingang:
                    type: http-in
                    listen: "127.0.0.1:0"
                    path: /eingang/portal
                    token-file: \(tokenFile.path)
                    queue: \(intake)
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let ready = try await stadtbus.waitReady()
        XCTAssertTrue(ready.contains("listener:127.0.0.1:0"), ready)
        let listenPort = try await stadtbus.httpInPort()

        let uuids = (0..<3).map { _ in UUID().uuidString.lowercased() }
        for uuid in uuids {
            let (status, body) = try await post(Applications.make(uuid: uuid), port: listenPort, token: token, id: uuid)
            XCTAssertEqual(status, 202, body)
            XCTAssertTrue(body.contains(#""id":"\#(uuid)""#), body)
        }
        let bad = UUID().uuidString.lowercased()
        let (badStatus, badBody) = try await post(
            Applications.invalid(uuid: bad), port: listenPort, token: token, id: bad)
        XCTAssertEqual(badStatus, 202, "well-formed but schema-invalid is accepted, then dead-lettered: \(badBody)")
        let (unauthorized, _) = try await post(
            Applications.make(uuid: UUID().uuidString), port: listenPort, token: "wrong-token-1234567", id: nil)
        XCTAssertEqual(unauthorized, 401)

        let delivered = try await client.drain(stadtbus.outQueue, expected: 3, idle: .seconds(15))
        XCTAssertEqual(Set(delivered.map(\.uuid)), Set(uuids), stadtbus.log)
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 1, idle: .seconds(15))
        XCTAssertEqual(dead.map(\.uuid), [bad], stadtbus.log)
        XCTAssertEqual(dead.first?.headers["x-stadtbus-http-endpoint"], .string("portal.eingang"))

        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }

    private func post(_ body: [UInt8], port: Int, token: String, id: String?) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/eingang/portal")!)
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        request.timeoutInterval = 20
        request.setValue("application/xml", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let id { request.setValue(id, forHTTPHeaderField: "X-Message-ID") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
