import Foundation
import StadtbusCore

extension NodeReader {
    /// Reads `fields` (already checked for unknown keys against the schema) into typed values.
    func settings(_ fields: Fields, schema: SettingsSchema, context: String) -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for field in schema.fields {
            guard let node = fields[field.name] else {
                if field.required {
                    diagnostics.error(fields.node.position, "\(context) is missing '\(field.name)' (\(field.type))")
                } else if let value = field.defaultValue {
                    result[field.name] = value
                }
                continue
            }
            if let value = self.value(node, field.type, "'\(field.name)' of \(context)") { result[field.name] = value }
        }
        for group in schema.exactlyOneOf {
            let present = group.filter { fields.has($0) }
            if present.count != 1 {
                let options = group.map { "'\($0)'" }.joined(separator: " or ")
                let position = present.count > 1 ? fields.keyPosition(present[1]) : fields.node.position
                diagnostics.error(
                    position, "\(context) needs exactly one of \(options)" + (present.count > 1 ? ", not both" : ""))
            }
        }
        for rule in schema.conditional where result[rule.setting]?.string == rule.value {
            let present = rule.exactlyOneOf.filter { fields.has($0) }
            if present.count != 1 {
                let options = rule.exactlyOneOf.map { "'\($0)'" }.joined(separator: " or ")
                let position = present.count > 1 ? fields.keyPosition(present[1]) : fields.keyPosition(rule.setting)
                let needs = rule.exactlyOneOf.count == 1 ? "needs \(options)" : "needs exactly one of \(options)"
                diagnostics.error(
                    position,
                    "\(context) with '\(rule.setting): \(rule.value)' \(needs)"
                        + (present.count > 1 ? ", not both" : ""))
            }
        }
        return result
    }

    func value(_ node: YNode, _ type: SettingsSchema.ValueType, _ what: String) -> ConfigValue? {
        switch type {
        case .string:
            return string(node, what).flatMap { expand($0, at: node) }.map(ConfigValue.string)
        case .int(let range): return int(node, what, in: range).map(ConfigValue.int)
        case .bool: return bool(node, what).map(ConfigValue.bool)
        case .duration: return duration(node, what).map(ConfigValue.duration)
        case .path: return path(node, what, mustExist: true, directory: true).map(ConfigValue.path)
        case .file: return path(node, what, mustExist: true, directory: false).map(ConfigValue.path)
        case .checked(let described, let check):
            guard let text = string(node, what).flatMap({ expand($0, at: node) }) else { return nil }
            if let problem = check(text) {
                diagnostics.error(node.position, "\(what) must be \(described): \(problem)")
                return nil
            }
            return .string(text)
        case .url:
            guard let text = string(node, what).flatMap({ expand($0, at: node) }) else { return nil }
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                diagnostics.error(node.position, "\(what) must be an absolute http(s) URL, found '\(text)'")
                return nil
            }
            return .string(text)
        case .oneOf(let words):
            guard let text = string(node, what) else { return nil }
            guard words.contains(text) else {
                diagnostics.error(
                    node.position,
                    "\(what) must be one of \(words.map { "'\($0)'" }.joined(separator: ", ")), found '\(text)'"
                        + DidYouMean.hint(for: text, in: words))
                return nil
            }
            return .string(text)
        case .list(let element):
            let values = node.listElements.compactMap { value($0, element, what) }
            return .list(values)
        case .stringMap:
            guard case .mapping(let mapping) = node.node else {
                diagnostics.error(node.position, "\(what) must be a mapping of strings, found \(node.kind)")
                return nil
            }
            var map: [String: ConfigValue] = [:]
            for (key, value) in mapping {
                let valueNode = YNode(node: value, file: node.file)
                if let name = key.scalar?.string, let text = string(valueNode, "\(what).\(name)") {
                    map[name] = .string(text)
                }
            }
            return .map(map)
        }
    }
}
