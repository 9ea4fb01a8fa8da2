import StadtbusCore
import Synchronization

/// Dispatches each delivery to the sink of its endpoint's adapter type. The sinks are
/// installed once the adapters' context exists (it needs the engine, which needs this sink).
final class EndpointSink: MessageSink {
    private let sinks = Mutex<[String: any MessageSink]>([:])

    func install(_ sinks: [String: any MessageSink]) {
        self.sinks.withLock { $0 = sinks }
    }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        guard let sink = sinks.withLock({ $0[endpoint.type] }) else {
            throw DeliveryError.permanent(
                "adapter-unavailable",
                "endpoint '\(endpoint.name)' has adapter type '\(endpoint.type)', which this Stadtbus build cannot deliver to"
            )
        }
        try await sink.deliver(message, to: endpoint)
    }
}
