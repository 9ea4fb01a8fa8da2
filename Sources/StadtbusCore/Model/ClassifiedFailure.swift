/// Whether a failure may go away by itself (retry) or never will (dead letter at once).
public enum FailureKind: String, Sendable, Equatable {
    /// A timeout, an HTTP 5xx, a broker hiccup: retry with backoff.
    case transient
    /// Invalid content, a refused signature, a 4xx: retrying cannot help.
    case permanent
}

/// A failure classified for the retry policy: a step's (``StepFailure``) or a sink's
/// (``DeliveryError``) — one type, so the engine treats both alike.
public struct ClassifiedFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var kind: FailureKind
    /// A short machine-readable code (`schema-invalid`, `mapping-failed`, `timeout`,
    /// `http-503`, `broker`, …) that a route's `retryable:` list can select.
    public var code: String
    /// What happened, for a human.
    public var message: String

    public init(_ kind: FailureKind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public static func transient(_ code: String, _ message: String) -> ClassifiedFailure {
        .init(.transient, code: code, message: message)
    }

    public static func permanent(_ code: String, _ message: String) -> ClassifiedFailure {
        .init(.permanent, code: code, message: message)
    }

    public var description: String { "\(code): \(message)" }
}
