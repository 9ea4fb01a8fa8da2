import Foundation
import Synchronization

/// An ``IdempotencyStore`` in memory, for tests and `stadtbus dry-run`.
public final class InMemoryIdempotencyStore: IdempotencyStore, Sendable {
    private let records = Mutex<[String: Date]>([:])

    public init() {}

    private func key(_ route: String, _ messageID: String, _ destination: String) -> String {
        "\(route)\u{1}\(messageID)\u{1}\(destination)"
    }

    public func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool {
        let key = key(route, messageID, destination)
        return records.withLock { $0[key] != nil }
    }

    public func recordDelivered(route: String, messageID: String, destination: String, at date: Date) throws {
        let key = key(route, messageID, destination)
        records.withLock { $0[key] = date }
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        records.withLock { records in
            let old = records.filter { $0.value < date }.map(\.key)
            for key in old { records[key] = nil }
            return old.count
        }
    }

    /// How many deliveries are recorded.
    public var count: Int {
        records.withLock { $0.count }
    }
}

/// An ``AuditJournal`` in memory, for tests and `stadtbus dry-run`.
public final class InMemoryAuditJournal: AuditJournal, Sendable {
    private let stored = Mutex<[AuditEvent]>([])

    public init() {}

    public func record(_ events: [AuditEvent]) throws {
        stored.withLock { $0 += events }
    }

    public func trail(of messageID: String) throws -> [AuditEvent] {
        stored.withLock { $0.filter { $0.messageID == messageID } }
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        stored.withLock { stored in
            let before = stored.count
            stored.removeAll { $0.at < date }
            return before - stored.count
        }
    }

    /// Every event recorded, oldest first.
    public var events: [AuditEvent] {
        stored.withLock { $0 }
    }
}

/// A ``MessageSink`` that keeps what it is given instead of delivering it (dry-run, tests).
public final class RecordingSink: MessageSink, Sendable {
    private let stored = Mutex<[(endpoint: String, message: OutgoingMessage)]>([])

    public init() {}

    public func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        stored.withLock { $0.append((endpoint.name, message)) }
    }

    /// Everything "delivered", in order.
    public var deliveries: [(endpoint: String, message: OutgoingMessage)] {
        stored.withLock { $0 }
    }
}
