import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

final class StoreOpeningTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    func testNewFileGetsCurrentSchemaAndWAL() throws {
        let path = directory.file("a/b/store.sqlite")
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.schemaVersion, StoreSchema.currentVersion)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        let connection = try SQLiteConnection(path: path, readOnly: true)
        XCTAssertEqual(try connection.scalarText("PRAGMA journal_mode"), "wal")
        XCTAssertEqual(try connection.scalarInt("PRAGMA application_id"), StoreSchema.applicationID)
    }

    func testMigratesAnEmptyFile() throws {
        let path = directory.file("store.sqlite")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.schemaVersion, StoreSchema.currentVersion)
        try store.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: Date())
        try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        let connection = try SQLiteConnection(path: path, readOnly: true)
        let indexes = try
            (connection.scalarText(
                "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)"
            ))
        XCTAssertEqual(indexes, "audit_event_by_message,audit_event_by_time,case_record_by_time,delivery_by_time")
    }

    func testReopeningDoesNotMigrateAgain() throws {
        let path = directory.file("store.sqlite")
        try SQLiteStore(path: path).audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        let reopened = try SQLiteStore(path: path)
        XCTAssertEqual(try reopened.schemaVersion, StoreSchema.currentVersion)
        XCTAssertEqual(try reopened.audit.count(), 1)
    }

    func testMigrationStepRunsOnAnOlderFileAndKeepsItsRows() throws {
        let path = directory.file("store.sqlite")
        try SQLiteStore(path: path).idempotency.recordDelivered(
            route: "r", messageID: "m", destination: "d", at: Date())
        let next = StoreSchema.migrations + ["ALTER TABLE delivery ADD COLUMN note TEXT"]
        let connection = try SQLiteConnection(path: path, readOnly: false)
        try StoreSchema.prepare(connection, readOnly: false, migrations: next)
        XCTAssertEqual(try connection.scalarInt("PRAGMA user_version"), Int64(StoreSchema.currentVersion + 1))
        XCTAssertEqual(try connection.scalarInt("SELECT count(*) FROM delivery WHERE note IS NULL"), 1)
        // Idempotent: a second run finds the file current.
        try StoreSchema.prepare(connection, readOnly: false, migrations: next)
        XCTAssertEqual(try connection.scalarInt("PRAGMA user_version"), Int64(StoreSchema.currentVersion + 1))
    }

    func testFailedMigrationStepLeavesTheFileAtItsVersion() throws {
        let path = directory.file("store.sqlite")
        _ = try SQLiteStore(path: path)
        let broken = StoreSchema.migrations + ["CREATE TABLE extra (x); SELECT no_such_function()"]
        let connection = try SQLiteConnection(path: path, readOnly: false)
        XCTAssertThrowsError(try StoreSchema.prepare(connection, readOnly: false, migrations: broken))
        XCTAssertEqual(try connection.scalarInt("PRAGMA user_version"), Int64(StoreSchema.currentVersion))
        XCTAssertEqual(try connection.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'extra'"), 0)
    }

    func testNewerSchemaIsRefused() throws {
        let path = directory.file("store.sqlite")
        _ = try SQLiteStore(path: path)
        let connection = try SQLiteConnection(path: path, readOnly: false)
        try connection.execute("PRAGMA user_version = 99")
        connection.close()
        XCTAssertThrowsError(try SQLiteStore(path: path)) {
            XCTAssertEqual(
                $0 as? StoreError,
                .unsupportedSchemaVersion(path: path, found: 99, supported: StoreSchema.currentVersion))
        }
    }

    func testForeignDatabaseIsRefusedAndLeftAlone() throws {
        let path = directory.file("other.sqlite")
        let connection = try SQLiteConnection(path: path, readOnly: false)
        try connection.execute("CREATE TABLE customers (name TEXT)")
        connection.close()
        XCTAssertThrowsError(try SQLiteStore(path: path)) {
            XCTAssertEqual($0 as? StoreError, .notAStadtbusStore(path: path))
        }
        let check = try SQLiteConnection(path: path, readOnly: true)
        XCTAssertEqual(try check.scalarInt("SELECT count(*) FROM sqlite_schema"), 1)
        XCTAssertEqual(try check.scalarInt("PRAGMA user_version"), 0)
    }

    func testGarbageFileGivesNotADatabase() throws {
        let path = directory.file("store.sqlite")
        var generator = SystemRandomNumberGenerator()
        let garbage = Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: garbage))
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            XCTAssertEqual(error as? StoreError, .notADatabase(path: path))
            XCTAssertTrue("\(error)".contains("not an SQLite database"), "\(error)")
        }
        XCTAssertThrowsError(try SQLiteStore(path: path, configuration: .readingOnly)) {
            XCTAssertEqual($0 as? StoreError, .notADatabase(path: path))
        }
    }

    func testDamagedPagesGiveATypedError() throws {
        // A valid header with garbage after it: SQLite reports corruption when it reads the pages.
        let path = directory.file("store.sqlite")
        do {
            let store = try SQLiteStore(path: path)
            try store.audit.record((0..<2000).map { AuditEvent(messageID: "m\($0)", route: "r", kind: .received) })
            store.close()
        }
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 64 * 1024))
        try handle.close()
        do {
            let store = try SQLiteStore(path: path)
            _ = try store.audit.trail(of: "m1")
            _ = try store.audit.count()
            XCTFail("reading a damaged store succeeded")
        } catch let error as StoreError {
            switch error {
            case .corrupt, .notADatabase, .notAStadtbusStore: break
            default: XCTFail("unexpected \(error)")
            }
        }
    }

    func testParentThatIsAFileGivesCannotCreateDirectory() throws {
        let blocker = directory.file("plain-file")
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let path = blocker + "/sub/store.sqlite"
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            XCTAssertEqual(
                error as? StoreError, .cannotCreateDirectory(path: path, reason: "\(blocker) is not a directory"))
            XCTAssertTrue("\(error)".hasPrefix("store \(path): cannot create its directory"), "\(error)")
        }
    }

    func testDirectoryInPlaceOfTheFileGivesCannotOpen() throws {
        let path = directory.file("store.sqlite")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            guard case StoreError.cannotOpen(path, let reason) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertFalse(reason.isEmpty)
        }
    }

    func testNonWritableDirectoryGivesCannotOpen() throws {
        try XCTSkipIf(geteuid() == 0, "root may write anywhere; the permission check cannot fail as root")
        let locked = directory.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        XCTAssertEqual(chmod(locked, 0o500), 0)
        defer { chmod(locked, 0o700) }
        let path = locked + "/store.sqlite"
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            XCTAssertEqual(
                error as? StoreError,
                .cannotOpen(path: path, reason: "Permission denied: cannot create files in \(locked)"))
            XCTAssertTrue("\(error)".hasPrefix("store \(path): cannot open (Permission denied"), "\(error)")
        }
    }

    func testNonCreatableDirectoryGivesCannotCreateDirectory() throws {
        try XCTSkipIf(geteuid() == 0, "root may write anywhere; the permission check cannot fail as root")
        let locked = directory.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        XCTAssertEqual(chmod(locked, 0o500), 0)
        defer { chmod(locked, 0o700) }
        let path = locked + "/sub/store.sqlite"
        XCTAssertThrowsError(try SQLiteStore(path: path)) {
            XCTAssertEqual(
                $0 as? StoreError, .cannotCreateDirectory(path: path, reason: "\(locked)/sub: Permission denied"))
        }
    }

    func testReadOnlyOpenOfMissingFileGivesFileNotFoundAndCreatesNothing() throws {
        let path = directory.file("missing/store.sqlite")
        XCTAssertThrowsError(try SQLiteStore(path: path, configuration: .readingOnly)) {
            XCTAssertEqual($0 as? StoreError, .fileNotFound(path: path))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("missing")))
    }

    func testUnreadableFileGivesCannotOpen() throws {
        try XCTSkipIf(geteuid() == 0, "root may read anything; the permission check cannot fail as root")
        let path = directory.file("store.sqlite")
        _ = try SQLiteStore(path: path)
        XCTAssertEqual(chmod(path, 0o200), 0)
        XCTAssertThrowsError(try SQLiteStore(path: path, configuration: .readingOnly)) {
            XCTAssertEqual($0 as? StoreError, .cannotOpen(path: path, reason: "Permission denied"))
        }
    }

    func testReadOnlyStoreRefusesWrites() throws {
        let path = directory.file("store.sqlite")
        _ = try SQLiteStore(path: path)
        let reader = try SQLiteStore(path: path, configuration: .readingOnly)
        XCTAssertThrowsError(try reader.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))) {
            XCTAssertEqual($0 as? StoreError, .readOnly(path: path))
        }
    }

    func testReadOnlyOpenOfEmptyFileIsNotAStore() throws {
        let path = directory.file("store.sqlite")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        XCTAssertThrowsError(try SQLiteStore(path: path, configuration: .readingOnly)) {
            XCTAssertEqual($0 as? StoreError, .notAStadtbusStore(path: path))
        }
    }

    func testBusyTimeoutConversion() {
        XCTAssertEqual(SQLiteStore.Configuration(busyTimeout: .seconds(5)).busyTimeoutMilliseconds, 5000)
        XCTAssertEqual(SQLiteStore.Configuration(busyTimeout: .milliseconds(250)).busyTimeoutMilliseconds, 250)
        XCTAssertEqual(SQLiteStore.Configuration(busyTimeout: .seconds(1) * 1e9).busyTimeoutMilliseconds, Int32.max)
    }

    func testLockHeldByAnotherConnectionGivesBusyAfterTheTimeout() throws {
        let path = directory.file("store.sqlite")
        let store = try SQLiteStore(path: path, configuration: .init(busyTimeout: .milliseconds(50)))
        let other = try SQLiteConnection(path: path, readOnly: false)
        try other.execute("BEGIN IMMEDIATE")
        defer { try? other.execute("ROLLBACK") }
        XCTAssertThrowsError(try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))) {
            guard case StoreError.busy(path, _) = $0 else { return XCTFail("unexpected \($0)") }
        }
    }
}
