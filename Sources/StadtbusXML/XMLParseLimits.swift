/// Limits applied to every untrusted document before and while it is parsed.
public struct XMLParseLimits: Sendable, Equatable {
    /// The largest document accepted, in bytes. Checked before parsing starts.
    public var maxBytes: Int
    /// The deepest element nesting accepted (the root element is depth 1). libxml2 itself
    /// never goes beyond 256 levels, so larger values act as 256.
    public var maxDepth: Int

    /// Creates limits.
    public init(maxBytes: Int = 16 * 1024 * 1024, maxDepth: Int = 128) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// 16 MiB and 128 levels: generous for XÖV messages (real ones are kilobytes and
    /// nest fewer than 20 levels), small enough to bound memory per worker.
    public static let `default` = XMLParseLimits()
}
