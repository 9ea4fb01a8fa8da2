import Logging
import ServiceLifecycle
import StadtbusAdapterKit

/// Shuts the adapters down (``Adapter/shutdown()``: stop the programs of `exec` endpoints, …)
/// once the sources have stopped and drained, before the stores and broker connections close.
/// Bounded: an adapter that does not finish within the close grace is left behind.
final class AdapterShutdownService: Service {
    private let adapters: [any Adapter]
    private let closeGrace: Duration
    private let logger: Logger

    init(adapters: AdapterRegistry, closeGrace: Duration, logger: Logger) {
        self.adapters = adapters.adapters.sorted { $0.key < $1.key }.map(\.value)
        self.closeGrace = closeGrace
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        let adapters = self.adapters
        let done = await Deadline.wait(until: .now + closeGrace) {
            for adapter in adapters { await adapter.shutdown() }
        }
        if done {
            logger.info("adapters shut down")
        } else {
            logger.warning("adapters did not shut down in time; closing the broker connections anyway")
        }
    }
}
