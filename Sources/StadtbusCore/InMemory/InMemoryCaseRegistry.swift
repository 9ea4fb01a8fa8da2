import Foundation

/// A ``CaseRegistry`` in memory, for tests and `stadtbus dry-run`. Forgets everything on exit.
public final class InMemoryCaseRegistry: CaseRegistry, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String: CaseRecord] = [:]

    /// Creates a registry holding `cases` (keyed by their ``CaseRecord/key``).
    public init(_ cases: [CaseRecord] = []) {
        for record in cases { records[record.key] = record }
    }

    public func register(key: String, case record: CaseRecord) throws {
        lock.lock()
        defer { lock.unlock() }
        var stored = record
        stored.key = key
        if let existing = records[key] { stored.registeredAt = existing.registeredAt }
        records[key] = stored
    }

    public func lookup(key: String) throws -> CaseRecord? {
        lock.lock()
        defer { lock.unlock() }
        return records[key]
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let old = records.filter { $0.value.registeredAt < date }.map(\.key)
        for key in old { records[key] = nil }
        return old.count
    }

    /// Every registered case, by key.
    public var cases: [String: CaseRecord] {
        lock.lock()
        defer { lock.unlock() }
        return records
    }
}
