import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

#if canImport(Glibc)
    import Glibc
#endif

/// Store files name authorities, routes and message identities: only the service's user reads
/// them (issue 12, item 8). SQLite itself would create them 0644.
final class StoreFilePermissionsTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    private func mode(_ path: String) -> mode_t? {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & 0o777 : nil
    }

    func testNewStoreAndItsWALAndSharedMemoryFilesAreOwnerOnly() throws {
        // The usual umask; the files must be 0600 whatever it is, so it is the least strict one.
        let previous = umask(0o022)
        defer { umask(previous) }
        let path = directory.file("state/store.sqlite")
        let store = try SQLiteStore(path: path)
        try store.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: Date())
        try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        XCTAssertEqual(mode(path), 0o600)
        // WAL mode: the store is open, so its -wal and -shm files exist now.
        XCTAssertEqual(mode(path + "-wal"), 0o600)
        XCTAssertEqual(mode(path + "-shm"), 0o600)
    }

    func testAnExistingWorldReadableStoreLosesTheOthersPermissions() throws {
        let path = directory.file("store.sqlite")
        try SQLiteStore(path: path).close()
        XCTAssertEqual(chmod(path, 0o644), 0)
        let store = try SQLiteStore(path: path)
        try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        XCTAssertEqual(mode(path), 0o640, "the group's permission is the operator's choice; others' go")
        XCTAssertEqual(mode(path + "-wal"), 0o640)
    }

    func testReadOnlyOpenChangesNothing() throws {
        let path = directory.file("store.sqlite")
        try SQLiteStore(path: path).close()
        XCTAssertEqual(chmod(path, 0o644), 0)
        _ = try SQLiteStore(path: path, configuration: .readingOnly)
        XCTAssertEqual(mode(path), 0o644)
    }
}
