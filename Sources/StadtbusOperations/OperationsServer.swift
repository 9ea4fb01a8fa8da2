import Foundation
import Hummingbird
import Logging

/// Where the operations endpoints listen.
public struct OperationsEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 9090) {
        self.host = host
        self.port = port
    }
}

/// The HTTP endpoints operators watch: `/health` (process alive), `/ready` (200 or 503 with
/// a JSON reason), `/metrics` (Prometheus text format).
public enum OperationsServer {
    /// Builds the router; separate from the application so tests can drive it in memory.
    public static func router(readiness: Readiness, metrics: StadtbusMetrics) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health") { _, _ -> Response in
            json(.ok, #"{"status":"alive"}"#)
        }
        router.get("ready") { _, _ -> Response in
            let report = readiness.report
            metrics.setReady(report.ready)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let body = (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"ready":false}"#
            return json(report.ready ? .ok : .serviceUnavailable, body)
        }
        router.get("metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        return router
    }

    /// The Hummingbird application serving the router on `endpoint`; run it as a
    /// swift-service-lifecycle `Service` (it stops gracefully on shutdown).
    ///
    /// Once the socket is bound it logs "operations endpoint listening" with the bound
    /// `address` and `port` (the kernel's choice when `endpoint.port` is 0).
    public static func application(
        endpoint: OperationsEndpoint, readiness: Readiness, metrics: StadtbusMetrics, logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: router(readiness: readiness, metrics: metrics),
            configuration: .init(address: .hostname(endpoint.host, port: endpoint.port), serverName: "stadtbus"),
            onServerRunning: { channel in
                let bound = channel.localAddress
                logger.info(
                    "operations endpoint listening",
                    metadata: [
                        "address": "\(bound?.ipAddress ?? endpoint.host)",
                        "port": "\(bound?.port ?? endpoint.port)",
                    ])
            },
            logger: logger)
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
