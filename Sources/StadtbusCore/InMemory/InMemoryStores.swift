import Foundation

/// An ``IdempotencyStore`` in memory, for tests and `stadtbus dry-run`.
public final class InMemoryIdempotencyStore: IdempotencyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String: Date] = [:]

    public init() {}

    private func key(_ route: String, _ messageID: String, _ destination: String) -> String {
        "\(route)\u{1}\(messageID)\u{1}\(destination)"
    }

    public func wasDelivered(route: String, messageID: String, destination: String) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return records[key(route, messageID, destination)] != nil
    }

    public func recordDelivered(route: String, messageID: String, destination: String, at date: Date) throws {
        lock.lock()
        defer { lock.unlock() }
        records[key(route, messageID, destination)] = date
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let old = records.filter { $0.value < date }.map(\.key)
        for key in old { records[key] = nil }
        return old.count
    }

    /// How many deliveries are recorded.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return records.count
    }
}

/// An ``AuditJournal`` in memory, for tests and `stadtbus dry-run`.
public final class InMemoryAuditJournal: AuditJournal, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [AuditEvent] = []

    public init() {}

    public func record(_ events: [AuditEvent]) throws {
        lock.lock()
        defer { lock.unlock() }
        stored += events
    }

    public func trail(of messageID: String) throws -> [AuditEvent] {
        lock.lock()
        defer { lock.unlock() }
        return stored.filter { $0.messageID == messageID }
    }

    @discardableResult
    public func purge(olderThan date: Date) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let before = stored.count
        stored.removeAll { $0.at < date }
        return before - stored.count
    }

    /// Every event recorded, oldest first.
    public var events: [AuditEvent] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

/// A ``MessageSink`` that keeps what it is given instead of delivering it (dry-run, tests).
public final class RecordingSink: MessageSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [(endpoint: String, message: OutgoingMessage)] = []

    public init() {}

    public func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        lock.withLock { stored.append((endpoint.name, message)) }
    }

    /// Everything "delivered", in order.
    public var deliveries: [(endpoint: String, message: OutgoingMessage)] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
