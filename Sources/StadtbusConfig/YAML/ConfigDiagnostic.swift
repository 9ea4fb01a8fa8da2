/// A position in a configuration file (1-based line and column).
public struct SourcePosition: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// One problem in a configuration: where, and what is wrong and what was expected.
public struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: SourcePosition
    public var message: String

    public init(_ position: SourcePosition, _ message: String) {
        self.position = position
        self.message = message
    }

    /// `config/itzehoe.yaml:12:9: unknown step 'valdate' — did you mean 'validate'?`
    public var description: String { "\(position): \(message)" }
}

/// A configuration did not load: every problem found, in file order.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while a configuration loads, so that all errors are reported at once.
final class Diagnostics {
    private(set) var items: [ConfigDiagnostic] = []
    /// Files in the order they were loaded, to sort diagnostics by file then position.
    var fileOrder: [String] = []

    func error(_ position: SourcePosition, _ message: String) {
        let diagnostic = ConfigDiagnostic(position, message)
        if !items.contains(diagnostic) { items.append(diagnostic) }
    }

    var isEmpty: Bool { items.isEmpty }

    var sorted: [ConfigDiagnostic] {
        func rank(_ file: String) -> Int { fileOrder.firstIndex(of: file) ?? Int.max }
        return items.enumerated().sorted { a, b in
            let (ra, rb) = (rank(a.element.position.file), rank(b.element.position.file))
            if ra != rb { return ra < rb }
            if a.element.position != b.element.position { return a.element.position < b.element.position }
            return a.offset < b.offset
        }.map(\.element)
    }
}
