import Foundation
import Logging
import StadtbusAMQP
import StadtbusConfig
import StadtbusCore
import StadtbusOperations

/// What the runtime gives adapters: the engine to hand messages to, the broker connections,
/// and the operations side (metrics, readiness, logger).
public struct AdapterContext: Sendable {
    public let engine: RoutingEngine
    public let brokers: BrokerConnections
    public let metrics: StadtbusMetrics
    public let readiness: Readiness
    /// Messages in flight across all sources (for the gauge and for draining at shutdown).
    public let inFlight: InFlightCounter
    /// How many messages one source processes at the same time (`workers:`).
    public let workers: Int
    /// This authority's `kennung` (`identity:`), if configured.
    public let identity: String?
    public let logger: Logger

    public init(
        engine: RoutingEngine, brokers: BrokerConnections, metrics: StadtbusMetrics, readiness: Readiness,
        inFlight: InFlightCounter, workers: Int, identity: String?, logger: Logger
    ) {
        self.engine = engine
        self.brokers = brokers
        self.metrics = metrics
        self.readiness = readiness
        self.inFlight = inFlight
        self.workers = workers
        self.identity = identity
        self.logger = logger
    }

    /// The broker an endpoint uses: its `broker:` setting, else `main`.
    public func brokerName(of endpoint: Endpoint) -> String {
        endpoint.settings["broker"]?.string ?? BrokerSettings.mainName
    }

    /// A publisher for dead letters and retries of messages that came from `broker`.
    public func failurePublisher(for broker: String) -> FailurePublisher {
        FailurePublisher(broker: broker, brokers: brokers)
    }

    /// Processes messages through the engine with metrics and log metadata.
    public var intake: MessageIntake { MessageIntake(engine: engine, metrics: metrics, logger: logger) }
}

/// Counts messages in flight across all sources (for the in-flight gauge and draining).
public final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    public init() {}

    public func add(_ delta: Int, metrics: StadtbusMetrics) {
        let value = lock.withLock {
            count += delta
            return count
        }
        metrics.setInFlight(value)
    }

    public var value: Int { lock.withLock { count } }
}
