import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

/// The asynchronous writes (what the engine uses) commit concurrent workers' records together,
/// and each caller returns only once its own record is committed.
final class GroupCommitTests: XCTestCase {
    struct NotVisible: Error { var messageID: String }

    private var directory: TemporaryDirectory!
    private let t0 = Date(timeIntervalSinceReferenceDate: 800_000_000)

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    func testConcurrentRecordsShareTransactionsAndAllArrive() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let idempotency = store.idempotency
        let tasks = 64
        let perTask = 20
        let t0 = t0
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for i in 0..<perTask {
                        try await idempotency.recordDelivered(
                            route: "r", messageID: "t\(task)-m\(i)", destination: "d", at: t0)
                        // Returned: committed, so visible at once.
                        guard try idempotency.wasDelivered(route: "r", messageID: "t\(task)-m\(i)", destination: "d")
                        else {
                            throw NotVisible(messageID: "t\(task)-m\(i)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try idempotency.count(), tasks * perTask)
        let transactions = store.groupCommit.transactions
        XCTAssertGreaterThan(transactions, 0)
        XCTAssertLessThan(
            transactions, tasks * perTask, "64 concurrent writers must share transactions (one fsync per group)")
    }

    func testAuditEventsAndRecordsOfOneGroupAreOnDiskForAnotherConnection() async throws {
        let path = directory.file("store.sqlite")
        let writer = try SQLiteStore(path: path)
        try await writer.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        try await writer.audit.record([AuditEvent(messageID: "m", route: "r", kind: .delivered, at: t0, detail: "d")])
        let reader = try SQLiteStore(path: path, configuration: .readingOnly)
        XCTAssertTrue(try reader.idempotency.wasDelivered(route: "r", messageID: "m", destination: "d"))
        XCTAssertEqual(try reader.audit.trail(of: "m").map(\.kind), [.delivered])
    }

    func testWritesAfterCloseThrowClosed() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        try await store.idempotency.recordDelivered(route: "r", messageID: "before", destination: "d", at: t0)
        store.close()
        do {
            try await store.idempotency.recordDelivered(route: "r", messageID: "after", destination: "d", at: t0)
            XCTFail("a write after close must throw")
        } catch {
            XCTAssertEqual(error as? StoreError, .closed(path: directory.file("store.sqlite")))
        }
        let reopened = try SQLiteStore(path: directory.file("store.sqlite"))
        XCTAssertTrue(try reopened.idempotency.wasDelivered(route: "r", messageID: "before", destination: "d"))
        XCTAssertFalse(try reopened.idempotency.wasDelivered(route: "r", messageID: "after", destination: "d"))
    }

    func testAFailingWriteFailsAloneAndTheRestOfItsGroupCommits() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let t0 = t0
        @Sendable func record(_ id: String) -> GroupCommit.Write {
            { connection in
                try connection.run(
                    SQLiteIdempotencyStore.insertSQL,
                    [.text("r"), .text(id), .text("d"), .real(t0.timeIntervalSinceReferenceDate)])
            }
        }
        // One group: a write, a failing write (it inserts a row, then fails), another write.
        let results = try store.groupCommit.commitGroup([
            (.full, record("vorher")),
            (
                .full,
                { connection in
                    try record("halb")(connection)
                    try connection.run("INSERT INTO no_such_table VALUES (1)")
                }
            ),
            (.normal, record("nachher")),
        ])
        XCTAssertNoThrow(try results[0].get())
        XCTAssertThrowsError(try results[1].get()) { XCTAssertTrue("\($0)".contains("no_such_table"), "\($0)") }
        XCTAssertNoThrow(try results[2].get())
        let idempotency = store.idempotency
        XCTAssertTrue(try idempotency.wasDelivered(route: "r", messageID: "vorher", destination: "d"))
        XCTAssertFalse(
            try idempotency.wasDelivered(route: "r", messageID: "halb", destination: "d"),
            "rolled back to its savepoint")
        XCTAssertTrue(try idempotency.wasDelivered(route: "r", messageID: "nachher", destination: "d"))

        // Through the asynchronous path: the failing caller gets its error, the next write works.
        do {
            try await store.groupCommit.commit(.full) { connection in
                try connection.run("INSERT INTO no_such_table VALUES (1)")
            }
            XCTFail("the failing write must throw")
        } catch {
            XCTAssertTrue("\(error)".contains("no_such_table"), "\(error)")
        }
        try await idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: t0)
        XCTAssertTrue(try idempotency.wasDelivered(route: "r", messageID: "m", destination: "d"))
    }
}
