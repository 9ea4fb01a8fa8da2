import CSQLite
import Foundation

/// One SQLite connection: opening, plain statements, a cache of prepared statements and
/// transactions, with every failure turned into a ``StoreError``.
///
/// Not thread-safe by itself: ``StoreDatabase`` serialises all use behind one lock.
/// The connection is opened with `SQLITE_OPEN_FULLMUTEX` as a second line of defence.
final class SQLiteConnection {
    /// SQLite's `synchronous` setting, which decides when a commit is flushed to disk.
    enum Synchronous: String {
        /// In WAL mode: a commit survives a crash of the process, but not necessarily a power
        /// loss (the WAL is synced only at checkpoints).
        case normal = "NORMAL"
        /// In WAL mode: the WAL is synced at every commit, so a commit survives a power loss.
        case full = "FULL"
    }

    let path: String
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]
    private var synchronous: Synchronous?

    /// Opens (or, unless `readOnly`, creates) the database at `path` (`:memory:` for an
    /// in-memory database). A new file is created `0600` (see ``StoreFilePermissions``).
    init(path: String, readOnly: Bool) throws {
        self.path = path
        var flags = SQLITE_OPEN_FULLMUTEX
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        if !readOnly && path != ":memory:" && !path.isEmpty {
            StoreFilePermissions.prepare(path)  // 0600, before SQLite creates it 0644
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let error: StoreError
            if let db {
                error = Self.openError(path: path, readOnly: readOnly, code: rc, db: db)
                sqlite3_close_v2(db)
            } else {
                error = .cannotOpen(path: path, reason: "out of memory")
            }
            throw error
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        close()
    }

    /// Finalizes every cached statement and closes the connection. Idempotent.
    func close() {
        statements.removeAll()  // finalizes them
        if let handle {
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    var isOpen: Bool { handle != nil }

    /// The raw handle, for ``SQLiteStatement``; throws once closed.
    func db() throws -> OpaquePointer {
        guard let handle else { throw StoreError.closed(path: path) }
        return handle
    }

    /// Sets how long a statement waits for another process's lock before failing with
    /// ``StoreError/busy(path:message:)``.
    func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(db(), milliseconds))
    }

    /// Runs one or more statements that take no parameters and return no rows we need.
    func execute(_ sql: String) throws {
        let db = try db()
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        if rc != SQLITE_OK {
            throw error(code: rc, message: message.map { String(cString: $0) })
        }
    }

    /// The first column of the first row of `sql` as an integer (for pragmas and counts).
    func scalarInt(_ sql: String) throws -> Int64? {
        let statement = try SQLiteStatement(connection: self, sql: sql)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// The first column of the first row of `sql` as text (for pragmas).
    func scalarText(_ sql: String) throws -> String? {
        let statement = try SQLiteStatement(connection: self, sql: sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    /// Runs `body` with the prepared statement for `sql`, compiled once per connection and
    /// reset afterwards (so no statement keeps a read transaction open between calls).
    func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let statement: SQLiteStatement
        if let cached = statements[sql] {
            statement = cached
        } else {
            statement = try SQLiteStatement(connection: self, sql: sql)
            statements[sql] = statement
        }
        defer { statement.reset() }
        return try body(statement)
    }

    /// Runs the cached statement for `sql` once with `values`, ignoring rows.
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws {
        try withStatement(sql) { try $0.run(values) }
    }

    /// Sets `PRAGMA synchronous`, skipping the pragma when it is already in force.
    /// Must not be called inside a transaction.
    func setSynchronous(_ level: Synchronous) throws {
        guard synchronous != level else { return }
        try execute("PRAGMA synchronous = \(level.rawValue)")
        synchronous = level
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`, so the write lock is taken
    /// up front and a busy wait happens here, not half-way), committing if it returns and
    /// rolling back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try run("BEGIN IMMEDIATE")
        let result: T
        do {
            result = try body()
            try run("COMMIT")
        } catch {
            // The rollback can fail only if SQLite already rolled back; the first error is
            // the one worth reporting.
            if let db = handle, sqlite3_get_autocommit(db) == 0 {
                sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            }
            throw error
        }
        return result
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int {
        guard let handle else { return 0 }
        return Int(sqlite3_changes(handle))
    }

    /// Throws the ``StoreError`` for `code` unless it is `SQLITE_OK`.
    func check(_ code: Int32) throws {
        if code != SQLITE_OK {
            throw error(code: code, message: nil)
        }
    }

    /// The ``StoreError`` for an SQLite result code, with the connection's message.
    func error(code: Int32, message: String? = nil) -> StoreError {
        let text = message ?? handle.map { String(cString: sqlite3_errmsg($0)) } ?? "unknown error"
        return Self.storeError(
            path: path, code: code, message: text, systemErrno: handle.map { sqlite3_system_errno($0) })
    }

    private static func openError(path: String, readOnly: Bool, code: Int32, db: OpaquePointer) -> StoreError {
        let message = String(cString: sqlite3_errmsg(db))
        let errno = sqlite3_system_errno(db)
        if code & 0xff == SQLITE_CANTOPEN {
            // SQLite's errno is that of its last system call, often not the one that failed
            // (ENOENT from probing a journal when the directory is not writable): ask the
            // file system directly.
            let reason =
                diagnoseCannotOpen(path: path, readOnly: readOnly)
                ?? (errno != 0 ? String(cString: strerror(errno)) : message)
            return .cannotOpen(path: path, reason: reason)
        }
        return storeError(path: path, code: code, message: message, systemErrno: errno)
    }

    /// Why `path` cannot be opened, as the file system tells it, or nil if it does not.
    private static func diagnoseCannotOpen(path: String, readOnly: Bool) -> String? {
        func denied(_ target: String, _ mode: Int32) -> String? {
            faccessat(AT_FDCWD, target, mode, AT_EACCESS) == 0 ? nil : String(cString: strerror(errno))
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "it is a directory" }
            if let reason = denied(path, readOnly ? R_OK : R_OK | W_OK) { return reason }
        }
        // A writer creates the file and its -wal and -shm files beside it.
        let directory = (path as NSString).deletingLastPathComponent
        if !readOnly, let reason = denied(directory.isEmpty ? "." : directory, W_OK | X_OK) {
            return "\(reason): cannot create files in \(directory.isEmpty ? "." : directory)"
        }
        return nil
    }

    static func storeError(path: String, code: Int32, message: String, systemErrno: Int32?) -> StoreError {
        switch code & 0xff {
        case SQLITE_NOTADB: return .notADatabase(path: path)
        case SQLITE_CORRUPT: return .corrupt(path: path, message: message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy(path: path, message: message)
        case SQLITE_READONLY: return .readOnly(path: path)
        case SQLITE_FULL: return .diskFull(path: path)
        case SQLITE_CANTOPEN, SQLITE_PERM:
            let errno = systemErrno ?? 0
            return .cannotOpen(path: path, reason: errno != 0 ? String(cString: strerror(errno)) : message)
        case SQLITE_IOERR:
            let errno = systemErrno ?? 0
            return .ioError(
                path: path, message: errno != 0 ? "\(message): \(String(cString: strerror(errno)))" : message)
        default: return .sqlite(path: path, code: code, message: message)
        }
    }
}
