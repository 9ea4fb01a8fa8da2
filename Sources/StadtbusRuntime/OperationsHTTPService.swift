import Logging
import ServiceLifecycle

/// The operations HTTP server (`/health`, `/ready`, `/metrics`): started first and shut down
/// last, so `/ready` answers "shutting down" while the other services stop.
final class OperationsHTTPService: Service {
    private let application: any Service
    private let logger: Logger

    /// - Parameter application: the Hummingbird application of ``OperationsServer``.
    init(application: any Service, logger: Logger) {
        self.application = application
        self.logger = logger
    }

    func run() async throws {
        try await application.run()
        logger.info("operations endpoint stopped")
    }
}
