import Foundation
import StadtbusCore

/// The idempotency records of a ``SQLiteStore``: one row per (route, message, destination)
/// that was delivered. Obtain it as ``SQLiteStore/idempotency``.
///
/// Every record is committed with `synchronous=FULL`, so it is on disk when
/// ``recordDelivered(route:messageID:destination:at:)`` returns. The asynchronous form, which
/// the engine uses, commits the records of concurrent workers together (group commit, one fsync
/// per group; see ``GroupCommit``); the synchronous form commits one record alone.
public final class SQLiteIdempotencyStore: IdempotencyStore {
    let database: StoreDatabase
    let groupCommit: GroupCommit

    static let insertSQL = """
        INSERT INTO delivery (route, message_id, destination, delivered_at) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT DO NOTHING
        """

    init(database: StoreDatabase, groupCommit: GroupCommit) {
        self.database = database
        self.groupCommit = groupCommit
    }

    /// Whether `messageID` was already delivered by `route` to `destination`.
    /// Message IDs compare exactly (case-sensitively).
    public func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool {
        try database.withConnection { connection in
            try connection.withStatement(
                "SELECT 1 FROM delivery WHERE route = ?1 AND message_id = ?2 AND destination = ?3"
            ) { statement in
                try statement.bind([.text(route), .text(messageID), .text(destination)])
                return try statement.step()
            }
        }
    }

    /// Records, durably, that `messageID` was delivered by `route` to `destination` at `date`,
    /// in one transaction of its own. Recording the same triple again keeps the first date.
    public func recordDelivered(route: String, messageID: String, destination: String, at date: Date) throws {
        try database.withConnection { connection in
            try connection.setSynchronous(.full)
            try connection.run(
                Self.insertSQL,
                [.text(route), .text(messageID), .text(destination), .real(date.timeIntervalSinceReferenceDate)])
        }
    }

    /// Records, durably, that `messageID` was delivered by `route` to `destination` at `date`,
    /// together with the records other tasks make at the same time (group commit). Suspends
    /// until the record is on disk. Recording the same triple again keeps the first date.
    public func recordDelivered(route: String, messageID: String, destination: String, at date: Date) async throws {
        try await groupCommit.commit(.full) { connection in
            try connection.run(
                Self.insertSQL,
                [.text(route), .text(messageID), .text(destination), .real(date.timeIntervalSinceReferenceDate)])
        }
    }

    /// Inserts `delivery` (keeping an existing record's date) in the caller's transaction.
    static func insert(_ delivery: DeliveryRecord, into connection: SQLiteConnection) throws {
        try connection.run(
            insertSQL,
            [
                .text(delivery.route), .text(delivery.messageID), .text(delivery.destination),
                .real(delivery.at.timeIntervalSinceReferenceDate),
            ])
    }

    /// Forgets records delivered before `date`. Returns how many went.
    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        try database.deleteInChunks(
            """
            DELETE FROM delivery WHERE (route, message_id, destination) IN
                (SELECT route, message_id, destination FROM delivery WHERE delivered_at < ?1 LIMIT ?2)
            """,
            cutoff: date)
    }

    /// How many records the store holds.
    public func count() throws -> Int {
        Int(try database.withConnection { try $0.scalarInt("SELECT count(*) FROM delivery") } ?? 0)
    }
}
