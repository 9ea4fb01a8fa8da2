import Logging
import StadtbusCore
import StadtbusOperations
import StadtbusXML

/// Runs one message through the engine for a source, with the per-message metrics and log
/// metadata every source needs. The source settles the message by ``IntakeResult/disposition``
/// and then calls ``IntakeResult/settled()``.
public struct MessageIntake: Sendable {
    let engine: RoutingEngine
    let metrics: StadtbusMetrics
    let logger: Logger

    /// Processes `message` (from the route's source endpoint; `route` forces a route, as
    /// `dlq replay` does) on ``XMLWorkExecutor/shared``, through ``LargeDocumentGate/shared``
    /// when the message is large.
    public func process(_ message: Message, route forced: String? = nil) async -> IntakeResult {
        let started = ContinuousClock.now
        let observer = MetricsObserver(metrics: metrics)
        // The engine's CPU work (parse, validate, map, sign) runs on the message-work threads, never
        // on the cooperative pool that serves /health, /ready and HTTP; large documents take turns.
        let limits = engine.table.parseLimits
        let disposition = await LargeDocumentGate.shared.withAdmission(
            forDocumentOf: message.body.count, limits: limits
        ) {
            await withTaskExecutorPreference(XMLWorkExecutor.shared) {
                await engine.process(message, route: forced, observer: observer)
            }
        }
        var log = logger
        log[metadataKey: "route"] = "\(observer.route ?? "unrouted")"
        log[metadataKey: "message_id"] = "\(observer.messageID ?? "(no header)")"
        if let transportID = message.properties.messageID {
            log[metadataKey: "transport_message_id"] = "\(transportID)"
        }
        return IntakeResult(
            disposition: disposition, route: observer.route, messageID: observer.messageID,
            deliveries: observer.deliveries,
            logger: log, metrics: metrics, started: started)
    }
}

/// What the engine decided about one message, with what is needed to log and count it.
public struct IntakeResult: Sendable {
    public let disposition: Disposition
    /// The route that took the message; `nil` when none did.
    public let route: String?
    /// The XÖV identity from the header, when it could be read.
    public let messageID: String?
    /// Destinations delivered to.
    public let deliveries: Int
    /// A logger carrying the route and message identity.
    public let logger: Logger
    let metrics: StadtbusMetrics
    let started: ContinuousClock.Instant

    /// The route name for metrics (`unrouted` when no route took the message).
    public var routeLabel: String { route ?? "unrouted" }

    /// The route the failure belongs to: the disposition's, else the route that took the message.
    public var failedRoute: String? {
        if case .deadLetter(_, _, let route, _) = disposition, let route { return route }
        return route
    }

    /// Counts the message once the source has settled it (acked, moved, answered).
    public func settled() {
        if route == nil, case .deadLetter = disposition { metrics.count(.received, route: routeLabel) }
        RuntimeMetrics(metrics: metrics, broker: "main").count(disposition, route: routeLabel, deliveries: deliveries)
        metrics.recordEndToEnd(route: routeLabel, duration: ContinuousClock.now - started)
    }
}
