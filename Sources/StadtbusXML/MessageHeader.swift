public import Foundation

/// An authority (Behörde) as a message header names it.
public struct Authority: Equatable, Hashable, Sendable, Codable {
    /// The authority's identifier, e.g. `psw:01003110` or an AGS-based `ags:01061046`
    /// (g2g `kennung`; xdomea `Behoerdenschluessel/code`).
    public var kennung: String
    /// The directory service that issued the identifier (g2g `verzeichnisdienst/code`, e.g.
    /// `DVDV`; xdomea `Praefix/code`), if given.
    public var directory: String?
    /// The authority's name, if given.
    public var name: String?

    public init(kennung: String, directory: String? = nil, name: String? = nil) {
        self.kennung = kennung
        self.directory = directory
        self.name = name
    }
}

/// What Stadtbus knows about a message from its XÖV header: enough to route, deduplicate,
/// audit and check the sender — and nothing of the personal data in the body.
public struct MessageHeader: Equatable, Sendable, Codable {
    /// The header profile that recognised the message (e.g. `xoev-g2g`, `xdomea`).
    public var profile: String
    /// The message's identity for idempotency and tracing: the `nachrichtenUUID`, or for
    /// xdomea `ProzessID/Nachrichtentyp` (xdomea 3 messages carry no UUID of their own).
    /// At most ``maximumIdentityBytes`` bytes of UTF-8 (``HeaderExtractor`` refuses longer ones).
    public var messageID: String

    /// The longest message identity accepted, in bytes of UTF-8: room for any real identity (a
    /// UUID is 36 bytes, an xdomea `ProzessID/Nachrichtentyp` about 45) and safely below the
    /// 255 bytes an AMQP message-id can carry.
    public static let maximumIdentityBytes = 200
    /// The message type code, e.g. `0401` (XBeteiligung) or `2010` (XWasser).
    public var messageType: String
    /// The message type's name where the header gives one (e.g. `kommunal.Initiieren.0401`),
    /// else the root element's name.
    public var messageTypeName: String?
    /// The creation time as written in the header (xs:dateTime).
    public var createdAt: String?
    /// The sending authority.
    public var author: Authority?
    /// The receiving authority.
    public var reader: Authority?
    /// The document's root element name and namespace.
    public var rootElement: String
    public var rootNamespace: String?

    public init(
        profile: String, messageID: String, messageType: String, messageTypeName: String? = nil,
        createdAt: String? = nil, author: Authority? = nil, reader: Authority? = nil,
        rootElement: String, rootNamespace: String? = nil
    ) {
        self.profile = profile
        self.messageID = messageID
        self.messageType = messageType
        self.messageTypeName = messageTypeName
        self.createdAt = createdAt
        self.author = author
        self.reader = reader
        self.rootElement = rootElement
        self.rootNamespace = rootNamespace
    }

    /// The creation time parsed as a date, when it is a valid xs:dateTime.
    public var creationDate: Date? {
        guard let createdAt else { return nil }
        return XSDateTime.parse(createdAt)
    }
}

/// Why a message's header could not be read.
public enum HeaderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No header profile applies to the document's root namespace and shape.
    case unrecognised(rootElement: String, namespace: String?)
    /// A profile applied, but a required field is missing or empty.
    case missingField(profile: String, field: String, xpath: String)
    /// A profile's expression failed.
    case evaluationFailed(profile: String, field: String, message: String)
    /// The message identity is longer than ``MessageHeader/maximumIdentityBytes``: it keys
    /// idempotency and travels on as the AMQP message-id (a 255-byte short string), so such a
    /// message is refused for good.
    case identityTooLong(profile: String, bytes: Int, limit: Int)

    public var description: String {
        switch self {
        case .unrecognised(let root, let namespace):
            return
                "no XÖV header recognised: root element '\(root)' in namespace '\(namespace ?? "(none)")' matches no header profile"
        case .missingField(let profile, let field, let xpath):
            return "header (\(profile)) lacks '\(field)' (expected at \(xpath))"
        case .evaluationFailed(let profile, let field, let message):
            return "header (\(profile)) field '\(field)' could not be read: \(message)"
        case .identityTooLong(let profile, let bytes, let limit):
            return "header (\(profile)): message identity is \(bytes) bytes; at most \(limit) are accepted"
        }
    }
}

/// Parses xs:dateTime values as they occur in XÖV headers (with or without fractional
/// seconds and time zone; without a zone, UTC is assumed).
enum XSDateTime {
    static func parse(_ text: String) -> Date? {
        var value = text.trimmingCharacters(in: .whitespaces)
        let hasZone = value.hasSuffix("Z") || value.range(of: #"[+-]\d{2}:\d{2}$"#, options: .regularExpression) != nil
        if !hasZone { value += "Z" }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: value) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: value)
    }
}
