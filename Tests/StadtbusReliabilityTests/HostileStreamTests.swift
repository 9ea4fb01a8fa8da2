import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Scenario 5 of issue 8: hostile inputs mixed into a stream of N signed applications on a
/// route with a `verify` step. Each hostile message is dead-lettered with its reason (step and
/// reason headers); the valid stream is delivered exactly once.
final class HostileStreamTests: ReliabilityTestCase {
    override func setUp() async throws {
        try await super.setUp()
        try shell(["certs/make-dev-certs"])
    }

    func testHostileInputsAreDeadLetteredTheStreamIsUnaffected() async throws {
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: signiert
                    from: portal
                    when: { message-type: "0401" }
                    steps:
                      - verify
                    to: [eakte]
                    on-error: { retry: { attempts: 5, backoff: 500ms..2s }, dead-letter: dlq }
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        var ledger = Ledger(scenario: "hostile-inputs")
        let signer = try BreitenburgSigner()
        var valid: [StreamPublisher.Item] = []
        for _ in 0..<count {
            let uuid = UUID().uuidString.lowercased()
            valid.append(StreamPublisher.Item(uuid: uuid, body: Array(try signer.signed(uuid: uuid).utf8)))
            ledger.expectDelivery(uuid)
        }
        typealias Make = (String) throws -> [UInt8]
        let unparseable = "unparseable: "
        let hostile: [(Make, Ledger.ExpectedFailure)] = [
            (
                HostileMessages.externalEntity,
                .init(step: "parse", reasonPrefix: unparseable, reasonContains: "DOCTYPE")
            ),
            (HostileMessages.entityBomb, .init(step: "parse", reasonPrefix: unparseable, reasonContains: "DOCTYPE")),
            (
                HostileMessages.oversized,
                .init(step: "parse", reasonPrefix: unparseable, reasonContains: "exceeds the limit")
            ),
            (HostileMessages.invalidUTF8, .init(step: "parse", reasonPrefix: unparseable, reasonContains: "encoding")),
            (HostileMessages.unknownType, .init(step: "route", reasonPrefix: "no-route: ", reasonContains: "'0499'")),
            (signer.tampered, .init(step: "verify", reasonPrefix: "bad-digest: ")),
            (signer.wrapped, .init(step: "verify", reasonPrefix: "wrapped-signature: ")),
        ]
        // The hostile messages spread evenly through the valid stream.
        var items = valid
        for (index, (make, failure)) in hostile.enumerated() {
            let uuid = UUID().uuidString.lowercased()
            let position = min(items.count, (index + 1) * items.count / (hostile.count + 1))
            items.insert(StreamPublisher.Item(uuid: uuid, body: try make(uuid)), at: position)
            ledger.expectDeadLetter(uuid, failure)
        }

        let publisher = StreamPublisher(client: client, queue: stadtbus.inQueue, items: items, seconds: 3)
        await publisher.start()
        try await publisher.finish()
        let delivered = try await collect(stadtbus.outQueue, expected: valid.count, client: client)
        let dead = try await collect(
            stadtbus.deadLetterQueue, expected: hostile.count, client: client, idle: .seconds(15))
        XCTAssertTrue(stadtbus.isRunning, "stadtbus survived the hostile inputs")
        await stop(stadtbus)

        let figures = ledger.check(downstream: delivered.map(\.uuid), deadLetters: dead)
        try ledger.checkAuditTrail(store: stadtbus.storePath)
        figures.print()
        XCTAssertFalse(stadtbus.log.contains("root:x:0:0"), "the XXE must not have read /etc/passwd")
    }
}
