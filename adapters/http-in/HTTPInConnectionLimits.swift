import StadtbusConfig
import StadtbusCore

/// How many connections an `http-in` listener keeps open and how long it waits for callers.
///
/// Endpoints that share a `listen` address share one listener; it applies the strictest value
/// any of them sets (the smallest limit, the shortest timeouts). The values apply when the
/// listener starts; a change needs a restart.
public struct HTTPInConnectionLimits: Sendable, Equatable {
    /// Connections open at once; a further connection is closed at once, before any request is read.
    public var maxConnections: Int
    /// How long a connection may stay open with no request in progress (keep-alive).
    public var idleTimeout: Duration
    /// How long a caller may take to send a request's head (request line and headers), from
    /// the connection's opening or the first byte of the request (slowloris).
    public var headerTimeout: Duration
    /// How long a caller may take to send a request's whole body once the head is in.
    public var bodyTimeout: Duration

    public init(maxConnections: Int, idleTimeout: Duration, headerTimeout: Duration, bodyTimeout: Duration) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    /// 256 connections, 60 s idle, 10 s for the head, 60 s for the body.
    public static let defaults = HTTPInConnectionLimits(
        maxConnections: 256, idleTimeout: .seconds(60), headerTimeout: .seconds(10), bodyTimeout: .seconds(60))

    /// The accepted range of `max-connections`.
    static let connectionRange = 1...65_536
    /// The accepted range of the timeouts.
    static let timeoutRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(3600)

    /// The stricter of two endpoints' limits, value by value.
    func stricter(_ other: HTTPInConnectionLimits) -> HTTPInConnectionLimits {
        HTTPInConnectionLimits(
            maxConnections: min(maxConnections, other.maxConnections), idleTimeout: min(idleTimeout, other.idleTimeout),
            headerTimeout: min(headerTimeout, other.headerTimeout), bodyTimeout: min(bodyTimeout, other.bodyTimeout))
    }

    /// Why `text` is not a usable timeout, or `nil` (for `stadtbus check`).
    @Sendable static func timeoutProblem(_ text: String) -> String? {
        guard let duration = DurationSyntax.parse(text) else {
            return "found '\(text)'; write a duration like 500ms, 10s or 2m"
        }
        guard timeoutRange.contains(duration) else { return "found '\(text)'; use 100ms to 1h" }
        return nil
    }

    /// A timeout setting as the loader left it (a checked string) or as tests build it (a duration).
    static func timeout(_ value: ConfigValue?) -> Duration? {
        if let duration = value?.duration { return duration }
        return value?.string.flatMap(DurationSyntax.parse)
    }
}
