/// The store's tables, and the steps that bring an older file up to date.
///
/// The schema version lives in `PRAGMA user_version`; `PRAGMA application_id` marks the
/// file as a Stadtbus store so that a foreign database is refused rather than altered.
///
/// Times are stored as REAL seconds since 2001-01-01T00:00:00Z (Foundation's reference
/// date), so a `Date` round-trips bit for bit. In SQL:
/// `datetime(at + 978307200, 'unixepoch')`.
enum StoreSchema {
    /// "Stbu".
    static let applicationID: Int64 = 0x5374_6275

    /// `migrations[n]` brings a file from version `n` to `n + 1`. Append, never edit.
    static let migrations: [String] = [
        // 0 → 1: idempotency records and the audit journal.
        """
        CREATE TABLE delivery (
            route        TEXT NOT NULL,
            message_id   TEXT NOT NULL,
            destination  TEXT NOT NULL,
            delivered_at REAL NOT NULL,
            PRIMARY KEY (route, message_id, destination)
        ) WITHOUT ROWID;
        CREATE INDEX delivery_by_time ON delivery (delivered_at);

        CREATE TABLE audit_event (
            id           INTEGER PRIMARY KEY,
            message_id   TEXT NOT NULL COLLATE NOCASE,
            route        TEXT NOT NULL,
            kind         TEXT NOT NULL,
            at           REAL NOT NULL,
            message_type TEXT,
            author       TEXT,
            reader       TEXT,
            detail       TEXT,
            duration_us  INTEGER,
            reason       TEXT,
            attempt      INTEGER
        );
        CREATE INDEX audit_event_by_message ON audit_event (message_id, at, id);
        CREATE INDEX audit_event_by_time ON audit_event (at);
        """,
        // 1 → 2: the case registry (register-case / correlate), metadata only.
        """
        CREATE TABLE case_record (
            case_key      TEXT NOT NULL PRIMARY KEY,
            route         TEXT NOT NULL,
            attributes    TEXT NOT NULL,
            registered_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX case_record_by_time ON case_record (registered_at);
        """,
    ]

    /// The version this build writes and understands.
    static var currentVersion: Int { migrations.count }

    /// Checks that the file is a Stadtbus store this build understands and, unless
    /// `readOnly`, migrates it to ``currentVersion`` in one transaction.
    /// `migrations` is for tests of the mechanism; the store always passes the default.
    static func prepare(
        _ connection: SQLiteConnection, readOnly: Bool, migrations: [String] = StoreSchema.migrations
    ) throws {
        let path = connection.path
        let currentVersion = migrations.count
        let version = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
        let application = try connection.scalarInt("PRAGMA application_id") ?? 0
        if version > currentVersion {
            throw StoreError.unsupportedSchemaVersion(path: path, found: version, supported: currentVersion)
        }
        if application != applicationID {
            // Version 0 with no tables is a new (or empty) file; anything else is foreign.
            let tables = try connection.scalarInt("SELECT count(*) FROM sqlite_schema") ?? 0
            if application != 0 || version != 0 || tables != 0 {
                throw StoreError.notAStadtbusStore(path: path)
            }
        }
        if version == currentVersion { return }
        if readOnly {
            // Nothing written yet (an empty file) or an older schema we may not migrate here.
            throw version == 0
                ? StoreError.notAStadtbusStore(path: path)
                : StoreError.readOnly(path: path)
        }
        try connection.transaction {
            // Re-read under the write lock: another process may have migrated meanwhile.
            let locked = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
            guard locked < currentVersion else { return }
            for step in migrations[locked...] {
                try connection.execute(step)
            }
            try connection.execute("PRAGMA application_id = \(applicationID)")
            try connection.execute("PRAGMA user_version = \(currentVersion)")
        }
    }
}
