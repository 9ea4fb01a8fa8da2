import StadtbusXML
import Yams

/// A declarative mapping from one XML message type to another, parsed from YAML.
///
/// Mapping rules are compiled to an XSLT 1.0 stylesheet at configuration load, so libxslt
/// is the only engine that ever runs a mapping (see ``MappingRulesCompiler``). Parse them
/// with ``parse(yaml:file:)`` or, when a route embeds them under a `map:` step,
/// ``parse(node:file:)``; then ``compile()`` them once and share the stylesheet.
public struct MappingRules: Sendable, Equatable {
    /// The mapping's name (`mapping:`), used in messages and the stylesheet header.
    public var name: String
    /// The file the rules came from (for messages and the stylesheet header).
    public var file: String
    /// Optional description (`description:`), copied into the stylesheet header.
    public var description: String?
    /// Prefixes the source XPath expressions may use: prefix → namespace URI.
    public var sourceNamespaces: [Namespace]
    /// Accepted source root elements (`source.root`, qualified names); empty accepts any.
    public var sourceRoots: [String]
    /// The target document's root element (`target.root`, a qualified name).
    public var targetRoot: String
    /// Prefixes the target paths may use: prefix → namespace URI.
    public var targetNamespaces: [Namespace]
    /// Top-level `xsl:param`s the engine may pass in, with their defaults.
    public var params: [Param]
    /// Code-list translations, by name.
    public var valueMaps: [ValueMap]
    /// The fields that build the target document, in document order.
    public var fields: [Field]

    /// A namespace binding.
    public struct Namespace: Sendable, Equatable {
        public var prefix: String
        public var uri: String
    }

    /// A stylesheet parameter (`$name` in XPath expressions).
    public struct Param: Sendable, Equatable {
        public var name: String
        /// The value used when the engine passes none (empty string when not given).
        public var defaultValue: String
    }

    /// A named translation table from source codes to target values.
    public struct ValueMap: Sendable, Equatable {
        public var name: String
        /// Entries in file order: source code → target value.
        public var entries: [(key: String, value: String)]
        /// The value for codes without an entry; `nil` makes such a code stop the mapping.
        public var defaultValue: String?

        public static func == (lhs: ValueMap, rhs: ValueMap) -> Bool {
            lhs.name == rhs.name && lhs.defaultValue == rhs.defaultValue
                && lhs.entries.map(\.key) == rhs.entries.map(\.key)
                && lhs.entries.map(\.value) == rhs.entries.map(\.value)
        }
    }

    /// One step of a target path: an element or (last step only) an attribute.
    public struct PathStep: Sendable, Equatable, CustomStringConvertible {
        /// The qualified name as written (`xdomea:ID`, `code`).
        public var name: String
        public var isAttribute: Bool

        public var description: String { isAttribute ? "@" + name : name }
    }

    /// Where a field's text comes from.
    public enum Value: Sendable, Equatable {
        /// A constant string (`value:`).
        case constant(String)
        /// XPath expressions (`from:`); the first one with a non-empty string value wins.
        case xpath([String])
        /// No text: a group of nested `fields`, repeated by `for-each` or not.
        case none
    }

    /// One field: creates the element or attribute at `target`.
    public struct Field: Sendable, Equatable {
        /// The target path, relative to the enclosing field's element (or the root).
        public var target: [PathStep]
        /// The field's text.
        public var value: Value
        /// A value map the text is translated through (`map:`).
        public var map: String?
        /// An XPath condition (`when:`): the field is created only where it is true.
        public var when: String?
        /// When true, an empty source value stops the mapping with a message (`required:`).
        public var required: Bool
        /// An XPath selecting the items to repeat the target's last element for (`for-each:`).
        public var forEach: String?
        /// Nested fields, relative to the target's last element (and to the `for-each` item).
        public var fields: [Field]
        /// Where the field is written, for messages.
        public var line: Int
        public var column: Int
    }

    /// The target path as written, for messages and comments.
    static func pathText(_ steps: [PathStep]) -> String {
        steps.map(\.description).joined(separator: "/")
    }
}

extension MappingRules {
    /// Parses mapping rules from YAML text.
    ///
    /// - Parameter file: the file name used in errors and the stylesheet header.
    /// - Throws: ``MappingRuleErrors`` with every problem found, each with file:line:column.
    public static func parse(yaml: String, file: String) throws(MappingRuleErrors) -> MappingRules {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw MappingRuleErrors([MappingRulesParser.yamlError(error, file: file)])
        } catch {
            throw MappingRuleErrors([MappingRuleError(file: file, line: 1, column: 1, message: "YAML error: \(error)")])
        }
        guard let node else {
            throw MappingRuleErrors([
                MappingRuleError(file: file, line: 1, column: 1, message: "the mapping file is empty")
            ])
        }
        return try parse(node: node, file: file)
    }

    /// Parses mapping rules from a YAML node (for rules embedded in a route's `map:` step).
    ///
    /// - Throws: ``MappingRuleErrors`` with every problem found, each with file:line:column.
    public static func parse(node: Node, file: String) throws(MappingRuleErrors) -> MappingRules {
        var parser = MappingRulesParser(file: file)
        let rules = parser.parse(node)
        guard parser.errors.isEmpty, let rules else {
            // In file order (the parser reads sections out of order); stable for one position.
            let sorted = parser.errors.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }.map(\.element)
            throw MappingRuleErrors(sorted.isEmpty ? [parser.makeError(at: node, "invalid mapping rules")] : sorted)
        }
        return rules
    }

    /// Compiles the rules to an XSLT stylesheet (through ``MappingRulesCompiler``).
    ///
    /// - Throws: ``StadtbusXML/XMLError`` if libxslt refuses the generated stylesheet (a bug
    ///   in the compiler, since the rules were checked when parsed).
    public func compile() throws -> XSLTStylesheet {
        try XSLTStylesheet(xml: MappingRulesCompiler.xslt(for: self), name: file)
    }
}
