import Foundation
import StadtbusCore

/// Writes all durable records of one message — deliveries, cases and audit events — in one
/// savepoint of one group commit (``GroupCommit``), when the idempotency store, the audit journal
/// and the case registry are one ``SQLiteStore`` file: one commit per message instead of one per
/// kind of record. The transaction is synced (`synchronous=FULL`) when it holds a delivery or a
/// case, else committed with the journal's ``SQLiteStore/Configuration/auditDurability``.
struct SQLiteMessageRecords: MessageRecordCommitter {
    let groupCommit: GroupCommit
    let auditDurability: SQLiteConnection.Synchronous

    func commit(_ records: MessageRecords) async throws {
        guard !records.isEmpty else { return }
        let durability: SQLiteConnection.Synchronous =
            records.deliveries.isEmpty && records.cases.isEmpty ? auditDurability : .full
        try await groupCommit.commit(durability) { connection in
            for delivery in records.deliveries {
                try SQLiteIdempotencyStore.insert(delivery, into: connection)
            }
            for record in records.cases {
                try SQLiteCaseRegistry.upsert(record, into: connection)
            }
            if !records.events.isEmpty { try SQLiteAuditJournal.insert(records.events, into: connection) }
        }
    }
}

extension SQLiteIdempotencyStore: CombinableIdempotencyStore {
    /// One transaction per message for this store's deliveries, `journal`'s events and `cases`'
    /// cases, when all three are this store's file; `nil` otherwise.
    public func committer(journal: any AuditJournal, cases: any CaseRegistry) -> (any MessageRecordCommitter)? {
        guard let journal = journal as? SQLiteAuditJournal, journal.database === database else { return nil }
        guard let cases = cases as? SQLiteCaseRegistry, cases.database === database else { return nil }
        return SQLiteMessageRecords(groupCommit: groupCommit, auditDurability: journal.synchronous)
    }
}
