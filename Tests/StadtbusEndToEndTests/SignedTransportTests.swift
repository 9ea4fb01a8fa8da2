import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Messages from a neighbouring municipality must be signed by that municipality: the running
/// service delivers what verifies and dead-letters the rest with the specific reason.
final class SignedTransportTests: XCTestCase {
    private let certs = Paths.root.appendingPathComponent("certs/out/authorities")

    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
        try shell(["certs/make-dev-certs"])
    }

    /// A real XBeteiligung application whose author is the authority `kennung`.
    private func application(author kennung: String, uuid: String) -> String {
        String(decoding: Applications.make(uuid: uuid), as: UTF8.self)
            .replacingOccurrences(
                of: "<ns3:kennung>xyz:0001</ns3:kennung>", with: "<ns3:kennung>\(kennung)</ns3:kennung>")
    }

    private func sign(_ xml: String, as authority: String, in directory: URL) throws -> [UInt8] {
        let input = directory.appendingPathComponent("\(UUID()).xml")
        let output = directory.appendingPathComponent("\(UUID())-signed.xml")
        try xml.write(to: input, atomically: true, encoding: .utf8)
        try shell([
            Paths.executable.path, "sign", "--key", certs.appendingPathComponent("\(authority)-ec.key").path,
            "--cert", certs.appendingPathComponent("\(authority)-ec.pem").path, "--output", output.path, input.path,
        ])
        return Array(try Data(contentsOf: output))
    }

    func testVerifiedNeighbourMessagesAreDeliveredForgedOnesDeadLettered() async throws {
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: von-nachbarn
                    from: portal
                    steps:
                      - verify
                    to: [eakte]
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let genuine = UUID().uuidString.lowercased()
        let tampered = UUID().uuidString.lowercased()
        let impostor = UUID().uuidString.lowercased()
        let unsigned = UUID().uuidString.lowercased()
        let work = stadtbus.directory
        // Breitenburg signs its own application: delivered.
        try await client.publish(
            try sign(application(author: "ags:01061017", uuid: genuine), as: "breitenburg", in: work),
            to: stadtbus.inQueue)
        // Signed, then changed on the way: the digest no longer matches.
        let changed = String(
            decoding: try sign(application(author: "ags:01061017", uuid: tampered), as: "breitenburg", in: work),
            as: UTF8.self
        )
        .replacingOccurrences(of: "behoerde2", with: "behoerde9")
        try await client.publish(Array(changed.utf8), to: stadtbus.inQueue)
        // Breitenburg's key on a message claiming to come from Itzehoe.
        try await client.publish(
            try sign(application(author: "ags:01061046", uuid: impostor), as: "breitenburg", in: work),
            to: stadtbus.inQueue)
        try await client.publish(Array(application(author: "ags:01061017", uuid: unsigned).utf8), to: stadtbus.inQueue)

        let delivered = try await client.drain(stadtbus.outQueue, expected: 1)
        XCTAssertEqual(delivered.map(\.uuid), [genuine])
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 3)
        let reasons = Dictionary(
            uniqueKeysWithValues: dead.map { ($0.uuid, $0.headers["x-stadtbus-error-reason"]?.stringValue ?? "") })
        XCTAssertTrue(reasons[tampered]?.hasPrefix("bad-digest: ") ?? false, "\(reasons)")
        XCTAssertTrue(reasons[impostor]?.hasPrefix("identity-mismatch: ") ?? false, "\(reasons)")
        XCTAssertTrue(reasons[unsigned]?.hasPrefix("no-signature: ") ?? false, "\(reasons)")
        for letter in dead { XCTAssertEqual(letter.headers["x-stadtbus-error-step"]?.stringValue, "verify") }
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }

    /// A tampered copy that reuses a delivered message's UUID is verified before the duplicate
    /// check, so it is dead-lettered with `bad-digest` instead of being acked as a duplicate
    /// (issue 12, item 9); the genuine message sent again is still a duplicate.
    func testATamperedCopyOfADeliveredMessageIsDeadLetteredNotAckedAsDuplicate() async throws {
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: von-nachbarn
                    from: portal
                    steps:
                      - verify
                    to: [eakte]
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let uuid = UUID().uuidString.lowercased()
        let genuine = try sign(
            application(author: "ags:01061017", uuid: uuid), as: "breitenburg", in: stadtbus.directory)
        try await client.publish(genuine, to: stadtbus.inQueue)
        let delivered = try await client.drain(stadtbus.outQueue, expected: 1)
        XCTAssertEqual(delivered.map(\.uuid), [uuid])

        let tampered = String(decoding: genuine, as: UTF8.self).replacingOccurrences(of: "behoerde2", with: "behoerde9")
        XCTAssertNotEqual(Array(tampered.utf8), genuine)
        try await client.publish(Array(tampered.utf8), to: stadtbus.inQueue)
        let dead = try await client.drain(stadtbus.deadLetterQueue, expected: 1)
        XCTAssertEqual(dead.map(\.uuid), [uuid])
        let reason = dead.first?.headers["x-stadtbus-error-reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.hasPrefix("bad-digest: "), reason)

        try await client.publish(genuine, to: stadtbus.inQueue)
        let duplicates = #"stadtbus_messages_duplicate_total{route="von-nachbarn"}"#
        try await waitFor("the genuine copy counted as a duplicate") { try await stadtbus.metric(duplicates) >= 1 }
        let again = try await client.drain(stadtbus.outQueue, expected: 0)
        XCTAssertTrue(again.isEmpty, "delivered a second time: \(again.map(\.uuid))")
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}
