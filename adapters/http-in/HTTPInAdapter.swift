import Foundation
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore

/// `http-in`: other systems POST XML to Stadtbus. An accepted request is answered 202 only
/// once the message is in the endpoint's intake queue (persistent, publisher-confirmed); the
/// route reading the endpoint then consumes that queue with all retry and dead-letter rules.
///
/// ```yaml
/// portal.eingang:
///   type: http-in
///   listen: 127.0.0.1:8081          # shared by every http-in endpoint with this address
///   path: /eingang/portal
///   token-file: ../run/secrets/portal.token
/// ```
///
/// See adapters/http-in/README.md for the settings, the answers and a proxy set-up for mTLS.
public struct HTTPInAdapter: Adapter {
    /// The listeners of this adapter instance (one per `listen` address).
    public let listeners: HTTPInListeners

    public init() {
        listeners = HTTPInListeners()
    }

    static let defaultListen = "127.0.0.1:8081"
    static let defaultMaxBodySize = "16MiB"
    static let defaultVerifyHeader = "X-SSL-Client-Verify"
    static let defaultSubjectHeader = "X-SSL-Client-S-DN"

    public let type = AdapterType(
        name: "http-in",
        settings: SettingsSchema(
            [
                .init(
                    "listen", .checked("HOST:PORT", ListenAddress.problem),
                    default: .string(HTTPInAdapter.defaultListen),
                    help: "address of the listener; endpoints with the same address share it"),
                .init(
                    "path", .checked("an absolute URL path like /eingang/portal", HTTPInAdapter.pathProblem),
                    required: true),
                .init("auth", .oneOf(["bearer", "mtls-proxy", "none"]), default: .string("bearer")),
                .init("token-file", .file, help: "file with the bearer token(s): TOKEN or NAME: TOKEN per line"),
                .init(
                    "token-env", .checked("an environment variable name", HTTPInAdapter.variableProblem),
                    help: "variable holding the token"),
                .init("trusted-proxies", .list(.checked("an IP address", IPAddress.problem))),
                .init(
                    "client-verify-header", .checked("an HTTP header name", HTTPInAdapter.headerProblem),
                    default: .string(HTTPInAdapter.defaultVerifyHeader)),
                .init(
                    "client-subject-header", .checked("an HTTP header name", HTTPInAdapter.headerProblem),
                    default: .string(HTTPInAdapter.defaultSubjectHeader)),
                .init("allowed-subjects", .list(.string), help: "glob patterns on the client certificate's subject DN"),
                .init(
                    "max-body-size", .checked("a size like 16MiB", ByteSize.problem),
                    default: .string(HTTPInAdapter.defaultMaxBodySize)),
                .init("queue", .string, help: "intake queue (default stadtbus.http-in.<endpoint>)"),
                .init("broker", .string, help: "broker of the intake queue (default: main)"),
                .init("confirm-timeout", .duration, default: .duration(.seconds(10))),
                .init("retry-after", .int(1...3600), default: .int(5)),
                .init(
                    "max-connections", .int(HTTPInConnectionLimits.connectionRange),
                    default: .int(HTTPInConnectionLimits.defaults.maxConnections),
                    help: "connections the listener keeps open at once; more are closed at once"),
                .init(
                    "idle-timeout", .checked("a duration from 100ms to 1h", HTTPInConnectionLimits.timeoutProblem),
                    default: .string("60s"), help: "a connection with no request in progress is closed after this"),
                .init(
                    "header-timeout", .checked("a duration from 100ms to 1h", HTTPInConnectionLimits.timeoutProblem),
                    default: .string("10s"), help: "time to send the request line and headers"),
                .init(
                    "body-timeout", .checked("a duration from 100ms to 1h", HTTPInConnectionLimits.timeoutProblem),
                    default: .string("60s"), help: "time to send the whole body once the headers are in"),
            ],
            conditional: [
                .init(when: "auth", is: "bearer", exactlyOneOf: ["token-file", "token-env"]),
                .init(when: "auth", is: "mtls-proxy", exactlyOneOf: ["trusted-proxies"]),
                .init(when: "auth", is: "mtls-proxy", exactlyOneOf: ["allowed-subjects"]),
            ]),
        canReceive: true, canSend: false,
        summary: "HTTP POST intake: 202 only after the broker confirmed the message into the intake queue")

    /// Reads every endpoint's settings and credentials (tokens are re-read on each reload),
    /// refuses two endpoints on one address and path, and declares the intake queues (quorum).
    public func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws {
        var queues: [String: [AMQPQueue]] = [:]
        var claimed: [String: String] = [:]
        for endpoint in endpoints.sorted(by: { $0.name < $1.name }) {
            let settings = try listeners.configure(endpoint, logger: context.logger)
            let key = "\(settings.listen) \(settings.path)"
            if let other = claimed[key] {
                throw HTTPInError.pathTaken(
                    address: "\(settings.listen)", path: settings.path, endpoints: [other, endpoint.name])
            }
            claimed[key] = endpoint.name
            guard context.brokers.isConfigured(settings.broker) else {
                throw AdapterError.unknownBroker(endpoint: endpoint.name, broker: settings.broker)
            }
            queues[settings.broker, default: []].append(AMQPQueue(settings.queue))
        }
        for (broker, list) in queues.sorted(by: { $0.key < $1.key }) {
            if broker == BrokerSettings.mainName {
                try await context.brokers.waitForConnection(broker).declare(AMQPTopology(queues: list))
            } else if let connection = context.brokers.connection(broker) {
                try await connection.declare(AMQPTopology(queues: list))
            } else {
                context.logger.notice(
                    "broker not connected yet; http-in intake queues are declared when it is",
                    metadata: ["broker": "\(broker)"])
            }
        }
    }

    /// Listens for the endpoint's path and consumes its intake queue as the route's source.
    public func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        let settings = try HTTPInSettings(endpoint: endpoint)
        return HTTPInSource(endpoint: endpoint, settings: settings, listeners: listeners, context: context)
    }

    @Sendable static func pathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "found '\(path)', which does not start with '/'" }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/-._~"))
        guard path.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            return "found '\(path)'; use letters, digits and / - . _ ~ only (no query, no spaces)"
        }
        return nil
    }

    @Sendable static func variableProblem(_ name: String) -> String? {
        let valid =
            !name.isEmpty
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
            && !(name.first?.isNumber ?? true)
        return valid ? nil : "found '\(name)'; name the variable (letters, digits, _), not the token itself"
    }

    @Sendable static func headerProblem(_ name: String) -> String? {
        let token = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
        let valid = !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && token.contains($0) }
        return valid ? nil : "found '\(name)', which is not a valid header name"
    }
}
