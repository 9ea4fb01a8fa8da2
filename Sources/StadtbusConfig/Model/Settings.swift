import StadtbusCore

/// Where a secret comes from. Secrets are never written into the configuration itself.
public enum SecretSource: Sendable, Equatable {
    /// The name of an environment variable.
    case environment(String)
    /// An absolute path to a file holding the secret.
    case file(String)
}

/// `broker:` — the RabbitMQ connection.
public struct BrokerSettings: Sendable, Equatable {
    public var host = "localhost"
    public var port = 5672
    public var vhost = "/"
    public var user = "guest"
    public var password: SecretSource?
    public var tls: TLSSettings?
    public var heartbeat: Duration = .seconds(30)

    /// The name endpoints use for the `broker:` connection (`broker: main`, the default).
    public static let mainName = "main"

    public init() {}
}

/// `broker.tls:` — absolute paths.
public struct TLSSettings: Sendable, Equatable {
    public var ca: String?
    public var certificate: String?
    public var key: String?

    public init(ca: String? = nil, certificate: String? = nil, key: String? = nil) {
        self.ca = ca
        self.certificate = certificate
        self.key = key
    }
}

/// `identity:` — this authority (e.g. Itzehoe, `ags:01061046`).
public struct IdentitySettings: Sendable, Equatable {
    public var kennung: String
    public var name: String?
    public var directory: String?

    public init(kennung: String, name: String? = nil, directory: String? = nil) {
        self.kennung = kennung
        self.name = name
        self.directory = directory
    }
}

/// One entry of `keys:` — a signing key for the signature module (absolute paths).
public struct KeyDefinition: Sendable, Equatable {
    public var name: String
    public var certificate: String
    public var privateKey: String
    public var passphrase: SecretSource?

    public init(name: String, certificate: String, privateKey: String, passphrase: SecretSource? = nil) {
        self.name = name
        self.certificate = certificate
        self.privateKey = privateKey
        self.passphrase = passphrase
    }
}

/// `stores:` — SQLite files for the idempotency store, the audit journal and the case registry.
public struct StoreSettings: Sendable, Equatable {
    public var idempotency: String?
    public var audit: String?
    /// The case registry's file (`stores.cases`); defaults to the idempotency file, so that
    /// one `SQLiteStore` serves both (`store.cases`).
    public var cases: String?
    public var retention: Duration = .seconds(14 * 86_400)
    /// How long registered cases are kept (`stores.case-retention`, default 90 days).
    public var caseRetention: Duration = .seconds(90 * 86_400)

    public init() {}
}

/// `http:` — the health/metrics/inbound HTTP server.
public struct HTTPSettings: Sendable, Equatable {
    public var bind = "127.0.0.1"
    /// 0 lets the kernel choose a free port; `stadtbus run` logs the bound port
    /// ("operations endpoint listening").
    public var port = 8080

    public init() {}
}

/// Everything in a configuration besides the routing table, for the runtime.
public struct StadtbusSettings: Sendable {
    public var broker: BrokerSettings?
    /// `brokers:` — further brokers by name (a neighbouring municipality's, for example);
    /// endpoints choose one with `broker: NAME`.
    public var brokers: [String: BrokerSettings] = [:]
    public var identity: IdentitySettings?
    public var endpoints: [String: Endpoint] = [:]
    /// Named schemas (absolute paths), already compiled into the caches.
    public var schemas: [String: String] = [:]
    public var catalogs: [String] = []
    public var keys: [String: KeyDefinition] = [:]
    /// Directory of trusted certificates for `verify`.
    public var trustStore: String?
    /// `signer-identities:` — per authority `kennung`, the certificate attributes that identify
    /// its signer (`fingerprint-sha256=…`, `cn=…`, `serial=…`, `san-uri=…`, `ags=…`); without an
    /// entry, a certificate's own AGS identity (subject serialNumber `ags:…` or SAN
    /// `urn:de:ags:…`) is used.
    public var signerIdentities: [String: [String]] = [:]
    public var stores = StoreSettings()
    public var http = HTTPSettings()
    /// `max-in-flight:` — how many messages each source keeps in progress at once: received and not
    /// settled yet, most of them waiting for a publisher confirm, a store commit or an HTTP answer. It
    /// bounds memory and the duplicates a crash can cause, not CPU use: CPU-bound work runs on as many
    /// threads as there are cores, and a message that waits holds none of them. Default 256.
    public var maxInFlight = StadtbusSettings.defaultMaxInFlight
    /// The default of ``maxInFlight``.
    public static let defaultMaxInFlight = 256
    /// The name `workers:` had before `max-in-flight:`; `workers: N` still loads, as `max-in-flight: N`.
    @available(*, deprecated, renamed: "maxInFlight")
    public var workers: Int {
        get { maxInFlight }
        set { maxInFlight = newValue }
    }
    /// Settings that load but should be changed (a deprecated key), with where they are; `stadtbus
    /// check` prints them and the service should log them at start.
    public var warnings: [ConfigDiagnostic] = []
    public var logLevel = "info"
    /// Namespace prefixes for XPath, from `namespaces:`.
    public var namespaces: [String: String] = [:]
    /// `address-directory:` — kennung → endpoint, for `directory:reader` / `directory:author`.
    public var addressDirectory = AddressDirectory()

    public init() {}
}
