import Foundation
import Synchronization

/// A ``CaseRegistry`` in memory, for tests and `stadtbus dry-run`. Forgets everything on exit.
public final class InMemoryCaseRegistry: CaseRegistry, Sendable {
    private let records: Mutex<[String: CaseRecord]>

    /// Creates a registry holding `cases` (keyed by their ``CaseRecord/key``).
    public init(_ cases: [CaseRecord] = []) {
        var records: [String: CaseRecord] = [:]
        for record in cases { records[record.key] = record }
        self.records = Mutex(records)
    }

    public func register(key: String, case record: CaseRecord) throws {
        records.withLock { records in
            var stored = record
            stored.key = key
            if let existing = records[key] { stored.registeredAt = existing.registeredAt }
            records[key] = stored
        }
    }

    public func lookup(key: String) throws -> CaseRecord? {
        records.withLock { $0[key] }
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        records.withLock { records in
            let old = records.filter { $0.value.registeredAt < date }.map(\.key)
            for key in old { records[key] = nil }
            return old.count
        }
    }

    /// Every registered case, by key.
    public var cases: [String: CaseRecord] {
        records.withLock { $0 }
    }
}
