import Foundation
import StadtbusCore

/// Dispatches each delivery to the sink of its endpoint's adapter type. The sinks are
/// installed once the adapters' context exists (it needs the engine, which needs this sink).
final class EndpointSink: MessageSink, @unchecked Sendable {
    private let lock = NSLock()
    private var sinks: [String: any MessageSink] = [:]

    func install(_ sinks: [String: any MessageSink]) {
        lock.withLock { self.sinks = sinks }
    }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        guard let sink = lock.withLock({ sinks[endpoint.type] }) else {
            throw DeliveryError.permanent(
                "adapter-unavailable",
                "endpoint '\(endpoint.name)' has adapter type '\(endpoint.type)', which this Stadtbus build cannot deliver to"
            )
        }
        try await sink.deliver(message, to: endpoint)
    }
}
