import StadtbusXML
import XCTest

final class XSLTTests: XCTestCase {
    private func stylesheet(_ body: String, extraNamespaces: String = "") throws -> XSLTStylesheet {
        try XSLTStylesheet(
            xml: """
                <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" \(extraNamespaces)>
                \(body)
                </xsl:stylesheet>
                """, name: "test.xsl")
    }

    func testTransformsWithParameters() throws {
        let xsl = try stylesheet(
            """
            <xsl:param name="eingang"/>
            <xsl:template match="/antrag"><akte eingang="{$eingang}"><xsl:value-of select="name"/></akte></xsl:template>
            """)
        let result = try xsl.transform(
            try XMLDocument(parsing: "<antrag><name>Muster</name></antrag>"),
            parameters: ["eingang": "2026-11-25T10:00:00Z"])
        XCTAssertEqual(try result.evaluate("string(/akte)"), .string("Muster"))
        XCTAssertEqual(try result.evaluate("string(/akte/@eingang)"), .string("2026-11-25T10:00:00Z"))
    }

    func testParametersAreStringsNotExpressions() throws {
        let xsl = try stylesheet(
            #"<xsl:param name="p"/><xsl:template match="/"><r><xsl:value-of select="$p"/></r></xsl:template>"#)
        let hostile = "') or document('/etc/passwd') or ('"
        let result = try xsl.transform(try XMLDocument(parsing: "<a/>"), parameters: ["p": hostile])
        XCTAssertEqual(try result.evaluate("string(/r)"), .string(hostile))
    }

    func testDocumentFunctionCannotReadFiles() throws {
        let xsl = try stylesheet(
            #"<xsl:template match="/"><r><xsl:copy-of select="document('/etc/passwd')"/></r></xsl:template>"#)
        XCTAssertThrowsError(try xsl.transform(try XMLDocument(parsing: "<a/>"))) { error in
            guard case .transformationFailed(_, let message) = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("forbidden") || message.contains("denied"), message)
        }
    }

    func testDocumentFunctionCannotReachTheNetwork() throws {
        let xsl = try stylesheet(
            #"<xsl:template match="/"><r><xsl:copy-of select="document('http://attacker.example.invalid/x.xml')"/></r></xsl:template>"#
        )
        XCTAssertThrowsError(try xsl.transform(try XMLDocument(parsing: "<a/>")))
    }

    func testStylesheetCannotWriteFiles() throws {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-xslt-\(UUID()).xml").path
        let xsl = try stylesheet(
            """
            <xsl:template match="/"><r><exsl:document href="\(target)"><leak/></exsl:document></r></xsl:template>
            """, extraNamespaces: #"xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl""#)
        XCTAssertThrowsError(try xsl.transform(try XMLDocument(parsing: "<a/>")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }

    func testTerminatingMessageBecomesTheErrorText() throws {
        let xsl = try stylesheet(
            #"<xsl:template match="/"><xsl:message terminate="yes">Statuscode 99 ist unbekannt</xsl:message></xsl:template>"#
        )
        XCTAssertThrowsError(try xsl.transform(try XMLDocument(parsing: "<a/>"))) { error in
            XCTAssertTrue("\(error)".contains("Statuscode 99 ist unbekannt"), "\(error)")
        }
    }

    func testCompileErrorsAreReported() {
        XCTAssertThrowsError(try stylesheet(#"<xsl:template match="/"><xsl:value-of select="((("/></xsl:template>"#)) {
            error in
            guard case .stylesheetCompilationFailed(let name, let messages) = error as? XMLError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(name, "test.xsl")
            XCTAssertFalse(messages.isEmpty)
        }
        XCTAssertThrowsError(try XSLTStylesheet(path: "/nonexistent/mapping.xsl")) { error in
            XCTAssertEqual(
                "\(error)", "stylesheet /nonexistent/mapping.xsl does not compile: file not found or not readable")
        }
    }

    func testStylesheetCacheCompilesOnce() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-\(UUID()).xsl")
        try
            #"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><ok/></xsl:template></xsl:stylesheet>"#
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let cache = XSLTStylesheetCache()
        XCTAssertTrue(try cache.stylesheet(at: file.path) === cache.stylesheet(at: file.path))
    }

    func testSharedStylesheetTransformsConcurrently() throws {
        let xsl = try stylesheet(
            #"<xsl:param name="n"/><xsl:template match="/a"><b n="{$n}"><xsl:value-of select="."/></b></xsl:template>"#)
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            guard let input = try? XMLDocument(parsing: "<a>\(index)</a>"),
                let output = try? xsl.transform(input, parameters: ["n": "\(index)"]),
                (try? output.evaluate("string(/b/@n)")) == .string("\(index)")
            else { return failures.increment() }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

/// Issue 12 item 10: a DOCTYPE entity in a configured stylesheet (or schema) must not read a
/// local file at load time; the stylesheet is refused with a clear reason.
final class ConfiguredXMLEntityTests: XCTestCase {
    private var directory: URL!
    /// A file only this test knows, standing in for /etc/hostname or a key file.
    private var secret: URL!
    private let secretText = "SECRET-\(UUID().uuidString)"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-entity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        secret = directory.appendingPathComponent("secret.txt")
        try Data(secretText.utf8).write(to: secret)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let file = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file.path
    }

    func testStylesheetWithADoctypeEntityIsRefusedAndReadsNothing() throws {
        for target in ["file:///etc/hostname", secret.absoluteString] {
            let path = try write(
                "entity.xsl",
                """
                <?xml version="1.0"?>
                <!DOCTYPE x [<!ENTITY e SYSTEM "\(target)">]>
                <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
                  <xsl:template match="/"><out>&e;</out></xsl:template>
                </xsl:stylesheet>
                """)
            XCTAssertThrowsError(try XSLTStylesheet(path: path)) { error in
                let reason = "\(error)"
                XCTAssertTrue(reason.contains("DOCTYPE declarations are not allowed in stylesheets"), reason)
                XCTAssertTrue(reason.contains(path), reason)
                XCTAssertFalse(reason.contains(self.secretText), reason)
            }
        }
    }

    func testImportedStylesheetWithADoctypeIsRefused() throws {
        _ = try write(
            "imported.xsl",
            """
            <!DOCTYPE x [<!ENTITY e SYSTEM "\(secret.absoluteString)">]>
            <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
              <xsl:template name="leak"><leak>&e;</leak></xsl:template>
            </xsl:stylesheet>
            """)
        let path = try write(
            "main.xsl",
            """
            <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
              <xsl:import href="imported.xsl"/>
              <xsl:template match="/"><out><xsl:call-template name="leak"/></out></xsl:template>
            </xsl:stylesheet>
            """)
        XCTAssertThrowsError(try XSLTStylesheet(path: path)) { error in
            let reason = "\(error)"
            XCTAssertTrue(reason.contains("DOCTYPE declarations are not allowed in stylesheets"), reason)
            XCTAssertFalse(reason.contains(self.secretText), reason)
        }
    }

    func testInMemoryStylesheetWithADoctypeIsRefused() {
        let xml = """
            <!DOCTYPE x [<!ENTITY e SYSTEM "\(secret.absoluteString)">]>
            <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
              <xsl:template match="/"><out>&e;</out></xsl:template>
            </xsl:stylesheet>
            """
        XCTAssertThrowsError(try XSLTStylesheet(xml: xml, name: "generated")) { error in
            XCTAssertTrue("\(error)".contains("DOCTYPE"), "\(error)")
        }
    }

    /// Schemas may keep their internal DTD subset (the W3C xmldsig schema has one), but an
    /// external entity is never read: the value from the file never becomes part of the schema.
    func testSchemaExternalEntityIsNotRead() throws {
        let path = try write(
            "entity.xsd",
            """
            <?xml version="1.0"?>
            <!DOCTYPE xs:schema [<!ENTITY e SYSTEM "\(secret.absoluteString)">]>
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
              <xs:element name="v">
                <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value="&e;"/></xs:restriction></xs:simpleType>
              </xs:element>
            </xs:schema>
            """)
        do {
            // Had the entity been read, the file's content would be the one valid value.
            let schema = try XMLSchema(path: path)
            XCTAssertFalse(schema.validate(try XMLDocument(parsing: "<v>\(secretText)</v>")).isEmpty)
        } catch {
            XCTAssertFalse("\(error)".contains(secretText), "\(error)")
        }
        // The catalog-free loader still loads ordinary schema documents.
        let plain = try write(
            "plain.xsd", #"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="v"/></xs:schema>"#)
        XCTAssertNoThrow(try XMLSchema(path: plain))
    }
}
