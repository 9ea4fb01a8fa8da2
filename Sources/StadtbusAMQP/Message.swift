import CRabbitMQ
import Foundation

/// Names of the headers Stadtbus sets on its messages. The caller (routing engine) sets the values.
public enum AMQPHeaderName {
    /// The route a message travels on.
    public static let route = "x-stadtbus-route"
    /// Delivery attempt (1 for the first try, incremented by each retry).
    public static let attempt = "x-stadtbus-attempt"
    /// Human-readable reason a message was dead-lettered or retried.
    public static let errorReason = "x-stadtbus-error-reason"
    /// The processing step that failed.
    public static let errorStep = "x-stadtbus-error-step"
    /// When Stadtbus first saw the message (timestamp).
    public static let firstSeen = "x-stadtbus-first-seen"
    /// The queue the message originally came from (for dead letters).
    public static let originalQueue = "x-stadtbus-original-queue"
    /// Set on a dead letter or retry whose properties or header keys had to be cut to fit AMQP's
    /// 255-byte short strings: which ones and their original sizes.
    public static let shortened = "x-stadtbus-shortened"
}

/// The AMQP basic properties Stadtbus reads and writes.
public struct AMQPMessageProperties: Sendable, Equatable {
    public var messageID: String?
    public var correlationID: String?
    /// AMQP timestamps have second resolution.
    public var timestamp: Date?
    public var contentType: String?
    public var contentEncoding: String?
    public var type: String?
    public var replyTo: String?
    public var appID: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP `expiration`).
    public var expiration: String?
    public var priority: UInt8?
    /// Delivery mode 2 (persistent) when true, 1 (transient) when false.
    public var persistent: Bool
    public var headers: [String: AMQPHeaderValue]

    public init(
        messageID: String? = nil, correlationID: String? = nil, timestamp: Date? = nil,
        contentType: String? = nil, contentEncoding: String? = nil, type: String? = nil,
        replyTo: String? = nil, appID: String? = nil, expiration: String? = nil, priority: UInt8? = nil,
        persistent: Bool = true, headers: [String: AMQPHeaderValue] = [:]
    ) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.timestamp = timestamp
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.type = type
        self.replyTo = replyTo
        self.appID = appID
        self.expiration = expiration
        self.priority = priority
        self.persistent = persistent
        self.headers = headers
    }
}

/// A message to publish.
public struct AMQPOutgoingMessage: Sendable, Equatable {
    public var body: [UInt8]
    public var properties: AMQPMessageProperties

    public var messageID: String? {
        get { properties.messageID }
        set { properties.messageID = newValue }
    }
    public var headers: [String: AMQPHeaderValue] {
        get { properties.headers }
        set { properties.headers = newValue }
    }

    /// Creates a message; by default persistent (delivery mode 2).
    public init(
        body: [UInt8], messageID: String? = nil, correlationID: String? = nil, timestamp: Date? = nil,
        contentType: String? = nil, headers: [String: AMQPHeaderValue] = [:], persistent: Bool = true
    ) {
        self.body = body
        self.properties = AMQPMessageProperties(
            messageID: messageID, correlationID: correlationID, timestamp: timestamp, contentType: contentType,
            persistent: persistent, headers: headers)
    }

    /// Creates a message with full control over the properties.
    public init(body: [UInt8], properties: AMQPMessageProperties) {
        self.body = body
        self.properties = properties
    }
}

extension AMQPMessageProperties {
    /// Encodes into the C struct; strings and tables live in `arena`.
    func encode(into arena: CArena) -> amqp_basic_properties_t {
        var p = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ value: String?, _ flag: Int32, _ apply: (amqp_bytes_t) -> Void) {
            guard let value else { return }
            apply(arena.bytes(value))
            flags |= UInt32(flag)
        }
        set(contentType, AMQP_BASIC_CONTENT_TYPE_FLAG) { p.content_type = $0 }
        set(contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG) { p.content_encoding = $0 }
        set(correlationID, AMQP_BASIC_CORRELATION_ID_FLAG) { p.correlation_id = $0 }
        set(replyTo, AMQP_BASIC_REPLY_TO_FLAG) { p.reply_to = $0 }
        set(expiration, AMQP_BASIC_EXPIRATION_FLAG) { p.expiration = $0 }
        set(messageID, AMQP_BASIC_MESSAGE_ID_FLAG) { p.message_id = $0 }
        set(type, AMQP_BASIC_TYPE_FLAG) { p.type = $0 }
        set(appID, AMQP_BASIC_APP_ID_FLAG) { p.app_id = $0 }
        p.delivery_mode = persistent ? 2 : 1
        flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        if let priority {
            p.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let timestamp {
            p.timestamp = UInt64(max(0, timestamp.timeIntervalSince1970.rounded(.down)))
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if !headers.isEmpty {
            p.headers = arena.table(headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        p._flags = flags
        return p
    }

    /// Copies out of the C struct (which lives in library memory that is released soon after).
    init(decoding p: amqp_basic_properties_t) {
        let flags = p._flags
        func get(_ flag: Int32, _ value: amqp_bytes_t) -> String? {
            flags & UInt32(flag) != 0 ? FieldTableDecoder.string(value) : nil
        }
        self.init(
            messageID: get(AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id),
            correlationID: get(AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id),
            timestamp: flags & UInt32(AMQP_BASIC_TIMESTAMP_FLAG) != 0
                ? Date(timeIntervalSince1970: TimeInterval(p.timestamp)) : nil,
            contentType: get(AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type),
            contentEncoding: get(AMQP_BASIC_CONTENT_ENCODING_FLAG, p.content_encoding),
            type: get(AMQP_BASIC_TYPE_FLAG, p.type),
            replyTo: get(AMQP_BASIC_REPLY_TO_FLAG, p.reply_to),
            appID: get(AMQP_BASIC_APP_ID_FLAG, p.app_id),
            expiration: get(AMQP_BASIC_EXPIRATION_FLAG, p.expiration),
            priority: flags & UInt32(AMQP_BASIC_PRIORITY_FLAG) != 0 ? p.priority : nil,
            persistent: flags & UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG) != 0 && p.delivery_mode == 2,
            headers: flags & UInt32(AMQP_BASIC_HEADERS_FLAG) != 0 ? FieldTableDecoder.table(p.headers) : [:])
    }
}
