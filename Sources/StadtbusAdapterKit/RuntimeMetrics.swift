import StadtbusCore
import StadtbusOperations
import StadtbusXML

/// Connects the engine's and transport's events to ``StadtbusMetrics``.
public struct RuntimeMetrics: Sendable {
    public let metrics: StadtbusMetrics
    /// The broker name for broker metrics (`main`, or a name under `brokers:`).
    public let broker: String

    public init(metrics: StadtbusMetrics, broker: String) {
        self.metrics = metrics
        self.broker = broker
    }

    public func publishConfirmed(after duration: Duration) {
        metrics.recordPublishConfirm(broker: broker, duration: duration)
    }

    /// Counts a finished message by route (the route comes from the disposition or the
    /// observer; `unrouted` when no route took the message).
    public func count(_ disposition: Disposition, route: String, deliveries: Int) {
        switch disposition {
        case .completed: metrics.count(.delivered, route: route)
        case .duplicate: metrics.count(.duplicate, route: route)
        case .filtered: metrics.count(.filtered, route: route)
        case .retry: metrics.count(.retried, route: route)
        case .deadLetter: metrics.count(.deadLettered, route: route)
        }
    }
}

/// Watches one message through the engine for metrics: which route took it, how long each
/// step took. One instance per message (the engine calls it on the processing task).
public final class MetricsObserver: ProcessingObserver {
    let metrics: StadtbusMetrics
    public private(set) var route: String?
    /// The XÖV identity from the header, once the engine has read it (for log lines).
    public private(set) var messageID: String?
    public private(set) var deliveries = 0

    public init(metrics: StadtbusMetrics) {
        self.metrics = metrics
    }

    public func routeEvaluated(_ route: Route, matched: Bool, header: MessageHeader) {
        if messageID == nil { messageID = header.messageID }
        if matched, self.route == nil {
            self.route = route.name
            metrics.count(.received, route: route.name)
        }
    }

    public func stepFinished(
        route: String, step: any RouteStep, outcome: StepOutcome?, failure: StepFailure?, exchange: Exchange,
        duration: Duration
    ) {
        metrics.recordStep(route: route, step: step.name, duration: duration)
    }

    public func delivery(_ message: OutgoingMessage, to endpoint: String, result: DeliveryResult) {
        if result == .delivered { deliveries += 1 }
    }
}
