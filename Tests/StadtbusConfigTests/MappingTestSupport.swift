import Foundation
import StadtbusConfig
import StadtbusXML
import XCTest

/// Paths and helpers shared by the mapping tests.
enum MappingTestSupport {
    /// The package root (…/Tests/StadtbusConfigTests/ is two levels below it).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `shared/` with the real XÖV material: `$STADTBUS_SHARED`, else `../shared`.
    static let sharedRoot: URL = {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    static func shared(_ relative: String) -> String { sharedRoot.appendingPathComponent(relative).path }

    static func mapping(_ name: String) -> String { packageRoot.appendingPathComponent("mappings/\(name)").path }

    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/StadtbusConfigTests/Fixtures/mapping/\(name)").path
    }

    static func read(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    static func document(at path: String) throws -> XMLDocument {
        try XMLDocument(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// Parses rules given inline; the file name in errors is `file`.
    static func rules(_ yaml: String, file: String = "test.yaml") throws -> MappingRules {
        do {
            return try MappingRules.parse(yaml: yaml, file: file)
        } catch {
            XCTFail("unexpected rule errors:\n\(error)")
            throw error
        }
    }

    /// The errors `yaml` produces (empty when it parses).
    static func errors(_ yaml: String, file: String = "broken.yaml") -> [String] {
        do {
            _ = try MappingRules.parse(yaml: yaml, file: file)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    /// Compiles `yaml` and transforms `xml` with it, returning the serialised result.
    static func run(_ yaml: String, on xml: String, parameters: [String: String] = [:]) throws -> String {
        let stylesheet = try rules(yaml).compile()
        return try stylesheet.transform(try XMLDocument(parsing: xml), parameters: parameters).serializedString()
    }
}
