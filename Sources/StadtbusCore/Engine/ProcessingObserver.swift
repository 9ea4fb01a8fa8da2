import StadtbusXML

/// How one delivery went, for observers.
public enum DeliveryResult: Sendable, Equatable {
    case delivered
    /// The idempotency store says this destination already has the message.
    case alreadyDelivered
    case failed(String)
}

/// Watches one `process` call step by step (used by `stadtbus dry-run`; the runtime passes none).
/// Called synchronously on the processing task. Every method has an empty default.
public protocol ProcessingObserver: AnyObject {
    /// A candidate route's `when` was evaluated.
    func routeEvaluated(_ route: Route, matched: Bool, header: MessageHeader)
    /// A step finished (`failure` is set when it threw); `exchange.document` is the result.
    func stepFinished(
        route: String, step: any RouteStep, outcome: StepOutcome?, failure: StepFailure?, exchange: Exchange,
        duration: Duration)
    /// A `choice` picked a branch (`nil` index: none matched).
    func choiceSelected(route: String, branch: Int?, destinations: [Destination])
    /// A delivery to an endpoint (or wire tap) was attempted.
    func delivery(_ message: OutgoingMessage, to endpoint: String, result: DeliveryResult)
    /// A `directory:` destination was looked up: `kennung` is the header's reader (or author),
    /// `entry` what the address directory maps it to (`nil`: unknown, the route fails).
    func directoryResolved(route: String, role: DirectoryRole, kennung: String?, entry: AddressEntry?)
}

extension ProcessingObserver {
    public func routeEvaluated(_ route: Route, matched: Bool, header: MessageHeader) {}
    public func stepFinished(
        route: String, step: any RouteStep, outcome: StepOutcome?, failure: StepFailure?, exchange: Exchange,
        duration: Duration
    ) {}
    public func choiceSelected(route: String, branch: Int?, destinations: [Destination]) {}
    public func delivery(_ message: OutgoingMessage, to endpoint: String, result: DeliveryResult) {}
    public func directoryResolved(route: String, role: DirectoryRole, kennung: String?, entry: AddressEntry?) {}
}
