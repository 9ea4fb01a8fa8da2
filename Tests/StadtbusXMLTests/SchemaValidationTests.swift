import StadtbusXML
import XCTest

/// Validates every real message in shared/xoev against its real schema; the outcome must
/// match shared/xoev/README.md: all valid except XWasser's monitoring_plan_maximal.xml.
final class SchemaValidationTests: XCTestCase {
    static let cache = XMLSchemaCache()

    override class func setUp() {
        super.setUp()
        // XWasser imports schemas by http(s) URL; its catalog maps them to local copies.
        try? XMLCatalogs.load(SharedMaterial.path("xoev/xwasser-1.0.0/catalog.xml"))
    }

    private func issues(_ message: String, schema: String) throws -> [ValidationIssue] {
        let compiled = try Self.cache.schema(at: SharedMaterial.path(schema))
        return compiled.validate(try XMLDocument(parsing: try SharedMaterial.bytes(message)))
    }

    func testXBeteiligungExamplesValidate() throws {
        for file in try SharedMaterial.files(in: "xoev/xbeteiligung-1.2/examples") {
            XCTAssertEqual(try issues(file, schema: "xoev/xbeteiligung-1.2/schemas/xbeteiligung.xsd"), [], file)
        }
    }

    func testXdomeaExamplesValidate() throws {
        let files = try SharedMaterial.files(in: "xoev/xdomea-3.0.0/examples")
        XCTAssertEqual(files.count, 5)
        for file in files {
            XCTAssertEqual(try issues(file, schema: "xoev/xdomea-3.0.0/schemas/xdomea.xsd"), [], file)
        }
    }

    func testXWasserExamplesValidateThroughCatalogExceptMonitoringPlan() throws {
        for file in try SharedMaterial.files(in: "xoev/xwasser-1.0.0/examples") {
            let found = try issues(file, schema: "xoev/xwasser-1.0.0/schemas/xwasser.xsd")
            if file.hasSuffix("monitoring_plan_maximal.xml") {
                // README: an element out of order (line 75) and two code-list versions (lines 95, 112).
                XCTAssertEqual(found.map(\.line), [75, 95, 112], "\(found)")
                XCTAssertTrue(found[1].message.contains("does not match the fixed value constraint '2'"), "\(found)")
                XCTAssertTrue(found[0].message.contains("This element is not expected"), "\(found)")
                XCTAssertTrue(found[1].description.hasPrefix("line 95: "))
            } else {
                XCTAssertEqual(found, [], file)
            }
        }
    }

    func testCatalogMapsRemoteSchemaLocationsToLocalCopies() throws {
        let resolved = XMLCatalogs.resolve("https://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd")
        XCTAssertEqual(resolved.map { URL(string: $0)?.lastPathComponent ?? $0 }, "xmldsig-core-schema.xsd")
    }

    func testSchemaIsCompiledOnceAndShared() throws {
        let path = SharedMaterial.path("xoev/xdomea-3.0.0/schemas/xdomea.xsd")
        let first = try Self.cache.schema(at: path)
        let second = try Self.cache.schema(at: path)
        XCTAssertTrue(first === second)
    }

    func testUnmappedRemoteImportIsRefusedNotFetched() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-xsd-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema = directory.appendingPathComponent("remote.xsd")
        try """
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test" xmlns:o="urn:other">
          <xs:import namespace="urn:other" schemaLocation="http://schemas.example.invalid/other.xsd"/>
          <xs:element name="a" type="o:T"/>
        </xs:schema>
        """.write(to: schema, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try XMLSchema(path: schema.path)) { error in
            guard case XMLError.schemaCompilationFailed(_, let messages) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(messages.joined().contains("other.xsd"), "\(messages)")
        }
    }

    func testMissingSchemaFileIsAClearError() {
        XCTAssertThrowsError(try XMLSchema(path: "/nonexistent/schema.xsd")) { error in
            XCTAssertEqual(
                "\(error)", "schema /nonexistent/schema.xsd does not compile: file not found or not readable")
        }
    }

    func testSharedSchemaValidatesConcurrently() throws {
        let schema = try Self.cache.schema(at: SharedMaterial.path("xoev/xbeteiligung-1.2/schemas/xbeteiligung.xsd"))
        let bytes = try SharedMaterial.bytes("xoev/xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml")
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            guard let document = try? XMLDocument(parsing: bytes), schema.validate(document).isEmpty else {
                failures.increment()
                return
            }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

/// A lock-protected counter for concurrency tests.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
