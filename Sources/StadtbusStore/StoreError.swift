/// Why the store could not do what was asked.
///
/// Every case names the store file and says what an operator can do about it; the
/// `description` is meant to be logged or printed as it is, e.g.
/// `store /var/lib/stadtbus/store.sqlite: cannot open (Permission denied)`.
public enum StoreError: Error, Equatable, Sendable {
    /// The directory that should hold the store could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// The file could not be opened or created (permissions, a directory in the way, …).
    case cannotOpen(path: String, reason: String)
    /// A store opened read-only (e.g. by `stadtbus trace`) does not exist.
    case fileNotFound(path: String)
    /// The file is not an SQLite database at all (garbage, or encrypted).
    case notADatabase(path: String)
    /// The file is an SQLite database, but not a Stadtbus store.
    case notAStadtbusStore(path: String)
    /// The database is damaged.
    case corrupt(path: String, message: String)
    /// The store was written by a newer Stadtbus whose schema this one does not know.
    case unsupportedSchemaVersion(path: String, found: Int, supported: Int)
    /// Another process held the lock for longer than the busy timeout.
    case busy(path: String, message: String)
    /// The store is read-only (opened so, or the file or its directory is not writable).
    case readOnly(path: String)
    /// The disk (or the file system's quota) is full.
    case diskFull(path: String)
    /// An I/O error from the operating system.
    case ioError(path: String, message: String)
    /// The store was closed with ``SQLiteStore/close()``.
    case closed(path: String)
    /// Any other SQLite failure; `code` is SQLite's extended result code.
    case sqlite(path: String, code: Int32, message: String)
}

extension StoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let reason):
            return "store \(path): cannot create its directory (\(reason)); create it or choose another path"
        case .cannotOpen(let path, let reason):
            return "store \(path): cannot open (\(reason)); check the file's and its directory's owner and mode"
        case .fileNotFound(let path):
            return "store \(path): no such file; check the path (--store) or that Stadtbus has run with it"
        case .notADatabase(let path):
            return "store \(path): not an SQLite database; move the file aside, Stadtbus creates a new store"
        case .notAStadtbusStore(let path):
            return "store \(path): an SQLite database, but not a Stadtbus store; choose another path"
        case .corrupt(let path, let message):
            return "store \(path): database is damaged (\(message)); restore a backup or move the file aside"
        case .unsupportedSchemaVersion(let path, let found, let supported):
            return
                "store \(path): schema version \(found) is newer than this Stadtbus knows (\(supported)); use the newer Stadtbus"
        case .busy(let path, let message):
            return "store \(path): locked by another process for longer than the busy timeout (\(message))"
        case .readOnly(let path):
            return "store \(path): read-only; check the file's and its directory's owner and mode"
        case .diskFull(let path):
            return "store \(path): disk full; free space or shorten the retention"
        case .ioError(let path, let message):
            return "store \(path): I/O error (\(message)); check the disk"
        case .closed(let path):
            return "store \(path): already closed"
        case .sqlite(let path, let code, let message):
            return "store \(path): SQLite error \(code): \(message)"
        }
    }
}
