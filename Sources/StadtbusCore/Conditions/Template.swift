import Foundation
import StadtbusXML

/// A header value template: literal text with placeholders in braces.
///
/// | placeholder | value |
/// |---|---|
/// | `{xpath:EXPR}` | the string value of an XPath on the current document |
/// | `{header.messageID}`, `{header.messageType}`, `{header.messageTypeName}`, `{header.profile}`, `{header.createdAt}`, `{header.author}`, `{header.reader}` | fields of the XÖV header (authorities by `kennung`) |
/// | `{transport.NAME}` | an inbound transport header (empty if absent) |
/// | `{case.NAME}`, `{case.key}`, `{case.route}` | an attribute of the case a preceding `correlate` step found (empty if the case has no such attribute); its key; the route that registered it |
/// | `{route}`, `{attempt}` | the running route, the delivery attempt |
/// | `{derived-uuid}`, `{derived-uuid:NAME}` | a UUID derived from the message identity and the route (or NAME, so that several routes can derive the same one): a new message made from this one (a receipt, a status) gets its own UUID, and the same one again when it is re-sent |
/// | `{now}` | the current time, UTC, ISO 8601 with milliseconds (for `erstellungszeitpunkt`) |
///
/// `{{` and `}}` stand for literal braces.
public struct Template: Sendable, CustomStringConvertible {
    enum Part: Sendable {
        case literal(String)
        case xpath(XPathExpression)
        case header(String)
        case transport(String)
        case caseField(String)
        case route
        case attempt
        /// Derived from the message identity and a name (the route's, when none is given).
        case derivedUUID(String?)
        case now
    }

    /// Why a template does not compile; `offset` is the character offset of the problem.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { message }
    }

    public static let headerFields = [
        "messageID", "messageType", "messageTypeName", "profile", "createdAt", "author", "reader",
    ]

    let parts: [Part]
    public let source: String

    /// Compiles `source`; XPath placeholders use `namespaces`.
    public init(_ source: String, namespaces: XMLNamespaces = [:]) throws {
        self.source = source
        var parts: [Part] = []
        var literal = ""
        let chars = Array(source)
        var index = 0
        while index < chars.count {
            let char = chars[index]
            if char == "{" && index + 1 < chars.count && chars[index + 1] == "{" {
                literal.append("{")
                index += 2
                continue
            }
            if char == "}" && index + 1 < chars.count && chars[index + 1] == "}" {
                literal.append("}")
                index += 2
                continue
            }
            if char == "}" {
                throw ParseError(offset: index, message: "unmatched '}' (write '}}' for a literal brace)")
            }
            guard char == "{" else {
                literal.append(char)
                index += 1
                continue
            }
            // Find the matching close brace (XPath predicates may contain brackets but not braces).
            guard let close = chars[(index + 1)...].firstIndex(of: "}") else {
                throw ParseError(offset: index, message: "unclosed '{' (write '{{' for a literal brace)")
            }
            let body = String(chars[(index + 1)..<close]).trimmingCharacters(in: .whitespaces)
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal = ""
            }
            if body.hasPrefix("xpath:") {
                let expression = String(body.dropFirst(6))
                do {
                    parts.append(.xpath(try XPathExpression(expression, namespaces: namespaces)))
                } catch {
                    throw ParseError(offset: index, message: "\(error)")
                }
            } else if body.hasPrefix("header.") {
                let field = String(body.dropFirst(7))
                guard Self.headerFields.contains(field) else {
                    throw ParseError(
                        offset: index,
                        message:
                            "unknown header field '\(field)' — expected one of \(Self.headerFields.joined(separator: ", "))"
                    )
                }
                parts.append(.header(field))
            } else if body.hasPrefix("transport.") {
                parts.append(.transport(String(body.dropFirst(10))))
            } else if body.hasPrefix("case.") {
                let name = String(body.dropFirst(5))
                guard !name.isEmpty else {
                    throw ParseError(offset: index, message: "'{case.}' needs an attribute name, e.g. {case.art}")
                }
                parts.append(.caseField(name))
            } else if body == "route" {
                parts.append(.route)
            } else if body == "attempt" {
                parts.append(.attempt)
            } else if body == "derived-uuid" {
                parts.append(.derivedUUID(nil))
            } else if body.hasPrefix("derived-uuid:") {
                let name = String(body.dropFirst("derived-uuid:".count))
                guard !name.isEmpty else {
                    throw ParseError(offset: index, message: "'{derived-uuid:}' needs a name, e.g. {derived-uuid:akte}")
                }
                parts.append(.derivedUUID(name))
            } else if body == "now" {
                parts.append(.now)
            } else {
                throw ParseError(
                    offset: index,
                    message:
                        "unknown placeholder '{\(body)}' — expected {xpath:…}, {header.FIELD}, {transport.NAME}, {case.NAME}, "
                        + "{route}, {attempt}, {derived-uuid} or {now}")
            }
            index = close + 1
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    /// Renders the template for `exchange`.
    /// - Throws: ``StepFailure`` when an XPath fails to evaluate.
    public func render(_ exchange: Exchange) throws -> String {
        var result = ""
        for part in parts {
            switch part {
            case .literal(let text): result += text
            case .xpath(let expression):
                do {
                    result += try expression.evaluate(in: exchange.document).stringValue
                } catch {
                    throw StepFailure.permanent("template-failed", "XPath '\(expression.expression)': \(error)")
                }
            case .header(let field): result += Self.value(of: field, in: exchange.header)
            case .transport(let name): result += exchange.message.headers[name] ?? ""
            case .caseField(let name):
                guard let record = exchange.correlatedCase else {
                    throw StepFailure.permanent(
                        "template-failed",
                        "'{case.\(name)}' needs a case: put a 'correlate' step before the step that uses it")
                }
                result += record.value(of: name) ?? ""
            case .route: result += exchange.route
            case .attempt: result += String(exchange.message.attempt)
            case .derivedUUID(let name):
                result += DerivedUUID.make(from: "\(exchange.header.messageID)|\(name ?? exchange.route)")
            case .now: result += Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            }
        }
        return result
    }

    static func value(of field: String, in header: MessageHeader) -> String {
        switch field {
        case "messageID": return header.messageID
        case "messageType": return header.messageType
        case "messageTypeName": return header.messageTypeName ?? ""
        case "profile": return header.profile
        case "createdAt": return header.createdAt ?? ""
        case "author": return header.author?.kennung ?? ""
        case "reader": return header.reader?.kennung ?? ""
        default: return ""
        }
    }

    /// Whether the template reads the correlated case (`{case.…}`).
    public var usesCase: Bool {
        parts.contains {
            if case .caseField = $0 { return true }
            return false
        }
    }

    public var description: String { source }
}
