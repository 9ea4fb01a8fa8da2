import Logging
import ServiceLifecycle
import StadtbusAMQP
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusOperations

/// Connects every configured broker — `main` (the `broker:` section) and those under
/// `brokers:` — retrying with backoff, keeps `/ready` in step with each connection's events,
/// and closes the connections when it is shut down (after the sources, adapters and stores:
/// what is still unacked then goes back to the broker).
///
/// The main broker is needed to start the sources (they wait for it); the others connect in
/// the background: a neighbour's broker that is down only delays what goes to it.
final class BrokerService: Service {
    let brokers: BrokerConnections
    private let endpoints: [String: AMQPEndpoint]
    private let readiness: Readiness
    private let metrics: StadtbusMetrics
    private let closeGrace: Duration
    private let logger: Logger
    /// Called when a broker other than `main` is connected for the first time (its queues are
    /// declared then).
    private let onConnected: @Sendable (String) async -> Void

    init(
        endpoints: [String: AMQPEndpoint], brokers: BrokerConnections, readiness: Readiness, metrics: StadtbusMetrics,
        closeGrace: Duration, logger: Logger, onConnected: @escaping @Sendable (String) async -> Void
    ) {
        self.endpoints = endpoints
        self.brokers = brokers
        self.readiness = readiness
        self.metrics = metrics
        self.closeGrace = closeGrace
        self.logger = logger
        self.onConnected = onConnected
    }

    private enum Finished: Sendable {
        case broker
        case shutdown
    }

    func run() async throws {
        defer { logger.info("broker connections closed") }
        try await withThrowingTaskGroup(of: Finished.self) { group in
            // The main broker first: its connection name and readiness come first in the log.
            for (name, endpoint) in endpoints.sorted(by: { Self.order($0.key, $1.key) }) {
                group.addTask {
                    try await self.maintain(endpoint, broker: name)
                    return .broker
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                return .shutdown
            }
            // A connection that fails for good (a configuration error on the main broker) ends
            // the service with its error; otherwise it runs until it is asked to shut down.
            while let finished = try await group.next(), finished != .shutdown {}
            await closeConnections()
            group.cancelAll()
        }
    }

    /// `main` first, then by name.
    private static func order(_ left: String, _ right: String) -> Bool {
        (left != BrokerSettings.mainName ? 1 : 0, left) < (right != BrokerSettings.mainName ? 1 : 0, right)
    }

    /// Connects `broker`, then follows its events until the connection is closed.
    private func maintain(_ endpoint: AMQPEndpoint, broker: String) async throws {
        let connection: AMQPConnection
        do {
            guard let connected = try await connect(endpoint, broker: broker) else { return }
            connection = connected
        } catch  where broker != BrokerSettings.mainName {
            logger.error("cannot connect to broker", metadata: ["broker": "\(broker)", "error": "\(error)"])
            return
        }
        if Task.isCancelled {
            await connection.close()
            return
        }
        brokers.attach(connection, as: broker)
        if broker != BrokerSettings.mainName { await onConnected(broker) }
        await watch(connection, broker: broker)
    }

    /// Connects, retrying with backoff until connected or stopped (readiness says why meanwhile).
    /// - Throws: ``AMQPError`` for a configuration error (retrying cannot help).
    private func connect(_ endpoint: AMQPEndpoint, broker: String) async throws -> AMQPConnection? {
        var attempt = 0
        let condition = ReadinessCondition.broker(broker)
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

    private func watch(_ connection: AMQPConnection, broker: String) async {
        let condition = ReadinessCondition.broker(broker)
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

    /// Closes every established connection, giving up after the close grace.
    private func closeConnections() async {
        let connections = brokers.all.map(\.connection)
        let closed = await Deadline.wait(until: .now + closeGrace) {
            for connection in connections { await connection.close() }
        }
        if !closed {
            logger.warning("broker connections did not close in time; exiting (the broker requeues unacked messages)")
        }
    }
}
