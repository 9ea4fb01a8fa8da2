import Foundation

/// AMQP-like properties of an inbound message, as the transport received them.
public struct MessageProperties: Sendable, Equatable {
    /// The transport's message id (not the XÖV `nachrichtenUUID`, which lives in the body).
    public var messageID: String?
    public var correlationID: String?
    public var contentType: String?
    public var timestamp: Date?

    public init(
        messageID: String? = nil, correlationID: String? = nil, contentType: String? = nil, timestamp: Date? = nil
    ) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.contentType = contentType
        self.timestamp = timestamp
    }
}

/// One inbound message: the engine's unit of work.
///
/// The body is untrusted bytes; the engine parses it once under the table's parse limits.
public struct Message: Sendable {
    /// The raw body (an XÖV XML document, if all is well).
    public var body: [UInt8]
    /// Transport headers / metadata (AMQP headers, HTTP headers of an inbound call, …).
    public var headers: [String: String]
    public var properties: MessageProperties
    /// The name of the endpoint the message arrived on (matched against a route's `from`).
    public var source: String
    /// The delivery attempt, 1 for the first (the runtime increments it on each retry).
    public var attempt: Int
    /// Whether the broker flagged the message as redelivered (after a crash before ack).
    public var redelivered: Bool

    public init(
        body: [UInt8], headers: [String: String] = [:], properties: MessageProperties = .init(), source: String,
        attempt: Int = 1, redelivered: Bool = false
    ) {
        self.body = body
        self.headers = headers
        self.properties = properties
        self.source = source
        self.attempt = max(1, attempt)
        self.redelivered = redelivered
    }
}

/// A message leaving Stadtbus towards one destination endpoint.
public struct OutgoingMessage: Sendable {
    /// The serialised document after all steps of the route.
    public var body: [UInt8]
    /// Transport headers: the inbound ones plus those set by `set-header` steps.
    public var headers: [String: String]
    public var properties: MessageProperties
    /// The XÖV identity of the message (`MessageHeader.messageID`).
    public var messageID: String
    /// The route that produced it.
    public var route: String
    /// True for a wire-tap copy (an audit copy of the inbound body).
    public var isWireTap: Bool

    public init(
        body: [UInt8], headers: [String: String], properties: MessageProperties, messageID: String, route: String,
        isWireTap: Bool = false
    ) {
        self.body = body
        self.headers = headers
        self.properties = properties
        self.messageID = messageID
        self.route = route
        self.isWireTap = isWireTap
    }
}
