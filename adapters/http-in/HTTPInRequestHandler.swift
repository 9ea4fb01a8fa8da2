import Foundation
import Hummingbird
import Logging
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusXML

/// Turns one POST into a message in the endpoint's intake queue, or into a rejection.
///
/// Checks run cheapest first and before the body is read where possible: method, caller
/// (401/403; 400 for an authentication header sent twice), content type (400 if it is not a
/// media type of at most 255 bytes, 415 if it is not XML), declared length (413), correlation
/// id (400 if repeated, over 255 bytes or with control characters); then the body is read
/// while its size is checked (413), parsed with the guarded parser (400), and published
/// persistent with a publisher confirm (503 if the broker is away or does not confirm; 400 if
/// the transport finds the message itself cannot be carried). Only then 202.
struct HTTPInRequestHandler: Sendable {
    let context: AdapterContext

    /// The largest `X-Message-ID` kept (longer ones are cut).
    static let maxMessageIDLength = 200
    static let messageIDHeader = "x-message-id"
    static let correlationHeader = "x-correlation-id"

    func respond(to request: Request, peer: String?, endpoint: HTTPInEndpointState) async -> Response {
        let (settings, tokens) = endpoint.snapshot
        func reject(_ status: HTTPResponse.Status, _ reason: String, headers: HTTPFields = [:]) -> Response {
            context.metrics.countAdapterError(adapter: "http-in")
            context.logger.warning(
                "http-in request rejected",
                metadata: [
                    "endpoint": "\(endpoint.name)", "status": "\(status.code)", "reason": "\(reason)",
                    "peer": "\(peer ?? "unknown")",
                ])
            return HTTPInAnswer.rejected(status, reason: reason, headers: headers)
        }

        guard request.method == .post else {
            return reject(.methodNotAllowed, "only POST is accepted here", headers: [.allow: "POST"])
        }

        let client: String
        switch Self.check(request, peer: peer, auth: settings.auth, tokens: tokens) {
        case .allowed(let name): client = name
        case .unauthorized(let reason):
            return reject(.unauthorized, reason, headers: [.wwwAuthenticate: #"Bearer realm="stadtbus""#])
        case .forbidden(let reason): return reject(.forbidden, reason)
        case .malformed(let reason): return reject(.badRequest, reason)
        }

        // Repeated Content-Type headers arrive joined with ", ", which is not a media type.
        let contentType = request.headers[.contentType] ?? ""
        if !contentType.isEmpty, let problem = HeaderField.mediaTypeProblem(contentType) {
            return reject(.badRequest, "Content-Type \(problem)")
        }
        guard Self.isXML(contentType) else {
            return reject(
                .unsupportedMediaType,
                "Content-Type must be application/xml, text/xml or application/*+xml, "
                    + "found '\(String(contentType.prefix(100)))'"
            )
        }
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > settings.maxBodySize {
            return reject(
                .contentTooLarge, "body of \(declared) bytes exceeds the limit of \(settings.maxBodySize) bytes")
        }
        let correlations = Self.values(request, Self.correlationHeader)
        guard correlations.count <= 1 else {
            return reject(.badRequest, "the X-Correlation-ID header is sent \(correlations.count) times; send it once")
        }
        let correlation = correlations.first.flatMap { $0.isEmpty ? nil : $0 }
        if let correlation, let problem = Self.correlationProblem(correlation) {
            return reject(.badRequest, "X-Correlation-ID \(problem)")
        }

        var body = ByteBuffer()
        do {
            for try await chunk in request.body {
                guard body.readableBytes + chunk.readableBytes <= settings.maxBodySize else {
                    return reject(.contentTooLarge, "body exceeds the limit of \(settings.maxBodySize) bytes")
                }
                body.writeImmutableBuffer(chunk)
            }
        } catch {
            return reject(.badRequest, "the request body could not be read: \(error)")
        }
        let bytes = body.readableBytesView.map { $0 }
        do {
            // The configured parse limits, with this endpoint's size limit; parsed on the message-work
            // threads (not the pool that serves /health), large bodies a few at a time.
            var limits = context.engine.table.parseLimits
            limits.maxBytes = settings.maxBodySize
            try await LargeDocumentGate.shared.withAdmission(forDocumentOf: bytes.count, limits: limits) {
                try await withTaskExecutorPreference(XMLWorkExecutor.shared) {
                    _ = try StadtbusXML.XMLDocument(parsing: bytes, limits: limits)
                }
            }
        } catch let error as XMLError {
            return reject(.badRequest, "\(error)")
        } catch {
            return reject(.badRequest, "not well-formed XML: \(error)")
        }

        guard context.brokers.isConnected(settings.broker), let publisher = context.brokers.publisher(settings.broker)
        else {
            return reject(
                .serviceUnavailable, "broker '\(settings.broker)' is not connected; retry later",
                headers: [.retryAfter: "\(settings.retryAfter)"])
        }
        let id = Self.messageID(from: Self.header(request, Self.messageIDHeader))
        let message = Self.message(
            body: bytes, id: id, contentType: contentType, endpoint: endpoint.name, client: client,
            correlation: correlation)
        let started = ContinuousClock.now
        switch await ConfirmedPublish.publish(
            message, to: settings.queue, with: publisher, timeout: settings.confirmTimeout)
        {
        case .confirmed:
            RuntimeMetrics(metrics: context.metrics, broker: settings.broker).publishConfirmed(
                after: ContinuousClock.now - started)
            context.logger.info(
                "http-in message accepted",
                metadata: [
                    "endpoint": "\(endpoint.name)", "transport_message_id": "\(id)", "client": "\(client)",
                    "bytes": "\(bytes.count)", "queue": "\(settings.queue)",
                ])
            return HTTPInAnswer.accepted(id: id)
        case .timedOut:
            return reject(
                .serviceUnavailable, "broker '\(settings.broker)' did not confirm the message in time; retry later",
                headers: [.retryAfter: "\(settings.retryAfter)"])
        case .failed(.invalidMessage(let problem)):
            // The message itself cannot be carried (checked above, so this is a last line of
            // defence): the caller's fault, and sending it again cannot help.
            return reject(.badRequest, "the message cannot be accepted: \(problem)")
        case .failed(let error):
            return reject(
                .serviceUnavailable, "broker '\(settings.broker)' did not take the message (\(error)); retry later",
                headers: [.retryAfter: "\(settings.retryAfter)"])
        }
    }

    static func check(_ request: Request, peer: String?, auth: HTTPInSettings.Auth, tokens: BearerTokens?)
        -> ClientCheck.Verdict
    {
        switch auth {
        case .none:
            return .allowed(client: "anonymous")
        case .bearer:
            let authorizations = values(request, "authorization").count
            if let repeated = ClientCheck.unique([(name: "Authorization", count: authorizations)]) { return repeated }
            guard let tokens else { return .unauthorized("no token is configured for this endpoint") }
            return ClientCheck.bearer(authorization: request.headers[.authorization], tokens: tokens)
        case .mtlsProxy(let policy):
            let authHeaders = [policy.verifyHeader, policy.subjectHeader, "Authorization"]
            if let repeated = ClientCheck.unique(authHeaders.map { (name: $0, count: values(request, $0).count) }) {
                return repeated
            }
            let verify = header(request, policy.verifyHeader)
            let subject = header(request, policy.subjectHeader)
            return ClientCheck.mtlsProxy(
                peer: peer.flatMap(IPAddress.init), verify: verify, subject: subject, policy: policy)
        }
    }

    /// The first value of the header `name` (case-insensitive).
    static func header(_ request: Request, _ name: String) -> String? {
        values(request, name).first
    }

    /// Every value of the header `name` (case-insensitive), one per header line.
    static func values(_ request: Request, _ name: String) -> [String] {
        let wanted = name.lowercased()
        return request.headers.filter { $0.name.canonicalName == wanted }.map(\.value)
    }

    /// The longest `X-Correlation-ID` accepted: what an AMQP `correlation_id` can carry.
    static let maxCorrelationIDBytes = 255

    /// `nil` when `correlation` can be passed on as it is, else why not. It is an identifier, so
    /// it is refused rather than cut (a cut one could name another message's correlation).
    static func correlationProblem(_ correlation: String) -> String? {
        let bytes = correlation.utf8.count
        guard bytes <= maxCorrelationIDBytes else {
            return "is \(bytes) bytes long (UTF-8); at most \(maxCorrelationIDBytes) are accepted"
        }
        return HeaderField.valueProblem(correlation)
    }

    /// `application/xml`, `text/xml` or `application/*+xml`, parameters (charset) allowed.
    static func isXML(_ contentType: String) -> Bool {
        let media =
            contentType.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
        return media == "application/xml" || media == "text/xml"
            || (media.hasPrefix("application/") && media.hasSuffix("+xml"))
    }

    /// The caller's `X-Message-ID` reduced to `[A-Za-z0-9._:@-]` and 200 characters, else a new UUID.
    static func messageID(from header: String?) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._:@-"))
        let kept = String(
            String.UnicodeScalarView((header ?? "").unicodeScalars.filter { $0.isASCII && allowed.contains($0) })
                .prefix(maxMessageIDLength))
        return kept.isEmpty ? UUID().uuidString.lowercased() : kept
    }

    static func message(
        body: [UInt8], id: String, contentType: String, endpoint: String, client: String, correlation: String?
    ) -> AMQPOutgoingMessage {
        var headers: [String: AMQPHeaderValue] = [
            "x-stadtbus-http-endpoint": .string(endpoint),
            "x-stadtbus-received-at": .string(Date().formatted(.iso8601)),
            "x-stadtbus-client": .string(client),
        ]
        if let correlation, !correlation.isEmpty { headers["x-correlation-id"] = .string(correlation) }
        return AMQPOutgoingMessage(
            body: body,
            properties: AMQPMessageProperties(
                messageID: id, correlationID: correlation, timestamp: Date(), contentType: contentType,
                persistent: true,
                headers: headers))
    }
}
