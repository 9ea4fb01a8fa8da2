import StadtbusCore
import XCTest

final class DerivedUUIDTests: XCTestCase {
    func testTheSameNameGivesTheSameUUIDAndTheFormatIsAValidVersion8UUID() throws {
        let first = DerivedUUID.make(from: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb|portal-status")
        XCTAssertEqual(first, DerivedUUID.make(from: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb|portal-status"))
        let pattern = #/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/#
        XCTAssertNotNil(try pattern.wholeMatch(in: first), first)
    }

    func testDifferentNamesGiveDifferentUUIDs() {
        var seen = Set<String>()
        for index in 0..<10_000 { seen.insert(DerivedUUID.make(from: "message-\(index)|route")) }
        XCTAssertEqual(seen.count, 10_000)
        XCTAssertNotEqual(DerivedUUID.make(from: ""), DerivedUUID.make(from: "a"))
    }
}
