/// Limits applied to every untrusted document before and while it is parsed.
///
/// Size, attribute and node counts are checked by a linear pre-scan of the bytes
/// (``XMLDocument/init(parsing:limits:)``) before libxml2 builds anything: libxml2 2.9 checks
/// duplicate attributes in quadratic time, and a tree costs about 125 bytes per empty element,
/// so both must be refused before the parser starts. Depth is checked while parsing.
public struct XMLParseLimits: Sendable, Equatable {
    /// The largest document accepted, in bytes. Checked before parsing starts.
    public var maxBytes: Int
    /// The deepest element nesting accepted (the root element is depth 1). libxml2 itself
    /// never goes beyond 256 levels, so larger values act as 256.
    public var maxDepth: Int
    /// The most attributes one element may carry, namespace declarations included.
    public var maxAttributesPerElement: Int
    /// The most attributes (namespace declarations included) in the whole document.
    public var maxAttributes: Int
    /// The most nodes in the document: elements, comments and processing instructions
    /// (text nodes lie between them, so they are bounded too).
    public var maxNodes: Int
    /// Documents larger than this many bytes count as large: at most
    /// ``maxLargeDocumentsAtOnce`` of them are processed at the same time
    /// (``LargeDocumentGate``), and the memory freed after one is handed back to the system.
    public var largeDocumentBytes: Int
    /// How many large documents are processed at the same time; others wait without
    /// holding a thread.
    public var maxLargeDocumentsAtOnce: Int

    /// Creates limits.
    public init(
        maxBytes: Int = 16 * 1024 * 1024, maxDepth: Int = 128, maxAttributesPerElement: Int = 256,
        maxAttributes: Int = 100_000, maxNodes: Int = 50_000, largeDocumentBytes: Int = 1024 * 1024,
        maxLargeDocumentsAtOnce: Int = 2
    ) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxAttributesPerElement = maxAttributesPerElement
        self.maxAttributes = maxAttributes
        self.maxNodes = maxNodes
        self.largeDocumentBytes = largeDocumentBytes
        self.maxLargeDocumentsAtOnce = maxLargeDocumentsAtOnce
    }

    /// The defaults, generous for XÖV messages and small enough to bound memory and time:
    /// - 16 MiB and 128 levels: real messages are kilobytes (xdomea with embedded documents a
    ///   few MiB) and nest fewer than 20 levels.
    /// - 256 attributes per element (real ones have fewer than 10; libxml2's duplicate check
    ///   then costs at most 65,536 comparisons per element) and 100,000 per document.
    /// - 50,000 nodes (the largest message in the XÖV material has 428 elements; an XRechnung
    ///   with 1,500 lines stays below it): a tree of at most about 10 MB.
    /// - documents over 1 MiB are large; 2 of them are processed at once.
    public static let `default` = XMLParseLimits()
}
