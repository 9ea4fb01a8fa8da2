import Foundation
import Hummingbird
import Logging
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusXML

/// Turns one POST into a message in the endpoint's intake queue, or into a rejection.
///
/// Checks run cheapest first and before the body is read where possible: method, caller
/// (401/403), content type (415), declared length (413); then the body is read while its size
/// is checked (413), parsed with the guarded parser (400), and published persistent with a
/// publisher confirm (503 if the broker is away or does not confirm). Only then 202.
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
        }

        let contentType = request.headers[.contentType] ?? ""
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
            _ = try StadtbusXML.XMLDocument(parsing: bytes, limits: XMLParseLimits(maxBytes: settings.maxBodySize))
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
            correlation: Self.header(request, Self.correlationHeader))
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
            guard let tokens else { return .unauthorized("no token is configured for this endpoint") }
            return ClientCheck.bearer(authorization: request.headers[.authorization], tokens: tokens)
        case .mtlsProxy(let policy):
            let verify = header(request, policy.verifyHeader)
            let subject = header(request, policy.subjectHeader)
            return ClientCheck.mtlsProxy(
                peer: peer.flatMap(IPAddress.init), verify: verify, subject: subject, policy: policy)
        }
    }

    /// The first value of the header `name` (case-insensitive).
    static func header(_ request: Request, _ name: String) -> String? {
        let wanted = name.lowercased()
        return request.headers.first { $0.name.canonicalName == wanted }?.value
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
        let correlation = correlation.map { String($0.prefix(maxMessageIDLength)) }
        if let correlation, !correlation.isEmpty { headers["x-correlation-id"] = .string(correlation) }
        return AMQPOutgoingMessage(
            body: body,
            properties: AMQPMessageProperties(
                messageID: id, correlationID: correlation, timestamp: Date(), contentType: contentType,
                persistent: true,
                headers: headers))
    }
}
