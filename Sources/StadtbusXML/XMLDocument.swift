internal import CLibXML
internal import CXMLShim
public import Foundation

/// A parsed XML document.
///
/// Parse a message once and reuse the document for header extraction, conditions,
/// validation, mapping and signing. A document belongs to one task at a time (it is not
/// `Sendable`); libxml2 frees it when the last reference goes away.
public final class XMLDocument {
    /// The libxml2 document.
    let pointer: xmlDocPtr

    init(owning pointer: xmlDocPtr) {
        self.pointer = pointer
    }

    /// The libxml2 `xmlDocPtr`, untyped, for the other C façade in this package (the XML
    /// signature module). libxml2's types stay out of every module's interface: importing
    /// them into a module that also sees Foundation's ICU breaks compilation, and no caller
    /// outside the façades should hold a C pointer anyway.
    package var unsafeRawDocument: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    /// Takes ownership of a libxml2 document created by another façade in this package.
    package convenience init(owningUnsafeRawDocument raw: UnsafeMutableRawPointer) {
        self.init(owning: raw.assumingMemoryBound(to: xmlDoc.self))
    }

    deinit {
        xmlFreeDoc(pointer)
    }

    /// Parses an untrusted document (a message from outside) under `limits`.
    ///
    /// No network access, no DTD: a DOCTYPE stops the parser before any entity is declared,
    /// expanded or loaded (XXE, "billion laughs" and quadratic blow-up are refused there).
    /// Before parsing, a linear pre-scan refuses documents with more attributes or nodes than
    /// `limits` allow (libxml2 2.9 checks duplicate attributes in quadratic time).
    /// - Throws: ``XMLError`` naming the limit or the libxml2 message with line and column.
    public convenience init<Bytes: ContiguousBytes>(parsing bytes: Bytes, limits: XMLParseLimits = .default) throws {
        XMLLibrary.initialize()
        let pointer = try bytes.withUnsafeBytes { buffer -> xmlDocPtr in
            guard buffer.count > 0, let base = buffer.baseAddress else { throw XMLError.emptyDocument }
            guard buffer.count <= limits.maxBytes, buffer.count <= Int(Int32.max) else {
                throw XMLError.documentTooLarge(bytes: buffer.count, limit: limits.maxBytes)
            }
            // Attributes and nodes are counted in one linear pass before libxml2 builds anything.
            try XMLPreScan.check(buffer, limits: limits)
            var result = stadtbus_parse_result()
            stadtbus_parse_untrusted(
                base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), Int32(min(limits.maxDepth, 256)), &result
            )
            if let document = result.document { return document }
            throw Self.error(from: &result, limits: limits)
        }
        self.init(owning: pointer)
    }

    /// Parses an untrusted document given as a string (UTF-8).
    public convenience init(parsing string: String, limits: XMLParseLimits = .default) throws {
        try self.init(parsing: Array(string.utf8), limits: limits)
    }

    static func error(from result: inout stadtbus_parse_result, limits: XMLParseLimits) -> XMLError {
        let message = withUnsafeBytes(of: &result.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let line = Int(result.line)
        switch result.refusal {
        case STADTBUS_PARSE_DOCTYPE:
            return .doctypeForbidden(line: line)
        case STADTBUS_PARSE_TOO_DEEP:
            return .tooDeeplyNested(limit: min(limits.maxDepth, 256), line: line)
        default:
            let code = xmlParserErrors(rawValue: UInt32(bitPattern: result.code))
            if code == XML_ERR_INVALID_CHAR || code == XML_ERR_INVALID_ENCODING || code == XML_ERR_UNKNOWN_ENCODING
                || code == XML_ERR_UNSUPPORTED_ENCODING || message.contains("UTF-8") || message.contains("encoding")
            {
                return .invalidEncoding(message: message, line: line, column: Int(result.column))
            }
            if code == XML_ERR_INTERNAL_ERROR, message.lowercased().contains("depth") {
                return .tooDeeplyNested(limit: 256, line: line)
            }
            return .malformed(
                message: message.isEmpty ? "parser error \(result.code)" : message, line: line,
                column: Int(result.column))
        }
    }

    /// The root element's local name, or `nil` for a document without one.
    public var rootName: String? {
        guard let root = xmlDocGetRootElement(pointer) else { return nil }
        return String(cString: root.pointee.name)
    }

    /// The root element's namespace URI, or `nil` when it is in no namespace.
    public var rootNamespace: String? {
        guard let root = xmlDocGetRootElement(pointer), let ns = root.pointee.ns, let href = ns.pointee.href else {
            return nil
        }
        return String(cString: href)
    }

    /// The document serialised as UTF-8 bytes (with an XML declaration, no reformatting,
    /// so signatures over it stay valid).
    public func serialized() throws -> [UInt8] {
        var buffer: UnsafeMutablePointer<xmlChar>?
        var length: Int32 = 0
        xmlDocDumpMemoryEnc(pointer, &buffer, &length, "UTF-8")
        guard let buffer, length >= 0 else { throw XMLError.serializationFailed }
        defer { libxmlFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
    }

    /// The document serialised as a UTF-8 string.
    public func serializedString() throws -> String {
        String(decoding: try serialized(), as: UTF8.self)
    }

    /// A deep copy, for steps that change a document while the original must stay intact.
    public func copy() throws -> XMLDocument {
        guard let copy = xmlCopyDoc(pointer, 1) else { throw XMLError.serializationFailed }
        return XMLDocument(owning: copy)
    }
}
