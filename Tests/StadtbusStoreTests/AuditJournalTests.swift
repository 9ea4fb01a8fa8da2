import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

final class AuditJournalTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    private let id = "6f1c2a2e-9b1d-4c55-8d7e-0a2b3c4d5e6f"
    private let t = Date(timeIntervalSinceReferenceDate: 800_000_000)

    func testAllFieldsRoundTripIncludingNil() throws {
        let full = AuditEvent(
            messageID: id, route: "meldewesen", kind: .step,
            at: Date(timeIntervalSinceReferenceDate: 800_000_000.123456789), messageType: "meldewesen.0201",
            author: "ags:09162000", reader: "ags:09184119", detail: "validate", durationMicroseconds: 1_234,
            reason: "Zeichen: ä ö ü ß — \"quoted\"\nsecond line", attempt: 3)
        let bare = AuditEvent(messageID: id, route: "meldewesen", kind: .deadLettered, at: t.addingTimeInterval(1))
        let path = directory.file("store.sqlite")
        try SQLiteStore(path: path).audit.record([full, bare])
        // Read back from the file, through a fresh read-only connection.
        let trail = try SQLiteStore(path: path, configuration: .readingOnly).audit.trail(of: id)
        XCTAssertEqual(trail, [full, bare])
        XCTAssertNil(trail.last?.messageType)
        XCTAssertNil(trail.last?.durationMicroseconds)
        XCTAssertNil(trail.last?.attempt)
    }

    func testEveryKindRoundTrips() throws {
        let journal = try SQLiteStore(path: ":memory:").audit
        let events = AuditEvent.Kind.allCases.enumerated().map { index, kind in
            AuditEvent(messageID: id, route: "r", kind: kind, at: t.addingTimeInterval(Double(index)))
        }
        try journal.record(events)
        XCTAssertEqual(try journal.trail(of: id).map(\.kind), AuditEvent.Kind.allCases)
    }

    func testTrailIsOldestFirstWithTiesInRecordingOrder() throws {
        let journal = try SQLiteStore(path: directory.file("store.sqlite")).audit
        try journal.record([
            AuditEvent(messageID: id, route: "r", kind: .delivered, at: t.addingTimeInterval(2), detail: "b"),
            AuditEvent(messageID: id, route: "r", kind: .received, at: t),
        ])
        try journal.record([
            AuditEvent(messageID: id, route: "r", kind: .matched, at: t.addingTimeInterval(1)),
            AuditEvent(messageID: "other", route: "r", kind: .received, at: t),
            AuditEvent(messageID: id, route: "r", kind: .delivered, at: t.addingTimeInterval(2), detail: "c"),
        ])
        let trail = try journal.trail(of: id)
        XCTAssertEqual(trail.map(\.kind), [.received, .matched, .delivered, .delivered])
        XCTAssertEqual(trail.map(\.detail), [nil, nil, "b", "c"])
    }

    func testTrailLookupIgnoresUUIDCase() throws {
        let journal = try SQLiteStore(path: ":memory:").audit
        try journal.record(AuditEvent(messageID: id, route: "r", kind: .received))
        XCTAssertEqual(try journal.trail(of: id.uppercased()).map(\.messageID), [id])
    }

    func testUnknownMessageHasEmptyTrail() throws {
        let journal = try SQLiteStore(path: ":memory:").audit
        try journal.record(AuditEvent(messageID: "another", route: "r", kind: .received))
        XCTAssertEqual(try journal.trail(of: id), [])
    }

    func testBatchIsAllOrNothing() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        try store.audit.record(AuditEvent(messageID: id, route: "r", kind: .received))
        // A second connection adds a trigger that makes the batch's second insert fail.
        let saboteur = try SQLiteConnection(path: directory.file("store.sqlite"), readOnly: false)
        try saboteur.execute(
            """
            CREATE TRIGGER refuse BEFORE INSERT ON audit_event WHEN NEW.route = 'refused'
            BEGIN SELECT RAISE(ABORT, 'refused by test'); END
            """)
        saboteur.close()
        XCTAssertThrowsError(
            try store.audit.record([
                AuditEvent(messageID: id, route: "r", kind: .matched),
                AuditEvent(messageID: id, route: "refused", kind: .step),
            ])
        ) { error in
            guard case StoreError.sqlite(_, _, let message) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(message.contains("refused by test"), message)
        }
        XCTAssertEqual(try store.audit.trail(of: id).map(\.kind), [.received])
        // And the store still works afterwards.
        try store.audit.record(AuditEvent(messageID: id, route: "r", kind: .delivered))
        XCTAssertEqual(try store.audit.trail(of: id).map(\.kind), [.received, .delivered])
    }

    func testEmptyBatchIsANoOp() throws {
        let journal = try SQLiteStore(path: ":memory:").audit
        try journal.record([])
        XCTAssertEqual(try journal.count(), 0)
    }

    func testPurgeRemovesOnlyOlderEvents() throws {
        let journal = try SQLiteStore(path: directory.file("store.sqlite")).audit
        try journal.record(
            (0..<5).map { AuditEvent(messageID: id, route: "r", kind: .step, at: t.addingTimeInterval(Double($0))) })
        XCTAssertEqual(try journal.purge(olderThan: t.addingTimeInterval(2)), 2)
        XCTAssertEqual(try journal.trail(of: id).map(\.at), (2..<5).map { t.addingTimeInterval(Double($0)) })
    }

    func testPurgeOfMoreThanOneChunk() throws {
        let journal = try SQLiteStore(path: directory.file("store.sqlite")).audit
        try journal.record((0..<12_000).map { AuditEvent(messageID: "m\($0)", route: "r", kind: .received, at: t) })
        try journal.record(AuditEvent(messageID: id, route: "r", kind: .received, at: t.addingTimeInterval(1)))
        XCTAssertEqual(try journal.purge(olderThan: t.addingTimeInterval(0.5)), 12_000)
        XCTAssertEqual(try journal.count(), 1)
    }

    func testWorksThroughTheProtocol() async throws {
        let journal: any AuditJournal = try SQLiteStore(path: ":memory:").audit
        try await journal.record([AuditEvent(messageID: id, route: "r", kind: .received)])
        XCTAssertEqual(try journal.trail(of: id).count, 1)
    }

    func testClosedStoreThrows() throws {
        let store = try SQLiteStore(path: ":memory:")
        store.close()
        XCTAssertThrowsError(try store.audit.record(AuditEvent(messageID: id, route: "r", kind: .received))) {
            XCTAssertEqual($0 as? StoreError, .closed(path: ":memory:"))
        }
    }
}
