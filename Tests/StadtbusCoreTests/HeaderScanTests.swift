import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Issue 13: a route that does not read the document is classified from a header scan that
/// builds no tree. The scan must read exactly what the full parse reads.
final class HeaderScanTests: XCTestCase {
    /// Every XML file of the shared XÖV material (all header shapes: g2g qualified and
    /// unqualified, xdomea, UBL and CII invoices): the scan gives the header (or the error) the
    /// extractor gives on the parsed document.
    func testScanReadsWhatTheParsedDocumentGivesForAllSharedMessages() throws {
        let root = Fixtures.shared + "/xoev"
        guard let enumerator = FileManager.default.enumerator(atPath: root) else {
            throw XCTSkip("shared material missing: \(root) (set STADTBUS_SHARED)")
        }
        let files = enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".xml") }.sorted()
        guard !files.isEmpty else { throw XCTSkip("no XML files under \(root)") }
        let extractor = try HeaderExtractor()
        let scanner = try XCTUnwrap(try HeaderScanner(), "the built-in profiles can be scanned")
        var headers = 0
        for file in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + file)))
            let expected = Result { try extractor.header(of: try XMLDocument(parsing: bytes)) }
            let scanned = Result { try scanner.header(of: bytes) }
            switch (expected, scanned) {
            case (.success(let full), .success(let scan)):
                XCTAssertEqual(scan, full, file)
                headers += 1
            case (.failure(let full), .failure(let scan)):
                XCTAssertEqual("\(scan)", "\(full)", file)
            default:
                XCTFail("\(file): parsed \(expected), scanned \(scanned)")
            }
        }
        XCTAssertGreaterThan(headers, 10, "the material has XÖV messages with headers")
    }

    /// `Fixtures.g2g` with every optional header field filled in.
    private static func completeHeader(uuid: String) -> String {
        String(decoding: Fixtures.g2g(uuid: uuid), as: UTF8.self)
            .replacingOccurrences(
                of: "<g2g:leser><beh:kennung>ags:01061017</beh:kennung></g2g:leser>",
                with: "<g2g:leser><beh:kennung>ags:01061017</beh:kennung>"
                    + "<beh:verzeichnisdienst><code>DVDV</code></beh:verzeichnisdienst><beh:name>Kreis</beh:name>"
                    + "</g2g:leser>"
            )
            .replacingOccurrences(
                of: "<beh:name>Stadt Itzehoe</beh:name>",
                with:
                    "<beh:verzeichnisdienst><code>DVDV</code></beh:verzeichnisdienst><beh:name>Stadt Itzehoe</beh:name>"
            )
    }

    /// The scan stops once the header is certain: a document that is broken after its header is
    /// classified; where an optional field is missing it reads on and finds the error.
    func testScanStopsAfterACompleteHeaderAndReadsOnForAMissingField() throws {
        let scanner = try XCTUnwrap(try HeaderScanner())
        let complete = Self.completeHeader(uuid: "scan-1")
        let brokenTail = complete.replacingOccurrences(of: "</t:inhalt>", with: "</t:falsch>")
        XCTAssertEqual(try scanner.header(of: Array(brokenTail.utf8)).messageID, "scan-1")
        XCTAssertThrowsError(try XMLDocument(parsing: Array(brokenTail.utf8)))

        // No reader: the scan cannot know the header is complete before the end, and meets the error.
        let noReaderName = brokenTail.replacingOccurrences(of: "<beh:name>Kreis</beh:name>", with: "")
        XCTAssertThrowsError(try scanner.header(of: Array(noReaderName.utf8))) { error in
            XCTAssertTrue(error is XMLError, "\(error)")
        }
        let noReaderNameWellFormed = complete.replacingOccurrences(of: "<beh:name>Kreis</beh:name>", with: "")
        let header = try scanner.header(of: Array(noReaderNameWellFormed.utf8))
        XCTAssertEqual(header.reader?.kennung, "ags:01061017")
        XCTAssertNil(header.reader?.name)
    }

    /// A second header element later in the document supplies what the first lacks, as XPath's
    /// first match in document order does on the parsed document.
    func testFieldsMissingInTheFirstHeaderAreTakenFromALaterOne() throws {
        let scanner = try XCTUnwrap(try HeaderScanner())
        let extractor = try HeaderExtractor()
        let text = String(decoding: Fixtures.g2g(uuid: "scan-2"), as: UTF8.self)
            .replacingOccurrences(of: "<g2g:leser><beh:kennung>ags:01061017</beh:kennung></g2g:leser>", with: "")
            .replacingOccurrences(
                of: "<t:inhalt>",
                with: "<g2g:nachrichtenkopf.g2g><g2g:leser><beh:kennung>ags:9</beh:kennung></g2g:leser>"
                    + "</g2g:nachrichtenkopf.g2g><t:inhalt>")
        let bytes = Array(text.utf8)
        let scanned = try scanner.header(of: bytes)
        XCTAssertEqual(scanned.reader?.kennung, "ags:9")
        XCTAssertEqual(scanned, try extractor.header(of: try XMLDocument(parsing: bytes)))
    }

    /// The parse limits and refusals hold for the scan: the pre-scan counts the whole document,
    /// a DOCTYPE is refused.
    func testScanKeepsTheParseLimits() throws {
        let scanner = try XCTUnwrap(try HeaderScanner())
        let text = String(decoding: Fixtures.g2g(uuid: "scan-3"), as: UTF8.self)
        let many = text.replacingOccurrences(
            of: "<t:inhalt>", with: String(repeating: "<t:x/>", count: 200) + "<t:inhalt>")
        XCTAssertThrowsError(try scanner.header(of: Array(many.utf8), limits: XMLParseLimits(maxNodes: 100))) {
            guard case .tooManyNodes = $0 as? XMLError else { return XCTFail("\($0)") }
        }
        let doctype = text.replacingOccurrences(
            of: "<t:antrag", with: "<!DOCTYPE t:antrag [<!ENTITY e \"x\">]>\n<t:antrag")
        XCTAssertThrowsError(try scanner.header(of: Array(doctype.utf8))) {
            guard case .doctypeForbidden = $0 as? XMLError else { return XCTFail("\($0)") }
        }
    }

    /// A custom profile with an expression a scan cannot answer early leaves the table without a
    /// scanner (every message is parsed, as before).
    func testProfilesThatCannotBeScannedFallBackToTheParse() throws {
        var profile = HeaderProfile.xoevG2G
        profile.name = "by-descendant"
        profile.identity = ["//g2g:nachrichtenUUID"]
        XCTAssertNil(try HeaderScanner(profiles: [profile]))
        XCTAssertNotNil(try HeaderScanner(profiles: HeaderProfile.builtIn))
    }

    /// The engine: a route without steps forwards a message broken after its header (it reads
    /// no more); a route with steps parses it and dead-letters it as unparseable.
    func testEngineParsesTheDocumentOnlyForRoutesThatReadIt() async throws {
        let passthrough = Route(name: "p", source: "in", routing: .to([.endpoint("a")]))
        let harness = try Harness([passthrough])
        let body = Self.completeHeader(uuid: "scan-4")
            .replacingOccurrences(of: "</t:inhalt>", with: "</t:falsch>")
        let forwarded = await harness.engine.process(Fixtures.message(Array(body.utf8)))
        XCTAssertEqual(forwarded, .completed)
        XCTAssertEqual(harness.sink.delivered(to: "a").first?.body, Array(body.utf8), "forwarded byte for byte")

        // Beside a route that does not read the document, the header scan classifies the message
        // first; the matched route with a step then parses it.
        let withStep = Route(
            name: "s", source: "in", condition: .messageType([ValuePattern("0401")]),
            steps: [SetHeaderStep(assignments: [("x", try Template("y"))])], routing: .to([.endpoint("a")]))
        let parsing = try Harness([withStep, passthrough])
        let refused = await parsing.engine.process(Fixtures.message(Array(body.utf8)))
        guard case .deadLetter(let reason, let step, let route, _) = refused else { return XCTFail("\(refused)") }
        XCTAssertEqual(step, "parse")
        XCTAssertEqual(route, "s")
        XCTAssertTrue(reason.hasPrefix("unparseable:"), reason)
    }
}
