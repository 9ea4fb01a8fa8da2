import Foundation
import StadtbusCore

/// The case registry of a ``SQLiteStore``: one row per case key (table `case_record`),
/// metadata only. Obtain it as ``SQLiteStore/cases``.
///
/// A registration is committed with `synchronous=FULL`, so the case is on disk when
/// ``register(key:case:)`` returns and the engine may ack the message that opened it.
/// Attributes are stored as a JSON object of strings.
public final class SQLiteCaseRegistry: CaseRegistry {
    let database: StoreDatabase

    init(database: StoreDatabase) {
        self.database = database
    }

    /// Registers, durably, `record` under `key`. Registering a key again replaces route and
    /// attributes and keeps the first registration time.
    public func register(key: String, case record: CaseRecord) throws {
        var record = record
        record.key = key
        let attributes = try Self.encode(record.attributes)
        try database.withConnection { connection in
            try connection.setSynchronous(.full)
            try Self.upsert(record, attributes: attributes, into: connection)
        }
    }

    /// Registers `record` under its key in the caller's transaction (the upsert of
    /// ``register(key:case:)``).
    static func upsert(_ record: CaseRecord, into connection: SQLiteConnection) throws {
        try upsert(record, attributes: try encode(record.attributes), into: connection)
    }

    private static func upsert(_ record: CaseRecord, attributes: String, into connection: SQLiteConnection) throws {
        try connection.run(
            """
            INSERT INTO case_record (case_key, route, attributes, registered_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (case_key) DO UPDATE SET route = excluded.route, attributes = excluded.attributes
            """,
            [
                .text(record.key), .text(record.route), .text(attributes),
                .real(record.registeredAt.timeIntervalSinceReferenceDate),
            ])
    }

    /// The case registered under `key` (compared exactly), if any.
    public func lookup(key: String) throws -> CaseRecord? {
        let row: (String, String, Double)? = try database.withConnection { connection in
            try connection.withStatement(
                "SELECT route, attributes, registered_at FROM case_record WHERE case_key = ?1"
            ) { statement in
                try statement.bind([.text(key)])
                guard try statement.step() else { return nil }
                return (statement.text(0), statement.text(1), statement.double(2))
            }
        }
        guard let (route, attributes, registeredAt) = row else { return nil }
        return CaseRecord(
            key: key, route: route, attributes: try decode(attributes, key: key),
            registeredAt: Date(timeIntervalSinceReferenceDate: registeredAt))
    }

    /// Forgets cases registered before `date`. Returns how many went.
    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        try database.deleteInChunks(
            """
            DELETE FROM case_record WHERE case_key IN
                (SELECT case_key FROM case_record WHERE registered_at < ?1 LIMIT ?2)
            """,
            cutoff: date)
    }

    /// How many cases the registry holds.
    public func count() throws -> Int {
        Int(try database.withConnection { try $0.scalarInt("SELECT count(*) FROM case_record") } ?? 0)
    }

    private static func encode(_ attributes: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(attributes), as: UTF8.self)
    }

    private func decode(_ text: String, key: String) throws -> [String: String] {
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw StoreError.corrupt(
                path: database.path,
                message: "the attributes of case '\(key)' are not a JSON object of strings: \(error)")
        }
    }
}
