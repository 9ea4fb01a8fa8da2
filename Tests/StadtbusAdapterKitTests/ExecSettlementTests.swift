import Foundation
import StadtbusAdapterKit
import StadtbusCore
import Synchronization
import XCTest

@testable import ExecAdapter

/// The `exec` source's settlement against ``SourcePump`` with a real engine: the program hears
/// `accepted` or `rejected` once, and nothing while a retry is held.
final class ExecSettlementTests: XCTestCase {
    /// Frames the settlement sent to the program.
    private final class Sent: Sendable {
        private let frames = Mutex<[FrameHeader]>([])
        func append(_ frame: Frame) { frames.withLock { $0.append(frame.header) } }
        var headers: [FrameHeader] { frames.withLock { $0 } }
    }

    private func pump(_ rig: PumpRig) async -> (Sent, ExecSettlement) {
        let sent = Sent()
        let header = FrameHeader(type: "message", seq: 7, messageID: "m-7")
        let settlement = ExecSettlement(header: header) { sent.append($0) }
        let message = Message(
            body: PumpRig.body(), headers: [:], properties: MessageProperties(messageID: "m-7"), source: "in",
            attempt: 1)
        await rig.pump.pump(message, settlement: settlement)
        return (sent, settlement)
    }

    func testADeliveredMessageIsAcceptedOnce() async throws {
        let (sent, settlement) = await pump(try PumpRig())
        XCTAssertEqual(sent.headers.map(\.status), ["accepted"])
        XCTAssertEqual(sent.headers.first?.seq, 7)
        XCTAssertEqual(sent.headers.first?.type, "settled")
        XCTAssertNil(settlement.requestedRetry)
    }

    func testAPermanentFailureIsRejectedWithItsReasonAndNotAccepted() async throws {
        let rig = try PumpRig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let (sent, settlement) = await pump(rig)
        XCTAssertEqual(sent.headers.map(\.status), ["rejected"], "rejected, and never accepted after that")
        let reason = try XCTUnwrap(sent.headers.first?.reason)
        XCTAssertTrue(reason.hasPrefix("deliver: ") && reason.contains("http-400"), reason)
        XCTAssertEqual(settlement.current, .rejected)
    }

    func testATransientFailureIsHeldWithoutAnAnswer() async throws {
        let rig = try PumpRig(policy: PumpRig.retrying)
        rig.sink.failAlways("a", with: .transient("http-503", "Service Unavailable"))
        let (sent, settlement) = await pump(rig)
        XCTAssertEqual(sent.headers, [], "the program hears only the final outcome")
        XCTAssertEqual(settlement.requestedRetry?.attempt, 2)
        XCTAssertEqual(settlement.requestedRetry?.delay, .seconds(2))
    }
}
