import XCTest

@testable import StadtbusAMQP

/// The ack bookkeeping of one consumer channel, without a broker (the broker side is in
/// CumulativeAckTests).
final class AckTrackerTests: XCTestCase {
    func testOutOfOrderCompletionAcksTheContiguousFrontOnce() {
        var tracker = AckTracker(epoch: 1, holdLimit: 100)
        XCTAssertTrue(tracker.complete(3))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(), "3 waits behind 1 and 2")
        XCTAssertTrue(tracker.complete(1))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 1, coveredByCumulative: 1))
        XCTAssertTrue(tracker.complete(2))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 3, coveredByCumulative: 2))
        XCTAssertTrue(tracker.complete(5))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush())
        XCTAssertTrue(tracker.complete(4))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 5, coveredByCumulative: 2))
        XCTAssertEqual(tracker.settledThrough, 5)
        XCTAssertFalse(tracker.hasPending)
    }

    func testCompletionsOfOneTurnShareOneCumulativeAck() {
        var tracker = AckTracker(epoch: 1, holdLimit: 100)
        for tag in (1...50).reversed() { XCTAssertTrue(tracker.complete(UInt64(tag))) }
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 50, coveredByCumulative: 50))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(), "nothing is sent twice")
    }

    func testSecondSettlementOfADeliveryIsRefused() {
        var tracker = AckTracker(epoch: 1, holdLimit: 100)
        XCTAssertTrue(tracker.complete(2))
        XCTAssertFalse(tracker.complete(2))
        XCTAssertFalse(tracker.settleIndividually(2), "a nack after the ack must not be sent")
        XCTAssertTrue(tracker.complete(1))
        XCTAssertEqual(tracker.flush().cumulative, 2)
        XCTAssertFalse(tracker.complete(1), "settled and sent before")
        XCTAssertFalse(tracker.settleIndividually(2))
    }

    func testNackInTheMiddleIsReachedOverButNotCounted() {
        var tracker = AckTracker(epoch: 1, holdLimit: 100)
        XCTAssertTrue(tracker.complete(1))
        XCTAssertTrue(tracker.complete(2))
        XCTAssertTrue(tracker.settleIndividually(3))  // nack sent at once
        XCTAssertTrue(tracker.complete(4))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 4, coveredByCumulative: 3))
        // a nack at the front with nothing completed behind it needs no ack
        XCTAssertTrue(tracker.settleIndividually(5))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush())
        XCTAssertEqual(tracker.settledThrough, 5)
        // the cumulative ack names the last completed tag, not a nacked one after it
        XCTAssertTrue(tracker.complete(6))
        XCTAssertTrue(tracker.settleIndividually(7))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 6, coveredByCumulative: 1))
    }

    func testCompletionsBehindAGapAreAckedAloneAtTheHoldLimitOrWhenClosing() {
        var tracker = AckTracker(epoch: 1, holdLimit: 3)
        XCTAssertTrue(tracker.complete(2))
        XCTAssertTrue(tracker.complete(3))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(), "below the hold limit: wait for 1")
        XCTAssertTrue(tracker.complete(4))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(individual: [2, 3, 4]), "1 is slow: do not hold the credit")
        XCTAssertTrue(tracker.complete(6))
        XCTAssertEqual(tracker.flush(everything: true), AckTracker.Flush(individual: [6]))
        XCTAssertTrue(tracker.complete(1))
        XCTAssertEqual(
            tracker.flush(), AckTracker.Flush(cumulative: 1, coveredByCumulative: 1),
            "the cumulative ack stops at the last delivery not acked yet")
        XCTAssertEqual(tracker.settledThrough, 4)
        XCTAssertTrue(tracker.complete(5))
        XCTAssertEqual(tracker.flush(), AckTracker.Flush(cumulative: 5, coveredByCumulative: 1))
        XCTAssertEqual(tracker.settledThrough, 6)
    }

    func testLongRunsStayCompact() {
        var tracker = AckTracker(epoch: 1, holdLimit: 1000)
        var tag: UInt64 = 0
        for _ in 0..<100 {
            for offset in (1...100).reversed() { XCTAssertTrue(tracker.complete(tag + UInt64(offset))) }
            tag += 100
            XCTAssertEqual(tracker.flush().cumulative, tag)
        }
        XCTAssertEqual(tracker.settledThrough, 10_000)
    }
}
