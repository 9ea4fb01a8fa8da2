import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

final class IdempotencyStoreTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func testRecordThenWasDelivered() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite")).idempotency
        XCTAssertFalse(try store.wasDelivered(route: "r1", messageID: "m1", destination: "d1"))
        try store.recordDelivered(route: "r1", messageID: "m1", destination: "d1", at: t0)
        XCTAssertTrue(try store.wasDelivered(route: "r1", messageID: "m1", destination: "d1"))
    }

    func testRoutesDestinationsAndMessagesAreIndependent() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite")).idempotency
        try store.recordDelivered(route: "r1", messageID: "m1", destination: "d1", at: t0)
        XCTAssertFalse(try store.wasDelivered(route: "r2", messageID: "m1", destination: "d1"))
        XCTAssertFalse(try store.wasDelivered(route: "r1", messageID: "m1", destination: "d2"))
        XCTAssertFalse(try store.wasDelivered(route: "r1", messageID: "m2", destination: "d1"))
        // IDs are compared exactly: the engine passes the header's bytes on every redelivery.
        XCTAssertFalse(try store.wasDelivered(route: "r1", messageID: "M1", destination: "d1"))
        try store.recordDelivered(route: "r1", messageID: "m1", destination: "d2", at: t0)
        XCTAssertTrue(try store.wasDelivered(route: "r1", messageID: "m1", destination: "d2"))
        XCTAssertTrue(try store.wasDelivered(route: "r1", messageID: "m1", destination: "d1"))
        XCTAssertEqual(try store.count(), 2)
    }

    func testRecordingTwiceKeepsOneRowWithTheFirstDate() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite")).idempotency
        try store.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        try store.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0.addingTimeInterval(60))
        XCTAssertEqual(try store.count(), 1)
        // The first date is kept: a purge between the two times removes the row.
        XCTAssertEqual(try store.purge(olderThan: t0.addingTimeInterval(30)), 1)
    }

    func testIdempotencyCommitsAreFullAuditCommitsNormal() throws {
        // PRAGMA synchronous: 1 = NORMAL, 2 = FULL. What is in force at each commit decides
        // whether it survives a power loss.
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        func synchronous() throws -> Int64? {
            try store.database.withConnection { try $0.scalarInt("PRAGMA synchronous") }
        }
        try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        XCTAssertEqual(try synchronous(), 1)
        try store.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        XCTAssertEqual(try synchronous(), 2)
        try store.audit.record(AuditEvent(messageID: "m", route: "r", kind: .delivered))
        XCTAssertEqual(try synchronous(), 1)

        let allFull = try SQLiteStore(
            path: directory.file("full.sqlite"), configuration: .init(auditDurability: .full))
        try allFull.audit.record(AuditEvent(messageID: "m", route: "r", kind: .received))
        XCTAssertEqual(try allFull.database.withConnection { try $0.scalarInt("PRAGMA synchronous") }, 2)
    }

    func testRecordsSurviveReopening() throws {
        let path = directory.file("nested/dirs/store.sqlite")
        do {
            let store = try SQLiteStore(path: path)
            try store.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
            store.close()
        }
        let reopened = try SQLiteStore(path: path)
        XCTAssertTrue(try reopened.idempotency.wasDelivered(route: "r", messageID: "m", destination: "d"))
        XCTAssertFalse(try reopened.idempotency.wasDelivered(route: "r", messageID: "m", destination: "e"))
    }

    func testRecordIsVisibleToAnotherConnectionAtOnce() throws {
        // What a second process (or a restarted one) sees right after recordDelivered returns,
        // while the writer is still open (nothing checkpointed yet).
        let path = directory.file("store.sqlite")
        let writer = try SQLiteStore(path: path)
        try writer.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        let reader = try SQLiteStore(path: path, configuration: .readingOnly)
        XCTAssertTrue(try reader.idempotency.wasDelivered(route: "r", messageID: "m", destination: "d"))
        withExtendedLifetime(writer) {}
    }

    func testPurgeRemovesOnlyOlderRows() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite")).idempotency
        for i in 0..<10 {
            try store.recordDelivered(
                route: "r", messageID: "m\(i)", destination: "d", at: t0.addingTimeInterval(Double(i)))
        }
        XCTAssertEqual(try store.purge(olderThan: t0.addingTimeInterval(4)), 4)
        XCTAssertEqual(try store.count(), 6)
        XCTAssertFalse(try store.wasDelivered(route: "r", messageID: "m3", destination: "d"))
        XCTAssertTrue(try store.wasDelivered(route: "r", messageID: "m4", destination: "d"))
        XCTAssertEqual(try store.purge(olderThan: t0), 0)
    }

    func testPurgeExpiredUsesRetentionForBothTables() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let now = t0
        let fifteenDaysAgo = now.addingTimeInterval(-15 * 86_400)
        let thirteenDaysAgo = now.addingTimeInterval(-13 * 86_400)
        try store.idempotency.recordDelivered(route: "r", messageID: "old", destination: "d", at: fifteenDaysAgo)
        try store.idempotency.recordDelivered(route: "r", messageID: "new", destination: "d", at: thirteenDaysAgo)
        try store.audit.record([
            AuditEvent(messageID: "old", route: "r", kind: .received, at: fifteenDaysAgo),
            AuditEvent(messageID: "new", route: "r", kind: .received, at: thirteenDaysAgo),
            AuditEvent(messageID: "new", route: "r", kind: .delivered, at: thirteenDaysAgo),
        ])
        let result = try store.purgeExpired(now: now)
        XCTAssertEqual(result, SQLiteStore.PurgeResult(deliveries: 1, auditEvents: 1))
        XCTAssertFalse(try store.idempotency.wasDelivered(route: "r", messageID: "old", destination: "d"))
        XCTAssertTrue(try store.idempotency.wasDelivered(route: "r", messageID: "new", destination: "d"))
        XCTAssertEqual(try store.audit.trail(of: "old"), [])
        XCTAssertEqual(try store.audit.trail(of: "new").count, 2)
        // Each view purges only its own table.
        XCTAssertEqual(try store.idempotency.purge(olderThan: now), 1)
        XCTAssertEqual(try store.audit.count(), 2)
    }

    func testWorksThroughTheProtocol() async throws {
        let store: any IdempotencyStore = try SQLiteStore(path: ":memory:").idempotency
        try await store.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        XCTAssertTrue(try store.wasDelivered(route: "r", messageID: "m", destination: "d"))
    }
}
