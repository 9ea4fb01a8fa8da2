import Foundation
import Yams

/// A YAML node together with the file it came from, so every error can name file:line:column.
struct YNode {
    let node: Node
    let file: String

    var position: SourcePosition {
        SourcePosition(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    /// The raw text of a scalar (YAML 1.1 resolution is ignored, so `0401` stays `0401`).
    var scalar: String? { node.scalar?.string }

    var isNull: Bool {
        guard let scalar = node.scalar else { return false }
        return scalar.tag == Tag(.null)
            || (scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string))
    }

    var kind: String {
        switch node {
        case .scalar: return isNull ? "nothing" : "a scalar '\(scalar ?? "")'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// The elements of a sequence, or the node itself when it is a single value.
    var listElements: [YNode] {
        if case .sequence(let sequence) = node { return sequence.map { YNode(node: $0, file: file) } }
        return [self]
    }
}

/// The keys of one YAML mapping, checked against the keys allowed in its place.
struct Fields {
    struct Entry {
        let key: String
        let keyNode: YNode
        let value: YNode
    }

    let node: YNode
    let entries: [Entry]

    subscript(key: String) -> YNode? { entries.first { $0.key == key }?.value }

    func keyPosition(_ key: String) -> SourcePosition {
        entries.first { $0.key == key }?.keyNode.position ?? node.position
    }

    func has(_ key: String) -> Bool { self[key] != nil }
}

/// Reads typed values out of YAML nodes, reporting every problem to ``Diagnostics``.
struct NodeReader {
    let diagnostics: Diagnostics
    /// `variables:` from the configuration, consulted before the environment.
    var variables: [String: String] = [:]
    var environment: [String: String]

    /// A mapping with only `allowed` keys (unknown keys get a did-you-mean), no duplicates.
    /// `special` maps a forbidden key to the message to give instead of "unknown key".
    func fields(_ node: YNode, _ context: String, allowed: [String], special: [String: String] = [:]) -> Fields? {
        guard case .mapping(let mapping) = node.node else {
            diagnostics.error(node.position, "\(context) must be a mapping, found \(node.kind)")
            return nil
        }
        var entries: [Fields.Entry] = []
        var seen: [String: SourcePosition] = [:]
        for (keyNode, valueNode) in mapping {
            let key = YNode(node: keyNode, file: node.file)
            guard let name = key.scalar else {
                diagnostics.error(key.position, "keys in \(context) must be plain words, found \(key.kind)")
                continue
            }
            if let first = seen[name] {
                diagnostics.error(key.position, "duplicate key '\(name)' in \(context) (first at line \(first.line))")
                continue
            }
            seen[name] = key.position
            if let message = special[name] {
                diagnostics.error(key.position, message)
                continue
            }
            guard allowed.contains(name) else {
                diagnostics.error(
                    key.position,
                    "unknown key '\(name)' in \(context)"
                        + (DidYouMean.suggestion(for: name, in: allowed).map { " — did you mean '\($0)'?" }
                            ?? " — expected one of: " + allowed.joined(separator: ", ")))
                continue
            }
            entries.append(.init(key: name, keyNode: key, value: YNode(node: valueNode, file: node.file)))
        }
        return Fields(node: node, entries: entries)
    }

    /// Reports a missing required key at the mapping's position.
    func require(_ fields: Fields, _ key: String, _ context: String, expected: String) -> YNode? {
        if let value = fields[key] { return value }
        diagnostics.error(fields.node.position, "\(context) is missing '\(key)' (\(expected))")
        return nil
    }

    /// A non-empty scalar string.
    func string(_ node: YNode, _ what: String) -> String? {
        guard let text = node.scalar, !node.isNull else {
            diagnostics.error(node.position, "\(what) must be a string, found \(node.kind)")
            return nil
        }
        guard !text.isEmpty else {
            diagnostics.error(node.position, "\(what) must not be empty")
            return nil
        }
        return text
    }

    /// A string or a list of strings.
    func strings(_ node: YNode, _ what: String) -> [String]? {
        var result: [String] = []
        var ok = true
        for element in node.listElements {
            if let text = string(element, what) { result.append(text) } else { ok = false }
        }
        if result.isEmpty && ok {
            diagnostics.error(node.position, "\(what) must not be an empty list")
            return nil
        }
        return ok ? result : nil
    }

    /// An integer; `${VAR}` references are expanded first (`port: ${STADTBUS_HTTP_PORT:-8080}`).
    func int(_ node: YNode, _ what: String, in range: ClosedRange<Int>) -> Int? {
        var text = node.scalar
        if let raw = text, raw.contains("${") {
            guard let expanded = expand(raw, at: node) else { return nil }
            text = expanded
        }
        guard let text, let value = Int(text) else {
            diagnostics.error(
                node.position,
                "\(what) must be an integer in \(range.lowerBound)...\(range.upperBound), found \(node.kind)")
            return nil
        }
        guard range.contains(value) else {
            diagnostics.error(
                node.position, "\(what) must be in \(range.lowerBound)...\(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    func bool(_ node: YNode, _ what: String) -> Bool? {
        switch node.scalar {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            diagnostics.error(node.position, "\(what) must be true or false, found \(node.kind)")
            return nil
        }
    }

    func duration(_ node: YNode, _ what: String) -> Duration? {
        guard let text = node.scalar, let value = DurationSyntax.parse(text) else {
            diagnostics.error(
                node.position, "\(what) must be a duration like 500ms, 30s, 5m, 1h or 14d, found \(node.kind)")
            return nil
        }
        return value
    }

    func durationRange(_ node: YNode, _ what: String) -> (Duration, Duration)? {
        guard let text = node.scalar, let value = DurationSyntax.parseRange(text) else {
            diagnostics.error(
                node.position, "\(what) must be a duration range MIN..MAX like 2s..5m, found \(node.kind)")
            return nil
        }
        return value
    }

    /// Expands `${NAME}` and `${NAME:-default}` from `variables:` and the environment.
    func expand(_ text: String, at node: YNode) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                diagnostics.error(node.position, "unclosed '${' in '\(text)'")
                return nil
            }
            let body = rest[start.upperBound..<end]
            let (name, fallback): (String, String?) = {
                if let separator = body.range(of: ":-") {
                    return (String(body[..<separator.lowerBound]), String(body[separator.upperBound...]))
                }
                return (String(body), nil)
            }()
            if let value = variables[name] ?? environment[name] ?? fallback {
                result += value
            } else {
                diagnostics.error(
                    node.position,
                    "undefined variable '${\(name)}' — define it under 'variables:', set it in the environment, or write '${\(name):-DEFAULT}'"
                )
                return nil
            }
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    /// A path: variables expanded, relative paths resolved against the directory of the file
    /// that names it. Returns the absolute path and the text as written (for messages).
    func path(_ node: YNode, _ what: String, mustExist: Bool = true, directory: Bool = false) -> String? {
        guard let raw = string(node, what), let expanded = expand(raw, at: node) else { return nil }
        let absolute = Self.resolve(expanded, relativeTo: node.file)
        if mustExist {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory)
            if !exists {
                diagnostics.error(node.position, "\(what): '\(raw)' does not exist (looked for \(absolute))")
                return nil
            }
            if directory != isDirectory.boolValue {
                diagnostics.error(node.position, "\(what): '\(raw)' must be a \(directory ? "directory" : "file")")
                return nil
            }
        }
        return absolute
    }

    /// `path` made absolute relative to the directory of `file`.
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        return URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL.path
    }

    /// A path for display: `path` relative to the directory of `file`, as a user would write it.
    static func display(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        let directory = (file as NSString).deletingLastPathComponent
        return normalized(directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path))
    }

    /// Removes `.` and `dir/..` steps so messages name files as a person would
    /// (`config/../mappings/x.yaml` → `mappings/x.yaml`); leading `..` steps stay.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}
