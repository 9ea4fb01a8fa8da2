import Foundation
import StadtbusCore
import XCTest

@testable import StadtbusStore

final class AuditTrailTableTests: XCTestCase {
    func testRendersEveryColumnAligned() {
        let t = Date(timeIntervalSince1970: 1_764_080_586.806)
        let id = "6f1c2a2e-9b1d-4c55-8d7e-0a2b3c4d5e6f"
        let events = [
            AuditEvent(
                messageID: id, route: "meldewesen", kind: .received, at: t, messageType: "meldewesen.0201",
                author: "ags:09162000", reader: "ags:09184119", attempt: 1),
            AuditEvent(
                messageID: id, route: "meldewesen", kind: .step, at: t.addingTimeInterval(0.002), detail: "validate",
                durationMicroseconds: 1_234, attempt: 1),
            AuditEvent(
                messageID: id, route: "meldewesen", kind: .deadLettered, at: t.addingTimeInterval(0.01), detail: "sign",
                reason: "certificate expired\nsince 2026-11-01", attempt: 2),
        ]
        XCTAssertEqual(
            AuditTrailTable.render(events),
            """
            message \(id)  type meldewesen.0201  author ags:09162000  reader ags:09184119  3 events
            TIME (UTC)                ROUTE       KIND           DETAIL    MS     ATTEMPT  REASON
            2025-11-25T14:23:06.806Z  meldewesen  received       -         -      1        -
            2025-11-25T14:23:06.808Z  meldewesen  step           validate  1.234  1        -
            2025-11-25T14:23:06.816Z  meldewesen  dead-lettered  sign      -      2        certificate expired / since 2026-11-01

            """)
    }

    func testMilliseconds() {
        XCTAssertEqual(AuditTrailTable.milliseconds(0), "0.000")
        XCTAssertEqual(AuditTrailTable.milliseconds(7), "0.007")
        XCTAssertEqual(AuditTrailTable.milliseconds(1_234_567), "1234.567")
        XCTAssertEqual(AuditTrailTable.milliseconds(-1_500), "-1.500")
    }

    func testEmptyTrailRendersNothing() {
        XCTAssertEqual(AuditTrailTable.render([]), "")
    }
}
