import Foundation

/// Stadtbus's embedded store: one SQLite file holding the idempotency records
/// (``idempotency``), the audit journal (``audit``) and the case registry (``cases``).
///
/// ```swift
/// let store = try SQLiteStore(path: "/var/lib/stadtbus/store.sqlite")
/// let engine = Engine(idempotency: store.idempotency, audit: store.audit, …)
/// try store.purgeExpired()          // daily
/// ```
///
/// **Durability.** The file is in WAL mode. An idempotency record is committed with
/// `synchronous=FULL`: when ``SQLiteIdempotencyStore/recordDelivered(route:messageID:destination:at:)``
/// returns, the WAL has been fsynced, so the record survives a power loss and the engine
/// may ack. Audit events are committed with `synchronous=NORMAL` by default (they survive
/// a crash of the process; a power loss may lose the last ones, and the next idempotency
/// commit, which syncs the whole WAL, hardens them too). Set
/// ``Configuration/auditDurability`` to `.full` to sync every audit batch as well.
///
/// **Concurrency.** Safe to use from any number of tasks and threads: every call takes the
/// store's lock for the whole of its statement or transaction over the one connection
/// (opened `SQLITE_OPEN_FULLMUTEX` besides). Calls block briefly; they never suspend.
/// Other processes (e.g. `stadtbus trace`) may read the file at the same time, and a
/// writer waits up to ``Configuration/busyTimeout`` for another process's lock.
///
/// Both protocols declare `purge(olderThan:)`, so the store hands out two views sharing
/// the connection, each purging only its own table; ``purgeExpired(retention:now:)``
/// purges both.
public final class SQLiteStore: Sendable {
    /// How a store is opened.
    public struct Configuration: Sendable {
        /// How durable an audit commit is (idempotency records are always `.full`).
        public enum Durability: Sendable {
            /// Survives a crash of the process; may lose the last commits on power loss.
            case normal
            /// Survives a power loss (one fsync per commit).
            case full
        }

        /// Open for reading only: nothing is created or migrated (`stadtbus trace`).
        public var readOnly: Bool
        /// How long to wait for another process's lock before failing with
        /// ``StoreError/busy(path:message:)``.
        public var busyTimeout: Duration
        /// How durable an audit batch is when ``SQLiteAuditJournal/record(_:)`` returns.
        public var auditDurability: Durability
        /// The size the WAL file is truncated back to after a checkpoint.
        public var walSizeLimitBytes: Int

        public init(
            readOnly: Bool = false, busyTimeout: Duration = .seconds(5), auditDurability: Durability = .normal,
            walSizeLimitBytes: Int = 64 << 20
        ) {
            self.readOnly = readOnly
            self.busyTimeout = busyTimeout
            self.auditDurability = auditDurability
            self.walSizeLimitBytes = walSizeLimitBytes
        }

        /// For `stadtbus trace` and other readers.
        public static var readingOnly: Configuration { Configuration(readOnly: true) }

        var busyTimeoutMilliseconds: Int32 {
            let (seconds, attoseconds) = busyTimeout.components
            let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            return Int32(clamping: max(0, milliseconds))
        }
    }

    /// How many rows ``purgeExpired(retention:now:)`` removed.
    public struct PurgeResult: Equatable, Sendable {
        public var deliveries: Int
        public var auditEvents: Int
        public var cases: Int = 0
    }

    /// How long records are kept by default: 14 days.
    public static let defaultRetention: TimeInterval = 14 * 24 * 60 * 60
    /// How long cases are kept by default: 90 days (an answer — a payment — may take weeks).
    public static let defaultCaseRetention: TimeInterval = 90 * 24 * 60 * 60

    /// The file path (or `:memory:`).
    public let path: String
    /// Which destinations already received which message.
    public let idempotency: SQLiteIdempotencyStore
    /// Every message's life, metadata only.
    public let audit: SQLiteAuditJournal
    /// Open cases for `register-case` / `correlate`, metadata only.
    public let cases: SQLiteCaseRegistry
    let database: StoreDatabase
    let groupCommit: GroupCommit

    /// Opens the store at `path`, creating the file and its directories and migrating the
    /// schema as needed (unless `configuration.readOnly`). `:memory:` opens a private
    /// in-memory store (for tests).
    ///
    /// - Throws: ``StoreError`` naming the path and what to do, e.g. ``StoreError/cannotOpen(path:reason:)``,
    ///   ``StoreError/notADatabase(path:)``, ``StoreError/fileNotFound(path:)`` (read-only).
    public init(path: String, configuration: Configuration = Configuration()) throws {
        let database = try StoreDatabase(path: path, configuration: configuration)
        self.path = path
        self.database = database
        let groupCommit = GroupCommit(database: database)
        self.groupCommit = groupCommit
        self.idempotency = SQLiteIdempotencyStore(database: database, groupCommit: groupCommit)
        self.audit = SQLiteAuditJournal(database: database, groupCommit: groupCommit)
        self.cases = SQLiteCaseRegistry(database: database)
    }

    /// The schema version of the open file.
    public var schemaVersion: Int {
        get throws { Int(try database.withConnection { try $0.scalarInt("PRAGMA user_version") } ?? 0) }
    }

    /// Removes idempotency records and audit events older than `retention` before `now`, and
    /// cases registered more than `caseRetention` before `now`.
    @discardableResult
    public func purgeExpired(
        retention: TimeInterval = SQLiteStore.defaultRetention,
        caseRetention: TimeInterval = SQLiteStore.defaultCaseRetention,
        now: Date = Date()
    ) throws -> PurgeResult {
        let cutoff = now.addingTimeInterval(-retention)
        return PurgeResult(
            deliveries: try idempotency.purge(olderThan: cutoff),
            auditEvents: try audit.purge(olderThan: cutoff),
            cases: try cases.purge(olderThan: now.addingTimeInterval(-caseRetention)))
    }

    /// Closes the file. Later calls on the store or its views throw ``StoreError/closed(path:)``.
    /// Also happens when the last reference goes.
    public func close() {
        groupCommit.close()
        database.close()
    }
}
