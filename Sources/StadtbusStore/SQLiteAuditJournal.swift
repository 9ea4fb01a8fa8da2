import Foundation
import StadtbusCore

/// The audit journal of a ``SQLiteStore``: every event of every message's life, metadata
/// only. Obtain it as ``SQLiteStore/audit``; `stadtbus trace` reads it.
public final class SQLiteAuditJournal: AuditJournal {
    let database: StoreDatabase
    private let groupCommit: GroupCommit

    init(database: StoreDatabase, groupCommit: GroupCommit) {
        self.database = database
        self.groupCommit = groupCommit
    }

    var synchronous: SQLiteConnection.Synchronous {
        database.configuration.auditDurability == .full ? .full : .normal
    }

    /// Appends `events` in one transaction of their own (all or none), with the store's
    /// ``SQLiteStore/Configuration/auditDurability``.
    public func record(_ events: [AuditEvent]) throws {
        guard !events.isEmpty else { return }
        let synchronous = synchronous
        try database.withConnection { connection in
            try connection.setSynchronous(synchronous)
            try connection.transaction { try Self.insert(events, into: connection) }
        }
    }

    /// Appends `events` (all or none) together with what other tasks write at the same time
    /// (``GroupCommit``), with at least the store's ``SQLiteStore/Configuration/auditDurability``.
    /// Suspends until they are committed.
    public func record(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await groupCommit.commit(synchronous) { connection in try Self.insert(events, into: connection) }
    }

    static func insert(_ events: [AuditEvent], into connection: SQLiteConnection) throws {
        try connection.withStatement(
            """
            INSERT INTO audit_event (message_id, route, kind, at, message_type, author, reader, detail,
                                     duration_us, reason, attempt)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            """
        ) { statement in
            for event in events {
                statement.reset()
                try statement.run([
                    .text(event.messageID), .text(event.route), .text(event.kind.rawValue),
                    .real(event.at.timeIntervalSinceReferenceDate), .text(event.messageType),
                    .text(event.author), .text(event.reader), .text(event.detail),
                    .integer(event.durationMicroseconds), .text(event.reason),
                    .integer(event.attempt.map(Int64.init)),
                ])
            }
        }
    }

    /// Appends one event.
    public func record(_ event: AuditEvent) throws {
        try record([event])
    }

    /// Every event for `messageID` (compared ignoring ASCII case, as UUIDs are), oldest
    /// first; events with the same time in the order they were recorded.
    public func trail(of messageID: String) throws -> [AuditEvent] {
        try database.withConnection { connection in
            try connection.withStatement(
                """
                SELECT message_id, route, kind, at, message_type, author, reader, detail, duration_us, reason, attempt
                FROM audit_event WHERE message_id = ?1 ORDER BY at, id
                """
            ) { statement in
                try statement.bind([.text(messageID)])
                var events: [AuditEvent] = []
                while try statement.step() {
                    let kindText = statement.text(2)
                    guard let kind = AuditEvent.Kind(rawValue: kindText) else {
                        throw StoreError.corrupt(path: database.path, message: "unknown audit event kind '\(kindText)'")
                    }
                    events.append(
                        AuditEvent(
                            messageID: statement.text(0), route: statement.text(1), kind: kind,
                            at: Date(timeIntervalSinceReferenceDate: statement.double(3)),
                            messageType: statement.optionalText(4), author: statement.optionalText(5),
                            reader: statement.optionalText(6), detail: statement.optionalText(7),
                            durationMicroseconds: statement.optionalInt64(8), reason: statement.optionalText(9),
                            attempt: statement.optionalInt64(10).map { Int(clamping: $0) }))
                }
                return events
            }
        }
    }

    /// Forgets events that happened before `date`. Returns how many went.
    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        try database.deleteInChunks(
            "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event WHERE at < ?1 LIMIT ?2)",
            cutoff: date)
    }

    /// How many events the journal holds.
    public func count() throws -> Int {
        Int(try database.withConnection { try $0.scalarInt("SELECT count(*) FROM audit_event") } ?? 0)
    }
}
