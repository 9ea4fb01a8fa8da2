import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

// The machinery (Paths, shell, ChaosBroker, NeighbourBroker, StadtbusProcess, TestClient,
// Applications) lives in Tests/StadtbusTestSupport, shared with StadtbusReliabilityTests.

/// Base of the end-to-end tests: each test runs against this checkout's `chaos` broker node,
/// started (or reused) and running.
class EndToEndTestCase: XCTestCase {
    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
    }
}
