import StadtbusAdapterKit
import StadtbusCore

/// `http-out`: POST or PUT each message to an HTTP(S) endpoint through libcurl (one OpenSSL
/// stack with xmlsec and rabbitmq-c). 2xx is durable; timeouts, refused connections, 5xx and
/// 429 are retried; other 4xx answers are dead-lettered with an excerpt of the response.
public struct HTTPOutAdapter: Adapter {
    public init() {}

    public let type = AdapterType(
        name: "http-out",
        settings: SettingsSchema([
            .init("url", .url, required: true),
            .init("timeout", .duration, default: .duration(.seconds(30))),
            .init("method", .oneOf(["POST", "PUT"]), default: .string("POST")),
            .init("headers", .stringMap, help: "constant request headers"),
            .init(
                "forward-headers", .list(.checked("an HTTP header name", { HeaderField.nameProblem($0) })),
                help: "message headers sent along as request headers (e.g. x-stadtbus-case, set by set-header)"),
            .init("ca", .file, help: "PEM CA bundle the server certificate must chain to (default: system store)"),
            .init("certificate", .file, help: "client certificate (PEM) for mTLS"),
            .init("key", .file, help: "client key (PEM) for mTLS"),
            .init("pinned-public-key", .string, help: "pin the server key: sha256//BASE64[;sha256//…]"),
        ]),
        canReceive: false, canSend: true,
        summary: "HTTP(S) POST/PUT through libcurl: timeouts, mTLS, CA pinning; 5xx retried, 4xx dead-lettered")

    public func makeSink(context: AdapterContext) throws -> any MessageSink { HTTPSink() }
}
