import StadtbusXML

/// One content check of a `require` step.
public struct Requirement: Sendable {
    /// Evaluated by XPath's `boolean()` rules; true means the requirement holds.
    public let xpath: XPathExpression
    /// What a human reads when it does not (`BT-1 invoice number missing`).
    public let message: String

    public init(xpath: XPathExpression, message: String) {
        self.xpath = xpath
        self.message = message
    }
}

/// `require: [{xpath: EXPR, message: TEXT}, …]` — content checks for documents without an
/// XSD (XRechnung has none here). Every requirement is evaluated; if any fails the step fails
/// permanently with code `requirement-failed` and a reason listing every failed message.
public struct RequireStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let requirements: [Requirement]

    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    public var name: String { "require" }
    public var label: String { "require \(requirements.count) check\(requirements.count == 1 ? "" : "s")" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        var failed: [String] = []
        for requirement in requirements {
            do {
                if try !requirement.xpath.evaluate(in: exchange.document).booleanValue {
                    failed.append(requirement.message)
                }
            } catch {
                failed.append("\(requirement.message) (XPath '\(requirement.xpath.expression)' failed: \(error))")
            }
        }
        guard failed.isEmpty else {
            throw StepFailure.permanent(
                "requirement-failed",
                "\(failed.count) of \(requirements.count) requirements failed: " + failed.joined(separator: "; "))
        }
        return .proceed
    }
}
