/// Checks HTTP header names and values that cross Stadtbus (RFC 9110), for every HTTP adapter.
///
/// - `http-out` puts message metadata (AMQP `content_type`, correlation id, message id, forwarded
///   message headers) that any publisher controls, and configured values, into request header
///   lines: a line break in one of them would add header lines of the publisher's choosing
///   (`Authorization: …`), so such a value refuses the delivery.
/// - `http-in` takes a `Content-Type` and a correlation id from a request and hands them on as
///   AMQP short strings (at most 255 bytes) that later become header lines again: a value that is
///   not allowed is answered with 400.
///
/// Nothing is repaired: every check returns why a value is not allowed, or `nil`.
public enum HeaderField {
    /// The longest `Content-Type` accepted (AMQP's `content_type` is a short string: 255 bytes).
    public static let maxMediaTypeLength = 255

    /// `nil` when `name` is an RFC 9110 token (a valid field name), else why not.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty else { return "is empty" }
        guard name.utf8.allSatisfy(isTokenByte) else {
            return "'\(visible(name))' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        }
        return nil
    }

    /// `nil` when `value` may stand in a header line (RFC 9110 field-value: visible characters,
    /// spaces and tabs, non-ASCII text; no CR, LF, NUL or other control characters), else why not.
    public static func valueProblem(_ value: String) -> String? {
        for byte in value.utf8 where isControl(byte) {
            return "holds the control character 0x\(String(byte, radix: 16, uppercase: true)) "
                + "('\(visible(String(value.prefix(80))))'); a line break would add header lines"
        }
        return nil
    }

    /// `nil` when `text` is a media type such as `application/xml; charset=utf-8`
    /// (RFC 9110 §8.3.1: `type/subtype *( OWS ";" OWS parameter )`, ASCII, at most 255 bytes).
    public static func mediaTypeProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxMediaTypeLength else {
            return "is \(bytes.count) bytes long; a media type has at most \(maxMediaTypeLength)"
        }
        if let problem = valueProblem(text) { return problem }
        var scanner = Scanner(bytes)
        guard scanner.token() > 0, scanner.take(UInt8(ascii: "/")), scanner.token() > 0 else {
            return "'\(visible(text))' is not a media type like application/xml"
        }
        while true {
            scanner.skipWhitespace()
            if scanner.atEnd { return nil }
            guard scanner.take(UInt8(ascii: ";")) else {
                return "'\(visible(text))' is not a media type (unexpected character after the type)"
            }
            scanner.skipWhitespace()
            if scanner.atEnd { return nil }
            if scanner.peek == UInt8(ascii: ";") { continue }
            guard scanner.token() > 0, scanner.take(UInt8(ascii: "=")), scanner.tokenOrQuotedString() else {
                return "'\(visible(text))' has a malformed parameter (NAME=VALUE or NAME=\"VALUE\")"
            }
        }
    }

    private static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != 0x09) || byte == 0x7F }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// `text` with control characters shown as `\r`, `\n` or `\u{…}`, for error messages and logs.
    public static func visible(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                shown += scalar.escaped(asASCII: true)
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }

    /// Walks the bytes of a media type.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            index += 1
            return true
        }

        /// Consumes a token; returns its length.
        mutating func token() -> Int {
            let start = index
            while let byte = peek, HeaderField.isTokenByte(byte) { index += 1 }
            return index - start
        }

        mutating func skipWhitespace() {
            while peek == UInt8(ascii: " ") || peek == 0x09 { index += 1 }
        }

        /// A token or a quoted-string (qdtext and quoted-pairs, ASCII only).
        mutating func tokenOrQuotedString() -> Bool {
            guard take(UInt8(ascii: "\"")) else { return token() > 0 }
            while let byte = peek {
                index += 1
                switch byte {
                case UInt8(ascii: "\""): return true
                case UInt8(ascii: "\\"):
                    guard let escaped = peek, escaped == 0x09 || (0x20...0x7E).contains(escaped) else { return false }
                    index += 1
                case 0x09, 0x20...0x7E: continue
                default: return false
                }
            }
            return false
        }
    }
}
