import StadtbusCore
import Synchronization

/// A sink that records deliveries; endpoints can be told to fail every delivery.
final class RecordingSink: MessageSink {
    private struct State {
        var failing: [String: DeliveryError] = [:]
        var delivered: [String] = []
    }

    private let state = Mutex(State())

    /// Every delivery to `endpoint` fails with `error`.
    func failAlways(_ endpoint: String, with error: DeliveryError) {
        state.withLock { $0.failing[endpoint] = error }
    }

    /// The endpoints delivered to, in order.
    var delivered: [String] { state.withLock { $0.delivered } }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        try state.withLock {
            if let error = $0.failing[endpoint.name] { throw error }
            $0.delivered.append(endpoint.name)
        }
    }
}
