import Foundation
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusCore

/// The source of a route reading an `http-in` endpoint: serves the endpoint's path (accepted
/// requests go into the intake queue) and consumes the intake queue as the endpoint, so the
/// route's retry and dead-letter rules apply to what the HTTP side accepted.
final class HTTPInSource: MessageSource, @unchecked Sendable {
    let endpoint: Endpoint
    private let settings: HTTPInSettings
    private let listeners: HTTPInListeners
    private let consumer: QueueConsumer
    private let context: AdapterContext
    private let lock = NSLock()
    private var stopped = false
    private var opened = false

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
        if lock.withLock({ stopped }) { return }
        try await listeners.open(endpoint, context: context)
        let stoppedMeanwhile = lock.withLock {
            opened = true
            return stopped
        }
        if stoppedMeanwhile {
            await listeners.close(endpoint)
            return
        }
        try await consumer.run()
    }

    /// Stops accepting requests (answering those in progress), then stops the consumer.
    func stop() async {
        let wasOpen = lock.withLock {
            stopped = true
            defer { opened = false }
            return opened
        }
        if wasOpen { await listeners.close(endpoint) }
        await consumer.stop()
    }
}
