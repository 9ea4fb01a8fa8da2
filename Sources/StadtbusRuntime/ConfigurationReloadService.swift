import Logging
import ServiceLifecycle
import StadtbusConcurrency
import StadtbusConfig
import StadtbusOperations
import UnixSignals

/// What a configuration reload did.
public enum ReloadOutcome: Sendable {
    /// The new configuration runs: the engine routes by it and its sources are started.
    case reloaded(LoadedConfiguration)
    /// No configuration file changed.
    case unchanged
    /// The configuration has errors; the previous one keeps running.
    case failed(ConfigurationError)
    /// Nothing was reloaded: the runtime is not running (not started yet, or shutting down).
    case notRunning
}

/// Configuration reload: when a configuration file changes (polling, if watching is on), on
/// SIGHUP (if trapped), or when asked (``request()``), loads the configuration, swaps the
/// engine's routing table if it loads completely and has the sources follow. One reload at a
/// time, in the order asked. The first service to stop at shutdown.
final class ConfigurationReloadService: Service {
    /// A reload asked for, with where to report its outcome.
    private struct Request: Sendable {
        var reason: String
        var reply: AsyncPromise<ReloadOutcome>?
    }

    private let watcher: ConfigurationWatcher
    private let sources: SourcesService
    private let metrics: StadtbusMetrics
    private let watchInterval: Duration?
    private let trapHangup: Bool
    private let applyLogLevel: @Sendable (String) -> Void
    private let logger: Logger
    private let requests: AsyncStream<Request>
    private let continuation: AsyncStream<Request>.Continuation

    /// - Parameters:
    ///   - watchInterval: how often to look for changed files; `nil`: not at all.
    ///   - trapHangup: whether SIGHUP reloads.
    ///   - applyLogLevel: sets the log level of a reloaded configuration.
    init(
        watcher: ConfigurationWatcher, sources: SourcesService, metrics: StadtbusMetrics, watchInterval: Duration?,
        trapHangup: Bool, logger: Logger, applyLogLevel: @escaping @Sendable (String) -> Void
    ) {
        self.watcher = watcher
        self.sources = sources
        self.metrics = metrics
        self.watchInterval = watchInterval
        self.trapHangup = trapHangup
        self.applyLogLevel = applyLogLevel
        self.logger = logger
        (requests, continuation) = AsyncStream<Request>.makeStream()
    }

    /// Reloads the configuration now (after the reloads asked before) and returns the outcome
    /// once the sources of the new configuration are started.
    func request() async -> ReloadOutcome {
        let reply = AsyncPromise<ReloadOutcome>()
        if case .terminated = continuation.yield(Request(reason: "requested", reply: reply)) {
            return .notRunning
        }
        return await reply.waitIgnoringCancellation()
    }

    func run() async throws {
        let continuation = self.continuation
        await withTaskGroup(of: Void.self) { group in
            if let interval = watchInterval {
                let watcher = self.watcher
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if !Task.isCancelled, watcher.hasChanged() {
                            // Waits for that reload, so one change is not reloaded twice.
                            let done = AsyncPromise<ReloadOutcome>()
                            if case .terminated = continuation.yield(
                                Request(reason: "a configuration file changed", reply: done))
                            {
                                return
                            }
                            _ = await done.waitIgnoringCancellation()
                        }
                    }
                }
            }
            if trapHangup {
                let logger = self.logger
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        logger.info("SIGHUP: reloading configuration")
                        continuation.yield(Request(reason: "SIGHUP"))
                    }
                }
            }
            // On shutdown the stream ends; reloads still queued are answered "not running".
            await withGracefulShutdownHandler {
                for await request in requests {
                    let outcome: ReloadOutcome =
                        Task.isShuttingDownGracefully ? .notRunning : await reload(because: request.reason)
                    request.reply?.fulfil(outcome)
                }
            } onGracefulShutdown: {
                continuation.finish()
            }
            group.cancelAll()
        }
    }

    private func reload(because reason: String) async -> ReloadOutcome {
        switch watcher.reload() {
        case .reloaded(let loaded):
            metrics.countReload(succeeded: true)
            applyLogLevel(loaded.settings.logLevel)
            await sources.apply(loaded.table)
            return .reloaded(loaded)
        case .unchanged:
            return .unchanged
        case .failed(let error):
            metrics.countReload(succeeded: false)
            logger.error(
                "configuration reload failed; the previous configuration keeps running",
                metadata: ["reason": "\(reason)", "errors": "\(error)"])
            return .failed(error)
        }
    }
}
