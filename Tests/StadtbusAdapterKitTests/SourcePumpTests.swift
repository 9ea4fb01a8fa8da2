import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import StadtbusOperations
import StadtbusXML
import XCTest

/// The ack rule (shared/design/message-lifecycle.md), against ``SourcePump`` with a real
/// engine (in-memory stores) and a fake settlement: nothing is completed before its retry or
/// dead letter is confirmed, and a failed settle step gives the message back.
final class SourcePumpTests: XCTestCase {
    private typealias Rig = PumpRig

    private func rig(policy: ErrorPolicy = ErrorPolicy(deadLetter: "dlq"), steps: [any RouteStep] = []) throws -> Rig {
        try PumpRig(policy: policy, steps: steps)
    }

    /// A small message with an XÖV g2g header.
    private func message(
        uuid: String = UUID().uuidString.lowercased(), author: String = "ags:01061046", attempt: Int = 1,
        redelivered: Bool = false
    ) -> Message {
        Message(
            body: PumpRig.body(uuid: uuid, author: author), headers: [:],
            properties: MessageProperties(messageID: "amqp-1"), source: "in", attempt: attempt,
            redelivered: redelivered)
    }

    private func settlement(_ rig: Rig, failing: Set<String> = []) -> FakeSettlement {
        let inFlight = rig.inFlight
        return FakeSettlement(failing: failing, inFlight: { inFlight.value })
    }

    func testCompletedIsOnlyCompleted() async throws {
        let rig = try rig()
        let settlement = settlement(rig)
        await rig.pump.pump(message(), settlement: settlement)
        XCTAssertEqual(settlement.calls, [.complete])
        XCTAssertEqual(rig.sink.delivered, ["a"])
        XCTAssertEqual(settlement.inFlightSeen, [1], "the in-flight gauge covers settling")
        XCTAssertEqual(rig.inFlight.value, 0)
    }

    func testPermanentFailureIsDeadLetteredThenCompleted() async throws {
        let rig = try rig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let settlement = settlement(rig)
        await rig.pump.pump(message(attempt: 2), settlement: settlement)
        XCTAssertEqual(settlement.calls.count, 2, "\(settlement.calls)")
        guard case .deadLetter(let letter) = settlement.calls.first else {
            return XCTFail("expected a dead letter first, got \(settlement.calls)")
        }
        XCTAssertEqual(settlement.calls.last, .complete)
        XCTAssertEqual(letter.step, "deliver")
        XCTAssertTrue(letter.reason.contains("http-400"), letter.reason)
        XCTAssertEqual(letter.route, "r")
        XCTAssertEqual(letter.attempt, 2)
        XCTAssertEqual(letter.endpoint?.name, "dlq")
        XCTAssertEqual(rig.inFlight.value, 0)
    }

    func testRedeliveryOfADeadLetterIsADuplicate() async throws {
        let rig = try rig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let uuid = UUID().uuidString.lowercased()
        await rig.pump.pump(message(uuid: uuid), settlement: settlement(rig))
        // The ack was lost: the same input comes again and must not be dead-lettered twice.
        let again = settlement(rig)
        await rig.pump.pump(message(uuid: uuid, redelivered: true), settlement: again)
        XCTAssertEqual(again.calls, [.complete])
    }

    func testTransientFailureIsRetriedThenCompleted() async throws {
        let rig = try rig(
            policy: PumpRig.retrying)
        rig.sink.failAlways("a", with: .transient("http-503", "Service Unavailable"))
        let settlement = settlement(rig)
        await rig.pump.pump(message(), settlement: settlement)
        XCTAssertEqual(
            settlement.calls,
            [
                .retry(
                    RetryRequest(
                        attempt: 2, delay: .seconds(2), reason: "http-503: a: Service Unavailable", step: "deliver",
                        route: "r")),
                .complete,
            ])
    }

    func testDeadLetterPublishThatFailsGivesBackAndNeverCompletes() async throws {
        let rig = try rig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let settlement = settlement(rig, failing: ["deadLetter"])
        await rig.pump.pump(message(), settlement: settlement)
        XCTAssertEqual(settlement.calls.count, 2, "\(settlement.calls)")
        guard case .deadLetter = settlement.calls.first else {
            return XCTFail("expected a dead letter first, got \(settlement.calls)")
        }
        XCTAssertEqual(settlement.calls.last, .giveBack)
        XCTAssertFalse(settlement.calls.contains(.complete))
        XCTAssertEqual(rig.inFlight.value, 0)
    }

    func testDeadLetterNotConfirmedIsNotRecorded() async throws {
        let rig = try rig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let uuid = UUID().uuidString.lowercased()
        await rig.pump.pump(message(uuid: uuid), settlement: settlement(rig, failing: ["deadLetter"]))
        // Given back unsettled: the next delivery must dead-letter it again, not call it a duplicate.
        let again = settlement(rig)
        await rig.pump.pump(message(uuid: uuid, redelivered: true), settlement: again)
        XCTAssertEqual(again.calls.count, 2, "\(again.calls)")
        guard case .deadLetter = again.calls.first else { return XCTFail("expected a dead letter, got \(again.calls)") }
        XCTAssertEqual(again.calls.last, .complete)
    }

    func testRetryPublishThatFailsGivesBackAndNeverCompletes() async throws {
        let rig = try rig(
            policy: PumpRig.retrying)
        rig.sink.failAlways("a", with: .transient("http-503", "Service Unavailable"))
        let settlement = settlement(rig, failing: ["retry"])
        await rig.pump.pump(message(), settlement: settlement)
        XCTAssertEqual(settlement.calls.count, 2, "\(settlement.calls)")
        guard case .retry = settlement.calls.first else {
            return XCTFail("expected a retry first, got \(settlement.calls)")
        }
        XCTAssertEqual(settlement.calls.last, .giveBack)
    }

    func testCompleteThatFailsGivesBack() async throws {
        let rig = try rig()
        let settlement = settlement(rig, failing: ["complete"])
        await rig.pump.pump(message(), settlement: settlement)
        XCTAssertEqual(settlement.calls, [.complete, .giveBack])
        XCTAssertEqual(rig.inFlight.value, 0)
    }

    func testDuplicateIsCompleted() async throws {
        let rig = try rig()
        let uuid = UUID().uuidString.lowercased()
        await rig.pump.pump(message(uuid: uuid), settlement: settlement(rig))
        let again = settlement(rig)
        await rig.pump.pump(message(uuid: uuid), settlement: again)
        XCTAssertEqual(again.calls, [.complete])
        XCTAssertEqual(rig.sink.delivered, ["a"], "delivered once")
    }

    func testFilteredIsCompleted() async throws {
        let rig = try rig(steps: [FilterStep(condition: .author([ValuePattern("ags:01061*")]))])
        let settlement = settlement(rig)
        await rig.pump.pump(message(author: "ags:09162000"), settlement: settlement)
        XCTAssertEqual(settlement.calls, [.complete])
        XCTAssertEqual(rig.sink.delivered, [])
    }
}
