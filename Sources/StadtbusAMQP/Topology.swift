import Foundation

/// An exchange to declare (durable by default).
public struct AMQPExchange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case direct, topic, headers, fanout
    }

    public var name: String
    public var kind: Kind
    public var durable: Bool
    public var autoDelete: Bool
    public var `internal`: Bool
    public var arguments: [String: AMQPHeaderValue]

    public init(
        _ name: String, kind: Kind = .direct, durable: Bool = true, autoDelete: Bool = false,
        internal: Bool = false, arguments: [String: AMQPHeaderValue] = [:]
    ) {
        self.name = name
        self.kind = kind
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.arguments = arguments
    }
}

/// A queue to declare. Quorum queues (replicated, durable) are the default.
public struct AMQPQueue: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case quorum, classic
    }

    /// What a full queue (`maxLength`) does with new messages.
    public enum Overflow: String, Sendable {
        case dropHead = "drop-head"
        /// New publishes are nacked (the publisher sees ``AMQPError/nackedByBroker(exchange:routingKey:)``).
        case rejectPublish = "reject-publish"
        case rejectPublishDLX = "reject-publish-dlx"
    }

    public var name: String
    public var kind: Kind
    /// `x-max-length`
    public var maxLength: Int?
    /// `x-overflow`
    public var overflow: Overflow?
    /// `x-dead-letter-exchange`
    public var deadLetterExchange: String?
    /// `x-dead-letter-routing-key`
    public var deadLetterRoutingKey: String?
    /// `x-message-ttl`
    public var messageTTL: Duration?
    /// Further `x-…` arguments, passed through unchanged (they win over the typed fields).
    public var arguments: [String: AMQPHeaderValue]
    /// Only for classic queues: exclusive/auto-delete scratch queues. Quorum queues are always durable.
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool

    public init(
        _ name: String, kind: Kind = .quorum, maxLength: Int? = nil, overflow: Overflow? = nil,
        deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil, messageTTL: Duration? = nil,
        arguments: [String: AMQPHeaderValue] = [:], durable: Bool = true, exclusive: Bool = false,
        autoDelete: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.maxLength = maxLength
        self.overflow = overflow
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.messageTTL = messageTTL
        self.arguments = arguments
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
    }

    /// The `x-…` arguments sent with queue.declare.
    public var declareArguments: [String: AMQPHeaderValue] {
        var args: [String: AMQPHeaderValue] = ["x-queue-type": .string(kind.rawValue)]
        if let maxLength { args["x-max-length"] = .int(Int64(maxLength)) }
        if let overflow { args["x-overflow"] = .string(overflow.rawValue) }
        if let deadLetterExchange { args["x-dead-letter-exchange"] = .string(deadLetterExchange) }
        if let deadLetterRoutingKey { args["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
        if let messageTTL {
            args["x-message-ttl"] = .int(Int64(AMQPReconnectPolicy.seconds(messageTTL) * 1000))
        }
        args.merge(arguments) { _, explicit in explicit }
        return args
    }
}

/// A binding from an exchange to a queue.
public struct AMQPBinding: Sendable, Equatable {
    public var exchange: String
    public var queue: String
    public var routingKey: String
    /// For headers exchanges: `x-match` and the header values to match.
    public var arguments: [String: AMQPHeaderValue]

    public init(exchange: String, queue: String, routingKey: String = "", arguments: [String: AMQPHeaderValue] = [:]) {
        self.exchange = exchange
        self.queue = queue
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// Exchanges, queues and bindings, declared in that order by ``AMQPConnection/declare(_:)``.
/// Declared topology is declared again after every reconnect.
public struct AMQPTopology: Sendable, Equatable {
    public var exchanges: [AMQPExchange]
    public var queues: [AMQPQueue]
    public var bindings: [AMQPBinding]

    public init(exchanges: [AMQPExchange] = [], queues: [AMQPQueue] = [], bindings: [AMQPBinding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }

    /// Concatenates two topologies.
    public static func + (lhs: AMQPTopology, rhs: AMQPTopology) -> AMQPTopology {
        AMQPTopology(
            exchanges: lhs.exchanges + rhs.exchanges, queues: lhs.queues + rhs.queues,
            bindings: lhs.bindings + rhs.bindings)
    }
}

/// Names of the standard topology of one route (see ``AMQPTopology/standardRoute(_:retryDelays:queueKind:maxLength:)``).
public struct AMQPRouteTopologyNames: Sendable, Equatable {
    public let route: String
    /// Direct exchange the route's input is published to (routing key: ``workRoutingKey``).
    public var workExchange: String { "stadtbus.\(route)" }
    public var workRoutingKey: String { route }
    /// The queue the route's worker consumes.
    public var workQueue: String { "stadtbus.\(route).work" }
    /// Direct exchange for delayed retries; publish with ``retryRoutingKey(attempt:)``.
    public var retryExchange: String { "stadtbus.\(route).retry" }
    /// The routing key that delays a message before attempt `attempt` (1-based retry number).
    public func retryRoutingKey(attempt: Int) -> String { "attempt-\(attempt)" }
    public func retryQueue(attempt: Int) -> String { "stadtbus.\(route).retry.\(attempt)" }
    /// Fanout exchange for dead letters; also the work queue's `x-dead-letter-exchange`.
    public var deadLetterExchange: String { "stadtbus.\(route).dead" }
    public var deadLetterQueue: String { "stadtbus.\(route).dead" }
}

extension AMQPTopology {
    /// The standard topology of a route:
    ///
    /// - `stadtbus.R` (direct) → `stadtbus.R.work` (routing key `R`), the work queue;
    /// - `stadtbus.R.retry` (direct) → `stadtbus.R.retry.N` (key `attempt-N`) for each retry delay, with
    ///   `x-message-ttl` = delay and dead-letter target `stadtbus.R` / `R`, so that an expired message goes back
    ///   to the work queue (delayed retry without plugins; survives broker restarts);
    /// - `stadtbus.R.dead` (fanout) → `stadtbus.R.dead`, the dead-letter queue, also the work queue's
    ///   dead-letter exchange (a `nack(requeue: false)` lands there instead of being dropped).
    ///
    /// Quorum queues dead-letter with `x-dead-letter-strategy: at-least-once` (which requires
    /// `x-overflow: reject-publish`), so no message is lost between a retry queue and the work queue.
    public static func standardRoute(
        _ route: String, retryDelays: [Duration], queueKind: AMQPQueue.Kind = .quorum, maxLength: Int? = nil
    ) -> (topology: AMQPTopology, names: AMQPRouteTopologyNames) {
        let names = AMQPRouteTopologyNames(route: route)
        var safeDeadLettering: [String: AMQPHeaderValue] = [:]
        var overflow: AMQPQueue.Overflow? = maxLength == nil ? nil : .rejectPublish
        if queueKind == .quorum {
            safeDeadLettering["x-dead-letter-strategy"] = "at-least-once"
            overflow = .rejectPublish
        }
        var topology = AMQPTopology(
            exchanges: [
                AMQPExchange(names.workExchange, kind: .direct),
                AMQPExchange(names.retryExchange, kind: .direct),
                AMQPExchange(names.deadLetterExchange, kind: .fanout),
            ],
            queues: [
                AMQPQueue(
                    names.workQueue, kind: queueKind, maxLength: maxLength, overflow: overflow,
                    deadLetterExchange: names.deadLetterExchange, arguments: safeDeadLettering),
                AMQPQueue(names.deadLetterQueue, kind: queueKind),
            ],
            bindings: [
                AMQPBinding(exchange: names.workExchange, queue: names.workQueue, routingKey: names.workRoutingKey),
                AMQPBinding(exchange: names.deadLetterExchange, queue: names.deadLetterQueue),
            ])
        for (index, delay) in retryDelays.enumerated() {
            let attempt = index + 1
            topology.queues.append(
                AMQPQueue(
                    names.retryQueue(attempt: attempt), kind: queueKind, overflow: overflow,
                    deadLetterExchange: names.workExchange, deadLetterRoutingKey: names.workRoutingKey,
                    messageTTL: delay, arguments: safeDeadLettering))
            topology.bindings.append(
                AMQPBinding(
                    exchange: names.retryExchange, queue: names.retryQueue(attempt: attempt),
                    routingKey: names.retryRoutingKey(attempt: attempt)))
        }
        return (topology, names)
    }
}
