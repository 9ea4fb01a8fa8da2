import Foundation

/// Group commit: the writes of all workers that wait at the same time (idempotency records,
/// audit batches) go into one transaction with at most one fsync, instead of one transaction
/// and one fsync each.
///
/// A caller suspends (it does not block a thread) until the transaction holding its write is
/// committed with at least the durability it asked for, so the guarantee is the one of a
/// single commit: when ``SQLiteIdempotencyStore/recordDelivered(route:messageID:destination:at:)``
/// returns, the record is on disk. One committer thread per store writes the groups; it starts
/// with the first write and ends when the store closes or after a second without writes.
/// Nothing waits to fill a group: what arrives while one group is being synced forms the next,
/// so a lone write is committed at once and under load the fsync is shared.
///
/// A group is one transaction: if it fails (disk full, I/O error), every write in it fails with
/// that error, and the callers treat it as they would their own failed commit (transient).
final class GroupCommit: @unchecked Sendable {
    typealias Write = @Sendable (SQLiteConnection) throws -> Void

    private struct Waiting {
        var durability: SQLiteConnection.Synchronous
        var write: Write
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let database: StoreDatabase
    /// The most writes one transaction takes (bounds the time the store's lock is held).
    private let maximumGroup: Int
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var waiting: [Waiting] = []
    private var started = false
    private var closed = false
    private var committedGroups = 0

    /// How many group transactions were committed so far (for tests and diagnostics).
    var transactions: Int {
        condition.lock()
        defer { condition.unlock() }
        return committedGroups
    }

    init(database: StoreDatabase, maximumGroup: Int = 256) {
        self.database = database
        self.maximumGroup = maximumGroup
    }

    /// Returns once `write` is committed with `durability` (`.full`: synced to disk); throws what
    /// the group's transaction threw.
    func commit(_ durability: SQLiteConnection.Synchronous, _ write: @escaping Write) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            guard !closed else {
                condition.unlock()
                continuation.resume(throwing: StoreError.closed(path: database.path))
                return
            }
            waiting.append(Waiting(durability: durability, write: write, continuation: continuation))
            if !started {
                started = true
                let thread = Thread { [self] in run() }
                thread.name = "stadtbus-store-commit"
                thread.start()
            }
            condition.signal()
            condition.unlock()
        }
    }

    /// Commits what is still waiting, then stops the committer; later writes throw
    /// ``StoreError/closed(path:)``.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while started { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while let group = nextGroup() {
            do {
                try commitGroup(group)
                condition.lock()
                committedGroups += 1
                condition.unlock()
                for entry in group { entry.continuation.resume() }
            } catch {
                for entry in group { entry.continuation.resume(throwing: error) }
            }
        }
    }

    /// Waits for writes; `nil` once the store closed, or nothing came for a second (the thread
    /// ends then and the next write starts another, so a store dropped without ``close()``
    /// leaves no thread behind).
    private func nextGroup() -> [Waiting]? {
        condition.lock()
        defer { condition.unlock() }
        let idleUntil = Date(timeIntervalSinceNow: 1)
        while waiting.isEmpty && !closed && condition.wait(until: idleUntil) {}
        if waiting.isEmpty {
            started = false
            condition.broadcast()
            return nil
        }
        let count = min(waiting.count, maximumGroup)
        let group = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        return group
    }

    private func commitGroup(_ group: [Waiting]) throws {
        let durability: SQLiteConnection.Synchronous = group.contains { $0.durability == .full } ? .full : .normal
        try database.withConnection { connection in
            try connection.setSynchronous(durability)
            try connection.transaction {
                for entry in group { try entry.write(connection) }
            }
        }
    }
}
