/// Removes document values from libxml2's schema validation messages.
///
/// Validation reasons go to logs, the audit store and dead-letter headers; the values that
/// failed are often personal data (a name, an e-mail address). A reason keeps the line, the
/// element (or attribute) and the rule, and shows a value only as its length:
/// `Element '{ns}kennung': [facet 'pattern'] The value [value of 29 characters] is not accepted
/// by the pattern '([\t-\n]|…'.` Long patterns are cut to their first 40 characters.
enum ValidationMessageMask {
    /// `message` with every quoted occurrence of `values` (the failing node's content, as found
    /// in the document and whitespace-collapsed) and every value in libxml2's known message
    /// shapes replaced by a placeholder.
    static func mask(_ message: String, values: [String]) -> String {
        var text = message
        for value in Set(values).sorted(by: { $0.count > $1.count }) where !value.isEmpty {
            text = text.replacingOccurrences(of: "'\(value)'", with: placeholder(value))
        }
        // Values libxml2 normalised differently: mask them by the shape of the message.
        text = text.replacing(
            #/The value '(.*?)' (?=is not|has a length|is greater|is less|is equal)/#.dotMatchesNewlines()
        ) { match in
            "The value \(placeholder(String(match.1))) "
        }
        text = text.replacing(
            #/^(Element '[^']*'(?:, attribute '[^']*')?: )'(.*)' (is not a valid value)/#.dotMatchesNewlines()
        ) { match in
            "\(match.1)\(placeholder(String(match.2))) \(match.3)"
        }
        text = text.replacing(#/key-sequence \[(.*?)\] (?=in|of)/#.dotMatchesNewlines()) { match in
            "key-sequence [\(placeholder(String(match.1)))] "
        }
        text = text.replacing(#/(by the pattern ')(.{40})(.+)('\.?)$/#.dotMatchesNewlines()) { match in
            "\(match.1)\(match.2)…\(match.4)"
        }
        return text
    }

    /// What stands in for a value: its length only.
    static func placeholder(_ value: String) -> String { "[value of \(value.count) characters]" }
}
