/// `set-header: {NAME: TEMPLATE, …}` — sets outgoing transport headers (see ``Template``).
public struct SetHeaderStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    /// Header name and template, in config order.
    public let assignments: [(name: String, value: Template)]

    public init(assignments: [(name: String, value: Template)]) {
        self.assignments = assignments
    }

    public var name: String { "set-header" }
    public var label: String { "set-header " + assignments.map(\.name).joined(separator: ", ") }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        for (name, template) in assignments { exchange.headers[name] = try template.render(exchange) }
        return .proceed
    }
}

/// `filter: CONDITION` — lets through only messages that match; the others end `.filtered`.
public struct FilterStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let condition: Condition

    public init(condition: Condition) {
        self.condition = condition
    }

    public var name: String { "filter" }
    public var label: String { "filter \(condition)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        return try condition.evaluate(exchange.conditionContext)
            ? .proceed : .drop(reason: "filter did not match: \(condition)")
    }
}
