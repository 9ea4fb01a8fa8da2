/// How the runtime is started.
public struct RuntimeOptions: Sendable {
    /// The main configuration file.
    public var configPath: String
    /// How long a graceful shutdown waits for in-flight messages before giving up on them
    /// (they are then redelivered by the broker after the restart).
    public var drainTimeout: Duration
    /// Whether to reload when a configuration file changes (polling modification times).
    public var watchConfiguration: Bool
    /// How often a changed configuration file is looked for, when ``watchConfiguration`` is on.
    public var watchInterval: Duration
    /// Whether SIGHUP reloads the configuration (the executable: yes; an in-process test: no).
    public var reloadOnHangup: Bool
    /// How long shutting the adapters down, and then closing the broker connections, may take
    /// after the drain (each; a closing connection waits up to 5 s for outstanding confirms).
    /// A graceful shutdown therefore ends within ``drainTimeout`` + 2 × `closeGrace`.
    public var closeGrace: Duration
    /// How often expired idempotency records, audit events and cases are purged from the stores.
    public var purgeInterval: Duration

    public init(
        configPath: String, drainTimeout: Duration = .seconds(30), watchConfiguration: Bool = true,
        watchInterval: Duration = .seconds(1), reloadOnHangup: Bool = true, closeGrace: Duration = .seconds(8),
        purgeInterval: Duration = .seconds(3600)
    ) {
        self.configPath = configPath
        self.drainTimeout = drainTimeout
        self.watchConfiguration = watchConfiguration
        self.watchInterval = watchInterval
        self.reloadOnHangup = reloadOnHangup
        self.closeGrace = closeGrace
        self.purgeInterval = purgeInterval
    }
}

/// Why the runtime cannot start.
public enum RuntimeError: Error, CustomStringConvertible {
    /// The configuration has no `broker:` section (the path of the configuration file).
    case noBroker(String)

    public var description: String {
        switch self {
        case .noBroker(let path): return "\(path): no 'broker:' section — Stadtbus needs a RabbitMQ connection to run"
        }
    }
}

/// The names of the runtime's readiness conditions (`/ready` lists them).
enum ReadinessCondition {
    /// The routing table is loaded (and not shutting down).
    static let routes = "routes"

    /// The connection to broker `name` is up.
    static func broker(_ name: String) -> String { "broker:\(name)" }

    /// The source of `endpoint` takes messages.
    static func source(_ endpoint: String) -> String { "consumer:\(endpoint)" }
}
