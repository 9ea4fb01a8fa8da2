import Foundation

/// One delivery the engine records as done: `route` delivered `messageID` to `destination`.
public struct DeliveryRecord: Sendable, Equatable {
    public var route: String
    public var messageID: String
    public var destination: String
    public var at: Date

    public init(route: String, messageID: String, destination: String, at: Date) {
        self.route = route
        self.messageID = messageID
        self.destination = destination
        self.at = at
    }
}

/// The durable records of one message: its deliveries (idempotency), the cases it opened and
/// its audit events.
public struct MessageRecords: Sendable, Equatable {
    public var deliveries: [DeliveryRecord]
    public var cases: [CaseRecord]
    public var events: [AuditEvent]

    public init(deliveries: [DeliveryRecord] = [], cases: [CaseRecord] = [], events: [AuditEvent] = []) {
        self.deliveries = deliveries
        self.cases = cases
        self.events = events
    }

    public var isEmpty: Bool { deliveries.isEmpty && cases.isEmpty && events.isEmpty }
}

/// Commits all durable records of one message in one transaction (all or nothing), so that a
/// message costs one commit, not one per kind of record.
///
/// When ``commit(_:)`` returns, deliveries and cases are on disk (as
/// ``IdempotencyStore/recordDelivered(route:messageID:destination:at:)`` and
/// ``CaseRegistry/register(key:case:)`` promise) and the events are committed with the journal's
/// durability; the message may then be acked (see `shared/design/message-lifecycle.md`).
/// Implementations must be safe to call from several worker tasks at once.
public protocol MessageRecordCommitter: Sendable {
    /// Commits `records` together; throws (having written none of them) if they cannot be.
    func commit(_ records: MessageRecords) async throws
}

/// An idempotency store that can write its records in one transaction with an audit journal's
/// events and a case registry's cases — when they live in the same database.
public protocol CombinableIdempotencyStore: IdempotencyStore {
    /// A committer for this store's deliveries together with `journal`'s events and `cases`'
    /// cases; `nil` when they are not in one database (the engine then writes them store by store).
    func committer(journal: any AuditJournal, cases: any CaseRegistry) -> (any MessageRecordCommitter)?
}
