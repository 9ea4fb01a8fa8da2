/// One problem in a mapping-rules file, with the position of the YAML node it concerns.
///
/// The route loader converts these into its own error type; `description` is the
/// conventional `file:line:column: message` form that editors and CI logs understand.
public struct MappingRuleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The rules file (or the route file that embeds the rules).
    public var file: String
    /// 1-based line of the offending YAML node.
    public var line: Int
    /// 1-based column of the offending YAML node.
    public var column: Int
    /// What is wrong and, where possible, how to fix it.
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every problem found in one mapping-rules file (never empty when thrown).
public struct MappingRuleErrors: Error, Equatable, Sendable, CustomStringConvertible {
    /// The problems in file order.
    public var errors: [MappingRuleError]

    public init(_ errors: [MappingRuleError]) {
        self.errors = errors
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
