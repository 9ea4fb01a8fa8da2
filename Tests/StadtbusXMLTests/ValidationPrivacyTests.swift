import StadtbusXML
import XCTest

/// Issue 12 item 8: schema-error reasons go to logs, the audit store and dead-letter headers;
/// they keep line, element and rule, never the document's (possibly personal) values.
final class ValidationPrivacyTests: XCTestCase {
    private static let schema = Result {
        try XMLSchema(path: SharedMaterial.path("xoev/xbeteiligung-1.2/schemas/xbeteiligung.xsd"))
    }

    /// The real kommunal.Initiieren.0401 with `change` applied.
    private func issues(_ change: (String) -> String) throws -> [ValidationIssue] {
        let original = String(
            decoding: try SharedMaterial.bytes("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"),
            as: UTF8.self)
        let changed = change(original)
        XCTAssertNotEqual(changed, original)
        return try Self.schema.get().validate(try XMLDocument(parsing: changed))
    }

    func testAnInvalidEmailAddressIsReportedWithoutTheAddress() throws {
        let address = "hans.mustermann@example.com \u{1F600}"
        let found = try issues { $0.replacingOccurrences(of: "hans.mustermann@example.com", with: address) }
        XCTAssertEqual(found.map(\.line), [37, 56])
        for issue in found {
            let reason = issue.description
            XCTAssertTrue(
                reason.hasPrefix(
                    "line \(issue.line): Element '{http://xoev.de/schemata/basisnachricht/kommunikation/1_1}kennung'"),
                reason)
            XCTAssertTrue(
                reason.contains(
                    "[facet 'pattern'] The value [value of \(address.count) characters] is not accepted by the pattern"),
                reason)
            XCTAssertFalse(reason.contains("mustermann"), reason)
            XCTAssertLessThan(reason.count, 300, reason)
        }
    }

    func testAnInvalidDateWithAQuoteInItIsReportedWithoutTheValue() throws {
        let found = try issues { $0.replacingOccurrences(of: "2025-02-20T16:41:19.880Z", with: "Erika O'Mustermann") }
        XCTAssertEqual(found.count, 1)
        let reason = try XCTUnwrap(found.first).description
        XCTAssertEqual(
            reason,
            "line 19: Element '{http://xoev.de/schemata/basisnachricht/g2g/1_1}erstellungszeitpunkt': "
                + "[value of 18 characters] is not a valid value of the atomic type 'xs:dateTime'.")
    }

    func testAValueWithSurroundingWhitespaceIsMaskedToo() throws {
        let found = try issues {
            $0.replacingOccurrences(
                of: "<ns3:name>behoerde1</ns3:name>", with: "<ns3:name>\n   Erika Müller \u{1F600}\n </ns3:name>")
        }
        XCTAssertFalse(found.isEmpty)
        for issue in found { XCTAssertFalse(issue.message.contains("Müller"), issue.message) }
    }
}
