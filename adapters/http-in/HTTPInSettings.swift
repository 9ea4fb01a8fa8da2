import Foundation
import StadtbusConfig
import StadtbusCore

/// One `http-in` endpoint's settings, read from the values `stadtbus check` accepted.
public struct HTTPInSettings: Sendable, Equatable {
    /// How callers prove who they are.
    public enum Auth: Sendable, Equatable {
        /// `Authorization: Bearer TOKEN`, compared in constant time with the configured tokens.
        case bearer(TokenSource)
        /// A TLS-terminating proxy verified the client certificate and passes the result in headers.
        case mtlsProxy(MTLSProxyPolicy)
        /// Anyone who can reach the port may submit (logged as a warning at start).
        case none
    }

    /// Where bearer tokens come from (read at start and on every reload).
    public enum TokenSource: Sendable, Equatable {
        case file(String)
        case environment(String)
    }

    /// What `auth: mtls-proxy` checks.
    public struct MTLSProxyPolicy: Sendable, Equatable {
        /// The proxies a request must come from (the TCP peer address).
        public var trustedProxies: [IPAddress]
        /// The header that must equal `SUCCESS` (nginx `$ssl_client_verify`).
        public var verifyHeader: String
        /// The header holding the client certificate's subject DN.
        public var subjectHeader: String
        /// Glob patterns (fnmatch) the subject DN must match, one of them.
        public var allowedSubjects: [String]
    }

    public var listen: ListenAddress
    public var path: String
    public var auth: Auth
    /// The largest request body accepted, in bytes.
    public var maxBodySize: Int
    /// The intake queue accepted messages are published to.
    public var queue: String
    /// The broker holding the intake queue.
    public var broker: String
    /// How long a request waits for the broker's publish confirm before it is answered 503.
    public var confirmTimeout: Duration
    /// The value of `Retry-After` on 503 answers, in seconds.
    public var retryAfter: Int
    /// Connection limit and timeouts (`max-connections`, `idle-timeout`, `header-timeout`,
    /// `body-timeout`); the listener applies the strictest of the endpoints sharing it.
    public var connections: HTTPInConnectionLimits

    /// Reads `endpoint`'s settings; defaults apply where the loader did not set them (tests
    /// build endpoints by hand).
    /// - Throws: ``HTTPInError/invalidSetting(endpoint:setting:problem:)`` naming the setting.
    public init(endpoint: Endpoint) throws {
        let settings = endpoint.settings
        func invalid(_ setting: String, _ problem: String) -> HTTPInError {
            .invalidSetting(endpoint: endpoint.name, setting: setting, problem: problem)
        }
        let listenText = settings["listen"]?.string ?? HTTPInAdapter.defaultListen
        guard let listen = ListenAddress(listenText) else {
            throw invalid("listen", ListenAddress.problem(listenText) ?? "is not HOST:PORT")
        }
        guard let path = settings["path"]?.string else { throw invalid("path", "is missing (e.g. /eingang/portal)") }
        if let problem = HTTPInAdapter.pathProblem(path) { throw invalid("path", problem) }
        let sizeText = settings["max-body-size"]?.string ?? HTTPInAdapter.defaultMaxBodySize
        guard let maxBodySize = ByteSize.parse(sizeText) else {
            throw invalid("max-body-size", ByteSize.problem(sizeText) ?? "is not a size")
        }
        self.listen = listen
        self.path = path
        self.maxBodySize = maxBodySize
        queue = settings["queue"]?.string ?? "stadtbus.http-in.\(endpoint.name)"
        broker = settings["broker"]?.string ?? BrokerSettings.mainName
        confirmTimeout = settings["confirm-timeout"]?.duration ?? .seconds(10)
        retryAfter = settings["retry-after"]?.int ?? 5
        connections = try Self.connectionLimits(settings, invalid: invalid)

        switch settings["auth"]?.string ?? "bearer" {
        case "bearer":
            let file = settings["token-file"]?.string
            let variable = settings["token-env"]?.string
            switch (file, variable) {
            case (let file?, nil): auth = .bearer(.file(file))
            case (nil, let variable?): auth = .bearer(.environment(variable))
            case (nil, nil): throw invalid("auth", "is bearer but neither 'token-file' nor 'token-env' is set")
            case (_?, _?): throw invalid("auth", "is bearer with both 'token-file' and 'token-env'; keep one")
            }
        case "mtls-proxy":
            let proxies = settings["trusted-proxies"].map(Self.strings) ?? []
            var addresses: [IPAddress] = []
            for proxy in proxies {
                guard let address = IPAddress(proxy) else {
                    throw invalid("trusted-proxies", IPAddress.problem(proxy) ?? "holds an invalid address")
                }
                addresses.append(address)
            }
            if addresses.isEmpty {
                throw invalid("trusted-proxies", "is empty; name the proxy's address, e.g. [127.0.0.1]")
            }
            let subjects = settings["allowed-subjects"].map(Self.strings) ?? []
            if subjects.isEmpty {
                throw invalid(
                    "allowed-subjects", "is empty; list subject DN patterns, e.g. [\"CN=portal.itzehoe.de,*\"]")
            }
            auth = .mtlsProxy(
                MTLSProxyPolicy(
                    trustedProxies: addresses,
                    verifyHeader: settings["client-verify-header"]?.string ?? HTTPInAdapter.defaultVerifyHeader,
                    subjectHeader: settings["client-subject-header"]?.string ?? HTTPInAdapter.defaultSubjectHeader,
                    allowedSubjects: subjects))
        case "none":
            auth = .none
        case let other:
            throw invalid("auth", "must be 'bearer', 'mtls-proxy' or 'none', found '\(other)'")
        }
    }

    private static func connectionLimits(
        _ settings: [String: ConfigValue], invalid: (String, String) -> HTTPInError
    ) throws -> HTTPInConnectionLimits {
        var limits = HTTPInConnectionLimits.defaults
        if let value = settings["max-connections"] {
            guard let count = value.int, HTTPInConnectionLimits.connectionRange.contains(count) else {
                throw invalid("max-connections", "found '\(value)'; use a number from 1 to 65536")
            }
            limits.maxConnections = count
        }
        let timeouts: [(String, WritableKeyPath<HTTPInConnectionLimits, Duration>)] = [
            ("idle-timeout", \.idleTimeout), ("header-timeout", \.headerTimeout), ("body-timeout", \.bodyTimeout),
        ]
        for (name, keyPath) in timeouts {
            guard let value = settings[name] else { continue }
            guard let duration = HTTPInConnectionLimits.timeout(value),
                HTTPInConnectionLimits.timeoutRange.contains(duration)
            else {
                throw invalid(name, "found '\(value)'; write a duration from 100ms to 1h like 10s")
            }
            limits[keyPath: keyPath] = duration
        }
        return limits
    }

    private static func strings(_ value: ConfigValue) -> [String] {
        if case .list(let values) = value { return values.compactMap(\.string) }
        return value.string.map { [$0] } ?? []
    }
}
