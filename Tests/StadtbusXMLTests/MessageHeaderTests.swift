import StadtbusXML
import XCTest

/// Header extraction for the three XÖV header shapes in the real material, and refusals.
final class MessageHeaderTests: XCTestCase {
    let extractor: HeaderExtractor = {
        do { return try HeaderExtractor() } catch { fatalError("built-in profiles must compile: \(error)") }
    }()

    private func header(_ file: String) throws -> MessageHeader {
        try extractor.header(of: try XMLDocument(parsing: try SharedMaterial.bytes(file)))
    }

    func testQualifiedG2GHeaderOfXBeteiligung() throws {
        let header = try header("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        XCTAssertEqual(header.profile, "xoev-g2g")
        XCTAssertEqual(header.messageID, "60f6667b-fa45-4bd7-b717-f4d6c65e5edb")
        XCTAssertEqual(header.messageType, "0401")
        XCTAssertEqual(header.messageTypeName, "kommunal.Initiieren.0401")
        XCTAssertEqual(header.createdAt, "2025-02-20T16:41:19.880Z")
        XCTAssertNotNil(header.creationDate)
        XCTAssertEqual(header.author, Authority(kennung: "xyz:0001", directory: "DVDV", name: "behoerde1"))
        XCTAssertEqual(header.reader, Authority(kennung: "xyz:0002", directory: "DVDV", name: "behoerde2"))
        XCTAssertEqual(header.rootElement, "kommunal.Initiieren.0401")
        XCTAssertEqual(header.rootNamespace, "https://www.xleitstelle.de/xbeteiligung/12")
    }

    func testUnqualifiedG2GHeaderOfXWasser() throws {
        let header = try header("xoev/xwasser-1.0.0/examples/quality_report_minimal.xml")
        XCTAssertEqual(header.profile, "xoev-g2g-unqualified")
        XCTAssertEqual(header.messageID, "693c64d6-456f-4d14-abe7-fe9681c74aae")
        XCTAssertEqual(header.messageType, "2010")
        XCTAssertEqual(header.createdAt, "2024-05-28T09:00:00")
        XCTAssertEqual(header.author?.kennung, "psw:01003110")
        XCTAssertEqual(header.author?.name, "Author")
        XCTAssertNil(header.author?.directory, "an empty <code/> is no directory")
        XCTAssertEqual(header.reader?.kennung, "psw:11113110")
    }

    func testXdomeaKopfIdentityIsProzessIDPlusMessageType() throws {
        let header = try header("xoev/xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml")
        XCTAssertEqual(header.profile, "xdomea")
        XCTAssertEqual(header.messageID, "242f44e8-bebf-4503-a086-db252c6a4277/0501")
        XCTAssertEqual(header.messageType, "0501")
        XCTAssertEqual(header.messageTypeName, "Aussonderung.Anbieteverzeichnis.0501")
        XCTAssertEqual(header.author?.kennung, "LATh")
        XCTAssertEqual(header.author?.directory, "AbsBehoerdenkennungPraefixCode")
        XCTAssertEqual(header.author?.name, "AbsXdomeaInstitutionName")
    }

    func testEveryRealXoevMessageHasAHeader() throws {
        for folder in ["xoev/xbeteiligung-1.2/examples", "xoev/xdomea-3.0.0/examples", "xoev/xwasser-1.0.0/examples"] {
            for file in try SharedMaterial.files(in: folder) {
                let header = try header(file)
                XCTAssertFalse(header.messageID.isEmpty, file)
                XCTAssertFalse(header.messageType.isEmpty, file)
            }
        }
    }

    func testXRechnungInvoicesAreRecognisedBySyntax() throws {
        let files = try SharedMaterial.files(in: "xoev/xrechnung-testsuite/examples")
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let header = try header(file)
            if file.hasSuffix("_ubl.xml") {
                XCTAssertEqual(header.profile, "xrechnung-ubl", file)
                XCTAssertEqual(header.messageType, "Invoice", file)
            } else {
                XCTAssertEqual(header.profile, "xrechnung-cii", file)
                XCTAssertEqual(header.messageType, "CrossIndustryInvoice", file)
            }
            XCTAssertTrue(header.messageTypeName?.contains("xrechnung") ?? false, "\(file): \(header)")
        }
    }

    func testMessageWithoutHeaderIsRefusedWithSpecificError() throws {
        let document = try XMLDocument(parsing: "<antrag xmlns=\"urn:example:antrag\"><name>x</name></antrag>")
        XCTAssertThrowsError(try extractor.header(of: document)) { error in
            XCTAssertEqual(error as? HeaderError, .unrecognised(rootElement: "antrag", namespace: "urn:example:antrag"))
            XCTAssertEqual(
                "\(error)",
                "no XÖV header recognised: root element 'antrag' in namespace 'urn:example:antrag' matches no header profile"
            )
        }
    }

    func testWrongNamespaceForHeaderIsNotRecognised() throws {
        // A g2g header in the wrong namespace is not an XÖV header.
        let xml = """
            <m:nachricht xmlns:m="urn:x" xmlns:g="urn:not-g2g"><g:nachrichtenkopf.g2g><g:identifikation.nachricht>
            <g:nachrichtenUUID>1</g:nachrichtenUUID></g:identifikation.nachricht></g:nachrichtenkopf.g2g></m:nachricht>
            """
        XCTAssertThrowsError(try extractor.header(of: try XMLDocument(parsing: xml))) { error in
            guard case .unrecognised = error as? HeaderError else { return XCTFail("\(error)") }
        }
    }

    func testHeaderMissingUUIDNamesTheField() throws {
        let xml = """
            <m:x xmlns:m="urn:x" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1">
            <g2g:nachrichtenkopf.g2g><g2g:identifikation.nachricht><g2g:nachrichtentyp><code>1</code></g2g:nachrichtentyp>
            </g2g:identifikation.nachricht></g2g:nachrichtenkopf.g2g></m:x>
            """
        XCTAssertThrowsError(try extractor.header(of: try XMLDocument(parsing: xml))) { error in
            guard case .missingField(let profile, let field, _) = error as? HeaderError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(profile, "xoev-g2g")
            XCTAssertEqual(field, "identity")
        }
    }

    func testConfiguredProfileExtendsBuiltIns() throws {
        let custom = HeaderProfile(
            name: "fachverfahren", rootNamespaces: ["urn:example:fv"], namespaces: ["fv": "urn:example:fv"],
            detect: "/fv:meldung/fv:kopf", identity: ["/fv:meldung/fv:kopf/fv:id"],
            messageType: "/fv:meldung/fv:kopf/fv:typ",
            author: .init(kennung: "/fv:meldung/fv:kopf/fv:von"))
        let extractor = try HeaderExtractor(profiles: [custom] + HeaderProfile.builtIn)
        let document = try XMLDocument(
            parsing:
                "<meldung xmlns=\"urn:example:fv\"><kopf><id>42</id><typ>A1</typ><von>ags:01061046</von></kopf></meldung>"
        )
        let header = try extractor.header(of: document)
        XCTAssertEqual(header.profile, "fachverfahren")
        XCTAssertEqual(header.messageID, "42")
        XCTAssertEqual(header.author?.kennung, "ags:01061046")
    }

    func testInvalidProfileExpressionIsRejectedAtCompileTime() {
        let broken = HeaderProfile(
            name: "broken", rootNamespaces: [], namespaces: [:], detect: "/a[", identity: ["/a"], messageType: "/a")
        XCTAssertThrowsError(try HeaderExtractor(profiles: [broken])) { error in
            guard case .invalidXPath(let expression, _) = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(expression, "/a[")
        }
    }
}
