import Foundation
import StadtbusCore
import StadtbusXML

extension LoadSession {
    /// `register-case: {key: TEMPLATE, attributes: {NAME: TEMPLATE, …}}`.
    func registerCaseStep(_ node: YNode?, at nameNode: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        let example = "e.g. 'register-case: { key: \"{header.messageID}\", attributes: { art: antrag } }'"
        guard let node else {
            diagnostics.error(nameNode.position, "'register-case' needs a key, \(example)")
            return nil
        }
        guard let fields = reader.fields(node, "'register-case'", allowed: ["key", "attributes"]),
            let keyNode = reader.require(
                fields, "key", "'register-case'", expected: "a template such as \"{header.messageID}\"")
        else { return nil }
        let key = reader.string(keyNode, "'register-case' key").flatMap {
            template($0, at: keyNode, namespaces: namespaces)
        }
        var attributes: [(name: String, value: Template)] = []
        var ok = key != nil
        if let attributesNode = fields["attributes"] {
            if case .mapping(let mapping) = attributesNode.node {
                for (keyNode, value) in mapping {
                    let nameNode = YNode(node: keyNode, file: attributesNode.file)
                    let valueNode = YNode(node: value, file: attributesNode.file)
                    guard let name = reader.string(nameNode, "a case attribute name") else {
                        ok = false
                        continue
                    }
                    if CaseRecord.reservedNames.contains(name) {
                        diagnostics.error(
                            nameNode.position,
                            "case attribute name '\(name)' is reserved ({case.\(name)} reads the case's own \(name)) — choose another name"
                        )
                        ok = false
                        continue
                    }
                    guard let text = reader.string(valueNode, "case attribute '\(name)'"),
                        let value = template(text, at: valueNode, namespaces: namespaces)
                    else {
                        ok = false
                        continue
                    }
                    attributes.append((name, value))
                }
            } else {
                diagnostics.error(
                    attributesNode.position,
                    "'attributes' of 'register-case' must be a mapping of names to templates, found \(attributesNode.kind)"
                )
                ok = false
            }
        }
        guard ok, let key else { return nil }
        return RegisterCaseStep(key: key, attributes: attributes)
    }

    /// `correlate: {key: TEMPLATE, as: case}`.
    func correlateStep(_ node: YNode?, at nameNode: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        guard let node else {
            diagnostics.error(
                nameNode.position,
                "'correlate' needs a key, e.g. 'correlate: { key: \"{xpath:string(//xdomea:ProzessID)}\", as: case }'")
            return nil
        }
        guard let fields = reader.fields(node, "'correlate'", allowed: ["key", "as"]),
            let keyNode = reader.require(fields, "key", "'correlate'", expected: "a template giving the case key")
        else { return nil }
        if let asNode = fields["as"], let name = reader.string(asNode, "'as' of 'correlate'"), name != "case" {
            diagnostics.error(
                asNode.position,
                "'as' of 'correlate' must be 'case' (templates read it as {case.NAME}), found '\(name)'")
            return nil
        }
        guard let text = reader.string(keyNode, "'correlate' key"),
            let key = template(text, at: keyNode, namespaces: namespaces)
        else {
            return nil
        }
        return CorrelateStep(key: key)
    }

    /// `require: [{xpath: EXPR, message: TEXT}, …]` — every XPath compiled here.
    func requireStep(_ node: YNode?, at nameNode: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        guard let node, case .sequence(let sequence) = node.node, !sequence.isEmpty else {
            diagnostics.error(
                node?.position ?? nameNode.position,
                "'require' needs a list of checks, e.g. 'require: [ { xpath: \"boolean(//cbc:ID)\", message: \"BT-1 invoice number missing\" } ]'"
            )
            return nil
        }
        var requirements: [Requirement] = []
        var ok = true
        for element in node.listElements {
            guard let fields = reader.fields(element, "a 'require' check", allowed: ["xpath", "message"]) else {
                ok = false
                continue
            }
            let xpathNode = reader.require(
                fields, "xpath", "a 'require' check", expected: "an XPath that is true when the check passes")
            let messageNode = reader.require(
                fields, "message", "a 'require' check", expected: "what to report when it fails")
            let expression = xpathNode.flatMap { node in
                reader.string(node, "'xpath' of a 'require' check").flatMap {
                    checkXPath($0, at: node, namespaces: namespaces)
                }
            }
            let message = messageNode.flatMap { reader.string($0, "'message' of a 'require' check") }
            guard let expression, let message else {
                ok = false
                continue
            }
            requirements.append(Requirement(xpath: expression, message: message))
        }
        return ok ? RequireStep(requirements: requirements) : nil
    }

    /// Whether `step` reads the correlated case (`{case.…}` templates, `case:` conditions).
    static func readsCase(_ step: any RouteStep) -> Bool {
        switch step {
        case let step as SetHeaderStep: return step.assignments.contains { $0.value.usesCase }
        case let step as MapStep: return step.parameters.values.contains { $0.usesCase }
        case let step as RegisterCaseStep: return step.key.usesCase || step.attributes.contains { $0.value.usesCase }
        case let step as CorrelateStep: return step.key.usesCase
        case let step as FilterStep: return step.condition.readsCase
        default: return false
        }
    }
}

extension Condition {
    /// Whether the condition has a `case:` part.
    var readsCase: Bool {
        switch self {
        case .caseAttribute: return true
        case .all(let conditions), .any(let conditions): return conditions.contains { $0.readsCase }
        case .not(let condition): return condition.readsCase
        default: return false
        }
    }
}
