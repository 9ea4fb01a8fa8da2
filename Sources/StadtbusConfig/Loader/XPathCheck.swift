import Foundation
import StadtbusXML

extension LoadSession {
    /// Compiles `expression`, reporting a syntax error or an undeclared namespace prefix
    /// (libxml2 would only notice the prefix per message, as a failure) at `node`.
    func checkXPath(_ expression: String, at node: YNode, namespaces: [String: String]) -> XPathExpression? {
        let undeclared = Self.prefixes(in: expression).filter { namespaces[$0] == nil && $0 != "xml" }
        if let prefix = undeclared.first {
            diagnostics.error(
                node.position,
                "XPath '\(expression)' uses undeclared namespace prefix '\(prefix)' — declare it under 'namespaces:'"
                    + (DidYouMean.suggestion(for: prefix, in: Array(namespaces.keys)).map {
                        " (or did you mean '\($0)'?)"
                    } ?? ""))
            return nil
        }
        do {
            return try XPathExpression(expression, namespaces: namespaces)
        } catch {
            diagnostics.error(node.position, "\(error)")
            return nil
        }
    }

    /// Namespace prefixes used in an XPath 1.0 expression (outside string literals; `::` axes excluded).
    static func prefixes(in expression: String) -> [String] {
        var prefixes: [String] = []
        let chars = Array(expression)
        var index = 0
        var quote: Character?
        var word = ""
        func isNameChar(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "-" || c == "." }
        while index < chars.count {
            let c = chars[index]
            if let q = quote {
                if c == q { quote = nil }
                index += 1
                continue
            }
            if c == "'" || c == "\"" {
                quote = c
                word = ""
            } else if isNameChar(c) {
                word.append(c)
            } else if c == ":" {
                let next = index + 1 < chars.count ? chars[index + 1] : " "
                let previous = index > 0 ? chars[index - 1] : " "
                if next != ":" && previous != ":", let first = word.first, first.isLetter || first == "_",
                    !prefixes.contains(word)
                {
                    prefixes.append(word)
                }
                if next == ":" { index += 1 }
                word = ""
            } else {
                word = ""
            }
            index += 1
        }
        return prefixes
    }
}
