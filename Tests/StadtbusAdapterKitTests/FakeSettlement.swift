import StadtbusAdapterKit
import Synchronization

/// A settlement that records every call in order and fails the calls it is told to.
final class FakeSettlement: Settlement {
    /// One call the pump made.
    enum Call: Equatable {
        case complete
        case retry(RetryRequest)
        case deadLetter(DeadLetterRequest)
        case giveBack
    }

    /// Thrown by a call told to fail.
    struct Refused: Error, CustomStringConvertible {
        var description: String { "publish not confirmed (test)" }
    }

    private struct State {
        var calls: [Call] = []
        var inFlightSeen: [Int] = []
    }

    private let state = Mutex(State())
    private let failing: Set<String>
    private let inFlight: (@Sendable () -> Int)?

    /// - Parameters:
    ///   - failing: the calls that throw: `complete`, `retry`, `deadLetter`.
    ///   - inFlight: read at every call, to check the gauge covers settling.
    init(failing: Set<String> = [], inFlight: (@Sendable () -> Int)? = nil) {
        self.failing = failing
        self.inFlight = inFlight
    }

    var calls: [Call] { state.withLock { $0.calls } }
    var inFlightSeen: [Int] { state.withLock { $0.inFlightSeen } }

    func complete() async throws { try record(.complete, name: "complete") }
    func retry(_ request: RetryRequest) async throws { try record(.retry(request), name: "retry") }
    func deadLetter(_ letter: DeadLetterRequest) async throws { try record(.deadLetter(letter), name: "deadLetter") }
    func giveBack() async { try? record(.giveBack, name: "giveBack") }

    private func record(_ call: Call, name: String) throws {
        let seen = inFlight?()
        state.withLock {
            $0.calls.append(call)
            if let seen { $0.inFlightSeen.append(seen) }
        }
        if failing.contains(name) { throw Refused() }
    }
}
