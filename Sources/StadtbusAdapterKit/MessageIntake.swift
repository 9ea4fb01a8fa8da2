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

    /// The largest message processed on the caller's executor. Its CPU work (parse, validate,
    /// map, sign) takes milliseconds at most; a larger message is processed on
    /// ``XMLWorkExecutor/shared``, so that seconds of libxml2 work never hold the cooperative pool
    /// that serves /health, /ready and HTTP.
    public static let inlineDocumentBytes = 256 * 1024

    /// Processes `message` (from the route's source endpoint; `route` forces a route, as
    /// `dlq replay` does): at once when it is at most ``inlineDocumentBytes``, else on
    /// ``XMLWorkExecutor/shared``, through ``LargeDocumentGate/shared`` when it is large.
    public func process(_ message: Message, route forced: String? = nil) async -> IntakeResult {
        let started = ContinuousClock.now
        let observer = MetricsObserver(metrics: metrics)
        let disposition: Disposition
        if message.body.count <= Self.inlineDocumentBytes {
            // No hop to other threads: the message is parsed, processed and freed where it runs.
            disposition = await engine.process(message, route: forced, observer: observer)
        } else {
            // Large documents take turns, on the message-work threads.
            disposition = await LargeDocumentGate.shared.withAdmission(
                forDocumentOf: message.body.count, limits: engine.table.parseLimits
            ) {
                await withTaskExecutorPreference(XMLWorkExecutor.shared) {
                    await engine.process(message, route: forced, observer: observer)
                }
            }
        }
        return IntakeResult(
            disposition: disposition, route: observer.route, messageID: observer.messageID,
            deliveries: observer.deliveries, transportMessageID: message.properties.messageID,
            baseLogger: logger, metrics: metrics, started: started)
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
    /// The transport's message id, if the message had one.
    let transportMessageID: String?
    let baseLogger: Logger
    let metrics: StadtbusMetrics
    let started: ContinuousClock.Instant

    /// A logger carrying the route and message identity (built when asked for: most messages
    /// are never logged about).
    public var logger: Logger {
        var log = baseLogger
        log[metadataKey: "route"] = .string(route ?? "unrouted")
        log[metadataKey: "message_id"] = .string(messageID ?? "(no header)")
        if let transportMessageID { log[metadataKey: "transport_message_id"] = .string(transportMessageID) }
        return log
    }

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
