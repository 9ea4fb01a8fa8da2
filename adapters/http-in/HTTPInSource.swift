import Foundation
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusCore
import Synchronization

/// The source of a route reading an `http-in` endpoint: serves the endpoint's path (accepted
/// requests go into the intake queue) and consumes the intake queue as the endpoint, so the
/// route's retry and dead-letter rules apply to what the HTTP side accepted.
final class HTTPInSource: MessageSource, Sendable {
    let endpoint: Endpoint
    private let settings: HTTPInSettings
    private let listeners: HTTPInListeners
    private let consumer: QueueConsumer
    private let context: AdapterContext
    /// Whether ``stop()`` was called, and whether the path is open.
    private let state = Mutex((stopped: false, opened: false))

    init(endpoint: Endpoint, settings: HTTPInSettings, listeners: HTTPInListeners, context: AdapterContext) {
        self.endpoint = endpoint
        self.settings = settings
        self.listeners = listeners
        self.context = context
        consumer = QueueConsumer(endpoint: endpoint, queue: settings.queue, broker: settings.broker, context: context)
    }

    /// Opens the path, then consumes the intake queue until ``stop()``. A listener that cannot
    /// bind makes `/ready` fail with the reason; the queue is still consumed.
    func run() async throws {
        if state.withLock({ $0.stopped }) { return }
        try await listeners.open(endpoint, context: context)
        let stoppedMeanwhile = state.withLock { state in
            state.opened = true
            return state.stopped
        }
        if stoppedMeanwhile {
            await listeners.close(endpoint)
            return
        }
        try await consumer.run()
    }

    /// Stops accepting requests (answering those in progress), then stops the consumer.
    func stop() async {
        let wasOpen = state.withLock { state in
            state.stopped = true
            defer { state.opened = false }
            return state.opened
        }
        if wasOpen { await listeners.close(endpoint) }
        await consumer.stop()
    }
}
