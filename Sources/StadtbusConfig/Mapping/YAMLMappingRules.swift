import StadtbusXML
import Yams

/// The loader's mapping-rules hook backed by this module's ``MappingRules``: parses the
/// rules (a file or inline under `map: {rules: …}`), compiles them to XSLT once at load
/// time, and reports every rule error as a configuration diagnostic with file:line:column.
public struct YAMLMappingRules: MappingRulesCompiling {
    public init() {}

    public func compile(node: Yams.Node, file: String) throws -> XSLTStylesheet {
        do {
            return try MappingRules.parse(node: node, file: file).compile()
        } catch let errors as MappingRuleErrors {
            throw ConfigurationError(
                diagnostics: errors.errors.map {
                    ConfigDiagnostic(SourcePosition(file: $0.file, line: $0.line, column: $0.column), $0.message)
                })
        }
    }
}
