import StadtbusXML

/// `map: {xslt: FILE}` or `map: {rules: …}` — replaces the document with the result of a
/// compiled stylesheet (mapping rules are compiled to XSLT at load time).
public struct MapStep: RouteStep {
    /// Where the stylesheet came from (file path or rules file), for messages.
    public let source: String
    public let stylesheet: XSLTStylesheet
    /// Top-level `xsl:param`s, rendered per message and passed as strings.
    public let parameters: [String: Template]

    public init(source: String, stylesheet: XSLTStylesheet, parameters: [String: Template] = [:]) {
        self.source = source
        self.stylesheet = stylesheet
        self.parameters = parameters
    }

    public var name: String { "map" }
    public var label: String { "map \(source)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        var values: [String: String] = [:]
        for (name, template) in parameters { values[name] = try template.render(exchange) }
        do {
            exchange.document = try stylesheet.transform(exchange.document, parameters: values)
        } catch {
            throw StepFailure.permanent("mapping-failed", "\(error)")
        }
        return .proceed
    }
}
