import Foundation
import Logging
import ServiceLifecycle
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore
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

/// Stadtbus as a long-running service: connects the brokers, lets each adapter prepare its
/// endpoints and start a source for every endpoint a route reads from, runs messages through
/// the engine, reloads configuration on SIGHUP or file change, and shuts down gracefully
/// (swift-service-lifecycle).
public final class StadtbusRuntime: Service, @unchecked Sendable {
    private let options: RuntimeOptions
    private let loader: ConfigurationLoader
    private let initial: LoadedConfiguration
    private let adapters: AdapterRegistry
    private let metrics: StadtbusMetrics
    private let readiness: Readiness
    private let logLevel: LogLevelBox
    private let logger: Logger
    private let inFlight = InFlightCounter()
    private let lock = NSLock()
    private var sources: [String: any MessageSource] = [:]
    private var sourceTasks: [Task<Void, Never>] = []
    private var shuttingDown = false

    /// - Parameters:
    ///   - initial: the configuration loaded (and checked) from `options.configPath`.
    ///   - adapters: the adapters of this build; endpoint types are looked up here.
    public init(
        options: RuntimeOptions, initial: LoadedConfiguration, loader: ConfigurationLoader, adapters: AdapterRegistry,
        metrics: StadtbusMetrics, readiness: Readiness, logLevel: LogLevelBox,
        logger: Logger = Logger(label: "stadtbus")
    ) {
        self.options = options
        self.initial = initial
        self.loader = loader
        self.adapters = adapters
        self.metrics = metrics
        self.readiness = readiness
        self.logLevel = logLevel
        self.logger = logger
        // Before anything runs (the operations server included): every source's condition
        // exists before a broker connection can make /ready 200, so /ready cannot report
        // ready while a source does not take messages yet (an http-in listener not bound).
        for name in Self.sourceEndpoints(of: initial.table) {
            readiness.expect(Self.readinessName(source: name), reason: "starting")
        }
    }

    public func run() async throws {
        let loaded = initial
        guard let mainSettings = loaded.settings.broker else {
            throw RuntimeError.noBroker(options.configPath)
        }
        let brokerSettings = loaded.settings.brokers.merging([BrokerSettings.mainName: mainSettings]) { $1 }
        for name in brokerSettings.keys {
            readiness.expect(Self.readinessName(broker: name), reason: "not connected yet")
        }
        apply(logLevel: loaded.settings.logLevel)
        readiness.satisfy("routes")
        logger.info(
            "configuration loaded",
            metadata: ["routes": "\(loaded.table.routes.count)", "version": "\(loaded.table.version)"])

        let stores = try openStores(loaded.settings.stores)
        let brokers = BrokerConnections(names: Array(brokerSettings.keys))
        let kennung = loaded.settings.identity?.kennung
        var endpoints: [String: AMQPEndpoint] = [:]
        for (name, settings) in brokerSettings {
            let suffix = name == BrokerSettings.mainName ? (kennung ?? "main") : "\(kennung ?? "main")-to-\(name)"
            endpoints[name] = try BrokerEndpoint.make(from: settings, name: "stadtbus-\(suffix)")
        }
        let sink = EndpointSink()
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: stores.idempotency, journal: stores.journal,
            cases: stores.cases,
            logger: logger)
        let context = AdapterContext(
            engine: engine, brokers: brokers, metrics: metrics, readiness: readiness, inFlight: inFlight,
            workers: loaded.settings.workers, identity: kennung, logger: logger)
        sink.install(try makeSinks(context))

        // The main broker is needed to start; the others connect in the background (a
        // neighbour's broker that is down only delays what goes to it).
        guard let mainEndpoint = endpoints[BrokerSettings.mainName],
            let main = try await connect(mainEndpoint, broker: BrokerSettings.mainName)
        else { return }  // shut down while connecting
        brokers.attach(main, as: BrokerSettings.mainName)
        var background: [Task<Void, Never>] = [
            Task { await self.watch(main, broker: BrokerSettings.mainName, brokers: brokers) }
        ]
        for (name, endpoint) in endpoints.sorted(by: { $0.key < $1.key }) where name != BrokerSettings.mainName {
            background.append(
                Task {
                    guard let connection = try? await self.connect(endpoint, broker: name) else { return }
                    brokers.attach(connection, as: name)
                    try? await self.prepareAdapters(for: engine.table, context: context)
                    await self.watch(connection, broker: name, brokers: brokers)
                })
        }
        defer { background.forEach { $0.cancel() } }

        try await prepareAdapters(for: loaded.table, context: context)
        startSources(for: loaded.table, context: context)

        let watcher = ConfigurationWatcher(
            path: options.configPath, current: loaded, loader: loader, engine: engine, logger: logger
        ) { reloaded in
            self.metrics.countReload(succeeded: true)
            self.apply(logLevel: reloaded.settings.logLevel)
            Task {
                do {
                    try await self.prepareAdapters(for: reloaded.table, context: context)
                    self.startSources(for: reloaded.table, context: context)
                } catch {
                    self.logger.error("preparing the reloaded configuration failed", metadata: ["error": "\(error)"])
                }
            }
        }
        if options.watchConfiguration { watcher.start() }
        let hangups = Task { await self.reloadOnHangup(watcher) }

        // Wait for SIGTERM/SIGINT (through the service group), then drain.
        try? await gracefulShutdown()
        logger.info(
            "shutting down: no new messages; waiting for in-flight ones", metadata: ["in_flight": "\(inFlight.value)"])
        hangups.cancel()
        watcher.stop()
        readiness.fail("routes", reason: "shutting down")
        // The drain timeout bounds the whole wait, whatever a source is stuck on (a destination
        // that never answers, a broker that is away): then the connections are closed and what
        // is unfinished — never acked — goes back to the broker (the ack rule).
        let deadline = ContinuousClock.now + options.drainTimeout
        let drained = await Deadline.wait(until: deadline) {
            await self.stopSources()
            await self.drain(until: deadline)
        }
        if !drained || inFlight.value > 0 {
            logger.warning(
                "drain timeout: unfinished messages stay with the broker and are delivered again",
                metadata: ["in_flight": "\(inFlight.value)", "drain_timeout": "\(options.drainTimeout)"])
        }
        let adapterList = adapters.adapters.sorted(by: { $0.key < $1.key }).map(\.value)
        let adaptersDown = await Deadline.wait(until: .now + Self.closeGrace) {
            for adapter in adapterList { await adapter.shutdown() }
        }
        if !adaptersDown { logger.warning("adapters did not shut down in time; closing the broker connections anyway") }
        let connections = brokers.all.map(\.connection)
        let closed = await Deadline.wait(until: .now + Self.closeGrace) {
            for connection in connections { await connection.close() }
        }
        if !closed {
            logger.warning("broker connections did not close in time; exiting (the broker requeues unacked messages)")
        }
        logger.info("stopped")
    }

    // MARK: Pieces

    private static func readinessName(broker: String) -> String { "broker:\(broker)" }

    private static func readinessName(source endpoint: String) -> String { "consumer:\(endpoint)" }

    /// The endpoints that routes read from and that exist, in a stable order.
    private static func sourceEndpoints(of table: RoutingTable) -> [String] {
        Set(table.routes.compactMap(\.source)).filter { table.endpoints[$0] != nil }.sorted()
    }

    /// The stores the engine writes: idempotency records, the audit journal and the case
    /// registry (one SQLite file may hold several of them; each path is opened once).
    private struct Stores {
        var idempotency: any IdempotencyStore
        var journal: any AuditJournal
        var cases: any CaseRegistry
    }

    private func openStores(_ settings: StoreSettings) throws -> Stores {
        var opened: [String: SQLiteStore] = [:]
        func store(_ path: String) throws -> SQLiteStore {
            if let existing = opened[path] { return existing }
            let store = try SQLiteStore(path: path)
            opened[path] = store
            return store
        }
        let idempotency: any IdempotencyStore
        let journal: any AuditJournal
        let cases: any CaseRegistry
        if let path = settings.idempotency {
            idempotency = try store(path).idempotency
        } else {
            logger.warning(
                "no idempotency store configured (stores.idempotency): duplicates are only detected in memory")
            idempotency = InMemoryIdempotencyStore()
        }
        if let path = settings.audit {
            journal = try store(path).audit
        } else {
            logger.warning("no audit store configured (stores.audit): the audit trail is kept in memory only")
            journal = InMemoryAuditJournal()
        }
        if let path = settings.cases ?? settings.idempotency {
            cases = try store(path).cases
        } else {
            cases = InMemoryCaseRegistry()
        }
        let retention = Self.seconds(settings.retention)
        let caseRetention = Self.seconds(settings.caseRetention)
        let stores = Array(opened.values)
        Task.detached(priority: .background) {
            for store in stores {
                _ = try? store.purgeExpired(retention: retention, caseRetention: caseRetention)
            }
        }
        return Stores(idempotency: idempotency, journal: journal, cases: cases)
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One sink per adapter type that can deliver.
    private func makeSinks(_ context: AdapterContext) throws -> [String: any MessageSink] {
        var sinks: [String: any MessageSink] = [:]
        for (name, adapter) in adapters.adapters where adapter.type.canSend {
            sinks[name] = try adapter.makeSink(context: context)
        }
        return sinks
    }

    /// Connects, retrying with backoff until connected or shut down (readiness says why meanwhile).
    private func connect(_ endpoint: AMQPEndpoint, broker: String) async throws -> AMQPConnection? {
        var attempt = 0
        let condition = Self.readinessName(broker: broker)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let connection = try await AMQPConnection.connect(endpoint, logger: logger)
                readiness.satisfy(condition)
                return connection
            } catch let error as AMQPError {
                if case .configuration = error { throw error }
                attempt += 1
                let delay = endpoint.reconnect.delay(attempt: attempt)
                readiness.fail(condition, reason: "\(error)")
                logger.warning(
                    "broker not reachable; retrying",
                    metadata: ["broker": "\(broker)", "error": "\(error)", "delay": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        return nil
    }

    private func watch(_ connection: AMQPConnection, broker: String, brokers: BrokerConnections) async {
        let condition = Self.readinessName(broker: broker)
        for await event in connection.events() {
            switch event {
            case .connected(_, let reconnects):
                brokers.setConnected(broker, true)
                readiness.satisfy(condition)
                if reconnects > 0 { metrics.countReconnect(broker: broker) }
            case .disconnected(let error):
                brokers.setConnected(broker, false)
                readiness.fail(condition, reason: "\(error)")
            case .blocked(let reason):
                readiness.fail(condition, reason: "publishing blocked by the broker: \(reason)")
            case .unblocked:
                readiness.satisfy(condition)
            case .closed:
                brokers.setConnected(broker, false)
                return
            case .reconnecting, .consumerCancelled:
                break
            }
        }
    }

    /// Lets every adapter prepare its endpoints (declare queues, create folders, …).
    private func prepareAdapters(for table: RoutingTable, context: AdapterContext) async throws {
        let byType = Dictionary(grouping: table.endpoints.values, by: \.type)
        for (type, adapter) in adapters.adapters.sorted(by: { $0.key < $1.key }) {
            try await adapter.prepare(byType[type] ?? [], context: context)
        }
    }

    /// Starts a source for every endpoint a route reads from that has none yet.
    private func startSources(for table: RoutingTable, context: AdapterContext) {
        let created: [any MessageSource] = lock.withLock {
            var created: [any MessageSource] = []
            for name in Self.sourceEndpoints(of: table) where sources[name] == nil {
                guard let endpoint = table.endpoints[name] else { continue }
                let condition = Self.readinessName(source: name)
                // Registered here, synchronously: the source satisfies it once it takes messages.
                readiness.expect(condition, reason: "starting")
                guard let adapter = adapters[endpoint.type] else {
                    logger.error(
                        "no adapter for source endpoint", metadata: ["endpoint": "\(name)", "type": "\(endpoint.type)"])
                    readiness.fail(condition, reason: "adapter type '\(endpoint.type)' is not part of this build")
                    continue
                }
                do {
                    let source = try adapter.makeSource(for: endpoint, context: context)
                    sources[name] = source
                    created.append(source)
                } catch {
                    logger.error("cannot start source", metadata: ["endpoint": "\(name)", "error": "\(error)"])
                    readiness.fail(condition, reason: "\(error)")
                }
            }
            return created
        }
        for source in created { track(source) }
    }

    /// Runs `source` until it is stopped; a failure makes Stadtbus not ready.
    private func track(_ source: any MessageSource) {
        if lock.withLock({ shuttingDown }) {
            Task { await source.stop() }
        }
        let task = Task {
            do { try await source.run() } catch {
                self.logger.error(
                    "source failed", metadata: ["endpoint": "\(source.endpoint.name)", "error": "\(error)"])
                self.readiness.fail("consumer:\(source.endpoint.name)", reason: "\(error)")
            }
        }
        lock.withLock { sourceTasks.append(task) }
    }

    /// How long shutting the adapters down, and then closing the broker connections, may take
    /// after the drain (each; a closing connection waits up to 5 s for outstanding confirms).
    static let closeGrace: Duration = .seconds(8)

    /// Stops every source and waits for their in-flight messages (the caller bounds the wait:
    /// a source stuck on a destination may never finish).
    private func stopSources() async {
        let (all, tasks) = lock.withLock {
            shuttingDown = true
            return (Array(sources.values), sourceTasks)
        }
        for source in all { await source.stop() }
        for task in tasks { await task.value }
    }

    /// Waits until no message is in flight, at most until `deadline`.
    private func drain(until deadline: ContinuousClock.Instant) async {
        while inFlight.value > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func reloadOnHangup(_ watcher: ConfigurationWatcher) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading configuration")
            if case .failed(let error) = watcher.reload() {
                metrics.countReload(succeeded: false)
                logger.error(
                    "configuration reload failed; the previous configuration keeps running",
                    metadata: ["errors": "\(error)"])
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
