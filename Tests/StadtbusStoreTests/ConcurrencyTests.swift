import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

final class ConcurrencyTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    func testManyTasksRecordAndCheckWithExactCounts() async throws {
        let tasks = 8
        let perTask = 500
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let idempotency = store.idempotency
        let audit = store.audit
        let t0 = Date(timeIntervalSinceReferenceDate: 800_000_000)

        let duplicates = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var duplicates = 0
                    for i in 0..<perTask {
                        // Every message is handled twice: the second time must see the first record.
                        let id = "t\(task)-m\(i)"
                        for _ in 0..<2 {
                            if try idempotency.wasDelivered(route: "r", messageID: id, destination: "d") {
                                duplicates += 1
                                try await audit.record([AuditEvent(messageID: id, route: "r", kind: .duplicate, at: t0)]
                                )
                                continue
                            }
                            try await idempotency.recordDelivered(route: "r", messageID: id, destination: "d", at: t0)
                            try await audit.record([
                                AuditEvent(messageID: id, route: "r", kind: .received, at: t0),
                                AuditEvent(messageID: id, route: "r", kind: .delivered, at: t0, detail: "d"),
                            ])
                        }
                    }
                    return duplicates
                }
            }
            return try await group.reduce(0, +)
        }

        XCTAssertEqual(duplicates, tasks * perTask)
        XCTAssertEqual(try idempotency.count(), tasks * perTask)
        XCTAssertEqual(try audit.count(), tasks * perTask * 3)
        XCTAssertEqual(try audit.trail(of: "t7-m499").map(\.kind), [.received, .delivered, .duplicate])
    }

    func testConcurrentPurgeAndRecord() async throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let old = Date(timeIntervalSinceReferenceDate: 0)
        let new = Date(timeIntervalSinceReferenceDate: 800_000_000)
        try await store.audit.record(
            (0..<6_000).map { AuditEvent(messageID: "old\($0)", route: "r", kind: .received, at: old) })
        let audit = store.audit
        async let purged = Task { try audit.purge(olderThan: Date(timeIntervalSinceReferenceDate: 1)) }.value
        async let written: Void = Task {
            for i in 0..<1_000 {
                try await audit.record([AuditEvent(messageID: "new\(i)", route: "r", kind: .received, at: new)])
            }
        }.value
        let (count, _) = try await (purged, written)
        XCTAssertEqual(count, 6_000)
        XCTAssertEqual(try audit.count(), 1_000)
    }
}
