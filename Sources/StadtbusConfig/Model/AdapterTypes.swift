import StadtbusCore

/// An adapter type (`amqp`, `file`, …): what its endpoints accept as settings and which way
/// messages may flow through it.
public struct AdapterType: Sendable {
    public var name: String
    public var settings: SettingsSchema
    /// Whether a route may read from it (`from:`).
    public var canReceive: Bool
    /// Whether a route may deliver to it (`to:`, `wire-tap:`, `dead-letter:`).
    public var canSend: Bool

    public init(name: String, settings: SettingsSchema, canReceive: Bool, canSend: Bool) {
        self.name = name
        self.settings = settings
        self.canReceive = canReceive
        self.canSend = canSend
    }
}

/// The adapter types the loader knows. Adapter modules add theirs with ``register(_:)``.
public struct AdapterTypeRegistry: Sendable {
    public private(set) var types: [String: AdapterType] = [:]

    public init(_ types: [AdapterType] = AdapterTypeRegistry.builtIn) {
        for type in types { register(type) }
    }

    public mutating func register(_ type: AdapterType) { types[type.name] = type }

    public subscript(name: String) -> AdapterType? { types[name] }

    /// `amqp`, `file`, `http-out`, `http-in`.
    public static let builtIn: [AdapterType] = [
        AdapterType(
            name: "amqp",
            settings: SettingsSchema(
                [
                    .init("queue", .string, help: "queue to consume from or publish to (default exchange)"),
                    .init("exchange", .string, help: "exchange to publish to"),
                    .init("routing-key", .string, help: "routing key for an exchange"),
                    .init("prefetch", .int(1...10_000), default: .int(16)),
                    .init("persistent", .bool, default: .bool(true)),
                ], exactlyOneOf: [["queue", "exchange"]]),
            canReceive: true, canSend: true),
        AdapterType(
            name: "file",
            settings: SettingsSchema([
                .init("directory", .path, required: true),
                .init("pattern", .string, default: .string("*.xml")),
                .init("poll", .duration, default: .duration(.seconds(1))),
            ]),
            canReceive: true, canSend: true),
        AdapterType(
            name: "http-out",
            settings: SettingsSchema([
                .init("url", .url, required: true),
                .init("timeout", .duration, default: .duration(.seconds(30))),
                .init("method", .oneOf(["POST", "PUT"]), default: .string("POST")),
                .init("headers", .stringMap),
                .init("ca", .path, help: "PEM CA bundle the server certificate must chain to (default: system store)"),
                .init("certificate", .path, help: "client certificate (PEM) for mTLS"),
                .init("key", .path, help: "client key (PEM) for mTLS"),
                .init("pinned-public-key", .string, help: "pin the server key: sha256//BASE64[;sha256//…]"),
            ]),
            canReceive: false, canSend: true),
        AdapterType(
            name: "http-in",
            settings: SettingsSchema([
                .init("path", .string, required: true),
                .init("max-body-size", .int(1...(64 * 1024 * 1024)), default: .int(16 * 1024 * 1024)),
            ]),
            canReceive: true, canSend: false),
    ]
}
