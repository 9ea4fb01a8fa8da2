import Foundation

/// The JSON line that opens every frame of the exec protocol (framing v1, see README.md).
///
/// One type for all frame kinds: fields a kind does not use stay `nil`. Unknown JSON fields
/// are ignored when decoding, so a program (or a later Stadtbus) may add fields freely.
public struct FrameHeader: Codable, Sendable, Equatable {
    /// The framing version; always 1.
    public var version: Int
    /// `deliver`, `result`, `message`, `settled` (others are ignored for forward compatibility).
    public var type: String
    /// Matches an answer to its request (`deliver`→`result`, `message`→`settled`).
    public var seq: UInt64?
    public var messageID: String?
    public var route: String?
    public var endpoint: String?
    public var contentType: String?
    public var headers: [String: String]?
    /// `ok`/`retry`/`fail` in a `result`, `accepted`/`rejected` in a `settled`.
    public var status: String?
    public var code: String?
    public var reason: String?
    public var attempt: Int?
    /// The number of body bytes that follow the line.
    public var length: Int

    enum CodingKeys: String, CodingKey {
        case version = "v"
        case type, seq, route, endpoint, headers, status, code, reason, attempt, length
        case messageID = "message-id"
        case contentType = "content-type"
    }

    public init(
        type: String, seq: UInt64?, messageID: String? = nil, route: String? = nil, endpoint: String? = nil,
        contentType: String? = nil, headers: [String: String]? = nil, status: String? = nil, code: String? = nil,
        reason: String? = nil, attempt: Int? = nil, length: Int = 0
    ) {
        self.version = Frame.version
        self.type = type
        self.seq = seq
        self.messageID = messageID
        self.route = route
        self.endpoint = endpoint
        self.contentType = contentType
        self.headers = headers
        self.status = status
        self.code = code
        self.reason = reason
        self.attempt = attempt
        self.length = length
    }
}

/// One frame: the header line and `header.length` body bytes.
public struct Frame: Sendable, Equatable {
    /// The framing version this build speaks.
    public static let version = 1

    public var header: FrameHeader
    public var body: [UInt8]

    /// A frame whose `length` is set from `body`.
    public init(_ header: FrameHeader, body: [UInt8] = []) {
        var header = header
        header.length = body.count
        self.header = header
        self.body = body
    }

    /// The bytes on the wire: the header as one line of JSON, `\n`, the body, `\n`.
    ///
    /// JSON escapes control characters inside strings, so the header line never contains a
    /// raw newline.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and integers cannot fail; an empty header would be
        // rejected by the program as malformed, which is the loudest possible outcome.
        let line = (try? encoder.encode(header)) ?? Data()
        var bytes = [UInt8]()
        bytes.reserveCapacity(line.count + body.count + 2)
        bytes.append(contentsOf: line)
        bytes.append(0x0A)
        bytes.append(contentsOf: body)
        bytes.append(0x0A)
        return bytes
    }
}

/// A frame that breaks framing v1: the program's output cannot be trusted any further.
public struct FrameProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "exec protocol error: \(message)" }
}
