/// A configuration value handed to adapters and custom steps, already checked against a
/// ``SettingsSchema`` (so adapters do not need to know YAML).
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case duration(Duration)
    /// A file or directory path, made absolute at load time.
    case path(String)
    case list([ConfigValue])
    case map([String: ConfigValue])

    public var string: String? {
        switch self {
        case .string(let value), .path(let value): return value
        default: return nil
        }
    }

    public var int: Int? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var duration: Duration? {
        if case .duration(let value) = self { return value }
        return nil
    }

    public var description: String {
        switch self {
        case .string(let value), .path(let value): return value
        case .int(let value): return String(value)
        case .bool(let value): return String(value)
        case .duration(let value): return value.description
        case .list(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .map(let values):
            return "{" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                + "}"
        }
    }
}

/// A small declarative schema for adapter and custom-step settings, so that `stadtbus check`
/// reports wrong settings with the same file:line:column errors as the rest of the config.
public struct SettingsSchema: Sendable {
    /// The type of one setting.
    public indirect enum ValueType: Sendable, CustomStringConvertible {
        case string
        case int(ClosedRange<Int>)
        case bool
        /// `500ms`, `2s`, `5m`, `1h`, `14d`.
        case duration
        /// A directory path, relative to the config file that names it (must exist).
        case path
        /// A file path, relative to the config file that names it (must exist).
        case file
        /// An absolute http(s) URL.
        case url
        /// One of the given words.
        case oneOf([String])
        case list(ValueType)
        /// A string → string map (e.g. static headers).
        case stringMap
        /// A string that `check` accepts (returns `nil`) or refuses with a message such as
        /// "must be HOST:PORT, found 'x'"; `described` is the expected form for messages.
        case checked(_ described: String, _ check: @Sendable (String) -> String?)

        public var description: String {
            switch self {
            case .string: return "a string"
            case .int(let range): return "an integer in \(range.lowerBound)...\(range.upperBound)"
            case .bool: return "true or false"
            case .duration: return "a duration like 500ms, 30s, 5m"
            case .path: return "a directory path"
            case .file: return "a file path"
            case .url: return "an http(s) URL"
            case .oneOf(let words): return "one of " + words.map { "'\($0)'" }.joined(separator: ", ")
            case .list(let element): return "a list of \(element)"
            case .stringMap: return "a mapping of strings"
            case .checked(let described, _): return described
            }
        }
    }

    /// One setting.
    public struct Field: Sendable {
        public var name: String
        public var type: ValueType
        public var required: Bool
        public var defaultValue: ConfigValue?
        public var help: String

        public init(
            _ name: String, _ type: ValueType, required: Bool = false, default defaultValue: ConfigValue? = nil,
            help: String = ""
        ) {
            self.name = name
            self.type = type
            self.required = required
            self.defaultValue = defaultValue
            self.help = help
        }
    }

    /// A requirement that holds only when another setting has a given value, e.g. "with
    /// `auth: bearer`, exactly one of `token-file` or `token-env`".
    public struct Conditional: Sendable {
        /// The setting whose value (given or default) decides whether the rule applies.
        public var setting: String
        public var value: String
        /// Exactly one of these must then be present.
        public var exactlyOneOf: [String]

        public init(when setting: String, is value: String, exactlyOneOf: [String]) {
            self.setting = setting
            self.value = value
            self.exactlyOneOf = exactlyOneOf
        }
    }

    public var fields: [Field]
    /// Groups of which exactly one setting must be present (e.g. `queue` or `exchange`).
    public var exactlyOneOf: [[String]]
    /// Requirements that depend on another setting's value.
    public var conditional: [Conditional]

    public init(_ fields: [Field], exactlyOneOf: [[String]] = [], conditional: [Conditional] = []) {
        self.fields = fields
        self.exactlyOneOf = exactlyOneOf
        self.conditional = conditional
    }

    public func field(named name: String) -> Field? { fields.first { $0.name == name } }
}
