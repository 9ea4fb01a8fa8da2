import Foundation

/// One registered case (a "Vorgang"): what a later answer needs to be correlated with the
/// message that opened it. Metadata only — never a body, which carries personal data.
public struct CaseRecord: Sendable, Equatable, Codable {
    /// The correlation key, e.g. the `nachrichtenUUID` of a portal submission or an invoice number.
    public var key: String
    /// The route that registered the case.
    public var route: String
    /// The attributes rendered by `register-case` (`art: gebuehr`, `planID: …`).
    public var attributes: [String: String]
    /// When the case was first registered.
    public var registeredAt: Date

    public init(key: String, route: String, attributes: [String: String] = [:], registeredAt: Date = Date()) {
        self.key = key
        self.route = route
        self.attributes = attributes
        self.registeredAt = registeredAt
    }

    /// The names a template or condition may not use for attributes: `{case.key}` and
    /// `{case.route}` read the record's own fields.
    public static let reservedNames: Set<String> = ["key", "route"]

    /// `key`, `route`, or the attribute `name` (`nil` when the case has no such attribute).
    public func value(of name: String) -> String? {
        switch name {
        case "key": return key
        case "route": return route
        default: return attributes[name]
        }
    }
}
