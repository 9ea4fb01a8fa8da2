import Foundation
import StadtbusConfig
import StadtbusXML
import XCTest

/// The real mapping XBeteiligung 1.2 kommunal.Initiieren.0401 → xdomea 3.0.0
/// FVDaten.SGOErstellen.0604, written once as XSLT and once as mapping rules.
final class MappingRealMappingTests: XCTestCase {
    typealias Support = MappingTestSupport

    static let initiieren = "xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"
    static let aktualisieren = "xoev/xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml"
    static let xdomeaSchema = "xoev/xdomea-3.0.0/schemas/xdomea.xsd"

    private func handWritten() throws -> XSLTStylesheet {
        try XSLTStylesheet(path: Support.mapping("beteiligung-to-xdomea.xsl"))
    }

    private func fromRules() throws -> XSLTStylesheet {
        let path = Support.mapping("beteiligung-to-xdomea.yaml")
        return try MappingRules.parse(yaml: try Support.read(path), file: "mappings/beteiligung-to-xdomea.yaml")
            .compile()
    }

    private func bothOutputs(_ source: XMLDocument, parameters: [String: String] = [:]) throws -> (
        xslt: String, rules: String
    ) {
        (
            try handWritten().transform(source, parameters: parameters).serializedString(),
            try fromRules().transform(source, parameters: parameters).serializedString()
        )
    }

    func testBothFormsProduceByteIdenticalOutput() throws {
        let source = try Support.document(at: Support.shared(Self.initiieren))
        for parameters in [[:], ["eingangszeit": "2026-11-25T14:30:00Z", "dms-instanz": "eakte-itzehoe"]] {
            let (xslt, rules) = try bothOutputs(source, parameters: parameters)
            XCTAssertEqual(xslt, rules, "parameters \(parameters)")
            XCTAssertTrue(xslt.contains("<xdomea:FVDaten.SGOErstellen.0604"), xslt)
        }
    }

    func testOutputCarriesTheSourceFacts() throws {
        let source = try Support.document(at: Support.shared(Self.initiieren))
        let result = try fromRules().transform(source, parameters: [:])
        let ns: XMLNamespaces = ["x": "urn:xoev-de:xdomea:schema:3.0.0"]
        func value(_ path: String) throws -> String {
            try result.evaluate("string(\(path))", namespaces: ns).stringValue
        }
        XCTAssertEqual(try value("/*/x:Kopf/x:ProzessID"), "60f6667b-fa45-4bd7-b717-f4d6c65e5edb")
        XCTAssertEqual(try value("/*/x:Kopf/x:Nachrichtentyp/code"), "0604")
        XCTAssertEqual(try value("/*/x:Kopf/x:Erstellungszeitpunkt"), "2025-02-20T16:41:19.880Z")
        XCTAssertEqual(try value("/*/x:Kopf/x:Absender/x:Behoerdenkennung/x:Praefix/code"), "xyz")
        XCTAssertEqual(try value("/*/x:Kopf/x:Absender/x:Behoerdenkennung/x:Behoerdenschluessel/code"), "0001")
        XCTAssertEqual(try value("/*/x:Kopf/x:Absender/x:Institution/x:Name"), "behoerde1")
        XCTAssertEqual(try value("/*/x:Kopf/x:Empfaenger/x:Behoerdenkennung/x:Behoerdenschluessel/code"), "0002")
        XCTAssertEqual(try value("/*/x:Kopf/x:Empfaenger/x:Institution/x:Name"), "behoerde2")
        XCTAssertEqual(
            try value("/*/x:Kopf/x:Hinweis"), "Verfahrensschritt 4000: frühzeitige Öffentlichkeitsbeteiligung")
        XCTAssertEqual(try value("/*/x:Kopf/x:Erstellerkennung"), "xyz:0001")
        let vorgang = "/*/x:SchriftgutobjektZumErstellen/x:Schriftgutobjekt/x:Vorgang"
        XCTAssertEqual(
            try value("/*/x:SchriftgutobjektZumErstellen/x:FachverfahrenObjektID"),
            "ID_3d4d41e8-0088-451e-bf88-2aaeb3eb45c9")
        XCTAssertEqual(try value("\(vorgang)/x:AllgemeineMetadaten/x:Betreff"), "TestAdrian33")
        XCTAssertEqual(
            try value("\(vorgang)/x:AllgemeineMetadaten/x:Kennzeichen"), "ID_0f8d6117-043f-4b83-941b-e219390e7c68")
        XCTAssertEqual(try value("\(vorgang)/x:AllgemeineMetadaten/x:Federfuehrung"), "Musterzuständigkeit")
        XCTAssertEqual(try value("\(vorgang)/x:Aktenbetreff"), "XBeteiligung_Test1")
        XCTAssertEqual(try value("\(vorgang)/x:Typ"), "Bebauungsplan")
        XCTAssertEqual(try value("count(\(vorgang)/x:Dokument)"), "0")

        let stamped = try fromRules().transform(source, parameters: ["eingangszeit": "2026-11-25T14:30:00Z"])
        XCTAssertEqual(
            try stamped.evaluate("string(/*/x:Kopf/x:Erstellungszeitpunkt)", namespaces: ns).stringValue,
            "2026-11-25T14:30:00Z")
    }

    func testOutputValidatesAgainstXdomeaSchema() throws {
        let schema = try XMLSchema(path: Support.shared(Self.xdomeaSchema))
        for path in [Support.shared(Self.initiieren), Support.fixture("kommunal.Initiieren.0401-mit-anlagen.xml")] {
            let source = try Support.document(at: path)
            for parameters in [[:], ["eingangszeit": "2026-11-25T14:30:00Z", "dms-instanz": "eakte-itzehoe"]] {
                let (xslt, rules) = try bothOutputs(source, parameters: parameters)
                XCTAssertEqual(xslt, rules)
                let issues = schema.validate(try XMLDocument(parsing: rules))
                XCTAssertEqual(issues, [], "\(path): \(issues)\n\(rules)")
            }
        }
    }

    func testAttachmentsBecomeDocuments() throws {
        let source = try Support.document(at: Support.fixture("kommunal.Initiieren.0401-mit-anlagen.xml"))
        let (xslt, rules) = try bothOutputs(source)
        XCTAssertEqual(xslt, rules)
        let result = try XMLDocument(parsing: rules)
        let ns: XMLNamespaces = ["x": "urn:xoev-de:xdomea:schema:3.0.0"]
        let dokument = "/*/x:SchriftgutobjektZumErstellen/x:Schriftgutobjekt/x:Vorgang/x:Dokument"
        XCTAssertEqual(try result.evaluate("count(\(dokument))", namespaces: ns).stringValue, "2")
        XCTAssertEqual(
            try result.evaluate("\(dokument)/x:Identifikation/x:ID", namespaces: ns),
            .nodes(["693a4b4a-8431-4b29-9aef-456ff3a63bef", "5b0e1f3c-2d4a-4c8e-9f61-7a2b3c4d5e6f"]))
        XCTAssertEqual(
            try result.evaluate(
                "string(\(dokument)[1]/x:Version/x:Format/x:Primaerdokument/x:Dateiname)", namespaces: ns
            ).stringValue,
            "693a4b4a-8431-4b29-9aef-456ff3a63bef_test-dokument.pdf")
        XCTAssertEqual(
            try result.evaluate("string(\(dokument)[1]/x:Version/x:Format/x:Name/code)", namespaces: ns).stringValue,
            "044")
        XCTAssertEqual(
            try result.evaluate("string(\(dokument)[2]/x:Version/x:Format/x:Name/code)", namespaces: ns).stringValue,
            "045")
    }

    /// kommunal.Aktualisieren.0402 updates a procedure that is already filed: filing it
    /// again would duplicate the case, so the mapping accepts only 0401 and says so.
    func testAktualisierenIsRefusedWithAClearMessageByBothForms() throws {
        let source = try Support.document(at: Support.shared(Self.aktualisieren))
        for stylesheet in [try handWritten(), try fromRules()] {
            XCTAssertThrowsError(try stylesheet.transform(source)) { error in
                let text = "\(error)"
                XCTAssertTrue(
                    text.contains(
                        "mapping 'beteiligung-initiieren-to-xdomea-sgo-erstellen': expected a source message xbet:kommunal.Initiieren.0401, got 'kommunal.Aktualisieren.0402' in namespace 'https://www.xleitstelle.de/xbeteiligung/12'"
                    ), text)
            }
        }
    }

    func testUnknownAttachmentFormatStopsBothForms() throws {
        var xml = try Support.read(Support.fixture("kommunal.Initiieren.0401-mit-anlagen.xml"))
        xml = xml.replacingOccurrences(of: "<code>text/plain</code>", with: "<code>image/x-unknown</code>")
        let source = try XMLDocument(parsing: xml)
        for stylesheet in [try handWritten(), try fromRules()] {
            XCTAssertThrowsError(try stylesheet.transform(source)) { error in
                XCTAssertTrue(
                    "\(error)".contains(
                        "value map 'mime-to-dateiformat' has no entry for 'image/x-unknown' and no default"), "\(error)"
                )
            }
        }
    }

    func testGeneratedStylesheetNamesItsSourceFile() throws {
        let rules = try MappingRules.parse(
            yaml: try Support.read(Support.mapping("beteiligung-to-xdomea.yaml")),
            file: "mappings/beteiligung-to-xdomea.yaml")
        let xslt = MappingRulesCompiler.xslt(for: rules)
        XCTAssertTrue(
            xslt.contains(
                "Generated by Stadtbus from mappings/beteiligung-to-xdomea.yaml (mapping beteiligung-initiieren-to-xdomea-sgo-erstellen)"
            ),
            xslt)
    }
}
