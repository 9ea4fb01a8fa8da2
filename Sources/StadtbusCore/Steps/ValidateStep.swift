import StadtbusXML

/// `validate: {schema: NAME}` — XSD validation. An invalid document is a permanent failure
/// whose reason lists the validator's line-numbered messages.
public struct ValidateStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let schemaName: String
    public let schema: XMLSchema
    /// How many validator messages go into the reason (the rest are counted).
    public var maxReportedIssues = 10

    public init(schemaName: String, schema: XMLSchema) {
        self.schemaName = schemaName
        self.schema = schema
    }

    public var name: String { "validate" }
    public var label: String { "validate \(schemaName)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        let issues = schema.validate(exchange.document)
        guard issues.isEmpty else {
            var text = issues.prefix(maxReportedIssues).map(\.description).joined(separator: "; ")
            if issues.count > maxReportedIssues { text += "; … and \(issues.count - maxReportedIssues) more" }
            throw StepFailure.permanent("schema-invalid", "not valid against schema '\(schemaName)': \(text)")
        }
        return .proceed
    }
}
