import Foundation
import StadtbusConfig
import StadtbusXML
import XCTest

/// Issue 12 items 2 and 5: `parse-limits:` sets every limit the intake parses under.
final class ParseLimitsConfigTests: XCTestCase {
    private func load(_ yaml: String) throws -> LoadedConfiguration {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-parse-limits-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try ConfigFixtures.loader().load(path: file.path)
    }

    private let routes = """
        endpoints:
          in: { type: amqp, queue: in }
          out: { type: amqp, queue: out }
        routes:
          - { name: r, from: in, to: out }

        """

    func testDefaultsApplyWithoutTheSection() throws {
        XCTAssertEqual(try load(routes).table.parseLimits, .default)
        XCTAssertEqual(XMLParseLimits.default.maxAttributesPerElement, 256)
        XCTAssertEqual(XMLParseLimits.default.maxNodes, 50_000)
    }

    func testEveryLimitIsConfigurable() throws {
        let loaded = try load(
            routes + """
                parse-limits:
                  max-size: 4MiB
                  max-depth: 64
                  max-attributes-per-element: 32
                  max-attributes: 5000
                  max-nodes: 20000
                  large-document-size: 512KiB
                  large-documents-at-once: 1
                """)
        XCTAssertEqual(
            loaded.table.parseLimits,
            XMLParseLimits(
                maxBytes: 4 << 20, maxDepth: 64, maxAttributesPerElement: 32, maxAttributes: 5000, maxNodes: 20_000,
                largeDocumentBytes: 512 << 10, maxLargeDocumentsAtOnce: 1))
    }
}
