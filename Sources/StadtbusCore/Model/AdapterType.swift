/// An adapter type (`amqp`, `file`, `http-out`, …) as the configuration sees it: the settings
/// its endpoints accept and which way messages may flow through it.
///
/// Each adapter module declares its type; the loader checks endpoint settings against
/// ``settings`` and reports problems with file:line:column.
public struct AdapterType: Sendable {
    /// The name used as `type:` in an endpoint.
    public var name: String
    public var settings: SettingsSchema
    /// Whether a route may read from it (`from:`).
    public var canReceive: Bool
    /// Whether a route may deliver to it (`to:`, `wire-tap:`, `dead-letter:`).
    public var canSend: Bool
    /// One line for `stadtbus adapters` and error messages.
    public var summary: String

    public init(name: String, settings: SettingsSchema, canReceive: Bool, canSend: Bool, summary: String = "") {
        self.name = name
        self.settings = settings
        self.canReceive = canReceive
        self.canSend = canSend
        self.summary = summary
    }
}
