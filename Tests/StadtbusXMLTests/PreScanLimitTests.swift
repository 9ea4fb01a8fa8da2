import StadtbusXML
import XCTest

/// Issue 12 items 2 and 5: documents with many attributes (quadratic in libxml2 2.9) or many
/// nodes (a tree ~30 times their size) are refused by a linear pre-scan before parsing, and the
/// pre-scan never refuses a well-formed document within the limits.
final class PreScanLimitTests: XCTestCase {
    private func refusal(_ bytes: [UInt8], limits: XMLParseLimits = .default) -> XMLError? {
        do {
            _ = try XMLDocument(parsing: bytes, limits: limits)
            return nil
        } catch {
            return error as? XMLError
        }
    }

    private func refusal(_ xml: String, limits: XMLParseLimits = .default) -> XMLError? {
        refusal(Array(xml.utf8), limits: limits)
    }

    /// 40,000 attributes on one element took libxml2 3.3 s; the pre-scan refuses them at once.
    func testFortyThousandAttributesOnOneElementAreRefusedBeforeParsing() {
        var xml = "<?xml version=\"1.0\"?>\n<antrag"
        for index in 0..<40_000 { xml += " a\(index)=\"v\"" }
        xml += "/>"
        XCTAssertEqual(refusal(xml), .tooManyAttributes(element: "antrag", count: 40_000, limit: 256, line: 2))
        let reason = "\(refusal(xml)!)"
        XCTAssertTrue(reason.contains("max-attributes-per-element"), reason)
        XCTAssertTrue(reason.contains("256"), reason)
    }

    func testAttributesPerElementLimitIsConfigurable() {
        let xml = #"<a x="1" y="2" xmlns:p="urn:p" p:z="3"/>"#
        XCTAssertNil(refusal(xml))
        var limits = XMLParseLimits.default
        limits.maxAttributesPerElement = 3
        XCTAssertEqual(refusal(xml, limits: limits), .tooManyAttributes(element: "a", count: 4, limit: 3, line: 1))
        limits.maxAttributesPerElement = 4
        XCTAssertNil(refusal(xml, limits: limits))
    }

    func testAttributesInTheWholeDocumentAreBounded() {
        let xml = "<r>\n" + String(repeating: "<e a=\"1\" b=\"2\"/>\n", count: 10) + "</r>"
        var limits = XMLParseLimits.default
        limits.maxAttributes = 15
        XCTAssertEqual(refusal(xml, limits: limits), .tooManyAttributesInDocument(limit: 15, line: 9))
        limits.maxAttributes = 20
        XCTAssertNil(refusal(xml, limits: limits))
    }

    /// One 16 MB document of empty elements raised RSS by 500 MB. Two million empty elements are
    /// refused before any tree is built.
    func testTwoMillionEmptyElementsAreRefusedBeforeAnyTreeIsBuilt() {
        var bytes = Array("<r>".utf8)
        let element = Array("<e/>".utf8)
        bytes.reserveCapacity(3 + 2_000_000 * element.count + 4)
        for _ in 0..<2_000_000 { bytes += element }
        bytes += Array("</r>".utf8)
        XCTAssertEqual(refusal(bytes), .tooManyNodes(limit: 50_000, line: 1))
    }

    func testNodeLimitCountsCommentsAndProcessingInstructionsAndIsConfigurable() {
        let xml = "<?xml version=\"1.0\"?>\n<r><!-- c --><?pi x?><a/><b/></r>"
        var limits = XMLParseLimits.default
        limits.maxNodes = 5  // declaration, r, comment, PI, a
        XCTAssertEqual(refusal(xml, limits: limits), .tooManyNodes(limit: 5, line: 2))
        limits.maxNodes = 6
        XCTAssertNil(refusal(xml, limits: limits))
    }

    /// Markup-like text inside comments, CDATA sections, processing instructions and quoted
    /// attribute values is not counted: the pre-scan never refuses what it should not.
    func testMarkupInsideCommentsCDATAPIsAndAttributeValuesIsNotCounted() {
        let hidden = String(repeating: "<x a='1' b='2' c='3'/>", count: 50)
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <?stylesheet href="a=b" type='c=d' <e f="g"/> ?>
            <r xmlns="urn:r" title='a &gt; b = c "quoted" not a tag' other="x='1' y='2'">
              <!-- \(hidden) - not the end -> still a comment -->
              <![CDATA[\(hidden) ]] > ]]]]><![CDATA[> still CDATA]]>
              <t>a &lt; b &amp;&amp; c > d = e</t>
              <s a = "1"
                 b	=	'2'/>
            </r>
            """
        var limits = XMLParseLimits.default
        limits.maxAttributesPerElement = 3
        limits.maxAttributes = 5  // xmlns, title, other, a, b
        limits.maxNodes = 7  // declaration, PI, r, comment, t, s
        XCTAssertNil(refusal(xml, limits: limits))
        limits.maxAttributes = 4
        XCTAssertEqual(refusal(xml, limits: limits), .tooManyAttributesInDocument(limit: 4, line: 7))
        // Without the `>` and `=` inside the value, `title` would count as several attributes.
        limits = .default
        limits.maxAttributesPerElement = 1
        XCTAssertEqual(
            refusal(xml, limits: limits), .tooManyAttributes(element: "r", count: 3, limit: 1, line: 3))
    }

    /// Every real XÖV message and invoice in the shared material passes the pre-scan with the defaults.
    func testRealMessagesPassWithTheDefaults() throws {
        let folders = [
            "xoev/xbeteiligung-1.2/examples", "xoev/xdomea-3.0.0/examples", "xoev/xwasser-1.0.0/examples",
            "xoev/xrechnung-testsuite/examples", "xoev/einvoice/en16931-examples/ubl",
            "xoev/einvoice/en16931-examples/cii",
        ]
        var checked = 0
        for folder in folders where FileManager.default.fileExists(atPath: SharedMaterial.path(folder)) {
            for file in try SharedMaterial.files(in: folder) {
                XCTAssertNoThrow(try XMLDocument(parsing: try SharedMaterial.bytes(file)), file)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0, "no shared material found under \(SharedMaterial.root.path)")
    }

    /// A DOCTYPE still gets its own reason, even with the attribute-heavy payload behind it.
    func testDoctypeKeepsItsOwnReason() {
        let xml = "<!DOCTYPE a [<!ENTITY e \"x\">]>\n<a " + (0..<300).map { "a\($0)='1'" }.joined(separator: " ") + "/>"
        XCTAssertEqual(refusal(xml), .doctypeForbidden(line: 1))
    }

    /// An unterminated tag or comment ends the scan; the parser then names the problem.
    func testBrokenMarkupIsLeftToTheParser() {
        guard case .malformed = refusal("<a b='1' <c/></a>") else { return XCTFail("expected malformed") }
        guard case .malformed = refusal("<a><!-- open </a>") else { return XCTFail("expected malformed") }
        guard case .malformed = refusal("<a b='unterminated></a>") else { return XCTFail("expected malformed") }
    }
}
