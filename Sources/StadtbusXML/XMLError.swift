/// Why an XML document, schema, stylesheet or expression was refused.
///
/// Every case carries what an operator needs to act: the limit that was hit, or the
/// library's message with line (and column where libxml2 knows it).
public enum XMLError: Error, Equatable, Sendable {
    /// The document is larger than ``XMLParseLimits/maxBytes``.
    case documentTooLarge(bytes: Int, limit: Int)
    /// The document is empty.
    case emptyDocument
    /// The document has a DOCTYPE. Messages may not declare a DTD or entities (XXE and
    /// entity-expansion attacks such as "billion laughs" start there), so parsing stops at it.
    case doctypeForbidden(line: Int)
    /// Elements nest deeper than ``XMLParseLimits/maxDepth``.
    case tooDeeplyNested(limit: Int, line: Int)
    /// One element carries more attributes (namespace declarations included) than
    /// ``XMLParseLimits/maxAttributesPerElement``. Found by the pre-scan, before parsing.
    case tooManyAttributes(element: String, count: Int, limit: Int, line: Int)
    /// The document carries more attributes than ``XMLParseLimits/maxAttributes``; `line` is
    /// where the count passed the limit. Found by the pre-scan, before parsing.
    case tooManyAttributesInDocument(limit: Int, line: Int)
    /// The document has more elements, comments and processing instructions than
    /// ``XMLParseLimits/maxNodes``; `line` is where the count passed the limit. Found by the
    /// pre-scan, before any tree is built.
    case tooManyNodes(limit: Int, line: Int)
    /// The bytes are not well-formed XML (or not valid in their encoding).
    case malformed(message: String, line: Int, column: Int)
    /// The bytes are not valid UTF-8 (or the declared encoding).
    case invalidEncoding(message: String, line: Int, column: Int)
    /// An XPath expression does not compile.
    case invalidXPath(expression: String, message: String)
    /// An XPath expression failed while evaluating (e.g. an unbound namespace prefix).
    case xpathEvaluationFailed(expression: String, message: String)
    /// A schema could not be loaded or compiled.
    case schemaCompilationFailed(path: String, messages: [String])
    /// A stylesheet could not be loaded or compiled.
    case stylesheetCompilationFailed(path: String, messages: [String])
    /// A transformation failed (xsl:message terminate="yes", a forbidden resource access, …).
    case transformationFailed(stylesheet: String, message: String)
    /// An XML catalog could not be loaded.
    case catalogLoadFailed(path: String)
    /// Serialising a document failed.
    case serializationFailed
}

extension XMLError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .documentTooLarge(let bytes, let limit):
            return "document of \(bytes) bytes exceeds the limit of \(limit) bytes"
        case .emptyDocument:
            return "document is empty"
        case .doctypeForbidden(let line):
            return
                "line \(line): DOCTYPE declarations are not allowed in messages (DTDs and entities are refused to prevent XXE and entity-expansion attacks)"
        case .tooDeeplyNested(let limit, let line):
            return "line \(line): elements nest deeper than the limit of \(limit) levels"
        case .tooManyAttributes(let element, let count, let limit, let line):
            return
                "line \(line): element '\(element)' has \(count) attributes, more than the limit of \(limit) per element "
                + "(parse-limits.max-attributes-per-element); refused before parsing"
        case .tooManyAttributesInDocument(let limit, let line):
            return
                "line \(line): the document has more than \(limit) attributes (parse-limits.max-attributes); refused before parsing"
        case .tooManyNodes(let limit, let line):
            return "line \(line): the document has more than \(limit) elements, comments and processing instructions "
                + "(parse-limits.max-nodes); refused before parsing"
        case .malformed(let message, let line, let column):
            return "line \(line), column \(column): not well-formed XML: \(message)"
        case .invalidEncoding(let message, let line, let column):
            return "line \(line), column \(column): invalid character encoding: \(message)"
        case .invalidXPath(let expression, let message):
            return "invalid XPath '\(expression)': \(message)"
        case .xpathEvaluationFailed(let expression, let message):
            return "XPath '\(expression)' failed: \(message)"
        case .schemaCompilationFailed(let path, let messages):
            return "schema \(path) does not compile: \(messages.joined(separator: "; "))"
        case .stylesheetCompilationFailed(let path, let messages):
            return "stylesheet \(path) does not compile: \(messages.joined(separator: "; "))"
        case .transformationFailed(let stylesheet, let message):
            return "transformation with \(stylesheet) failed: \(message)"
        case .catalogLoadFailed(let path):
            return "XML catalog \(path) could not be loaded"
        case .serializationFailed:
            return "document could not be serialised"
        }
    }
}
