import Foundation
import Logging
import ServiceLifecycle
import StadtbusAMQP
import StadtbusConfig
import StadtbusCore
import StadtbusHTTP
import StadtbusOperations
import StadtbusStore
import UnixSignals

/// How the runtime is started.
public struct RuntimeOptions: Sendable {
    /// The main configuration file.
    public var configPath: String
    /// How long a graceful shutdown waits for in-flight messages before giving up on them
    /// (they are then redelivered by the broker after the restart).
    public var drainTimeout: Duration
    /// Whether to reload when a configuration file changes (SIGHUP always reloads).
    public var watchConfiguration: Bool

    public init(configPath: String, drainTimeout: Duration = .seconds(30), watchConfiguration: Bool = true) {
        self.configPath = configPath
        self.drainTimeout = drainTimeout
        self.watchConfiguration = watchConfiguration
    }
}

/// Stadtbus as a long-running service: consumes every AMQP source endpoint of the routes,
/// runs messages through the engine, executes dispositions, reloads configuration on
/// SIGHUP or file change, and shuts down gracefully (swift-service-lifecycle).
public final class StadtbusRuntime: Service, @unchecked Sendable {
    private let options: RuntimeOptions
    private let loader: ConfigurationLoader
    private let initial: LoadedConfiguration
    private let metrics: StadtbusMetrics
    private let readiness: Readiness
    private let logLevel: LogLevelBox
    private let logger: Logger
    private let inFlight = InFlightCounter()
    private let lock = NSLock()
    private var consumers: [String: SourceConsumer] = [:]
    private var consumerTasks: [Task<Void, Never>] = []
    private var fileSources: [String: FileSource] = [:]
    private var shuttingDown = false

    /// - Parameter initial: the configuration loaded (and checked) from `options.configPath`.
    public init(
        options: RuntimeOptions, initial: LoadedConfiguration, loader: ConfigurationLoader, metrics: StadtbusMetrics,
        readiness: Readiness, logLevel: LogLevelBox, logger: Logger = Logger(label: "stadtbus")
    ) {
        self.options = options
        self.initial = initial
        self.loader = loader
        self.metrics = metrics
        self.readiness = readiness
        self.logLevel = logLevel
        self.logger = logger
    }

    public func run() async throws {
        readiness.expect("broker", reason: "not connected yet")
        let loaded = initial
        apply(logLevel: loaded.settings.logLevel)
        readiness.satisfy("routes")
        logger.info("configuration loaded", metadata: ["routes": "\(loaded.table.routes.count)", "version": "\(loaded.table.version)"])

        let (idempotency, journal) = try openStores(loaded.settings.stores)
        guard let brokerSettings = loaded.settings.broker else {
            throw RuntimeError.noBroker(options.configPath)
        }
        let endpoint = try BrokerEndpoint.make(from: brokerSettings, name: "stadtbus-\(loaded.settings.identity?.kennung ?? "main")")
        guard let connection = try await connect(endpoint) else { return }  // shut down while connecting
        let events = Task { await self.watch(connection) }
        defer { events.cancel() }

        try await declareTopology(for: loaded.table, on: connection)
        let failures = FailurePublisher(connection: connection)
        let sink = EndpointSink(sinks: [
            "amqp": AMQPSink(publisher: connection.publisher(), metrics: RuntimeMetrics(metrics: metrics, broker: "main")),
            "http-out": HTTPSink(),
            "file": FileSink(),
        ])
        let engine = RoutingEngine(table: loaded.table, sink: sink, idempotency: idempotency, journal: journal, logger: logger)
        let workers = loaded.settings.workers

        let start: @Sendable (RoutingTable) -> Void = { table in
            for consumer in self.newConsumers(for: table, connection: connection, engine: engine, failures: failures, workers: workers) {
                self.track(consumer)
            }
        }
        start(loaded.table)

        let watcher = ConfigurationWatcher(
            path: options.configPath, current: loaded, loader: loader, engine: engine, logger: logger
        ) { reloaded in
            self.metrics.countReload(succeeded: true)
            self.apply(logLevel: reloaded.settings.logLevel)
            Task {
                do {
                    try await self.declareTopology(for: reloaded.table, on: connection)
                    start(reloaded.table)
                } catch {
                    self.logger.error("topology of the reloaded configuration failed", metadata: ["error": "\(error)"])
                }
            }
        }
        if options.watchConfiguration { watcher.start() }
        let hangups = Task { await self.reloadOnHangup(watcher) }

        // Wait for SIGTERM/SIGINT (through the service group), then drain.
        try? await gracefulShutdown()
        logger.info("shutting down: no new messages; waiting for in-flight ones", metadata: ["in_flight": "\(inFlight.value)"])
        hangups.cancel()
        watcher.stop()
        readiness.fail("routes", reason: "shutting down")
        await stopConsumers()
        await drain()
        await connection.close()
        logger.info("stopped")
    }

    // MARK: Pieces

    private func openStores(_ settings: StoreSettings) throws -> (any IdempotencyStore, any AuditJournal) {
        // One SQLite file may hold both tables: open each path once.
        var opened: [String: SQLiteStore] = [:]
        func store(_ path: String) throws -> SQLiteStore {
            if let existing = opened[path] { return existing }
            let store = try SQLiteStore(path: path)
            opened[path] = store
            return store
        }
        let idempotency: any IdempotencyStore
        let journal: any AuditJournal
        if let path = settings.idempotency {
            idempotency = try store(path).idempotency
        } else {
            logger.warning("no idempotency store configured (stores.idempotency): duplicates are only detected in memory")
            idempotency = InMemoryIdempotencyStore()
        }
        if let path = settings.audit {
            journal = try store(path).audit
        } else {
            logger.warning("no audit store configured (stores.audit): the audit trail is kept in memory only")
            journal = InMemoryAuditJournal()
        }
        let retention = settings.retention
        Task.detached(priority: .background) {
            let cutoff = Date().addingTimeInterval(-Double(retention.components.seconds))
            _ = try? idempotency.purge(olderThan: cutoff)
            _ = try? journal.purge(olderThan: cutoff)
        }
        return (idempotency, journal)
    }

    /// Connects, retrying with backoff until connected or shut down (readiness says why meanwhile).
    private func connect(_ endpoint: AMQPEndpoint) async throws -> AMQPConnection? {
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let connection = try await AMQPConnection.connect(endpoint, logger: logger)
                readiness.satisfy("broker")
                return connection
            } catch let error as AMQPError {
                if case .configuration = error { throw error }
                attempt += 1
                let delay = endpoint.reconnect.delay(attempt: attempt)
                readiness.fail("broker", reason: "\(error)")
                logger.warning("broker not reachable; retrying", metadata: ["error": "\(error)", "delay": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        return nil
    }

    private func watch(_ connection: AMQPConnection) async {
        for await event in connection.events() {
            switch event {
            case .connected(_, let reconnects):
                readiness.satisfy("broker")
                if reconnects > 0 { metrics.countReconnect(broker: "main") }
            case .disconnected(let error):
                readiness.fail("broker", reason: "\(error)")
            case .blocked(let reason):
                readiness.fail("broker", reason: "publishing blocked by the broker: \(reason)")
            case .unblocked:
                readiness.satisfy("broker")
            case .closed:
                return
            case .reconnecting, .consumerCancelled:
                break
            }
        }
    }

    /// Declares every AMQP endpoint's queue (quorum) or exchange, and the fallback dead-letter queue.
    private func declareTopology(for table: RoutingTable, on connection: AMQPConnection) async throws {
        var topology = AMQPTopology(queues: [AMQPQueue(FailurePublisher.fallbackDeadLetterQueue)])
        for endpoint in table.endpoints.values.sorted(by: { $0.name < $1.name }) where endpoint.type == "amqp" {
            if let queue = endpoint.settings["queue"]?.string {
                topology.queues.append(AMQPQueue(queue))
            } else if let exchange = endpoint.settings["exchange"]?.string, !exchange.isEmpty {
                let kind = endpoint.settings["exchange-type"]?.string.flatMap(AMQPExchange.Kind.init(rawValue:)) ?? .direct
                topology.exchanges.append(AMQPExchange(exchange, kind: kind))
            }
        }
        try await connection.declare(topology)
    }

    /// Consumers for source endpoints that have none yet.
    private func newConsumers(
        for table: RoutingTable, connection: AMQPConnection, engine: RoutingEngine, failures: FailurePublisher, workers: Int
    ) -> [SourceConsumer] {
        let sources = Set(table.routes.compactMap(\.source))
        return lock.withLock {
            var created: [SourceConsumer] = []
            for name in sources.sorted() where consumers[name] == nil && fileSources[name] == nil {
                guard let endpoint = table.endpoints[name] else { continue }
                if endpoint.type == "file", let source = FileSource(endpoint: endpoint, engine: engine, metrics: metrics, logger: logger) {
                    fileSources[name] = source
                    readiness.satisfy("consumer:\(name)")
                    let task = Task { await source.run() }
                    consumerTasks.append(task)
                    continue
                }
                guard endpoint.type == "amqp", let queue = endpoint.settings["queue"]?.string else {
                    logger.error(
                        "source endpoint cannot be consumed by this build",
                        metadata: ["endpoint": "\(name)", "type": "\(endpoint.type)"])
                    readiness.fail("consumer:\(name)", reason: "adapter type '\(endpoint.type)' cannot be consumed by this build")
                    continue
                }
                // Ready only once the broker has accepted the consumer (SourceConsumer reports it).
                readiness.expect("consumer:\(name)", reason: "not consuming yet")
                let consumer = SourceConsumer(
                    endpoint: endpoint, queue: queue, connection: connection, engine: engine, failures: failures,
                    workers: workers, metrics: metrics, readiness: readiness, inFlight: inFlight, logger: logger)
                consumers[name] = consumer
                created.append(consumer)
            }
            return created
        }
    }

    /// Runs `consumer` until it is stopped; a failure makes Stadtbus not ready.
    private func track(_ consumer: SourceConsumer) {
        if lock.withLock({ shuttingDown }) {
            Task { await consumer.stop() }
        }
        let task = Task {
            do { try await consumer.run() } catch {
                self.logger.error("consumer failed", metadata: ["endpoint": "\(consumer.endpoint.name)", "error": "\(error)"])
                self.readiness.fail("consumer:\(consumer.endpoint.name)", reason: "\(error)")
            }
        }
        lock.withLock { consumerTasks.append(task) }
    }

    /// Stops every consumer and waits (at most the drain timeout) for their in-flight messages.
    private func stopConsumers() async {
        let (all, files, tasks) = lock.withLock {
            shuttingDown = true
            return (Array(consumers.values), Array(fileSources.values), consumerTasks)
        }
        for source in files { source.stop() }
        for consumer in all { await consumer.stop() }
        let finished = Task { for task in tasks { await task.value } }
        let timeout = Task {
            try? await Task.sleep(for: options.drainTimeout)
            finished.cancel()
        }
        await finished.value
        timeout.cancel()
    }

    /// Waits until no message is in flight, at most the drain timeout.
    private func drain() async {
        let deadline = ContinuousClock.now + options.drainTimeout
        while inFlight.value > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if inFlight.value > 0 {
            logger.warning("drain timeout: unfinished messages stay with the broker", metadata: ["in_flight": "\(inFlight.value)"])
        }
    }

    private func reloadOnHangup(_ watcher: ConfigurationWatcher) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading configuration")
            if case .failed(let error) = watcher.reload() {
                metrics.countReload(succeeded: false)
                logger.error("configuration reload failed; the previous configuration keeps running", metadata: ["errors": "\(error)"])
            }
        }
    }

    private func apply(logLevel name: String) {
        if let level = Logger.Level(rawValue: name) { logLevel.level = level }
    }
}

/// Why the runtime cannot start.
public enum RuntimeError: Error, CustomStringConvertible {
    case noBroker(String)

    public var description: String {
        switch self {
        case .noBroker(let path): return "\(path): no 'broker:' section — Stadtbus needs a RabbitMQ connection to run"
        }
    }
}
