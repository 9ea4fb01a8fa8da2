import Foundation

/// Where a secret (the AMQP password) comes from. Secrets never live in configuration files inline.
public enum AMQPSecret: Sendable, Equatable {
    /// Read from an environment variable (the value is used verbatim).
    case env(String)
    /// Read from a file (trailing newlines are stripped), e.g. a mounted container secret.
    case file(String)
    /// A literal value. Meant for tests and local development only.
    case literal(String)

    /// Resolves the secret now.
    /// - Throws: ``AMQPError/configuration(_:)`` when the variable is unset or the file is unreadable.
    public func resolve() throws -> String {
        switch self {
        case .literal(let value):
            return value
        case .env(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw AMQPError.configuration("environment variable \(name) (AMQP password) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path),
                let text = String(data: data, encoding: .utf8)
            else {
                throw AMQPError.configuration("cannot read AMQP password file \(path)")
            }
            var value = Substring(text)
            while let last = value.last, last == "\n" || last == "\r" { value = value.dropLast() }
            return String(value)
        }
    }
}

/// TLS settings for an `amqps` connection.
public struct AMQPTLS: Sendable, Equatable {
    /// PEM file with the CA certificate(s) the broker's certificate must chain to.
    public var caFile: String
    /// PEM client certificate for mutual TLS (optional; requires ``keyFile``).
    public var certFile: String?
    /// PEM private key of the client certificate.
    public var keyFile: String?
    /// Verify the broker's certificate chain against ``caFile``. Disable only for diagnostics.
    public var verifyPeer: Bool
    /// Verify that the broker's certificate names the host we connect to.
    public var verifyHostname: Bool

    public init(
        caFile: String, certFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true,
        verifyHostname: Bool = true
    ) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.verifyPeer = verifyPeer
        self.verifyHostname = verifyHostname
    }
}

/// Exponential backoff with jitter used between reconnect attempts.
public struct AMQPReconnectPolicy: Sendable, Equatable {
    /// Delay before the first reconnect attempt.
    public var minimumDelay: Duration
    /// Upper bound of the delay.
    public var maximumDelay: Duration

    public init(minimumDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(30)) {
        self.minimumDelay = minimumDelay
        self.maximumDelay = maximumDelay
    }

    /// The delay before attempt `attempt` (1-based): `min(max, min·2^(attempt-1))`, scaled by a random
    /// factor in 0.5…1.0 so that many clients do not reconnect in lockstep.
    public func delay(attempt: Int) -> Duration {
        let minSeconds = Self.seconds(minimumDelay)
        let maxSeconds = max(minSeconds, Self.seconds(maximumDelay))
        let exponent = Double(min(max(attempt - 1, 0), 30))
        let base = min(maxSeconds, minSeconds * pow(2, exponent))
        return .milliseconds(Int64(base * Double.random(in: 0.5...1.0) * 1000))
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// Everything needed to connect to one broker.
public struct AMQPEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var vhost: String
    public var username: String
    public var password: AMQPSecret
    /// Heartbeat interval in seconds requested from the broker (0 disables heartbeats).
    public var heartbeat: Int
    /// TLS settings; `nil` means plain TCP.
    public var tls: AMQPTLS?
    public var reconnect: AMQPReconnectPolicy
    /// Timeout for TCP/TLS connect and for each synchronous broker call (declare, consume).
    public var timeout: Duration
    /// Connection name shown in the broker's management UI and logs.
    public var connectionName: String

    public init(
        host: String = "127.0.0.1", port: Int? = nil, vhost: String = "/", username: String,
        password: AMQPSecret, heartbeat: Int = 30, tls: AMQPTLS? = nil,
        reconnect: AMQPReconnectPolicy = AMQPReconnectPolicy(), timeout: Duration = .seconds(15),
        connectionName: String = "stadtbus"
    ) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.vhost = vhost
        self.username = username
        self.password = password
        self.heartbeat = heartbeat
        self.tls = tls
        self.reconnect = reconnect
        self.timeout = timeout
        self.connectionName = connectionName
    }

    /// `amqp://user@host:port/vhost` or `amqps://…`, without the password (for logs and errors).
    public var redactedURL: String {
        let vhostPart =
            vhost == "/" ? "" : "/" + (vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? vhost)
        return "\(tls == nil ? "amqp" : "amqps")://\(username)@\(host):\(port)\(vhostPart)"
    }
}
