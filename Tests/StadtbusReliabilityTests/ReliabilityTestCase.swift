import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Base of the reliability scenarios: the real `stadtbus` binary on this checkout's `chaos`
/// broker node, a known set of N messages with unique UUIDs, a fault, exact accounting.
class ReliabilityTestCase: XCTestCase {
    /// N: how many valid messages a scenario sends (`STADTBUS_CHAOS_COUNT`).
    var count: Int { ChaosCount.value }

    override func setUp() async throws {
        continueAfterFailure = true
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
    }

    /// N fresh XBeteiligung applications.
    func applications(_ count: Int) -> [StreamPublisher.Item] {
        (0..<count).map { _ in
            let uuid = UUID().uuidString.lowercased()
            return StreamPublisher.Item(uuid: uuid, body: Applications.make(uuid: uuid))
        }
    }

    /// Collects what arrived on `queue` (one UUID per delivery): waits up to `idle` for each
    /// of the `expected` messages, then keeps listening for `settle` to catch late duplicates.
    func collect(
        _ queue: String, expected: Int, client: TestClient, idle: Duration = .seconds(30),
        settle: Duration = .seconds(3)
    ) async throws -> [(uuid: String, headers: [String: AMQPHeaderValue])] {
        try await client.drain(queue, expected: expected, idle: idle, settle: settle)
    }

    /// Waits until `/metrics` shows `value` or more for `sample` (within `seconds`).
    func waitForMetric(_ stadtbus: StadtbusProcess, _ sample: String, atLeast value: Double, seconds: Double = 120)
        async throws
    {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let current = try? await stadtbus.metric(sample), current >= value { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EndToEndFailure("\(sample) did not reach \(value)")
    }

    /// Stops Stadtbus gracefully; a non-zero status fails the test with the log's tail.
    func stop(_ stadtbus: StadtbusProcess, file: StaticString = #filePath, line: UInt = #line) async {
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, String(stadtbus.log.suffix(4000)), file: file, line: line)
    }
}
