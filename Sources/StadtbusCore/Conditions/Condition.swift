import StadtbusXML

/// What a condition reads: the header, the transport headers and the document.
public struct ConditionContext {
    public var header: MessageHeader
    public var headers: [String: String]
    /// The parsed document; `nil` when the message was classified from its header alone (then no
    /// condition reads the document: the engine parses it for every route that has an `xpath`).
    public var document: XMLDocument?
    /// The case a `correlate` step found, if any (`case:` conditions read it).
    public var correlatedCase: CaseRecord?

    public init(
        header: MessageHeader, headers: [String: String], document: XMLDocument?, correlatedCase: CaseRecord? = nil
    ) {
        self.header = header
        self.headers = headers
        self.document = document
        self.correlatedCase = correlatedCase
    }
}

/// A value pattern: an exact value, or a prefix when it ends in `*` (`ags:01061*`).
public struct ValuePattern: Sendable, Equatable, CustomStringConvertible {
    public var text: String

    public init(_ text: String) { self.text = text }

    public func matches(_ value: String?) -> Bool {
        guard let value else { return false }
        if text.hasSuffix("*") { return value.hasPrefix(text.dropLast()) }
        return value == text
    }

    public var description: String { text }
}

/// A route's `when`, a `choice` branch or a `filter`: a pure predicate on the message.
/// Fields listed together must all hold; a list of values matches any of them.
public indirect enum Condition: Sendable, CustomStringConvertible {
    case always
    /// `message-type`: the header's type code (`0401`).
    case messageType([ValuePattern])
    /// `message-type-name`: the header's type name (`kommunal.Initiieren.0401`).
    case messageTypeName([ValuePattern])
    /// `profile`: the header profile that read the message (`xoev-g2g`, `xdomea`, …).
    case profile([ValuePattern])
    /// `author`: the author's `kennung`.
    case author([ValuePattern])
    /// `reader`: the reader's `kennung`.
    case reader([ValuePattern])
    /// `header: {name: value}`: a transport header.
    case transportHeader(name: String, values: [ValuePattern])
    /// `case: {name: value}`: an attribute (or `key`, `route`) of the case a `correlate` step
    /// found; false when no case was correlated.
    case caseAttribute(name: String, values: [ValuePattern])
    /// `xpath`: an XPath on the body, true by XPath's boolean() rules.
    case xpath(XPathExpression)
    case all([Condition])
    case any([Condition])
    case not(Condition)

    /// Evaluates the condition.
    /// - Throws: ``StepFailure`` (permanent, `condition-failed`) when an XPath fails to evaluate.
    public func evaluate(_ context: ConditionContext) throws -> Bool {
        switch self {
        case .always: return true
        case .messageType(let patterns): return patterns.contains { $0.matches(context.header.messageType) }
        case .messageTypeName(let patterns): return patterns.contains { $0.matches(context.header.messageTypeName) }
        case .profile(let patterns): return patterns.contains { $0.matches(context.header.profile) }
        case .author(let patterns): return patterns.contains { $0.matches(context.header.author?.kennung) }
        case .reader(let patterns): return patterns.contains { $0.matches(context.header.reader?.kennung) }
        case .transportHeader(let name, let patterns):
            return patterns.contains { $0.matches(context.headers[name]) }
        case .caseAttribute(let name, let patterns):
            return patterns.contains { $0.matches(context.correlatedCase?.value(of: name)) }
        case .xpath(let expression):
            guard let document = context.document else {
                throw StepFailure.permanent(
                    "condition-failed", "XPath '\(expression.expression)': the document was not parsed")
            }
            do {
                return try expression.evaluate(in: document).booleanValue
            } catch {
                throw StepFailure.permanent("condition-failed", "XPath '\(expression.expression)': \(error)")
            }
        case .all(let conditions):
            for condition in conditions where try !condition.evaluate(context) { return false }
            return true
        case .any(let conditions):
            for condition in conditions where try condition.evaluate(context) { return true }
            return false
        case .not(let condition): return try !condition.evaluate(context)
        }
    }

    /// Whether evaluating the condition reads the document (an `xpath` somewhere in it).
    public var readsDocument: Bool {
        switch self {
        case .xpath: return true
        case .all(let conditions), .any(let conditions): return conditions.contains { $0.readsDocument }
        case .not(let condition): return condition.readsDocument
        case .always, .messageType, .messageTypeName, .profile, .author, .reader, .transportHeader, .caseAttribute:
            return false
        }
    }

    public var description: String {
        func list(_ patterns: [ValuePattern]) -> String {
            patterns.count == 1 ? "'\(patterns[0])'" : "[" + patterns.map { "'\($0)'" }.joined(separator: ", ") + "]"
        }
        switch self {
        case .always: return "always"
        case .messageType(let p): return "message-type \(list(p))"
        case .messageTypeName(let p): return "message-type-name \(list(p))"
        case .profile(let p): return "profile \(list(p))"
        case .author(let p): return "author \(list(p))"
        case .reader(let p): return "reader \(list(p))"
        case .transportHeader(let name, let p): return "header \(name) \(list(p))"
        case .caseAttribute(let name, let p): return "case \(name) \(list(p))"
        case .xpath(let e): return "xpath \(e.expression)"
        case .all(let c): return c.map(\.description).joined(separator: " and ")
        case .any(let c): return "any(" + c.map(\.description).joined(separator: " or ") + ")"
        case .not(let c): return "not(\(c))"
        }
    }
}
