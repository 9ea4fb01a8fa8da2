internal import CCurl
import Dispatch
import Foundation
import StadtbusAdapterKit
import StadtbusConcurrency
import StadtbusCore

/// Delivers outgoing messages to `http-out` endpoints with libcurl: POST (or PUT) of the
/// XML body, returning only on a 2xx answer (the receiver then holds the message).
///
/// Failures are classified for the route's retry policy: a timeout, a refused connection
/// and HTTP 5xx/429 are transient (`timeout`, `connect`, `http-503`, …); other 4xx answers are
/// permanent (`http-400`, …) and carry an excerpt of the response body, which usually says
/// what the receiver disliked. TLS: the server is always verified (CA bundle, or the system
/// store); client certificates (mTLS) and public-key pinning come from the endpoint settings.
///
/// Endpoint settings: `url`, `method` (POST/PUT), `timeout`, `headers` (constant headers),
/// `forward-headers` (message headers sent along), `ca`, `certificate`, `key`, `pinned-public-key` (`sha256//BASE64`).
///
/// Header values come from message metadata that any publisher controls: a content type that is
/// not a media type, or any header name or value with a line break or other control character,
/// refuses the delivery permanently (`invalid-header`, dead-lettered with the reason) instead of
/// being sent or repaired.
public struct HTTPSink: MessageSink {
    /// At most this many requests run at once (each occupies a thread while libcurl waits).
    private let limiter: AsyncSemaphore

    /// Creates the sink; at most `maximumConcurrentRequests` requests are in flight at once.
    public init(maximumConcurrentRequests: Int = 16) {
        limiter = AsyncSemaphore(limit: maximumConcurrentRequests)
        stadtbus_http_global_init()
    }

    public func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let request = try HTTPRequest(message: message, endpoint: endpoint)
        // Not cancelled with the task: a delivery that started waiting is made, as before.
        await limiter.acquireIgnoringCancellation()
        defer { limiter.release() }
        let response = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: request.perform())
            }
        }
        try response.check(endpoint: endpoint.name)
    }
}

/// One request, prepared from the message and the endpoint settings.
struct HTTPRequest {
    let url: String
    let method: String
    let body: [UInt8]
    let headers: [String]
    let timeout: Duration
    let ca: String?
    let certificate: String?
    let key: String?
    let pinnedPublicKey: String?

    init(message: OutgoingMessage, endpoint: Endpoint) throws {
        guard let url = endpoint.settings["url"]?.string else {
            throw DeliveryError.permanent("configuration", "endpoint '\(endpoint.name)' has no url")
        }
        self.url = url
        method = endpoint.settings["method"]?.string ?? "POST"
        body = message.body
        timeout = endpoint.settings["timeout"]?.duration ?? .seconds(30)
        ca = endpoint.settings["ca"]?.string
        certificate = endpoint.settings["certificate"]?.string
        key = endpoint.settings["key"]?.string
        pinnedPublicKey = endpoint.settings["pinned-public-key"]?.string
        let contentType = message.properties.contentType.flatMap { $0.isEmpty ? nil : $0 } ?? "application/xml"
        if let problem = HeaderField.mediaTypeProblem(contentType) {
            throw DeliveryError.permanent(
                "invalid-header", "endpoint '\(endpoint.name)': the message's content type \(problem); not sent")
        }
        var headers = [
            ("Content-Type", contentType),
            ("X-Stadtbus-Message-ID", message.messageID),
            ("X-Stadtbus-Route", message.route),
        ]
        if let correlation = message.properties.correlationID, !correlation.isEmpty {
            headers.append(("X-Correlation-ID", correlation))
        }
        if case .list(let names)? = endpoint.settings["forward-headers"] {
            for name in names.compactMap(\.string) {
                guard let value = message.headers[name] ?? message.headers[name.lowercased()] else { continue }
                headers.append((name, value))
            }
        }
        if case .map(let constant)? = endpoint.settings["headers"] {
            for (name, value) in constant.sorted(by: { $0.key < $1.key }) {
                headers.append((name, value.string ?? value.description))
            }
        }
        for (name, value) in headers {
            if let problem = HeaderField.nameProblem(name) {
                throw DeliveryError.permanent(
                    "invalid-header", "endpoint '\(endpoint.name)': header name \(problem); not sent")
            }
            if let problem = HeaderField.valueProblem(value) {
                throw DeliveryError.permanent(
                    "invalid-header", "endpoint '\(endpoint.name)': the value of header \(name) \(problem); not sent")
            }
        }
        // "Expect:" with no value keeps libcurl from waiting for 100-continue.
        self.headers = headers.map { "\($0.0): \($0.1)" } + ["Expect:"]
    }

    func perform() -> HTTPResponse {
        var response = stadtbus_http_response()
        let milliseconds =
            Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
        withOptionalCStrings([ca, certificate, key, pinnedPublicKey]) { optional in
            let cHeaders = headers.map { strdup($0) }
            defer { cHeaders.forEach { free($0) } }
            var headerPointers = cHeaders.map { UnsafePointer<CChar>($0) }
            url.withCString { url in
                method.withCString { method in
                    body.withUnsafeBufferPointer { body in
                        headerPointers.withUnsafeMutableBufferPointer { headerList in
                            var request = stadtbus_http_request(
                                url: url, method: method, body: body.baseAddress, body_length: body.count,
                                headers: headerList.baseAddress, header_count: Int32(headerList.count),
                                timeout_ms: milliseconds, connect_timeout_ms: min(milliseconds, 10_000),
                                ca_file: optional[0], client_certificate: optional[1], client_key: optional[2],
                                pinned_public_key: optional[3])
                            stadtbus_http_perform(&request, &response)
                        }
                    }
                }
            }
        }
        return HTTPResponse(response)
    }
}

/// Runs `body` with C strings for optional Swift strings (NULL for nil).
private func withOptionalCStrings(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> Void) {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    body(copies.map { $0.map { UnsafePointer($0) } })
}

/// What came back, classified.
struct HTTPResponse {
    let status: Int
    let transportError: Int
    let timedOut: Bool
    let error: String
    let bodyExcerpt: String

    init(_ response: stadtbus_http_response) {
        var copy = response
        status = response.status
        transportError = Int(response.transport_error)
        timedOut = response.timed_out != 0
        error = withUnsafeBytes(of: &copy.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        bodyExcerpt = withUnsafeBytes(of: &copy.body_excerpt) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func check(endpoint: String) throws {
        if transportError != 0 {
            if timedOut { throw DeliveryError.transient("timeout", "\(endpoint): no answer in time (\(error))") }
            // Security failures are loud: the message is dead-lettered at once instead of
            // being retried for hours against a server that is not who it should be.
            switch transportError {
            case 60:
                throw DeliveryError.permanent("tls-verify", "\(endpoint): server certificate not trusted: \(error)")
            case 58:
                throw DeliveryError.permanent(
                    "tls-client-certificate", "\(endpoint): client certificate unusable: \(error)")
            case 90:
                throw DeliveryError.permanent(
                    "tls-pin", "\(endpoint): server key does not match the pinned key: \(error)")
            default: throw DeliveryError.transient("connect", "\(endpoint): \(error)")
            }
        }
        switch status {
        case 200..<300:
            return
        case 408, 429, 500..<600:
            throw DeliveryError.transient("http-\(status)", "\(endpoint) answered \(status): \(excerpt)")
        default:
            throw DeliveryError.permanent("http-\(status)", "\(endpoint) answered \(status): \(excerpt)")
        }
    }

    private var excerpt: String {
        let text = bodyExcerpt.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(empty body)" : String(text.prefix(500))
    }
}
