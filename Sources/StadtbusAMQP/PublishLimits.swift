import Foundation

/// What AMQP 0-9-1 can carry in one publish, checked before a message is handed to the
/// connection's thread.
///
/// rabbitmq-c refuses an over-long short string only while it encodes the content header —
/// after the basic.publish method frame is already on the wire — so a message it cannot
/// encode must never reach it: the connection would be broken for every other publish.
public enum AMQPPublishLimits {
    /// The longest AMQP short string in bytes of UTF-8: property values (message-id,
    /// correlation-id, content-type, …), the exchange name, the routing key and every
    /// header-table key.
    public static let shortString = 255
    /// The largest content header (all properties and headers, encoded) Stadtbus sends: it
    /// must fit into one frame of the size Stadtbus negotiates (131 072 bytes) less the frame
    /// and content-header overhead.
    public static let contentHeader = 131_072 - 8 - 14
}

extension AMQPOutgoingMessage {
    /// Checks that AMQP can carry this message to `exchange` with `routingKey`.
    /// - Throws: ``AMQPError/invalidMessage(_:)`` naming the first field that does not fit,
    ///   its size and the limit, e.g. "correlation-id is 312 bytes; AMQP allows at most 255".
    public func validateForPublishing(exchange: String, routingKey: String) throws {
        func check(_ field: String, _ value: String?) throws {
            guard let value else { return }
            let size = value.utf8.count
            if size > AMQPPublishLimits.shortString {
                throw AMQPError.invalidMessage(
                    "\(field) is \(size) bytes; AMQP allows at most \(AMQPPublishLimits.shortString)")
            }
        }
        try check("exchange name", exchange)
        try check("routing key", routingKey)
        for (field, value) in properties.shortStrings { try check(field, value) }
        try Self.checkKeys(properties.headers, path: "headers")
        let size = properties.encodedSize
        if size > AMQPPublishLimits.contentHeader {
            throw AMQPError.invalidMessage(
                "properties and headers are \(size) bytes encoded; one AMQP content header allows at most \(AMQPPublishLimits.contentHeader)"
            )
        }
    }

    private static func checkKeys(_ table: [String: AMQPHeaderValue], path: String) throws {
        for (key, value) in table {
            let size = key.utf8.count
            if size > AMQPPublishLimits.shortString {
                throw AMQPError.invalidMessage(
                    "\(path) key '\(key.utf8Prefix(40))…' is \(size) bytes; AMQP allows at most \(AMQPPublishLimits.shortString)"
                )
            }
            try checkKeys(in: value, path: "\(path).\(key)")
        }
    }

    private static func checkKeys(in value: AMQPHeaderValue, path: String) throws {
        switch value {
        case .table(let nested): try checkKeys(nested, path: path)
        case .array(let items):
            for (index, item) in items.enumerated() { try checkKeys(in: item, path: "\(path)[\(index)]") }
        default: break
        }
    }

    /// A copy that AMQP can always carry, for dead letters and retries (which must not fail
    /// for the very reason a message is being dead-lettered): every property value and
    /// header key over ``AMQPPublishLimits/shortString`` bytes is cut at a character boundary,
    /// and each change is listed in the header ``AMQPHeaderName/shortened``.
    ///
    /// A message that arrived over AMQP can still need this: rabbitmq-c hands over bytes, and
    /// invalid UTF-8 grows when it is decoded (each bad byte becomes a 3-byte U+FFFD).
    public func shortenedForPublishing() -> AMQPOutgoingMessage {
        var copy = self
        var notes: [String] = []
        func shorten(_ field: String, _ value: inout String?) {
            guard let text = value, text.utf8.count > AMQPPublishLimits.shortString else { return }
            notes.append("\(field) (\(text.utf8.count) bytes)")
            value = text.utf8Prefix(AMQPPublishLimits.shortString)
        }
        shorten("message-id", &copy.properties.messageID)
        shorten("correlation-id", &copy.properties.correlationID)
        shorten("content-type", &copy.properties.contentType)
        shorten("content-encoding", &copy.properties.contentEncoding)
        shorten("type", &copy.properties.type)
        shorten("reply-to", &copy.properties.replyTo)
        shorten("app-id", &copy.properties.appID)
        shorten("expiration", &copy.properties.expiration)
        copy.properties.headers = Self.shortenKeys(copy.properties.headers, path: "headers", notes: &notes)
        if !notes.isEmpty {
            copy.properties.headers[AMQPHeaderName.shortened] = .string(
                "shortened to \(AMQPPublishLimits.shortString) bytes: " + notes.joined(separator: ", "))
        }
        return copy
    }

    private static func shortenKeys(
        _ table: [String: AMQPHeaderValue], path: String, notes: inout [String]
    ) -> [String: AMQPHeaderValue] {
        var result: [String: AMQPHeaderValue] = [:]
        for (key, value) in table {
            var newKey = key
            if key.utf8.count > AMQPPublishLimits.shortString {
                notes.append("\(path) key '\(key.utf8Prefix(40))…' (\(key.utf8.count) bytes)")
                newKey = key.utf8Prefix(AMQPPublishLimits.shortString)
            }
            result[newKey] = shortenKeys(in: value, path: "\(path).\(newKey.utf8Prefix(40))", notes: &notes)
        }
        return result
    }

    private static func shortenKeys(in value: AMQPHeaderValue, path: String, notes: inout [String]) -> AMQPHeaderValue {
        switch value {
        case .table(let nested): return .table(shortenKeys(nested, path: path, notes: &notes))
        case .array(let items):
            return .array(items.map { shortenKeys(in: $0, path: path, notes: &notes) })
        default: return value
        }
    }
}

extension AMQPMessageProperties {
    /// The properties AMQP encodes as short strings, with their wire names.
    var shortStrings: [(String, String?)] {
        [
            ("message-id", messageID), ("correlation-id", correlationID), ("content-type", contentType),
            ("content-encoding", contentEncoding), ("type", type), ("reply-to", replyTo), ("app-id", appID),
            ("expiration", expiration),
        ]
    }

    /// The size of the encoded property list (AMQP 0-9-1 basic class), without the content
    /// header's fixed part.
    var encodedSize: Int {
        var size = 2  // property flags
        for (_, value) in shortStrings { if let value { size += 1 + value.utf8.count } }
        size += 1  // delivery mode
        if priority != nil { size += 1 }
        if timestamp != nil { size += 8 }
        if !headers.isEmpty { size += AMQPHeaderValue.encodedSize(of: headers) }
        return size
    }
}

extension AMQPHeaderValue {
    /// The encoded size of a field table: 4 bytes of length, then per entry its short-string
    /// key, a type byte and the value.
    static func encodedSize(of table: [String: AMQPHeaderValue]) -> Int {
        table.reduce(4) { $0 + 1 + $1.key.utf8.count + $1.value.encodedSize }
    }

    /// The encoded size of this value including its type byte (as rabbitmq-c writes it).
    var encodedSize: Int {
        switch self {
        case .string(let s): return 1 + 4 + s.utf8.count
        case .int, .double, .timestamp: return 1 + 8
        case .bool: return 1 + 1
        case .bytes(let b): return 1 + 4 + b.count
        case .table(let t): return 1 + Self.encodedSize(of: t)
        case .array(let items): return 1 + items.reduce(4) { $0 + $1.encodedSize }
        case .void: return 1
        }
    }
}

extension String {
    /// The longest prefix of at most `maxBytes` bytes of UTF-8 that ends at a character boundary.
    func utf8Prefix(_ maxBytes: Int) -> String {
        if utf8.count <= maxBytes { return self }
        var result = ""
        var size = 0
        for character in self {
            let length = character.utf8.count
            if size + length > maxBytes { break }
            result.append(character)
            size += length
        }
        return result
    }
}
