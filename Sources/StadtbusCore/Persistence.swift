import Foundation

/// Remembers which destinations of which route already received which message, so that a
/// redelivered message (the transport is at-least-once) is not delivered twice.
///
/// The engine checks before delivering to a destination and records after the delivery is
/// durable and before the inbound message is acked (see `shared/design/message-lifecycle.md`).
/// Implementations must be safe to call from several worker tasks at once.
public protocol IdempotencyStore: Sendable {
    /// Whether `messageID` was already delivered by `route` to `destination`.
    func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool
    /// Records that `messageID` was delivered by `route` to `destination` at `date`; returns
    /// once the record is durable. Asynchronous so that a store can commit the records of
    /// concurrent workers together (group commit) without holding a thread while it waits.
    func recordDelivered(route: String, messageID: String, destination: String, at date: Date) async throws
    /// Forgets records older than `date` (retention, default 14 days). Returns how many went.
    @discardableResult
    func purge(olderThan date: Date) throws -> Int
}

/// What happened to a message at one point of its life. Metadata only: never the body,
/// which carries personal data.
public struct AuditEvent: Equatable, Sendable, Codable {
    /// The kinds of event in a message's life.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case received, matched, step, delivered, duplicate, filtered, retried
        case deadLettered = "dead-lettered"
        case failed
    }

    public var messageID: String
    public var route: String
    public var kind: Kind
    public var at: Date
    /// The message type code from the header, if known.
    public var messageType: String?
    /// The author's and reader's `kennung`, if known.
    public var author: String?
    public var reader: String?
    /// The step name for `.step`, `.failed` and `.deadLettered`; the destination for `.delivered`.
    public var detail: String?
    /// How long the step took, for `.step`.
    public var durationMicroseconds: Int64?
    /// Human-readable reason for `.failed`, `.retried` and `.deadLettered`.
    public var reason: String?
    /// The delivery attempt (1 for the first).
    public var attempt: Int?

    public init(
        messageID: String, route: String, kind: Kind, at: Date = Date(), messageType: String? = nil,
        author: String? = nil, reader: String? = nil, detail: String? = nil, durationMicroseconds: Int64? = nil,
        reason: String? = nil, attempt: Int? = nil
    ) {
        self.messageID = messageID
        self.route = route
        self.kind = kind
        self.at = at
        self.messageType = messageType
        self.author = author
        self.reader = reader
        self.detail = detail
        self.durationMicroseconds = durationMicroseconds
        self.reason = reason
        self.attempt = attempt
    }
}

/// The journal of every message's life (`stadtbus trace UUID` reads it).
/// Implementations must be safe to call from several worker tasks at once.
public protocol AuditJournal: Sendable {
    /// Appends events (one transaction for all of them); returns once they are committed.
    func record(_ events: [AuditEvent]) async throws
    /// Every event for `messageID`, oldest first.
    func trail(of messageID: String) throws -> [AuditEvent]
    /// Forgets events older than `date`. Returns how many went.
    @discardableResult
    func purge(olderThan date: Date) throws -> Int
}
