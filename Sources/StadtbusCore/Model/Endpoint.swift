/// A named endpoint from the configuration (`portal.antraege`, `eakte.vorgaenge`, …).
///
/// The engine only routes by name; the runtime's adapters interpret `type` and `settings`
/// (validated at load time against the adapter type's ``SettingsSchema``).
public struct Endpoint: Sendable, Equatable {
    public var name: String
    /// The adapter type: `amqp`, `file`, `http-out`, `http-in`, or one an adapter registers.
    public var type: String
    /// The adapter settings, typed by the schema (paths absolute, durations parsed).
    public var settings: [String: ConfigValue]

    public init(name: String, type: String, settings: [String: ConfigValue] = [:]) {
        self.name = name
        self.type = type
        self.settings = settings
    }
}
