import Foundation
import StadtbusCore
import StadtbusXML
import Yams

extension LoadSession {
    static let conditionKeys = [
        "message-type", "message-type-name", "profile", "author", "reader", "header", "case", "xpath", "all", "any",
        "not",
    ]
    /// The steps StadtbusConfig compiles itself; every other step (adapter steps, `sign`,
    /// `verify`) comes from a factory in the loader's ``StepRegistry``.
    static let builtInSteps = [
        "validate", "map", "set-header", "filter", "register-case", "correlate", "require",
    ]

    /// A condition: a mapping whose keys must all hold (see ``Condition``).
    func condition(_ node: YNode, namespaces: [String: String]) -> Condition? {
        guard let fields = reader.fields(node, "a condition", allowed: Self.conditionKeys) else { return nil }
        if case .mapping(let mapping) = node.node, mapping.isEmpty {
            diagnostics.error(
                node.position, "a condition needs at least one of: " + Self.conditionKeys.joined(separator: ", "))
            return nil
        }
        var parts: [Condition] = []
        var ok = true
        for entry in fields.entries {
            let value = entry.value
            func patterns() -> [ValuePattern]? { reader.strings(value, "'\(entry.key)'")?.map(ValuePattern.init) }
            let part: Condition?
            switch entry.key {
            case "message-type": part = patterns().map(Condition.messageType)
            case "message-type-name": part = patterns().map(Condition.messageTypeName)
            case "profile": part = patterns().map(Condition.profile)
            case "author": part = patterns().map(Condition.author)
            case "reader": part = patterns().map(Condition.reader)
            case "header":
                guard case .mapping(let mapping) = value.node, !mapping.isEmpty else {
                    diagnostics.error(
                        value.position,
                        "'header' must be a mapping of transport header names to values, found \(value.kind)")
                    part = nil
                    break
                }
                var headers: [Condition] = []
                for (key, headerValue) in mapping {
                    guard let name = key.scalar?.string,
                        let values = reader.strings(
                            YNode(node: headerValue, file: value.file), "header '\(key.scalar?.string ?? "")'")
                    else { continue }
                    headers.append(.transportHeader(name: name, values: values.map(ValuePattern.init)))
                }
                part = headers.count == mapping.count ? (headers.count == 1 ? headers[0] : .all(headers)) : nil
            case "case":
                if compilingRouteCondition {
                    diagnostics.error(
                        entry.keyNode.position,
                        "a route's 'when' cannot test 'case' (no case is correlated before the steps run) — use it in 'filter' or 'choice' after a 'correlate' step"
                    )
                    part = nil
                    break
                }
                guard case .mapping(let mapping) = value.node, !mapping.isEmpty else {
                    diagnostics.error(
                        value.position,
                        "'case' must be a mapping of case attribute names to values, found \(value.kind)")
                    part = nil
                    break
                }
                var attributes: [Condition] = []
                for (key, attributeValue) in mapping {
                    guard let name = key.scalar?.string,
                        let values = reader.strings(
                            YNode(node: attributeValue, file: value.file),
                            "case attribute '\(key.scalar?.string ?? "")'")
                    else { continue }
                    attributes.append(.caseAttribute(name: name, values: values.map(ValuePattern.init)))
                }
                part =
                    attributes.count == mapping.count ? (attributes.count == 1 ? attributes[0] : .all(attributes)) : nil
            case "xpath":
                part = reader.string(value, "'xpath'").flatMap { checkXPath($0, at: value, namespaces: namespaces) }
                    .map(Condition.xpath)
            case "all", "any":
                guard case .sequence = value.node else {
                    diagnostics.error(
                        value.position, "'\(entry.key)' must be a list of conditions, found \(value.kind)")
                    part = nil
                    break
                }
                let inner = value.listElements.map { condition($0, namespaces: namespaces) }
                part =
                    inner.contains { $0 == nil }
                    ? nil : (entry.key == "all" ? .all(inner.compactMap { $0 }) : .any(inner.compactMap { $0 }))
            case "not": part = condition(value, namespaces: namespaces).map(Condition.not)
            default: part = nil
            }
            if let part { parts.append(part) } else { ok = false }
        }
        guard ok, !parts.isEmpty else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    /// One step: `- NAME: SETTINGS` (or `- NAME` for a step without settings).
    func step(_ node: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        let known = Self.builtInSteps + Set(Self.moduleSteps.keys).union(loader.steps.factories.keys).sorted()
        let name: String
        let nameNode: YNode
        let value: YNode?
        switch node.node {
        case .scalar:
            guard let text = reader.string(node, "a step") else { return nil }
            (name, nameNode, value) = (text, node, nil)
        case .mapping(let mapping):
            guard mapping.count == 1, let (key, settings) = mapping.first.map({ ($0.key, $0.value) }) else {
                let keys = mapping.compactMap { $0.key.scalar?.string }.map { "'\($0)'" }.joined(separator: ", ")
                diagnostics.error(
                    node.position,
                    "a step is a mapping with exactly one key, the step name; found \(mapping.count) keys (\(keys)) — start each step with '-'"
                )
                return nil
            }
            guard let text = key.scalar?.string else {
                diagnostics.error(node.position, "a step name must be a word")
                return nil
            }
            (name, nameNode, value) = (text, YNode(node: key, file: node.file), YNode(node: settings, file: node.file))
        case .sequence:
            diagnostics.error(node.position, "a step must be '- NAME: SETTINGS', found a list")
            return nil
        }
        let settings = value.flatMap { $0.isNull ? nil : $0 }
        switch name {
        case "validate": return validateStep(settings, at: nameNode)
        case "map": return mapStep(settings, at: nameNode, namespaces: namespaces)
        case "set-header": return setHeaderStep(settings, at: nameNode, namespaces: namespaces)
        case "register-case": return registerCaseStep(settings, at: nameNode, namespaces: namespaces)
        case "correlate": return correlateStep(settings, at: nameNode, namespaces: namespaces)
        case "require": return requireStep(settings, at: nameNode, namespaces: namespaces)
        case "filter":
            guard let settings else {
                diagnostics.error(nameNode.position, "'filter' needs a condition, e.g. 'filter: { xpath: \"…\" }'")
                return nil
            }
            return condition(settings, namespaces: namespaces).map { FilterStep(condition: $0) }
        default: return registeredStep(name, settings, at: nameNode, known: known)
        }
    }

    /// `validate: NAME` or `validate: {schema: NAME}`.
    private func validateStep(_ node: YNode?, at nameNode: YNode) -> (any RouteStep)? {
        guard let node else {
            diagnostics.error(nameNode.position, "'validate' needs a schema: 'validate: { schema: NAME }'")
            return nil
        }
        var schemaNode = node
        if case .mapping = node.node {
            guard let fields = reader.fields(node, "'validate'", allowed: ["schema"]),
                let inner = reader.require(
                    fields, "schema", "'validate'", expected: "the name of a schema under 'schemas:'")
            else { return nil }
            schemaNode = inner
        }
        guard let name = reader.string(schemaNode, "schema") else { return nil }
        guard let path = settings.schemas[name] else {
            if named["schemas"]?.contains(where: { $0.name == name }) == true { return nil }  // broken schema: reported already
            diagnostics.error(
                schemaNode.position,
                "unknown schema '\(name)'"
                    + (DidYouMean.suggestion(for: name, in: Array(settings.schemas.keys)).map {
                        " — did you mean '\($0)'?"
                    }
                        ?? " — declare it under 'schemas:'"))
            return nil
        }
        guard let schema = try? loader.schemaCache.schema(at: path) else { return nil }
        return ValidateStep(schemaName: name, schema: schema)
    }

    /// `map: {xslt: FILE, parameters: {…}}` or `map: {rules: FILE.yaml | inline rules}`.
    private func mapStep(_ node: YNode?, at nameNode: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        guard let node, let fields = reader.fields(node, "'map'", allowed: ["xslt", "rules", "parameters"]) else {
            if node == nil { diagnostics.error(nameNode.position, "'map' needs 'xslt: FILE' or 'rules: FILE'") }
            return nil
        }
        var parameters: [String: Template] = [:]
        if let params = fields["parameters"] {
            if case .mapping(let mapping) = params.node {
                for (key, value) in mapping {
                    let valueNode = YNode(node: value, file: params.file)
                    guard let name = key.scalar?.string,
                        let text = reader.string(valueNode, "parameter '\(key.scalar?.string ?? "")'")
                    else {
                        continue
                    }
                    if let template = template(text, at: valueNode, namespaces: namespaces) {
                        parameters[name] = template
                    }
                }
            } else {
                diagnostics.error(
                    params.position,
                    "'parameters' must be a mapping of xsl:param names to templates, found \(params.kind)")
            }
        }
        switch (fields["xslt"], fields["rules"]) {
        case (let xslt?, nil):
            guard let raw = reader.string(xslt, "xslt"), let path = reader.path(xslt, "stylesheet") else { return nil }
            do {
                dependencies.append(path)
                return MapStep(
                    source: raw, stylesheet: try loader.stylesheetCache.stylesheet(at: path), parameters: parameters)
            } catch {
                diagnostics.error(xslt.position, "\(error)")
                return nil
            }
        case (nil, let rules?):
            return rulesMapStep(rules, parameters: parameters)
        case (.some, .some):
            diagnostics.error(fields.keyPosition("rules"), "'map' needs 'xslt' or 'rules', not both")
            return nil
        case (nil, nil):
            diagnostics.error(node.position, "'map' needs 'xslt: FILE' or 'rules: FILE'")
            return nil
        }
    }

    private func rulesMapStep(_ rules: YNode, parameters: [String: Template]) -> (any RouteStep)? {
        var rulesNode = rules
        var source = "inline rules at \(rules.position)"
        if rules.scalar != nil {
            guard let raw = reader.string(rules, "rules"), let path = reader.path(rules, "mapping rules file") else {
                return nil
            }
            let display = raw.hasPrefix("/") ? raw : NodeReader.display(raw, relativeTo: rules.file)
            source = raw
            dependencies.append(path)
            do {
                guard let text = String(data: FileManager.default.contents(atPath: path) ?? Data(), encoding: .utf8),
                    let node = try Yams.compose(yaml: text)
                else {
                    diagnostics.error(rules.position, "mapping rules file '\(raw)' is empty or not UTF-8")
                    return nil
                }
                rulesNode = YNode(node: node, file: display)
            } catch let error as YamlError {
                diagnostics.error(
                    Self.position(of: error, file: display), "YAML syntax error: \(Self.problem(of: error))")
                return nil
            } catch {
                diagnostics.error(rules.position, "\(error)")
                return nil
            }
        }
        guard let compiler = loader.mappingRules else {
            diagnostics.error(
                rules.position,
                "mapping rules are not available yet (the mapping-rules compiler is not wired into this build) — use 'xslt: FILE' for now"
            )
            return nil
        }
        do {
            return MapStep(
                source: source, stylesheet: try compiler.compile(node: rulesNode.node, file: rulesNode.file),
                parameters: parameters)
        } catch let diagnostic as ConfigDiagnostic {
            diagnostics.error(diagnostic.position, diagnostic.message)
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics { diagnostics.error(diagnostic.position, diagnostic.message) }
        } catch {
            // The mapping module's errors carry their own file:line:column in the text.
            diagnostics.error(rules.position, "mapping rules: \(error)")
        }
        return nil
    }

    /// `set-header: {NAME: TEMPLATE, …}`.
    private func setHeaderStep(_ node: YNode?, at nameNode: YNode, namespaces: [String: String]) -> (any RouteStep)? {
        guard let node, case .mapping(let mapping) = node.node, !mapping.isEmpty else {
            diagnostics.error(
                node?.position ?? nameNode.position,
                "'set-header' needs a mapping of header names to values, e.g. 'set-header: { x-case: \"{header.messageID}\" }'"
            )
            return nil
        }
        var assignments: [(name: String, value: Template)] = []
        for (key, value) in mapping {
            let valueNode = YNode(node: value, file: node.file)
            guard let name = key.scalar?.string,
                let text = reader.string(valueNode, "header '\(key.scalar?.string ?? "")'"),
                let template = template(text, at: valueNode, namespaces: namespaces)
            else { continue }
            assignments.append((name, template))
        }
        return assignments.count == mapping.count ? SetHeaderStep(assignments: assignments) : nil
    }

    func template(_ text: String, at node: YNode, namespaces: [String: String]) -> Template? {
        // Report undeclared prefixes of {xpath:…} placeholders like any other XPath.
        for piece in text.components(separatedBy: "{xpath:").dropFirst() {
            if let end = piece.firstIndex(of: "}"),
                checkXPath(String(piece[..<end]), at: node, namespaces: namespaces) == nil
            {
                return nil
            }
        }
        do {
            return try Template(text, namespaces: namespaces)
        } catch {
            diagnostics.error(node.position, "invalid template '\(text)': \(error)")
            return nil
        }
    }
}
