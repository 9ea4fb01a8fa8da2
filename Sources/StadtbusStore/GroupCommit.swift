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
/// Each write runs inside its own savepoint, so a write that fails is rolled back and fails
/// alone; the others of its group still commit. If the commit itself fails (disk full, I/O
/// error), every write of the group fails with that error, and each caller treats it as it would
/// its own failed commit (transient).
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
                let results = try commitGroup(group.map { ($0.durability, $0.write) })
                condition.lock()
                committedGroups += 1
                condition.unlock()
                for (entry, result) in zip(group, results) { entry.continuation.resume(with: result) }
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

    /// Runs `writes` in one transaction, each in a savepoint of its own, and commits with the
    /// strongest durability asked for. Returns each write's own result; throws if the
    /// transaction as a whole fails.
    func commitGroup(_ writes: [(SQLiteConnection.Synchronous, Write)]) throws -> [Result<Void, any Error>] {
        let durability: SQLiteConnection.Synchronous = writes.contains { $0.0 == .full } ? .full : .normal
        return try database.withConnection { connection in
            try connection.setSynchronous(durability)
            return try connection.transaction {
                try writes.map { _, write in
                    try connection.run("SAVEPOINT stadtbus_write")
                    do {
                        try write(connection)
                        try connection.run("RELEASE stadtbus_write")
                        return .success(())
                    } catch {
                        try connection.run("ROLLBACK TO stadtbus_write")
                        try connection.run("RELEASE stadtbus_write")
                        return .failure(error)
                    }
                }
            }
        }
    }
}
