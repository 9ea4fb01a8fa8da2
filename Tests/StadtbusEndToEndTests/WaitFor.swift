import Foundation
import XCTest

/// Polls `condition` every 50 ms until it holds: for waiting on a state, never on a time. The
/// timeout is generous (a loaded CI machine is slow, not wrong); when it passes, the test
/// fails with `what`. Returns whether the condition held.
@discardableResult
func waitFor(
    _ what: String, timeout: Duration = .seconds(60), file: StaticString = #filePath, line: UInt = #line,
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            XCTFail("waited \(timeout) for: \(what)", file: file, line: line)
            return false
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return true
}
