import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

/// ``SQLiteCaseRegistry``: round trip, upsert, persistence across reopen, purge, migration.
final class CaseRegistryTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
    }

    private let registered = Date(timeIntervalSinceReferenceDate: 800_000_000.125)

    func testRoundTrip() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let record = CaseRecord(
            key: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb", route: "beteiligung",
            attributes: [
                "art": "gebuehr", "planID": "BP-7", "betrag": "75.00", "leer": "", "umlaut": "Gebühr für Äußerung",
            ],
            registeredAt: registered)
        try store.cases.register(key: record.key, case: record)
        XCTAssertEqual(try store.cases.lookup(key: record.key), record)
        XCTAssertNil(try store.cases.lookup(key: "60F6667B-FA45-4BD7-B717-F4D6C65E5EDB"), "keys compare exactly")
        XCTAssertNil(try store.cases.lookup(key: "RE-4711"))
        XCTAssertEqual(try store.cases.count(), 1)
    }

    func testRegisteringAgainReplacesAttributesAndKeepsTheFirstTime() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        try store.cases.register(
            key: "RE-1", case: CaseRecord(key: "RE-1", route: "r1", attributes: ["a": "1"], registeredAt: registered))
        try store.cases.register(
            key: "RE-1",
            case: CaseRecord(key: "RE-1", route: "r2", attributes: ["b": "2"], registeredAt: registered + 3600))
        XCTAssertEqual(
            try store.cases.lookup(key: "RE-1"),
            CaseRecord(key: "RE-1", route: "r2", attributes: ["b": "2"], registeredAt: registered))
        XCTAssertEqual(try store.cases.count(), 1)
    }

    func testCasesSurviveReopening() throws {
        let path = directory.file("store.sqlite")
        do {
            let store = try SQLiteStore(path: path)
            try store.cases.register(
                key: "k",
                case: CaseRecord(key: "k", route: "r", attributes: ["art": "rechnung"], registeredAt: registered))
            store.close()
        }
        let reopened = try SQLiteStore(path: path)
        XCTAssertEqual(try reopened.cases.lookup(key: "k")?.attributes, ["art": "rechnung"])
        let reader = try SQLiteStore(path: path, configuration: .readingOnly)
        XCTAssertEqual(try reader.cases.lookup(key: "k")?.registeredAt, registered)
    }

    func testPurgeRemovesOnlyOldCases() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let now = Date()
        try store.cases.register(key: "alt", case: CaseRecord(key: "alt", route: "r", registeredAt: now - 100 * 86_400))
        try store.cases.register(key: "neu", case: CaseRecord(key: "neu", route: "r", registeredAt: now - 10 * 86_400))
        XCTAssertEqual(try store.cases.purge(olderThan: now - 50 * 86_400), 1)
        XCTAssertNil(try store.cases.lookup(key: "alt"))
        XCTAssertNotNil(try store.cases.lookup(key: "neu"))
    }

    func testPurgeExpiredKeepsCasesLongerThanDeliveries() throws {
        let store = try SQLiteStore(path: directory.file("store.sqlite"))
        let now = Date()
        try store.idempotency.recordDelivered(route: "r", messageID: "m", destination: "d", at: now - 20 * 86_400)
        try store.cases.register(key: "k20", case: CaseRecord(key: "k20", route: "r", registeredAt: now - 20 * 86_400))
        try store.cases.register(
            key: "k100", case: CaseRecord(key: "k100", route: "r", registeredAt: now - 100 * 86_400))
        let result = try store.purgeExpired(now: now)
        XCTAssertEqual(result, SQLiteStore.PurgeResult(deliveries: 1, auditEvents: 0, cases: 1))
        XCTAssertNotNil(try store.cases.lookup(key: "k20"), "cases are kept 90 days by default")
    }

    func testAVersionOneFileIsMigratedAndKeepsItsRows() throws {
        let path = directory.file("store.sqlite")
        let connection = try SQLiteConnection(path: path, readOnly: false)
        try StoreSchema.prepare(connection, readOnly: false, migrations: Array(StoreSchema.migrations.prefix(1)))
        try connection.run("INSERT INTO delivery VALUES ('r', 'm', 'd', 0)")
        connection.close()
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.schemaVersion, 2)
        XCTAssertTrue(try store.idempotency.wasDelivered(route: "r", messageID: "m", destination: "d"))
        try store.cases.register(key: "k", case: CaseRecord(key: "k", route: "r"))
        XCTAssertNotNil(try store.cases.lookup(key: "k"))
    }

    func testCorruptAttributesAreReportedWithThePath() throws {
        let path = directory.file("store.sqlite")
        let store = try SQLiteStore(path: path)
        try store.database.withConnection { try $0.run("INSERT INTO case_record VALUES ('k', 'r', 'not json', 0)") }
        XCTAssertThrowsError(try store.cases.lookup(key: "k")) { error in
            guard case .corrupt(let errorPath, _)? = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(errorPath, path)
        }
    }
}
