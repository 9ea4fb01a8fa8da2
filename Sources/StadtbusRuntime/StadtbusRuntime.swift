import Logging
import ServiceLifecycle
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore
import StadtbusOperations
import UnixSignals

/// Stadtbus as a long-running service: a swift-service-lifecycle `ServiceGroup` of small
/// services, started in dependency order and shut down in reverse:
///
/// | start | service | at shutdown |
/// |---|---|---|
/// | 1 | operations HTTP server (`/health`, `/ready`, `/metrics`) | stops last: `/ready` says "shutting down" meanwhile |
/// | 2 | broker connections (connect with backoff, events → readiness) | closed (unacked messages go back to the broker) |
/// | 3 | stores (opened when built; periodic purge) | closed |
/// | 4 | adapters | ``Adapter/shutdown()`` |
/// | 5 | sources (one per route `from:` endpoint; follow reloads) | stop taking messages, drain in-flight ones (at most `drainTimeout`) |
/// | 6 | configuration reload (file watch, SIGHUP) | stops first |
///
/// A graceful shutdown ends within the drain timeout plus twice the close grace
/// (``RuntimeOptions``), whatever a source or a destination is stuck on.
public final class StadtbusRuntime: Sendable {
    private let http: OperationsHTTPService
    private let brokers: BrokerService
    private let stores: StoreService
    private let adapterShutdown: AdapterShutdownService
    private let sources: SourcesService
    private let reloader: ConfigurationReloadService
    private let logger: Logger

    /// Builds the services: registers the readiness conditions (every broker and every source
    /// endpoint, so `/ready` cannot be 200 before a source takes messages), opens the stores and
    /// creates the engine and the adapters' sinks. Nothing connects or listens until the group runs.
    ///
    /// - Parameters:
    ///   - initial: the configuration loaded (and checked) from `options.configPath`.
    ///   - loader: loads the configuration again on reload.
    ///   - adapters: the adapters of this build; endpoint types are looked up here.
    ///   - logLevel: set from the configuration's `logging.level` (at start and on reload).
    /// - Throws: ``RuntimeError`` when the configuration has no broker, ``StadtbusStore/StoreError``
    ///   when a store cannot be opened, an ``AMQPError`` for unusable broker settings, or an
    ///   adapter's error when it cannot deliver to its endpoints.
    public init(
        options: RuntimeOptions, initial: LoadedConfiguration, loader: ConfigurationLoader, adapters: AdapterRegistry,
        metrics: StadtbusMetrics, readiness: Readiness, logLevel: LogLevelBox,
        logger: Logger = Logger(label: "stadtbus")
    ) throws {
        guard let mainSettings = initial.settings.broker else {
            throw RuntimeError.noBroker(options.configPath)
        }
        self.logger = logger
        let brokerSettings = initial.settings.brokers.merging([BrokerSettings.mainName: mainSettings]) { $1 }
        // Before anything runs (the operations server included): every source's condition
        // exists before a broker connection can make /ready 200, so /ready cannot report
        // ready while a source does not take messages yet (an http-in listener not bound).
        for name in brokerSettings.keys.sorted() {
            readiness.expect(ReadinessCondition.broker(name), reason: "not connected yet")
        }
        for name in SourcesService.sourceEndpoints(of: initial.table) {
            readiness.expect(ReadinessCondition.source(name), reason: "starting")
        }
        let applyLogLevel: @Sendable (String) -> Void = { name in
            if let level = Logger.Level(rawValue: name) { logLevel.level = level }
        }
        applyLogLevel(initial.settings.logLevel)
        readiness.satisfy(ReadinessCondition.routes)
        logger.info(
            "configuration loaded",
            metadata: ["routes": "\(initial.table.routes.count)", "version": "\(initial.table.version)"])
        for warning in initial.settings.warnings {
            logger.warning("configuration: \(warning.message)", metadata: ["at": "\(warning.position)"])
        }

        let kennung = initial.settings.identity?.kennung
        var endpoints: [String: AMQPEndpoint] = [:]
        for (name, settings) in brokerSettings {
            let suffix = name == BrokerSettings.mainName ? (kennung ?? "main") : "\(kennung ?? "main")-to-\(name)"
            endpoints[name] = try BrokerEndpoint.make(from: settings, name: "stadtbus-\(suffix)")
        }
        stores = try StoreService(initial.settings.stores, purgeInterval: options.purgeInterval, logger: logger)
        let connections = BrokerConnections(names: Array(brokerSettings.keys))
        let sink = EndpointSink()
        let engine = RoutingEngine(
            table: initial.table, sink: sink, idempotency: stores.idempotency, journal: stores.journal,
            cases: stores.cases, logger: logger)
        let context = AdapterContext(
            engine: engine, brokers: connections, metrics: metrics, readiness: readiness, inFlight: InFlightCounter(),
            maxInFlight: initial.settings.maxInFlight, identity: kennung, logger: logger)
        var sinks: [String: any MessageSink] = [:]
        for (name, adapter) in adapters.adapters where adapter.type.canSend {
            sinks[name] = try adapter.makeSink(context: context)
        }
        sink.install(sinks)

        let sources = SourcesService(
            adapters: adapters, context: context, drainTimeout: options.drainTimeout, logger: logger)
        self.sources = sources
        brokers = BrokerService(
            endpoints: endpoints, brokers: connections, readiness: readiness, metrics: metrics,
            closeGrace: options.closeGrace, logger: logger,
            onConnected: { broker in await sources.brokerConnected(broker) })
        adapterShutdown = AdapterShutdownService(adapters: adapters, closeGrace: options.closeGrace, logger: logger)
        reloader = ConfigurationReloadService(
            watcher: ConfigurationWatcher(
                path: options.configPath, current: initial, loader: loader, engine: engine, logger: logger),
            sources: sources, metrics: metrics, watchInterval: options.watchConfiguration ? options.watchInterval : nil,
            trapHangup: options.reloadOnHangup, logger: logger, applyLogLevel: applyLogLevel)
        http = OperationsHTTPService(
            application: OperationsServer.application(
                endpoint: OperationsEndpoint(host: initial.settings.http.bind, port: initial.settings.http.port),
                readiness: readiness, metrics: metrics, logger: logger),
            logger: logger)
    }

    /// The runtime's services as one group, in start order; run it (`try await group.run()`)
    /// and end it with a signal or `triggerGracefulShutdown()`. A service that fails shuts the
    /// others down gracefully too, and `run()` then throws its error.
    ///
    /// - Parameters:
    ///   - gracefulShutdownSignals: signals that start a graceful shutdown (the executable:
    ///     SIGTERM and SIGINT; an in-process test: none).
    ///   - maximumGracefulShutdownDuration: after this the group cancels what still runs.
    public func serviceGroup(
        gracefulShutdownSignals: [UnixSignal] = [], maximumGracefulShutdownDuration: Duration? = nil
    ) -> ServiceGroup {
        let services: [any Service] = [http, brokers, stores, adapterShutdown, sources, reloader]
        var configuration = ServiceGroupConfiguration(
            services: services.map {
                .init(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: gracefulShutdownSignals,
            logger: logger)
        configuration.maximumGracefulShutdownDuration = maximumGracefulShutdownDuration
        return ServiceGroup(configuration: configuration)
    }

    /// Reloads the configuration now, as SIGHUP does, and returns once the new configuration's
    /// sources are started (or why nothing changed). Only while the group runs.
    public func reload() async -> ReloadOutcome {
        await reloader.request()
    }
}
