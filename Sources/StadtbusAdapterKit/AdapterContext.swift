import Logging
import StadtbusCore
import StadtbusOperations

/// What the runtime gives adapters: the engine to hand messages to, the operations side
/// (metrics, readiness, logger), and shared services such as broker connections in
/// ``resources`` (transport modules add typed accessors, e.g. `context.brokers` in
/// `StadtbusBrokerKit`).
public struct AdapterContext: Sendable {
    public let engine: RoutingEngine
    /// Shared services of the runtime, by type (broker connections, …).
    public let resources: AdapterResources
    public let metrics: StadtbusMetrics
    public let readiness: Readiness
    /// Messages in flight across all sources (for the gauge and for draining at shutdown).
    public let inFlight: InFlightCounter
    /// How many messages one source keeps in progress at once (`max-in-flight:`, default 256). A
    /// window, not a CPU bound: a message waiting for a confirm, a commit or an answer holds no thread.
    public let maxInFlight: Int
    /// This authority's `kennung` (`identity:`), if configured.
    public let identity: String?
    public let logger: Logger

    public init(
        engine: RoutingEngine, resources: AdapterResources = AdapterResources(), metrics: StadtbusMetrics,
        readiness: Readiness, inFlight: InFlightCounter, maxInFlight: Int, identity: String?, logger: Logger
    ) {
        self.engine = engine
        self.resources = resources
        self.metrics = metrics
        self.readiness = readiness
        self.inFlight = inFlight
        self.maxInFlight = maxInFlight
        self.identity = identity
        self.logger = logger
    }
}
