internal import CLibXML
import Foundation
import Synchronization

/// One problem the schema validator found, with the line in the message.
public struct ValidationIssue: Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// An XSD schema compiled once and shared by all workers.
///
/// Imports and includes are resolved through ``XMLCatalogs`` and never fetched from the
/// network. Schemas are trusted input: their internal DTD subsets (the W3C xmldsig schema
/// has one) are allowed, unlike in messages.
///
/// `@unchecked Sendable` because it wraps a C pointer: the compiled `xmlSchema` is never
/// changed after `init` (libxml2 only reads it while validating) and every validation makes
/// its own `xmlSchemaValidCtxt`, which is how libxml2 supports validating against one schema
/// from several threads at once. The pointer is private and freed only in `deinit`.
public final class XMLSchema: @unchecked Sendable {
    private let schema: xmlSchemaPtr
    /// The file the schema was compiled from.
    public let path: String

    /// Loads and compiles the schema at `path`.
    /// - Throws: ``XMLError/schemaCompilationFailed(path:messages:)`` with libxml2's reasons.
    public init(path: String) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.isReadableFile(atPath: absolute) else {
            throw XMLError.schemaCompilationFailed(path: absolute, messages: ["file not found or not readable"])
        }
        let errors = StructuredErrors()
        // Schema compilation reads imports through the global entity loader; serialise it.
        let compiled: xmlSchemaPtr? = XMLLibrary.withGlobalLock {
            guard let parser = xmlSchemaNewParserCtxt(absolute) else { return nil }
            defer { xmlSchemaFreeParserCtxt(parser) }
            xmlSchemaSetParserStructuredErrors(parser, StructuredErrors.handler, errors.context)
            return errors.capturingGlobal { xmlSchemaParse(parser) }
        }
        guard let compiled else {
            let messages = errors.entries.map { entry -> String in
                let file = entry.file.map { "\($0):\(entry.line): " } ?? ""
                return file + entry.message
            }
            throw XMLError.schemaCompilationFailed(
                path: absolute, messages: messages.isEmpty ? ["unknown error"] : messages)
        }
        self.schema = compiled
        self.path = absolute
    }

    deinit {
        xmlSchemaFree(schema)
    }

    /// Validates `document`; an empty result means it is valid.
    ///
    /// Reports at most 50 issues, each with its line number in the message.
    public func validate(_ document: XMLDocument) -> [ValidationIssue] {
        guard let context = xmlSchemaNewValidCtxt(schema) else {
            return [ValidationIssue(line: 0, message: "out of memory creating a validation context")]
        }
        defer { xmlSchemaFreeValidCtxt(context) }
        let errors = StructuredErrors()
        xmlSchemaSetValidStructuredErrors(context, StructuredErrors.handler, errors.context)
        let result = withExtendedLifetime(errors) { xmlSchemaValidateDoc(context, document.pointer) }
        if result == 0 { return [] }
        if errors.entries.isEmpty {
            return [ValidationIssue(line: 0, message: "validation failed (libxml2 code \(result))")]
        }
        return errors.entries.map { ValidationIssue(line: $0.line, message: $0.message) }
    }
}

/// Compiled schemas by file path: each schema is compiled once, on first use or at
/// configuration load, and then shared.
public final class XMLSchemaCache: Sendable {
    private let schemas = Mutex<[String: XMLSchema]>([:])

    public init() {}

    /// The compiled schema for `path`, compiling it on first request.
    public func schema(at path: String) throws -> XMLSchema {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        if let cached = schemas.withLock({ $0[key] }) { return cached }
        // Compiled outside the lock (it can take a while); a schema compiled meanwhile by
        // another caller wins, so every caller gets the same instance.
        let compiled = try XMLSchema(path: key)
        return schemas.withLock { schemas in
            if let raced = schemas[key] { return raced }
            schemas[key] = compiled
            return compiled
        }
    }

    /// How many schemas are compiled.
    public var count: Int {
        schemas.withLock { $0.count }
    }
}
