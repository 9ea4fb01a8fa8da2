import StadtbusCore
import StadtbusOperations
import StadtbusXML

/// Connects the engine's and transport's events to ``StadtbusMetrics``.
struct RuntimeMetrics: Sendable {
    let metrics: StadtbusMetrics
    let broker: String

    func publishConfirmed(after duration: Duration) {
        metrics.recordPublishConfirm(broker: broker, duration: duration)
    }

    /// Counts a finished message by route (the route comes from the disposition or the
    /// observer; `unrouted` when no route took the message).
    func count(_ disposition: Disposition, route: String, deliveries: Int) {
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
final class MetricsObserver: ProcessingObserver {
    let metrics: StadtbusMetrics
    private(set) var route: String?
    /// The XÖV identity from the header, once the engine has read it (for log lines).
    private(set) var messageID: String?
    private(set) var deliveries = 0

    init(metrics: StadtbusMetrics) {
        self.metrics = metrics
    }

    func routeEvaluated(_ route: Route, matched: Bool, header: MessageHeader) {
        if messageID == nil { messageID = header.messageID }
        if matched, self.route == nil {
            self.route = route.name
            metrics.count(.received, route: route.name)
        }
    }

    func stepFinished(
        route: String, step: any RouteStep, outcome: StepOutcome?, failure: StepFailure?, exchange: Exchange,
        duration: Duration
    ) {
        metrics.recordStep(route: route, step: step.name, duration: duration)
    }

    func delivery(_ message: OutgoingMessage, to endpoint: String, result: DeliveryResult) {
        if result == .delivered { deliveries += 1 }
    }
}
