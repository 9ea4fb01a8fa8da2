import Foundation

/// `register-case: {key: TEMPLATE, attributes: {NAME: TEMPLATE, …}}` — opens a case that
/// a later answer can be correlated with.
///
/// Pure: the step only renders the key and attributes and collects the ``CaseRecord`` in the
/// ``Exchange``. The engine writes it to the ``CaseRegistry`` after every delivery of the
/// route succeeded and before the message is acked, so a case exists exactly when its
/// message went out. Registering a key again is an upsert.
public struct RegisterCaseStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let key: Template
    /// Attribute name and template, in config order.
    public let attributes: [(name: String, value: Template)]

    public init(key: Template, attributes: [(name: String, value: Template)] = []) {
        self.key = key
        self.attributes = attributes
    }

    public var name: String { "register-case" }
    public var label: String { "register-case \(key)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        let caseKey = try key.render(exchange).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !caseKey.isEmpty else {
            throw StepFailure.permanent(
                "case-key-empty", "the case key '\(key)' rendered empty — nothing to correlate answers with")
        }
        var values: [String: String] = [:]
        for (name, template) in attributes { values[name] = try template.render(exchange) }
        exchange.collect(CaseRecord(key: caseKey, route: exchange.route, attributes: values, registeredAt: Date()))
        return .proceed
    }
}

/// `correlate: {key: TEMPLATE, as: case}` — finds the case registered under the rendered key.
///
/// Found: later `{case.NAME}` templates (also `map` parameters) and `case:` conditions
/// (`filter`, `choice`) read its attributes. Unknown: permanent failure `unknown-case`, so
/// the route's `on-error` dead-letters the message. A registry that cannot be read is a
/// transient failure (`case-registry`).
public struct CorrelateStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let key: Template

    public init(key: Template) {
        self.key = key
    }

    public var name: String { "correlate" }
    public var label: String { "correlate \(key)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        let caseKey = try key.render(exchange).trimmingCharacters(in: .whitespacesAndNewlines)
        if let pending = exchange.pendingCases.last(where: { $0.key == caseKey }) {
            exchange.correlatedCase = pending
            return .proceed
        }
        guard let registry = exchange.caseRegistry else {
            throw StepFailure.permanent("case-registry", "no case registry is configured for this engine")
        }
        let found: CaseRecord?
        do {
            found = caseKey.isEmpty ? nil : try registry.lookup(key: caseKey)
        } catch {
            throw StepFailure.transient("case-registry", "looking up case '\(caseKey)': \(error)")
        }
        guard let found else {
            throw StepFailure.permanent("unknown-case", "unknown case '\(caseKey)' (no route registered it)")
        }
        exchange.correlatedCase = found
        return .proceed
    }
}
