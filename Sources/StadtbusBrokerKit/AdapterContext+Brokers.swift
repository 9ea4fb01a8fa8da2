import Logging
import StadtbusAdapterKit
import StadtbusConfig
import StadtbusCore
import StadtbusOperations

extension AdapterContext {
    /// A context whose ``AdapterContext/resources`` hold `brokers` (the runtime's and the
    /// tests' way to build one for AMQP-based adapters).
    public init(
        engine: RoutingEngine, brokers: BrokerConnections, metrics: StadtbusMetrics, readiness: Readiness,
        inFlight: InFlightCounter, maxInFlight: Int, identity: String?, logger: Logger
    ) {
        self.init(
            engine: engine, resources: AdapterResources().inserting(brokers), metrics: metrics, readiness: readiness,
            inFlight: inFlight, maxInFlight: maxInFlight, identity: identity, logger: logger)
    }

    /// The runtime's broker connections. When the runtime provides none (a context built
    /// without brokers), an empty set: every broker is then "not configured", which the `amqp`
    /// and `http-in` adapters report when they prepare their endpoints.
    public var brokers: BrokerConnections {
        resources[BrokerConnections.self] ?? BrokerConnections.none
    }

    /// The broker an endpoint uses: its `broker:` setting, else `main`.
    public func brokerName(of endpoint: Endpoint) -> String {
        endpoint.settings["broker"]?.string ?? BrokerSettings.mainName
    }

    /// A publisher for dead letters and retries of messages that came from `broker`.
    public func failurePublisher(for broker: String) -> FailurePublisher {
        FailurePublisher(broker: broker, brokers: brokers)
    }
}
