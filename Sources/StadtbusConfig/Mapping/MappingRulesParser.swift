import Foundation
import StadtbusXML
import Yams

/// Reads mapping rules from a YAML node tree and checks them, collecting every error with
/// the file:line:column of the node it concerns.
struct MappingRulesParser {
    let file: String
    private(set) var errors: [MappingRuleError] = []

    private var sourceNamespaces: [String: String] = [:]
    private var targetNamespaces: [String: String] = [:]
    private var paramNames: Set<String> = []
    private var valueMapNames: [String] = []

    init(file: String) {
        self.file = file
    }

    static let topLevelKeys = ["mapping", "description", "source", "target", "params", "value-maps", "fields"]
    static let sourceKeys = ["namespaces", "root"]
    static let targetKeys = ["root", "namespaces"]
    static let fieldKeys = ["target", "value", "from", "map", "when", "required", "for-each", "fields"]
    /// Prefixes the generated stylesheet uses itself.
    static let reservedPrefixes = ["xsl", "xml", "xmlns"]

    // MARK: Top level

    mutating func parse(_ root: Node) -> MappingRules? {
        guard let top = mapping(root, "the mapping rules") else { return nil }
        let keys = entries(top, allowed: Self.topLevelKeys, in: "the mapping rules")

        let name = keys["mapping"].flatMap { scalar($0.value, "'mapping' (the mapping's name)") }
        if keys["mapping"] == nil { error(at: root, "missing 'mapping' (the mapping's name)") }
        let description = keys["description"].flatMap { scalar($0.value, "'description'") }

        var sourceRoots: [String] = []
        var sourceNS: [MappingRules.Namespace] = []
        if let source = keys["source"], let sourceMap = mapping(source.value, "'source'") {
            let sourceKeys = entries(sourceMap, allowed: Self.sourceKeys, in: "'source'")
            if let ns = sourceKeys["namespaces"] { sourceNS = namespaces(ns.value, "source") }
            sourceNamespaces = Dictionary(sourceNS.map { ($0.prefix, $0.uri) }, uniquingKeysWith: { first, _ in first })
            if let rootNode = sourceKeys["root"] {
                let rootNodes = rootNode.value.sequence.map { Array($0) } ?? [rootNode.value]
                for node in rootNodes {
                    guard let qname = scalar(node, "'source.root'") else { continue }
                    if checkQName(qname, at: node, namespaces: sourceNamespaces, side: "source", what: "source root") {
                        sourceRoots.append(qname)
                    }
                }
            }
        }

        var targetRoot: String?
        var targetNS: [MappingRules.Namespace] = []
        if let target = keys["target"], let targetMap = mapping(target.value, "'target'") {
            let targetKeys = entries(targetMap, allowed: Self.targetKeys, in: "'target'")
            if let ns = targetKeys["namespaces"] { targetNS = namespaces(ns.value, "target") }
            targetNamespaces = Dictionary(targetNS.map { ($0.prefix, $0.uri) }, uniquingKeysWith: { first, _ in first })
            if let rootNode = targetKeys["root"], let qname = scalar(rootNode.value, "'target.root'") {
                if checkQName(
                    qname, at: rootNode.value, namespaces: targetNamespaces, side: "target", what: "target root")
                {
                    targetRoot = qname
                }
            } else if targetKeys["root"] == nil {
                error(
                    at: target.value,
                    "missing 'root' in 'target' (the target document's root element, e.g. xdomea:Abgabe.Abgabe.0401)")
            }
        } else if keys["target"] == nil {
            error(at: root, "missing 'target' (with the target document's 'root' element)")
        }
        for ns in targetNS {
            if let uri = sourceNamespaces[ns.prefix], uri != ns.uri {
                error(
                    at: root,
                    "prefix '\(ns.prefix)' is bound to '\(uri)' in source.namespaces and to '\(ns.uri)' in target.namespaces; use different prefixes"
                )
            }
        }

        var params: [MappingRules.Param] = []
        if let paramsNode = keys["params"] { params = self.params(paramsNode.value) }
        paramNames = Set(params.map(\.name))

        var valueMaps: [MappingRules.ValueMap] = []
        if let mapsNode = keys["value-maps"] { valueMaps = self.valueMaps(mapsNode.value) }
        valueMapNames = valueMaps.map(\.name)

        var fields: [MappingRules.Field] = []
        if let fieldsNode = keys["fields"] {
            fields = self.fields(fieldsNode.value)
            if fields.isEmpty, fieldsNode.value.sequence?.isEmpty ?? false {
                error(at: fieldsNode.value, "'fields' is empty: a mapping needs at least one field")
            }
        } else {
            error(at: root, "missing 'fields' (the list of target fields)")
        }

        guard let name, let targetRoot else { return nil }
        return MappingRules(
            name: name, file: file, description: description, sourceNamespaces: sourceNS, sourceRoots: sourceRoots,
            targetRoot: targetRoot, targetNamespaces: targetNS, params: params, valueMaps: valueMaps, fields: fields)
    }

    // MARK: Sections

    private mutating func namespaces(_ node: Node, _ side: String) -> [MappingRules.Namespace] {
        guard let map = mapping(node, "'\(side).namespaces'") else { return [] }
        var result: [MappingRules.Namespace] = []
        for (key, value) in map {
            guard let prefix = scalar(key, "a namespace prefix"), let uri = scalar(value, "a namespace URI") else {
                continue
            }
            if !Self.isNCName(prefix) {
                error(at: key, "'\(prefix)' is not a valid namespace prefix")
            } else if Self.reservedPrefixes.contains(prefix) {
                error(at: key, "the prefix '\(prefix)' is reserved; choose another one")
            } else if uri.isEmpty {
                error(at: value, "the namespace URI for prefix '\(prefix)' is empty")
            } else if result.contains(where: { $0.prefix == prefix }) {
                error(at: key, "the prefix '\(prefix)' is declared twice")
            } else {
                result.append(.init(prefix: prefix, uri: uri))
            }
        }
        return result
    }

    private mutating func params(_ node: Node) -> [MappingRules.Param] {
        var result: [MappingRules.Param] = []
        var pairs: [(Node, String?)] = []
        if let sequence = node.sequence {
            pairs = sequence.map { ($0, nil) }
        } else if let map = node.mapping {
            for (key, value) in map {
                if let text = scalar(value, "a parameter default") { pairs.append((key, text)) }
            }
        } else {
            error(at: node, "'params' must be a list of names or a mapping of names to default values")
            return []
        }
        for (nameNode, defaultValue) in pairs {
            guard let name = scalar(nameNode, "a parameter name") else { continue }
            if !Self.isNCName(name) {
                error(
                    at: nameNode,
                    "'\(name)' is not a valid parameter name (letters, digits, '-', '_', '.'; not starting with a digit)"
                )
            } else if result.contains(where: { $0.name == name }) {
                error(at: nameNode, "the parameter '\(name)' is declared twice")
            } else {
                result.append(.init(name: name, defaultValue: defaultValue ?? ""))
            }
        }
        return result
    }

    private mutating func valueMaps(_ node: Node) -> [MappingRules.ValueMap] {
        guard let maps = mapping(node, "'value-maps'") else { return [] }
        var result: [MappingRules.ValueMap] = []
        for (nameNode, body) in maps {
            guard let name = scalar(nameNode, "a value-map name") else { continue }
            guard Self.isNCName(name) else {
                error(at: nameNode, "'\(name)' is not a valid value-map name (letters, digits, '-', '_', '.')")
                continue
            }
            if result.contains(where: { $0.name == name }) {
                error(at: nameNode, "the value map '\(name)' is declared twice")
                continue
            }
            guard let entries = mapping(body, "value map '\(name)'") else { continue }
            var map = MappingRules.ValueMap(name: name, entries: [], defaultValue: nil)
            for (keyNode, valueNode) in entries {
                guard let key = scalar(keyNode, "a code"),
                    let value = scalar(valueNode, "the value for '\(keyNode.string ?? "")'")
                else {
                    continue
                }
                if key == "default" {
                    map.defaultValue = value
                } else if map.entries.contains(where: { $0.key == key }) {
                    error(at: keyNode, "the code '\(key)' appears twice in value map '\(name)'")
                } else {
                    map.entries.append((key, value))
                }
            }
            result.append(map)
        }
        return result
    }

    // MARK: Fields

    private mutating func fields(_ node: Node) -> [MappingRules.Field] {
        guard let sequence = node.sequence else {
            error(at: node, "'fields' must be a list of fields (each starting with '- target:')")
            return []
        }
        return sequence.compactMap { field($0) }
    }

    private mutating func field(_ node: Node) -> MappingRules.Field? {
        guard let map = mapping(node, "a field") else { return nil }
        let keys = entries(map, allowed: Self.fieldKeys, in: "a field")
        let position = self.position(node)

        var target: [MappingRules.PathStep]?
        if let targetNode = keys["target"] {
            if let text = scalar(targetNode.value, "'target'") { target = targetPath(text, at: targetNode.value) }
        } else {
            error(at: node, "the field has no 'target' (the element or @attribute to create)")
        }
        let label = target.map { "field '\(MappingRules.pathText($0))'" } ?? "the field"

        var value = MappingRules.Value.none
        if keys["value"] != nil, keys["from"] != nil {
            error(
                at: keys["from"]!.key,
                "\(label) has both 'value' and 'from'; use 'value' for a constant or 'from' for an XPath, not both")
        } else if let valueNode = keys["value"] {
            if let text = scalar(valueNode.value, "'value'") { value = .constant(text) }
        } else if let fromNode = keys["from"] {
            let nodes = fromNode.value.sequence.map { Array($0) } ?? [fromNode.value]
            if nodes.isEmpty { error(at: fromNode.value, "'from' is an empty list") }
            var expressions: [String] = []
            for exprNode in nodes {
                if let expression = scalar(exprNode, "'from' (an XPath expression)"),
                    checkXPath(expression, at: exprNode)
                {
                    expressions.append(expression)
                }
            }
            value = .xpath(expressions)
        }

        var mapName: String?
        if let mapNode = keys["map"], let name = scalar(mapNode.value, "'map' (a value-map name)") {
            if keys["from"] == nil {
                error(
                    at: mapNode.key, "\(label) has 'map' but no 'from': a value map translates the value read by 'from'"
                )
            } else if !valueMapNames.contains(name) {
                error(
                    at: mapNode.value,
                    "unknown value map '\(name)'"
                        + suggestion(for: name, among: valueMapNames, declaredIn: "value-maps")
                )
            }
            mapName = name
        }

        var when: String?
        if let whenNode = keys["when"], let expression = scalar(whenNode.value, "'when' (an XPath condition)") {
            if checkXPath(expression, at: whenNode.value) { when = expression }
        }

        var required = false
        if let requiredNode = keys["required"], let text = scalar(requiredNode.value, "'required'") {
            switch text {
            case "true", "yes": required = true
            case "false", "no": required = false
            default: error(at: requiredNode.value, "'required' must be true or false, not '\(text)'")
            }
            if keys["from"] == nil {
                error(
                    at: requiredNode.key,
                    "\(label) has 'required' but no 'from': only values read by 'from' can be missing")
            }
        }

        var forEach: String?
        if let forEachNode = keys["for-each"],
            let expression = scalar(forEachNode.value, "'for-each' (an XPath selecting the items)")
        {
            if checkXPath(expression, at: forEachNode.value) { forEach = expression }
            if keys["fields"] == nil {
                error(at: forEachNode.key, "\(label) has 'for-each' but no nested 'fields' to create for each item")
            }
        }

        var nested: [MappingRules.Field] = []
        if let fieldsNode = keys["fields"] {
            if keys["value"] != nil || keys["from"] != nil {
                error(
                    at: fieldsNode.key,
                    "\(label) has nested 'fields' and also 'value' or 'from'; a field either has a value or groups nested fields"
                )
            }
            nested = fields(fieldsNode.value)
            if let last = target?.last, last.isAttribute {
                error(at: fieldsNode.key, "\(label) targets an attribute, which cannot hold nested fields")
            }
        } else if keys["value"] == nil, keys["from"] == nil, keys["target"] != nil {
            error(at: node, "\(label) needs 'value' (a constant), 'from' (an XPath) or nested 'fields'")
        }

        guard let target else { return nil }
        return MappingRules.Field(
            target: target, value: value, map: mapName, when: when, required: required, forEach: forEach,
            fields: nested,
            line: position.line, column: position.column)
    }

    /// Splits a target path into steps and checks each name and prefix.
    private mutating func targetPath(_ text: String, at node: Node) -> [MappingRules.PathStep]? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var steps: [MappingRules.PathStep] = []
        var valid = true
        for (index, part) in parts.enumerated() {
            let isAttribute = part.hasPrefix("@")
            let name = isAttribute ? String(part.dropFirst()) : part
            if isAttribute, index != parts.count - 1 {
                error(at: node, "in target '\(text)': an attribute ('\(part)') can only be the last step")
                valid = false
            } else if !Self.isQName(name) {
                error(
                    at: node,
                    "in target '\(text)': '\(part)' is not an element name; a target is element names separated by '/', optionally ending in '@attribute'"
                )
                valid = false
            } else if let prefix = Self.prefix(of: name), targetNamespaces[prefix] == nil {
                error(
                    at: node,
                    "in target '\(text)': undeclared namespace prefix '\(prefix)'"
                        + suggestion(for: prefix, among: Array(targetNamespaces.keys), declaredIn: "target.namespaces"))
                valid = false
            } else {
                steps.append(.init(name: name, isAttribute: isAttribute))
            }
        }
        return valid ? steps : nil
    }

    // MARK: Checks

    /// Compiles `expression` with libxml2 and checks its prefixes and `$variables`.
    private mutating func checkXPath(_ expression: String, at node: Node) -> Bool {
        if expression.trimmingCharacters(in: .whitespaces).isEmpty {
            error(at: node, "empty XPath expression")
            return false
        }
        do {
            _ = try XPathExpression(expression)
        } catch {
            let reason: String
            if case .invalidXPath(_, let message) = error as? XMLError { reason = message } else { reason = "\(error)" }
            self.error(at: node, "invalid XPath '\(expression)': \(reason)")
            return false
        }
        var valid = true
        let tokens = XPathNames.scan(expression)
        for prefix in tokens.prefixes where sourceNamespaces[prefix] == nil {
            error(
                at: node,
                "XPath '\(expression)' uses undeclared namespace prefix '\(prefix)'"
                    + suggestion(for: prefix, among: Array(sourceNamespaces.keys), declaredIn: "source.namespaces"))
            valid = false
        }
        for function in tokens.functions where !function.contains(":") && !XPathNames.knownFunctions.contains(function)
        {
            error(
                at: node,
                "XPath '\(expression)' calls unknown function '\(function)()'"
                    + (closest(to: function, among: XPathNames.knownFunctions).map { "; did you mean '\($0)()'?" }
                        ?? "; mappings can call the XPath 1.0 and XSLT 1.0 functions"))
            valid = false
        }
        for variable in tokens.variables where !paramNames.contains(variable) {
            error(
                at: node,
                "XPath '\(expression)' uses '$\(variable)', which is not declared in 'params'"
                    + suggestion(for: variable, among: Array(paramNames), declaredIn: "params"))
            valid = false
        }
        return valid
    }

    /// Checks a qualified name and its prefix.
    private mutating func checkQName(
        _ qname: String, at node: Node, namespaces: [String: String], side: String, what: String
    ) -> Bool {
        guard Self.isQName(qname) else {
            error(at: node, "'\(qname)' is not a valid element name for the \(what)")
            return false
        }
        if let prefix = Self.prefix(of: qname), namespaces[prefix] == nil {
            error(
                at: node,
                "the \(what) '\(qname)' uses undeclared namespace prefix '\(prefix)'"
                    + suggestion(for: prefix, among: Array(namespaces.keys), declaredIn: "\(side).namespaces"))
            return false
        }
        return true
    }

    // MARK: Node helpers

    /// The entries of a mapping by key, reporting unknown and duplicate keys.
    private mutating func entries(_ map: Node.Mapping, allowed: [String], in context: String) -> [String: (
        key: Node, value: Node
    )] {
        var result: [String: (key: Node, value: Node)] = [:]
        for (key, value) in map {
            guard let name = scalar(key, "a key") else { continue }
            if !allowed.contains(name) {
                error(
                    at: key,
                    "unknown key '\(name)' in \(context)" + suggestion(for: name, among: allowed, declaredIn: nil))
            } else if result[name] != nil {
                error(at: key, "the key '\(name)' appears twice in \(context)")
            } else {
                result[name] = (key, value)
            }
        }
        return result
    }

    private mutating func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        if let map = node.mapping { return map }
        error(at: node, "\(what) must be a mapping of 'key: value' lines")
        return nil
    }

    private mutating func scalar(_ node: Node, _ what: String) -> String? {
        if let scalar = node.scalar { return scalar.string }
        error(at: node, "\(what) must be a single value, not a \(node.mapping != nil ? "mapping" : "list")")
        return nil
    }

    private func position(_ node: Node) -> (line: Int, column: Int) {
        (node.mark?.line ?? 1, node.mark?.column ?? 1)
    }

    func makeError(at node: Node, _ message: String) -> MappingRuleError {
        let position = self.position(node)
        return MappingRuleError(file: file, line: position.line, column: position.column, message: message)
    }

    private mutating func error(at node: Node, _ message: String) {
        errors.append(makeError(at: node, message))
    }

    /// " (did you mean 'x'?)" for the closest candidate within a small edit distance.
    private func suggestion(for name: String, among candidates: [String], declaredIn section: String?) -> String {
        if let best = closest(to: name, among: candidates) {
            return "; did you mean '\(best)'?"
        }
        if let section {
            return candidates.isEmpty
                ? "; declare it in '\(section)'"
                : "; declare it in '\(section)' (declared: \(candidates.sorted().joined(separator: ", ")))"
        }
        return "; expected one of: \(candidates.joined(separator: ", "))"
    }

    /// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
    private func closest(to name: String, among candidates: [String]) -> String? {
        let ranked = candidates.map { ($0, Self.editDistance(name, $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let best = ranked.first, best.1 <= max(2, name.count / 3) else { return nil }
        return best.0
    }

    // MARK: Lexical helpers

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    static func isNCName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, isNameStart(first) else { return false }
        return name.unicodeScalars.allSatisfy { isNameStart($0) || isNameChar($0) }
    }

    static func isQName(_ name: String) -> Bool {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        return (parts.count == 1 || parts.count == 2) && parts.allSatisfy { isNCName(String($0)) }
    }

    static func prefix(of qname: String) -> String? {
        guard let colon = qname.firstIndex(of: ":") else { return nil }
        return String(qname[..<colon])
    }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || CharacterSet.letters.contains(c)
    }

    static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        c == "-" || c == "." || c == "_" || CharacterSet.alphanumerics.contains(c) || c == "\u{B7}"
    }

    /// Converts a Yams parse error into a positioned rule error.
    static func yamlError(_ error: YamlError, file: String) -> MappingRuleError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context {
                message += " (\(context.text) that starts at line \(context.mark.line), column \(context.mark.column))"
            }
            return MappingRuleError(file: file, line: mark.line, column: mark.column, message: message)
        default:
            return MappingRuleError(file: file, line: 1, column: 1, message: "YAML error: \(error)")
        }
    }
}

/// The namespace prefixes, variable names and function names an XPath 1.0 expression uses
/// (string literals skipped), for checks libxml2's compiler does not make without a context.
enum XPathNames {
    static func scan(_ expression: String) -> (prefixes: [String], variables: [String], functions: [String]) {
        let chars = Array(expression.unicodeScalars)
        var prefixes: [String] = []
        var functions: [String] = []
        var variables: [String] = []
        var index = 0
        func readName(_ start: Int) -> Int {
            var end = start
            while end < chars.count,
                MappingRulesParser.isNameChar(chars[end])
                    || (end == start && MappingRulesParser.isNameStart(chars[end]))
            {
                end += 1
            }
            return end
        }
        while index < chars.count {
            let c = chars[index]
            if c == "\"" || c == "'" {
                index += 1
                while index < chars.count, chars[index] != c { index += 1 }
                index += 1
            } else if c == "$" {
                let end = readName(index + 1)
                var name = String(String.UnicodeScalarView(chars[(index + 1)..<end]))
                var next = end
                // A qualified variable name ($p:v) is reported as the whole name.
                if next + 1 < chars.count, chars[next] == ":", chars[next + 1] != ":" {
                    let localEnd = readName(next + 1)
                    name += ":" + String(String.UnicodeScalarView(chars[(next + 1)..<localEnd]))
                    next = localEnd
                }
                if !name.isEmpty, !variables.contains(name) { variables.append(name) }
                index = max(next, index + 1)
            } else if MappingRulesParser.isNameStart(c) {
                var end = readName(index)
                var name = String(String.UnicodeScalarView(chars[index..<end]))
                // A prefix is a name followed by ':' and then a name or '*' (not '::', an axis).
                if end + 1 < chars.count, chars[end] == ":", chars[end + 1] != ":",
                    MappingRulesParser.isNameStart(chars[end + 1]) || chars[end + 1] == "*"
                {
                    if !prefixes.contains(name) { prefixes.append(name) }
                    let localEnd = chars[end + 1] == "*" ? end + 2 : readName(end + 1)
                    name += ":" + String(String.UnicodeScalarView(chars[(end + 1)..<localEnd]))
                    end = localEnd
                }
                // A name followed by '(' is a function call (or a node-type test).
                var next = end
                while next < chars.count, chars[next] == " " || chars[next] == "\t" || chars[next] == "\n" { next += 1 }
                if next < chars.count, chars[next] == "(", !operatorNames.contains(name), !functions.contains(name) {
                    functions.append(name)
                }
                index = end
            } else {
                index += 1
            }
        }
        return (prefixes, variables, functions)
    }

    /// Operator names, which may be followed by '(' without being functions.
    static let operatorNames: Set<String> = ["and", "or", "div", "mod"]

    /// Node-type tests, XPath 1.0 core functions and the functions XSLT 1.0 adds.
    static let knownFunctions: [String] = [
        "node", "text", "comment", "processing-instruction",
        "last", "position", "count", "id", "local-name", "namespace-uri", "name",
        "string", "concat", "starts-with", "contains", "substring-before", "substring-after", "substring",
        "string-length", "normalize-space", "translate",
        "boolean", "not", "true", "false", "lang",
        "number", "sum", "floor", "ceiling", "round",
        "document", "key", "format-number", "current", "unparsed-entity-uri", "generate-id", "system-property",
        "element-available", "function-available",
    ]
}
