import Foundation
import StadtbusXML

extension LoadSession {
    static let parseLimitKeys = [
        "max-size", "max-depth", "max-attributes-per-element", "max-attributes", "max-nodes", "large-document-size",
        "large-documents-at-once",
    ]

    /// `parse-limits:` — the limits every inbound document is parsed under (``XMLParseLimits``);
    /// keys not given keep their defaults.
    ///
    /// ```yaml
    /// parse-limits:
    ///   max-size: 16MiB                   # bytes; refused before parsing
    ///   max-depth: 128                    # element nesting
    ///   max-attributes-per-element: 256   # namespace declarations included
    ///   max-attributes: 100000            # in the whole document
    ///   max-nodes: 50000                  # elements, comments, processing instructions
    ///   large-document-size: 1MiB         # larger documents are processed …
    ///   large-documents-at-once: 2        # … at most this many at a time
    /// ```
    func readParseLimits() -> XMLParseLimits {
        var limits = XMLParseLimits.default
        guard let (_, node) = singles["parse-limits"],
            let fields = reader.fields(node, "'parse-limits'", allowed: Self.parseLimitKeys)
        else { return limits }
        if let size = fields["max-size"].flatMap({ size($0, "parse-limits.max-size") }) { limits.maxBytes = size }
        if let value = fields["max-depth"].flatMap({ reader.int($0, "parse-limits.max-depth", in: 1...256) }) {
            limits.maxDepth = value
        }
        if let value = fields["max-attributes-per-element"].flatMap({
            reader.int($0, "parse-limits.max-attributes-per-element", in: 1...100_000)
        }) {
            limits.maxAttributesPerElement = value
        }
        if let value = fields["max-attributes"].flatMap({
            reader.int($0, "parse-limits.max-attributes", in: 1...100_000_000)
        }) {
            limits.maxAttributes = value
        }
        if let value = fields["max-nodes"].flatMap({ reader.int($0, "parse-limits.max-nodes", in: 1...100_000_000) }) {
            limits.maxNodes = value
        }
        if let size = fields["large-document-size"].flatMap({ size($0, "parse-limits.large-document-size") }) {
            limits.largeDocumentBytes = size
        }
        if let value = fields["large-documents-at-once"].flatMap({
            reader.int($0, "parse-limits.large-documents-at-once", in: 1...256)
        }) {
            limits.maxLargeDocumentsAtOnce = value
        }
        return limits
    }

    /// A size such as `16MiB`, `512KiB`, `1MB` or a plain number of bytes, at most 1 GiB.
    private func size(_ node: YNode, _ what: String) -> Int? {
        let text = (node.scalar ?? "").trimmingCharacters(in: .whitespaces)
        if let bytes = ByteSize.parse(text) { return bytes }
        diagnostics.error(
            node.position, "\(what) must be a size up to 1GiB like 16MiB, 512KiB or 1048576, found '\(text)'")
        return nil
    }
}
