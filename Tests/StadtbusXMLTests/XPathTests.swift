import StadtbusXML
import XCTest

final class XPathTests: XCTestCase {
    let namespaces: XMLNamespaces = [
        "xbet": "https://www.xleitstelle.de/xbeteiligung/12",
        "g2g": "http://xoev.de/schemata/basisnachricht/g2g/1_1",
    ]

    func testEvaluatesWithPrefixMapOnRealMessage() throws {
        let document = try XMLDocument(
            parsing: try SharedMaterial.bytes("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"))
        let uuid = try document.evaluate(
            "string(/xbet:*/g2g:nachrichtenkopf.g2g//g2g:nachrichtenUUID)", namespaces: namespaces)
        XCTAssertEqual(uuid, .string("60f6667b-fa45-4bd7-b717-f4d6c65e5edb"))
        let isInitiieren = try document.evaluate("boolean(/xbet:kommunal.Initiieren.0401)", namespaces: namespaces)
        XCTAssertEqual(isInitiieren, .boolean(true))
        let count = try document.evaluate("count(//g2g:leser)", namespaces: namespaces)
        XCTAssertEqual(count, .number(1))
        guard case .nodes(let codes) = try document.evaluate("//g2g:nachrichtentyp/code", namespaces: namespaces) else {
            return XCTFail()
        }
        XCTAssertEqual(codes, ["0401"])
    }

    func testPrefixMapIsIndependentOfDocumentPrefixes() throws {
        // The document uses ns5/ns2; the expression uses its own prefixes for the same URIs.
        let document = try XMLDocument(parsing: #"<p:a xmlns:p="urn:x"><p:b>1</p:b></p:a>"#)
        XCTAssertEqual(try document.evaluate("string(/q:a/q:b)", namespaces: ["q": "urn:x"]), .string("1"))
        XCTAssertEqual(try document.evaluate("count(/a)"), .number(0))
    }

    func testInvalidExpressionIsAClearError() {
        XCTAssertThrowsError(try XPathExpression("//a[")) { error in
            guard case .invalidXPath(let expression, _) = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(expression, "//a[")
        }
    }

    func testUnboundPrefixFailsAtEvaluation() throws {
        let expression = try XPathExpression("/nope:a")
        let document = try XMLDocument(parsing: "<a/>")
        XCTAssertThrowsError(try expression.evaluate(in: document)) { error in
            guard case .xpathEvaluationFailed = error as? XMLError else { return XCTFail("\(error)") }
        }
    }

    func testCompiledExpressionIsSharedAcrossThreads() throws {
        let expression = try XPathExpression("string(/a/b)")
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            guard let document = try? XMLDocument(parsing: "<a><b>\(index)</b></a>"),
                (try? expression.evaluate(in: document)) == .string("\(index)")
            else { return failures.increment() }
        }
        XCTAssertEqual(failures.value, 0)
    }
}
