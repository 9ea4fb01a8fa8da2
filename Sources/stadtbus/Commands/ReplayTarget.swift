import StadtbusConfig
import StadtbusCore

/// Where `stadtbus dlq replay` may send a dead letter: only into a queue that a route of the
/// loaded configuration reads from, so the message goes through routing and every step of its
/// route again — `verify` included.
///
/// The dead letter's headers are not trusted: anyone who can publish to the dead-letter queue
/// can write them. `x-stadtbus-route` must name a route of the configuration, and
/// `x-stadtbus-original-queue` must be that route's source queue (for an unrouted message,
/// `(none)`, or a route without a source of its own, a queue some route reads from). Anything
/// else is refused with the reason; the letter stays in its dead-letter queue.
enum ReplayTarget {
    /// The route header value Stadtbus writes for a message no route took.
    static let unrouted = "(none)"

    /// Why a dead letter is not replayed (a human reads it next to the letter's number).
    struct Refusal: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// The queue to replay to, or why not.
    /// - Parameters:
    ///   - route: the dead letter's `x-stadtbus-route` header (`nil`: missing or not a string).
    ///   - originalQueue: its `x-stadtbus-original-queue` header (`nil`: missing or not a string).
    ///   - table: the loaded configuration's routes and endpoints.
    static func resolve(route: String?, originalQueue: String?, in table: RoutingTable) -> Result<String, Refusal> {
        guard let route, !route.isEmpty else {
            return .failure(Refusal(description: "no x-stadtbus-route header: not a dead letter Stadtbus wrote"))
        }
        guard let originalQueue, !originalQueue.isEmpty else {
            return .failure(
                Refusal(description: "no x-stadtbus-original-queue header: not a dead letter Stadtbus wrote"))
        }
        let sources = sourceQueues(in: table)
        if route == unrouted {
            guard sources.contains(originalQueue) else {
                return .failure(
                    Refusal(
                        description:
                            "unrouted dead letter names queue '\(originalQueue)', which no route of the configuration reads from"
                    ))
            }
            return .success(originalQueue)
        }
        guard let definition = table.route(named: route) else {
            return .failure(Refusal(description: "route '\(route)' is not in the configuration"))
        }
        guard let sourceName = definition.source else {
            // Reached only through `route:NAME` from another route: the message came in at
            // that route's source, which is one of the configured source queues.
            guard sources.contains(originalQueue) else {
                return .failure(
                    Refusal(
                        description:
                            "route '\(route)' has no source of its own and queue '\(originalQueue)' is not one any route reads from"
                    ))
            }
            return .success(originalQueue)
        }
        let source: SourceQueue
        switch sourceQueue(of: sourceName, in: table) {
        case .success(let queue): source = queue
        case .failure(let refusal):
            return .failure(Refusal(description: "route '\(route)' reads from \(refusal.description)"))
        }
        guard source.broker == BrokerSettings.mainName else {
            return .failure(
                Refusal(
                    description:
                        "route '\(route)' reads queue '\(source.queue)' on broker '\(source.broker)'; dlq replay publishes to the main broker only"
                ))
        }
        guard source.queue == originalQueue else {
            return .failure(
                Refusal(
                    description:
                        "x-stadtbus-original-queue '\(originalQueue)' is not the source of route '\(route)' (queue '\(source.queue)')"
                ))
        }
        return .success(source.queue)
    }

    /// A queue a source endpoint consumes, and the broker it is on.
    struct SourceQueue: Hashable {
        let queue: String
        let broker: String
    }

    /// The queue a source endpoint consumes: an `amqp` endpoint's `queue`, an `http-in`
    /// endpoint's intake queue (its `queue`, default `stadtbus.http-in.NAME`). Other sources
    /// (`file`, `exec`) have no queue: their dead letters never come from one.
    static func sourceQueue(of endpointName: String, in table: RoutingTable) -> Result<SourceQueue, Refusal> {
        guard let endpoint = table.endpoints[endpointName] else {
            return .failure(Refusal(description: "endpoint '\(endpointName)', which is not configured"))
        }
        let broker = endpoint.settings["broker"]?.string ?? BrokerSettings.mainName
        switch endpoint.type {
        case "amqp":
            guard let queue = endpoint.settings["queue"]?.string else {
                return .failure(Refusal(description: "endpoint '\(endpointName)', which has no queue"))
            }
            return .success(SourceQueue(queue: queue, broker: broker))
        case "http-in":
            // The same default as HTTPInSettings.queue (adapters/http-in).
            return .success(
                SourceQueue(
                    queue: endpoint.settings["queue"]?.string ?? "stadtbus.http-in.\(endpointName)", broker: broker))
        default:
            return .failure(
                Refusal(description: "endpoint '\(endpointName)' (type \(endpoint.type)), which is not a queue"))
        }
    }

    /// The queues on the main broker that some route reads from.
    static func sourceQueues(in table: RoutingTable) -> Set<String> {
        Set(
            table.routes.compactMap(\.source).compactMap { name -> String? in
                guard case .success(let source) = sourceQueue(of: name, in: table),
                    source.broker == BrokerSettings.mainName
                else { return nil }
                return source.queue
            })
    }
}
