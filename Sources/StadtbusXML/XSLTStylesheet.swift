internal import CLibXML
internal import CXMLShim
import Foundation
import Synchronization

/// An XSLT 1.0 stylesheet compiled once and shared by all workers.
///
/// Transformations run under libxslt security preferences that forbid a stylesheet to read
/// or write files, create directories or touch the network — `document()` included — so a
/// mapping can only see the message it is given and the parameters passed in.
///
/// `@unchecked Sendable` because it wraps a C pointer: the compiled `xsltStylesheet` is never
/// changed after `init` (libxslt only reads it while transforming) and every transformation
/// makes its own `xsltTransformContext`, which is how libxslt supports applying one stylesheet
/// from several threads at once. The pointer is private and freed only in `deinit`.
public final class XSLTStylesheet: @unchecked Sendable {
    private let stylesheet: xsltStylesheetPtr
    /// Where the stylesheet came from (a file path, or a name for generated stylesheets).
    public let source: String

    /// Loads and compiles the stylesheet at `path`. Its `xsl:import`/`xsl:include` are
    /// resolved locally (through the catalogs, never from the network). Neither it nor an
    /// imported stylesheet may have a DOCTYPE: entities are never substituted and no DTD is
    /// loaded, so a stylesheet cannot read a local file while it is loaded.
    /// - Throws: ``XMLError/stylesheetCompilationFailed(path:messages:)``.
    public convenience init(path: String) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.isReadableFile(atPath: absolute) else {
            throw XMLError.stylesheetCompilationFailed(path: absolute, messages: ["file not found or not readable"])
        }
        try self.init(source: absolute) { xsltParseStylesheetFile(absolute) }
    }

    /// Compiles a stylesheet held in memory (for example one generated from mapping rules).
    /// `name` appears in error messages; `baseURL` resolves relative imports.
    /// A DOCTYPE is refused, as in stylesheet files.
    public convenience init(xml: String, name: String, baseURL: String? = nil) throws {
        if xml.contains("<!DOCTYPE") {
            throw XMLError.stylesheetCompilationFailed(
                path: name,
                messages: [
                    "DOCTYPE declarations are not allowed in stylesheets (a DTD or entity could read local files)"
                ])
        }
        try self.init(source: name) {
            let bytes = Array(xml.utf8)
            let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_BIG_LINES.rawValue)
            guard
                let document = bytes.withUnsafeBufferPointer({ buffer -> xmlDocPtr? in
                    buffer.baseAddress.flatMap { base in
                        base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                            xmlReadMemory($0, Int32(buffer.count), baseURL ?? name, "UTF-8", options)
                        }
                    }
                })
            else { return nil }
            // Generated stylesheets follow the same rule as files: no DTD, no entities.
            if document.pointee.intSubset != nil || document.pointee.extSubset != nil {
                xmlFreeDoc(document)
                return nil
            }
            // On success the stylesheet owns the document; on failure it is ours to free.
            guard let compiled = xsltParseStylesheetDoc(document) else {
                xmlFreeDoc(document)
                return nil
            }
            return compiled
        }
    }

    private init(source: String, compile: () -> xsltStylesheetPtr?) throws {
        var buffer = stadtbus_error_buffer()
        let errors = StructuredErrors()
        // libxslt's compile-time error handler is process-global: compile one at a time.
        let compiled: xsltStylesheetPtr? = XMLLibrary.withGlobalLock {
            stadtbus_error_buffer_reset(&buffer)
            stadtbus_xslt_collect_generic_errors(&buffer)
            stadtbus_xml_collect_generic_errors(&buffer)
            defer {
                stadtbus_xslt_collect_generic_errors(nil)
                stadtbus_xml_collect_generic_errors(nil)
            }
            return errors.capturingGlobal(compile)
        }
        var messages = errors.entries.map { "line \($0.line): \($0.message)" }
        let text = withUnsafeBytes(of: &buffer.text) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        messages += text.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }
        guard let compiled else {
            throw XMLError.stylesheetCompilationFailed(
                path: source, messages: messages.isEmpty ? ["unknown error"] : messages)
        }
        if compiled.pointee.errors > 0 {
            xsltFreeStylesheet(compiled)
            throw XMLError.stylesheetCompilationFailed(
                path: source, messages: messages.isEmpty ? ["compilation errors"] : messages)
        }
        self.stylesheet = compiled
        self.source = source
    }

    deinit {
        xsltFreeStylesheet(stylesheet)
    }

    /// Transforms `document` and returns the result as a new document.
    ///
    /// - Parameter parameters: top-level `xsl:param` values, passed as strings (never
    ///   evaluated as XPath, so a value cannot inject an expression).
    /// - Throws: ``XMLError/transformationFailed(stylesheet:message:)`` with libxslt's message.
    public func transform(_ document: XMLDocument, parameters: [String: String] = [:]) throws -> XMLDocument {
        guard let context = xsltNewTransformContext(stylesheet, document.pointer) else {
            throw XMLError.transformationFailed(stylesheet: source, message: "out of memory")
        }
        defer { xsltFreeTransformContext(context) }
        xsltSetCtxtSecurityPrefs(XSLTSecurity.forbidAll, context)
        var buffer = stadtbus_error_buffer()
        stadtbus_error_buffer_reset(&buffer)
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            xsltQuoteOneUserParam(context, name, value)
        }
        let errors = StructuredErrors()
        let result: xmlDocPtr? = withUnsafeMutablePointer(to: &buffer) { buffer in
            stadtbus_xslt_collect_transform_errors(context, buffer)
            return errors.capturingGlobal {
                xsltApplyStylesheetUser(stylesheet, document.pointer, nil, nil, nil, context)
            }
        }
        let text = withUnsafeBytes(of: &buffer.text) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let failed = context.pointee.state == XSLT_STATE_ERROR || context.pointee.state == XSLT_STATE_STOPPED
        guard let result, !failed else {
            if let result { xmlFreeDoc(result) }
            let message = [text, errors.summary(default: "")].filter { !$0.isEmpty }.joined(separator: "; ")
            throw XMLError.transformationFailed(stylesheet: source, message: message.isEmpty ? "no result" : message)
        }
        guard xmlDocGetRootElement(result) != nil else {
            xmlFreeDoc(result)
            throw XMLError.transformationFailed(stylesheet: source, message: "the result has no root element")
        }
        return XMLDocument(owning: result)
    }
}

/// libxslt security preferences that forbid every file and network access.
enum XSLTSecurity {
    /// `nonisolated(unsafe)`: a C pointer, created once and never changed afterwards; libxslt
    /// only reads the preferences (`xsltSetCtxtSecurityPrefs` stores the pointer in each
    /// transformation's own context), so sharing it between threads is safe.
    nonisolated(unsafe) static let forbidAll: xsltSecurityPrefsPtr = {
        XMLLibrary.initialize()
        guard let prefs = xsltNewSecurityPrefs() else { fatalError("libxslt could not allocate security preferences") }
        for option in [
            XSLT_SECPREF_READ_FILE, XSLT_SECPREF_WRITE_FILE, XSLT_SECPREF_CREATE_DIRECTORY,
            XSLT_SECPREF_READ_NETWORK, XSLT_SECPREF_WRITE_NETWORK,
        ] {
            xsltSetSecurityPrefs(prefs, option, xsltSecurityForbid)
        }
        return prefs
    }()
}

/// Compiled stylesheets by file path: each is compiled once and then shared.
public final class XSLTStylesheetCache: Sendable {
    private let stylesheets = Mutex<[String: XSLTStylesheet]>([:])

    public init() {}

    /// The compiled stylesheet for `path`, compiling it on first request.
    public func stylesheet(at path: String) throws -> XSLTStylesheet {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        if let cached = stylesheets.withLock({ $0[key] }) { return cached }
        // Compiled outside the lock; one compiled meanwhile by another caller wins.
        let compiled = try XSLTStylesheet(path: key)
        return stylesheets.withLock { stylesheets in
            if let raced = stylesheets[key] { return raced }
            stylesheets[key] = compiled
            return compiled
        }
    }
}
