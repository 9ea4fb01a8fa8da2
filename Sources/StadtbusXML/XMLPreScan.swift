import Foundation

/// A linear pass over a document's bytes that counts markup before libxml2 sees it.
///
/// It enforces ``XMLParseLimits/maxAttributesPerElement``, ``XMLParseLimits/maxAttributes``
/// and ``XMLParseLimits/maxNodes`` in time proportional to the size, so a document that would
/// make libxml2 2.9 spend minutes on duplicate-attribute checks, or build a tree many times its
/// size, is refused before any tree exists.
///
/// It understands just enough XML never to refuse a well-formed document: comments, CDATA
/// sections and processing instructions are skipped to their end, quoted attribute values are
/// skipped (they may contain `>` and `=`), and in a start tag every `=` outside quotes belongs to
/// one attribute (or namespace declaration). Markup it does not expect (an unterminated comment,
/// a `<` inside a tag) ends the scan: the parser then reports it with line and column. A
/// `<!DOCTYPE` ends the scan too, so the parser refuses it with its own reason.
enum XMLPreScan {
    /// What the scan counted (up to where it stopped).
    struct Counts: Equatable {
        /// Elements, comments and processing instructions (the XML declaration included).
        var nodes = 0
        /// Attributes and namespace declarations.
        var attributes = 0
    }

    private static let lessThan = UInt8(ascii: "<")
    private static let greaterThan = UInt8(ascii: ">")
    private static let equals = UInt8(ascii: "=")
    private static let doubleQuote = UInt8(ascii: "\"")
    private static let singleQuote = UInt8(ascii: "'")
    private static let commentOpen = Array("<!--".utf8)
    private static let commentClose = Array("-->".utf8)
    private static let cdataOpen = Array("<![CDATA[".utf8)
    private static let cdataClose = Array("]]>".utf8)
    private static let piClose = Array("?>".utf8)

    /// Scans `bytes` and throws the first limit it exceeds.
    @discardableResult
    static func check(_ bytes: UnsafeRawBufferPointer, limits: XMLParseLimits) throws(XMLError) -> Counts {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return Counts() }
        let count = bytes.count
        var counts = Counts()
        var index = 0

        func countNode(at position: Int) throws(XMLError) {
            counts.nodes += 1
            if counts.nodes > limits.maxNodes {
                throw .tooManyNodes(limit: limits.maxNodes, line: line(of: position, in: base))
            }
        }

        while index < count {
            guard let found = memchr(base + index, Int32(lessThan), count - index) else { break }
            let open = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
            guard open + 1 < count else { break }
            switch base[open + 1] {
            case UInt8(ascii: "!"):
                if has(commentOpen, at: open, base, count) {
                    try countNode(at: open)
                    guard let close = find(commentClose, from: open + 4, base, count) else { return counts }
                    index = close + commentClose.count
                } else if has(cdataOpen, at: open, base, count) {
                    guard let close = find(cdataClose, from: open + cdataOpen.count, base, count) else { return counts }
                    index = close + cdataClose.count
                } else {
                    // A DOCTYPE (or another declaration): the parser refuses it with its own reason.
                    return counts
                }
            case UInt8(ascii: "?"):
                try countNode(at: open)
                guard let close = find(piClose, from: open + 2, base, count) else { return counts }
                index = close + piClose.count
            case UInt8(ascii: "/"):
                // An end tag has no quoted parts.
                guard let close = memchr(base + open, Int32(greaterThan), count - open) else { return counts }
                index = UnsafePointer<UInt8>(close.assumingMemoryBound(to: UInt8.self)) - base + 1
            default:
                try countNode(at: open)
                guard let (end, attributes) = scanStartTag(from: open + 1, base, count) else { return counts }
                if attributes > limits.maxAttributesPerElement {
                    throw .tooManyAttributes(
                        element: elementName(at: open + 1, base, count), count: attributes,
                        limit: limits.maxAttributesPerElement,
                        line: line(of: open, in: base))
                }
                counts.attributes += attributes
                if counts.attributes > limits.maxAttributes {
                    throw .tooManyAttributesInDocument(limit: limits.maxAttributes, line: line(of: open, in: base))
                }
                index = end + 1
            }
        }
        return counts
    }

    /// Scans a start tag from just after its `<`: the index of its closing `>` and how many
    /// attributes it has, or `nil` if the tag does not end (the parser reports that).
    private static func scanStartTag(from start: Int, _ base: UnsafePointer<UInt8>, _ count: Int) -> (Int, Int)? {
        var index = start
        var attributes = 0
        while index < count {
            switch base[index] {
            case doubleQuote, singleQuote:
                let quote = base[index]
                guard let close = memchr(base + index + 1, Int32(quote), count - index - 1) else { return nil }
                index = UnsafePointer<UInt8>(close.assumingMemoryBound(to: UInt8.self)) - base + 1
                continue
            case equals:
                attributes += 1
            case greaterThan:
                return (index, attributes)
            case lessThan:
                return nil
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private static func has(_ pattern: [UInt8], at index: Int, _ base: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard index + pattern.count <= count else { return false }
        return pattern.indices.allSatisfy { base[index + $0] == pattern[$0] }
    }

    /// The start of the next `pattern` at or after `start`, found in linear time.
    private static func find(_ pattern: [UInt8], from start: Int, _ base: UnsafePointer<UInt8>, _ count: Int) -> Int? {
        var index = start
        while index + pattern.count <= count {
            guard let found = memchr(base + index, Int32(pattern[0]), count - index - pattern.count + 1) else {
                return nil
            }
            let candidate = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
            if has(pattern, at: candidate, base, count) { return candidate }
            index = candidate + 1
        }
        return nil
    }

    /// The element name starting at `start` (at most 100 bytes), for the refusal reason.
    private static func elementName(at start: Int, _ base: UnsafePointer<UInt8>, _ count: Int) -> String {
        var end = start
        while end < count, end - start < 100 {
            let byte = base[end]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == greaterThan
                || byte == UInt8(ascii: "/")
            {
                break
            }
            end += 1
        }
        return String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self)
    }

    /// The 1-based line of `offset` (only computed for a refusal).
    private static func line(of offset: Int, in base: UnsafePointer<UInt8>) -> Int {
        var lines = 1
        var index = 0
        while index < offset, let found = memchr(base + index, 0x0A, offset - index) {
            lines += 1
            index = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base + 1
        }
        return lines
    }
}
