/// Where a route sends its result.
public enum Destination: Sendable, Hashable, CustomStringConvertible {
    /// A configured endpoint, delivered through the ``MessageSink``.
    case endpoint(String)
    /// Another route (`route:NAME`): its steps run on a copy of the document and it delivers
    /// to its own destinations; its `from` and `when` are not consulted.
    case route(String)
    /// `directory:reader` / `directory:author`: the endpoint the ``AddressDirectory`` maps the
    /// header's reader (or author) `kennung` to, resolved per message. An unknown `kennung`
    /// is a permanent failure (`unknown-recipient`).
    case directory(DirectoryRole)

    public var description: String {
        switch self {
        case .endpoint(let name): return name
        case .route(let name): return "route:\(name)"
        case .directory(let role): return "directory:\(role.rawValue)"
        }
    }
}

/// One branch of a `choice`.
public struct ChoiceBranch: Sendable {
    /// `nil` for `otherwise`.
    public var condition: Condition?
    public var destinations: [Destination]

    public init(condition: Condition?, destinations: [Destination]) {
        self.condition = condition
        self.destinations = destinations
    }
}

/// How a route picks its destinations.
public enum Routing: Sendable {
    /// `to: [...]`: every destination (multicast).
    case to([Destination])
    /// `choice:`: the first branch whose condition holds (or `otherwise`). No match and no
    /// `otherwise` is a permanent failure (`no-choice`), never a silent drop.
    case choice([ChoiceBranch])

    /// Every destination any branch can reach (for reference checks and cycles).
    public var allDestinations: [Destination] {
        switch self {
        case .to(let destinations): return destinations
        case .choice(let branches): return branches.flatMap(\.destinations)
        }
    }
}

/// Retry policy for transient failures: exponential backoff between `minDelay` and `maxDelay`.
public struct RetryPolicy: Sendable, Equatable {
    /// Total attempts including the first (1 = never retry).
    public var maxAttempts: Int
    public var minDelay: Duration
    public var maxDelay: Duration
    /// Failure codes that may be retried; `nil` = every transient failure.
    public var retryOn: Set<String>?

    public init(
        maxAttempts: Int = 5, minDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(300),
        retryOn: Set<String>? = nil
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.minDelay = minDelay
        self.maxDelay = max(minDelay, maxDelay)
        self.retryOn = retryOn
    }

    /// The delay before attempt `attempt + 1`: `minDelay · 2^(attempt-1)`, at most `maxDelay`.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let factor = Double(1 << UInt64(exponent))
        let seconds = Double(minDelay.components.seconds) + Double(minDelay.components.attoseconds) / 1e18
        let maxSeconds = Double(maxDelay.components.seconds) + Double(maxDelay.components.attoseconds) / 1e18
        let value = min(seconds * factor, maxSeconds)
        return value >= maxSeconds ? maxDelay : .milliseconds(Int64((value * 1000).rounded()))
    }

    /// Whether a failure of `kind` with `code` may be retried at all.
    public func isRetryable(kind: FailureKind, code: String) -> Bool {
        kind == .transient && (retryOn?.contains(code) ?? true)
    }
}

/// A route's `on-error`.
public struct ErrorPolicy: Sendable, Equatable {
    public var retry: RetryPolicy
    /// The dead-letter endpoint; `nil` = the runtime's default.
    public var deadLetter: String?

    public init(retry: RetryPolicy = RetryPolicy(), deadLetter: String? = nil) {
        self.retry = retry
        self.deadLetter = deadLetter
    }
}

/// A compiled route. Immutable and shared by all workers.
public struct Route: Sendable {
    public var name: String
    /// The endpoint messages come from; `nil` for a route only reachable as `route:NAME`.
    public var source: String?
    public var condition: Condition
    public var steps: [any RouteStep]
    public var routing: Routing
    /// Endpoints that get a copy of the inbound body (audit); best effort.
    public var wireTaps: [String]
    public var errorPolicy: ErrorPolicy

    public init(
        name: String, source: String?, condition: Condition = .always, steps: [any RouteStep] = [], routing: Routing,
        wireTaps: [String] = [], errorPolicy: ErrorPolicy = ErrorPolicy()
    ) {
        self.name = name
        self.source = source
        self.condition = condition
        self.steps = steps
        self.routing = routing
        self.wireTaps = wireTaps
        self.errorPolicy = errorPolicy
    }

    /// Whether running the route reads the parsed document: it has a step, a `route:` destination
    /// (which runs on a copy of the document) or an `xpath` in a `choice`. A route that does not is
    /// classified and delivered from the header alone, without the document's tree.
    public var readsDocument: Bool {
        if !steps.isEmpty { return true }
        func isRoute(_ destination: Destination) -> Bool {
            if case .route = destination { return true }
            return false
        }
        switch routing {
        case .to(let destinations):
            return destinations.contains(where: isRoute)
        case .choice(let branches):
            return branches.contains { $0.condition?.readsDocument == true || $0.destinations.contains(where: isRoute) }
        }
    }
}
