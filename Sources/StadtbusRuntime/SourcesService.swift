import Logging
import ServiceLifecycle
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore

/// The sources: once the main broker is connected, lets every adapter prepare its endpoints
/// and starts a source for every endpoint a route reads from (`from:`); after a reload,
/// prepares again, starts the new ones and restarts those whose endpoint changed. When it is
/// shut down — first of the services that move messages — it stops every source and waits
/// for the messages in flight, at most for the drain timeout: what is not finished by then
/// stays unacked and goes back to the broker when the connections close.
actor SourcesService: Service {
    /// A source and the task that runs it.
    private struct Running {
        var endpoint: Endpoint
        var source: any MessageSource
        var task: Task<Void, Never>
    }

    private let adapters: AdapterRegistry
    private let context: AdapterContext
    private let drainTimeout: Duration
    private let logger: Logger
    private var running: [String: Running] = [:]
    /// Sources stopped by a reload whose `run()` has not returned yet.
    private var retiring: [Task<Void, Never>] = []
    private var started = false
    private var shuttingDown = false

    init(adapters: AdapterRegistry, context: AdapterContext, drainTimeout: Duration, logger: Logger) {
        self.adapters = adapters
        self.context = context
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    /// The endpoints that routes read from and that exist, in a stable order.
    static func sourceEndpoints(of table: RoutingTable) -> [String] {
        Set(table.routes.compactMap(\.source)).filter { table.endpoints[$0] != nil }.sorted()
    }

    func run() async throws {
        let brokers = context.brokers
        // Sources need the main broker (queues declared, dead letters publishable); a shutdown
        // while it is away ends the wait.
        if try await Deadline.untilShutdown({ await brokers.waitForConnection(BrokerSettings.mainName) }) != nil {
            // Set before preparing: a broker that connects meanwhile prepares again itself
            // (declaring is idempotent), so its queues are declared either way.
            // A shutdown while preparing (a broker command waiting for a reconnect) ends the wait too.
            started = true
            let table = context.engine.table
            if try await Deadline.untilShutdown({ try await self.prepareAdapters(for: table) }) != nil {
                startSources(for: context.engine.table)
            }
        }
        try? await gracefulShutdown()
        await stopAll()
    }

    /// Applies a reloaded routing table (the engine runs it already): prepares the endpoints,
    /// stops the sources of endpoints no route reads from any more, restarts those whose
    /// endpoint changed and starts the new ones.
    func apply(_ table: RoutingTable) async {
        // Registered at once, so /ready does not report ready without the new sources.
        let wanted = Self.sourceEndpoints(of: table)
        for name in wanted where running[name] == nil {
            context.readiness.expect(ReadinessCondition.source(name), reason: "starting")
        }
        guard started, !shuttingDown else { return }  // the first start uses the engine's table
        do {
            try await prepareAdapters(for: table)
        } catch {
            logger.error("preparing the reloaded configuration failed", metadata: ["error": "\(error)"])
            return
        }
        guard !shuttingDown else { return }
        for (name, current) in running.sorted(by: { $0.key < $1.key })
        where !wanted.contains(name) || table.endpoints[name] != current.endpoint {
            running[name] = nil
            let removed = !wanted.contains(name)
            logger.info(
                removed ? "stopping the source of an endpoint no route reads from" : "restarting a changed source",
                metadata: ["endpoint": "\(name)"])
            if removed { context.readiness.remove(ReadinessCondition.source(name)) }
            await current.source.stop()
            if removed {
                retiring.append(current.task)
            } else if await !Deadline.wait(until: .now + drainTimeout, { await current.task.value }) {
                logger.warning(
                    "the old source did not stop within the drain timeout; starting the new one anyway",
                    metadata: ["endpoint": "\(name)"])
            }
        }
        guard !shuttingDown else { return }
        startSources(for: table)
    }

    /// A broker other than `main` was connected: its queues are declared now.
    func brokerConnected(_ broker: String) async {
        guard started, !shuttingDown else { return }
        do {
            try await prepareAdapters(for: context.engine.table)
        } catch {
            logger.error(
                "preparing the endpoints after a broker connected failed",
                metadata: ["broker": "\(broker)", "error": "\(error)"])
        }
    }

    /// Lets every adapter prepare its endpoints (declare queues, create folders, …).
    private func prepareAdapters(for table: RoutingTable) async throws {
        let byType = Dictionary(grouping: table.endpoints.values, by: \.type)
        for (type, adapter) in adapters.adapters.sorted(by: { $0.key < $1.key }) {
            try await adapter.prepare(byType[type] ?? [], context: context)
        }
    }

    /// Starts a source for every endpoint a route reads from that has none yet.
    private func startSources(for table: RoutingTable) {
        guard !shuttingDown else { return }
        for name in Self.sourceEndpoints(of: table) where running[name] == nil {
            guard let endpoint = table.endpoints[name] else { continue }
            let condition = ReadinessCondition.source(name)
            // Registered here, synchronously: the source satisfies it once it takes messages.
            context.readiness.expect(condition, reason: "starting")
            guard let adapter = adapters[endpoint.type] else {
                logger.error(
                    "no adapter for source endpoint", metadata: ["endpoint": "\(name)", "type": "\(endpoint.type)"])
                context.readiness.fail(condition, reason: "adapter type '\(endpoint.type)' is not part of this build")
                continue
            }
            do {
                let source = try adapter.makeSource(for: endpoint, context: context)
                running[name] = Running(endpoint: endpoint, source: source, task: Self.track(source, context: context))
            } catch {
                logger.error("cannot start source", metadata: ["endpoint": "\(name)", "error": "\(error)"])
                context.readiness.fail(condition, reason: "\(error)")
            }
        }
    }

    /// Runs `source` until it is stopped; a failure makes Stadtbus not ready. Detached: a source
    /// stops when it is told to (``MessageSource/stop()``), not with the task that started it.
    private static func track(_ source: any MessageSource, context: AdapterContext) -> Task<Void, Never> {
        Task.detached {
            do { try await source.run() } catch {
                context.logger.error(
                    "source failed", metadata: ["endpoint": "\(source.endpoint.name)", "error": "\(error)"])
                context.readiness.fail(ReadinessCondition.source(source.endpoint.name), reason: "\(error)")
            }
        }
    }

    /// Stops every source and waits for the messages in flight, at most for the drain timeout.
    private func stopAll() async {
        shuttingDown = true
        let inFlight = context.inFlight
        logger.info(
            "shutting down: no new messages; waiting for in-flight ones", metadata: ["in_flight": "\(inFlight.value)"])
        context.readiness.fail(ReadinessCondition.routes, reason: "shutting down")
        let sources = running.values.map(\.source)
        let tasks = running.values.map(\.task) + retiring
        running = [:]
        retiring = []
        // The drain timeout bounds the whole wait, whatever a source is stuck on (a destination
        // that never answers, a broker that is away, a `run()` that ignores `stop()`): then the
        // connections are closed and what is unfinished — never acked — goes back to the broker.
        let deadline = ContinuousClock.now + drainTimeout
        let drained = await Deadline.wait(until: deadline) {
            await withTaskGroup(of: Void.self) { group in
                for source in sources { group.addTask { await source.stop() } }
            }
            for task in tasks { await task.value }
            // Sources settle what they took before `run()` returns; this covers the rest.
            while inFlight.value > 0, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        if !drained || inFlight.value > 0 {
            logger.warning(
                "drain timeout: unfinished messages stay with the broker and are delivered again",
                metadata: ["in_flight": "\(inFlight.value)", "drain_timeout": "\(drainTimeout)"])
        }
        logger.info("sources stopped", metadata: ["drained": "\(drained && inFlight.value == 0)"])
    }
}
