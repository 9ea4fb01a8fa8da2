import Foundation

/// The one connection of a store, and the lock that serialises every use of it.
///
/// Concurrency: worker tasks call the store from many threads; each call takes `lock`
/// for the whole of its work (a statement, or a transaction), so calls are atomic with
/// respect to each other and SQLite sees one thread at a time. SQLite allows one writer
/// per file anyway, so a second connection would buy only concurrent reads, which the
/// engine does not need (reads are point lookups of microseconds).
final class StoreDatabase: @unchecked Sendable {
    let path: String
    let configuration: SQLiteStore.Configuration
    private let lock = NSLock()
    private let connection: SQLiteConnection  // guarded by `lock`

    init(path: String, configuration: SQLiteStore.Configuration) throws {
        self.path = path
        self.configuration = configuration
        let inMemory = path == ":memory:" || path.isEmpty
        if !inMemory {
            if configuration.readOnly {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw StoreError.fileNotFound(path: path)
                }
            } else {
                try Self.createParentDirectory(of: path)
            }
        }
        connection = try SQLiteConnection(path: path, readOnly: configuration.readOnly)
        try connection.setBusyTimeout(milliseconds: configuration.busyTimeoutMilliseconds)
        if !configuration.readOnly && !inMemory {
            // The first statement that reads the file: garbage shows up here as notADatabase.
            let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
            if mode?.lowercased() != "wal" {
                throw StoreError.sqlite(
                    path: path, code: 0, message: "cannot switch to WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            try connection.execute("PRAGMA journal_size_limit = \(configuration.walSizeLimitBytes)")
        }
        try StoreSchema.prepare(connection, readOnly: configuration.readOnly)
    }

    /// Runs `body` with the connection, holding the lock throughout.
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard connection.isOpen else { throw StoreError.closed(path: path) }
        return try body(connection)
    }

    /// Runs a `DELETE … LIMIT ?2` statement with `cutoff` as `?1` until it deletes fewer than
    /// a chunk, taking the lock per chunk so that workers are not held up by a long purge.
    func deleteInChunks(_ sql: String, cutoff: Date, chunk: Int = 5_000) throws -> Int {
        var total = 0
        while true {
            let deleted = try withConnection { connection in
                try connection.run(sql, [.real(cutoff.timeIntervalSinceReferenceDate), .integer(Int64(chunk))])
                return connection.changes
            }
            total += deleted
            if deleted < chunk { return total }
        }
    }

    /// Closes the connection; later calls throw ``StoreError/closed(path:)``.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        connection.close()
    }

    /// `mkdir -p` for the directory holding `path`, with the system's reason on failure.
    private static func createParentDirectory(of path: String) throws {
        try createDirectory((path as NSString).deletingLastPathComponent, for: path)
    }

    private static func createDirectory(_ directory: String, for path: String) throws {
        guard !directory.isEmpty else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw StoreError.cannotCreateDirectory(path: path, reason: "\(directory) is not a directory")
        }
        try createDirectory((directory as NSString).deletingLastPathComponent, for: path)
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            let reason = String(cString: strerror(errno))
            throw StoreError.cannotCreateDirectory(path: path, reason: "\(directory): \(reason)")
        }
    }
}
