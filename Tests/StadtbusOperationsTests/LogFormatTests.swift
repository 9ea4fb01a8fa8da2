import Foundation
import Logging
import XCTest

@testable import StadtbusOperations

/// A value that holds a line break must not forge a log line (issue 12, item 8): one event
/// is one line in both formats.
final class LogFormatTests: XCTestCase {
    /// What an attacker puts into a logged value: a line break, then a line that looks like
    /// an event of its own.
    private let forged = "antrag\n2026-12-03T10:00:00.000+0000 error stadtbus: level=error route=antrag forged\r\nmore"

    func testHumanFormatWritesAValueWithLineBreaksOnOneLine() {
        let line = LineLogHandler.human(
            "stadtbus", .info, "delivered \(forged)", ["route": .string(forged), "reason\nlevel": "x"])
        XCTAssertFalse(line.contains("\n"), line)
        XCTAssertFalse(line.contains("\r"), line)
        XCTAssertTrue(line.contains(#"route=antrag\n2026-12-03T10:00:00.000+0000 error stadtbus: level=error"#), line)
        XCTAssertTrue(line.contains(#"forged\r\nmore"#), line)
        XCTAssertTrue(line.contains(#"reason\nlevel=x"#), line)
        XCTAssertTrue(
            line.hasSuffix(
                #"delivered antrag\n2026-12-03T10:00:00.000+0000 error stadtbus: level=error route=antrag forged\r\nmore"#
            ), line)
    }

    func testHumanFormatEscapesOtherControlCharacters() {
        let line = LineLogHandler.human(
            "stadtbus", .info, "m", ["file": .string("a\u{1B}[31mred\u{7}\tb\u{2028}c\u{85}d")])
        XCTAssertTrue(line.contains(#"file=a\u{1B}[31mred\u{7}\tb\u{2028}c\u{85}d m"#), line)
    }

    func testHumanFormatLeavesOrdinaryTextAlone() {
        let line = LineLogHandler.human(
            "stadtbus", .notice, "message delivered", ["route": "antrag", "ort": "Itzehoe – Süd"])
        XCTAssertTrue(line.hasSuffix(" notice stadtbus: ort=Itzehoe – Süd route=antrag message delivered"), line)
    }

    func testJSONFormatEscapesLineBreaksAndKeepsTheValue() throws {
        let line = LineLogHandler.json("stadtbus", .info, "delivered \(forged)", ["route": .string(forged + "\u{1B}")])
        XCTAssertFalse(line.contains("\n"), line)
        XCTAssertFalse(line.contains("\r"), line)
        XCTAssertFalse(line.contains("\u{1B}"), line)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["route"] as? String, forged + "\u{1B}")
        XCTAssertEqual(object["msg"] as? String, "delivered \(forged)")
        XCTAssertEqual(object["level"] as? String, "info")
    }
}
