import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore

/// `amqp`: consume from and publish to RabbitMQ queues and exchanges, on the main broker or
/// on another one configured under `brokers:` (a neighbouring municipality's).
///
/// ```yaml
/// nachbar.breitenburg:
///   type: amqp
///   broker: breitenburg        # default: main (the `broker:` section)
///   queue: breitenburg.eingang
/// ```
public struct AMQPAdapter: Adapter {
    public init() {}

    public let type = AdapterType(
        name: "amqp",
        settings: SettingsSchema(
            [
                .init(
                    "queue", .checked("a queue name", { AMQPNames.problem($0, limit: AMQPNames.maxQueue) }),
                    help: "queue to consume from or publish to (default exchange)"),
                .init(
                    "exchange",
                    .checked("an exchange name", { AMQPNames.problem($0, limit: AMQPPublishLimits.shortString) }),
                    help: "exchange to publish to"),
                .init("exchange-type", .oneOf(["direct", "topic", "fanout", "headers"]), default: .string("direct")),
                .init(
                    "routing-key",
                    .checked("a routing key", { AMQPNames.problem($0, limit: AMQPPublishLimits.shortString) }),
                    help: "routing key for an exchange"),
                .init("broker", .string, help: "name under 'brokers:' (default: main, the 'broker:' section)"),
                .init("prefetch", .int(1...10_000), default: .int(16)),
                .init("persistent", .bool, default: .bool(true)),
            ], exactlyOneOf: [["queue", "exchange"]]),
        canReceive: true, canSend: true,
        summary: "RabbitMQ queues and exchanges (publisher confirms, manual acks), on any configured broker")

    /// Declares every endpoint's queue (quorum) or exchange on its broker, and the fallback
    /// dead-letter queue on every broker in use.
    public func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws {
        var topologies: [String: AMQPTopology] = [:]
        for endpoint in endpoints.sorted(by: { $0.name < $1.name }) {
            let broker = context.brokerName(of: endpoint)
            var topology =
                topologies[broker] ?? AMQPTopology(queues: [AMQPQueue(FailurePublisher.fallbackDeadLetterQueue)])
            if let queue = endpoint.settings["queue"]?.string {
                topology.queues.append(AMQPQueue(queue))
            } else if let exchange = endpoint.settings["exchange"]?.string, !exchange.isEmpty {
                let kind =
                    endpoint.settings["exchange-type"]?.string.flatMap(AMQPExchange.Kind.init(rawValue:)) ?? .direct
                topology.exchanges.append(AMQPExchange(exchange, kind: kind))
            }
            topologies[broker] = topology
        }
        if topologies[BrokerSettings.mainName] == nil {
            topologies[BrokerSettings.mainName] = AMQPTopology(queues: [
                AMQPQueue(FailurePublisher.fallbackDeadLetterQueue)
            ])
        }
        for (broker, topology) in topologies.sorted(by: { $0.key < $1.key }) {
            guard context.brokers.isConfigured(broker) else {
                throw AdapterError.failed(
                    adapter: "amqp", reason: "broker '\(broker)' is not configured under 'brokers:'")
            }
            if broker == BrokerSettings.mainName {
                try await context.brokers.waitForConnection(broker).declare(topology)
            } else if let connection = context.brokers.connection(broker) {
                try await connection.declare(topology)
            } else {
                // Declared once the broker is reachable (see the runtime's broker watcher).
                context.logger.notice(
                    "broker not connected yet; its queues are declared when it is", metadata: ["broker": "\(broker)"])
            }
        }
    }

    public func makeSink(context: AdapterContext) throws -> any MessageSink {
        AMQPSink(brokers: context.brokers, metrics: context.metrics)
    }

    public func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        guard let queue = endpoint.settings["queue"]?.string else {
            throw AdapterError.missingSetting(endpoint: endpoint.name, setting: "queue")
        }
        return QueueConsumer(
            endpoint: endpoint, queue: queue, broker: context.brokerName(of: endpoint), context: context)
    }
}
