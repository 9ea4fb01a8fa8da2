internal import CLibXML
internal import CXMLShim
import Foundation

/// Namespace prefixes available to XPath expressions: prefix → namespace URI.
public typealias XMLNamespaces = [String: String]

/// The result of evaluating an XPath expression.
public enum XPathValue: Equatable, Sendable {
    /// A node-set, given as the string values of its nodes in document order.
    case nodes([String])
    case string(String)
    case number(Double)
    case boolean(Bool)

    /// The XPath string value: the first node's text for node-sets, as `string()` does.
    public var stringValue: String {
        switch self {
        case .nodes(let nodes): return nodes.first ?? ""
        case .string(let value): return value
        case .number(let value):
            if value.isNaN { return "NaN" }
            if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
            return String(value)
        case .boolean(let value): return value ? "true" : "false"
        }
    }

    /// The XPath boolean value: a non-empty node-set, a non-empty string or a non-zero number is true.
    public var booleanValue: Bool {
        switch self {
        case .nodes(let nodes): return !nodes.isEmpty
        case .string(let value): return !value.isEmpty
        case .number(let value): return value != 0 && !value.isNaN
        case .boolean(let value): return value
        }
    }
}

/// An XPath 1.0 expression compiled once, evaluated many times from any thread.
///
/// `@unchecked Sendable` because it wraps a C pointer: the compiled `xmlXPathCompExpr` is
/// never changed after `init` (libxml2 only reads it in `xmlXPathCompiledEval`) and every
/// evaluation has its own `xmlXPathContext`. The pointer is private and freed only in `deinit`.
public final class XPathExpression: @unchecked Sendable {
    private let compiled: xmlXPathCompExprPtr
    /// The expression's source text.
    public let expression: String
    /// The prefixes the expression may use.
    public let namespaces: XMLNamespaces

    /// Compiles `expression`; prefixes it uses must be in `namespaces`.
    /// - Throws: ``XMLError/invalidXPath(expression:message:)``.
    public init(_ expression: String, namespaces: XMLNamespaces = [:]) throws {
        XMLLibrary.initialize()
        let errors = StructuredErrors()
        let compiled: xmlXPathCompExprPtr? = errors.capturingGlobal { xmlXPathCompile(expression) }
        guard let compiled else {
            throw XMLError.invalidXPath(expression: expression, message: errors.summary(default: "syntax error"))
        }
        self.compiled = compiled
        self.expression = expression
        self.namespaces = namespaces
    }

    deinit {
        xmlXPathFreeCompExpr(compiled)
    }

    /// Evaluates the expression with `document`'s root element as the context node.
    public func evaluate(in document: XMLDocument) throws -> XPathValue {
        try XPathEvaluator(document: document, namespaces: namespaces).evaluate(self)
    }

    /// Evaluates in an existing context (its namespaces must cover this expression's prefixes).
    func evaluate(in context: xmlXPathContextPtr) throws -> XPathValue {
        context.pointee.node = xmlDocGetRootElement(context.pointee.doc)
        let errors = StructuredErrors()
        let result: xmlXPathObjectPtr? = errors.capturingGlobal { xmlXPathCompiledEval(compiled, context) }
        guard let result else {
            throw XMLError.xpathEvaluationFailed(
                expression: expression, message: errors.summary(default: "evaluation error"))
        }
        defer { xmlXPathFreeObject(result) }
        return Self.value(of: result)
    }

    private static func value(of object: xmlXPathObjectPtr) -> XPathValue {
        switch object.pointee.type {
        case XPATH_NODESET:
            guard let set = object.pointee.nodesetval, set.pointee.nodeNr > 0, let nodes = set.pointee.nodeTab else {
                return .nodes([])
            }
            return .nodes(
                (0..<Int(set.pointee.nodeNr)).map { index in
                    guard let node = nodes[index], let content = xmlNodeGetContent(node) else { return "" }
                    defer { libxmlFree(content) }
                    return String(cString: content)
                })
        case XPATH_BOOLEAN:
            return .boolean(object.pointee.boolval != 0)
        case XPATH_NUMBER:
            return .number(object.pointee.floatval)
        case XPATH_STRING:
            return .string(object.pointee.stringval.map { String(cString: $0) } ?? "")
        default:
            return .nodes([])
        }
    }
}

/// Evaluates several expressions on one document with one XPath context, for callers that
/// read many fields (header extraction, conditions): the context and its namespace
/// registrations are set up once instead of per expression.
public final class XPathEvaluator {
    private let context: xmlXPathContextPtr
    // Keeps the document alive while the context points into it.
    private let document: XMLDocument

    /// Creates a context on `document` with `namespaces` registered.
    public init(document: XMLDocument, namespaces: XMLNamespaces) throws {
        guard let context = xmlXPathNewContext(document.pointer) else {
            throw XMLError.xpathEvaluationFailed(expression: "", message: "out of memory creating an XPath context")
        }
        for (prefix, uri) in namespaces {
            xmlXPathRegisterNs(context, prefix, uri)
        }
        self.context = context
        self.document = document
    }

    deinit {
        xmlXPathFreeContext(context)
    }

    /// Evaluates `expression` with the document's root element as the context node.
    public func evaluate(_ expression: XPathExpression) throws -> XPathValue {
        try expression.evaluate(in: context)
    }

    /// The trimmed string value of `expression`, or `nil` when it selects nothing or only whitespace.
    public func string(_ expression: XPathExpression) throws -> String? {
        let value = try evaluate(expression)
        if case .nodes(let nodes) = value, nodes.isEmpty { return nil }
        let text = value.stringValue.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

extension XMLDocument {
    /// Evaluates `expression` (compiled for this call) with `namespaces`.
    public func evaluate(_ expression: String, namespaces: XMLNamespaces = [:]) throws -> XPathValue {
        try XPathExpression(expression, namespaces: namespaces).evaluate(in: self)
    }

    /// The string value of `expression`, or `nil` when it selects nothing or only empty text.
    public func string(_ expression: XPathExpression) throws -> String? {
        try XPathEvaluator(document: self, namespaces: expression.namespaces).string(expression)
    }
}
