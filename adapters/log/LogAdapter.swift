import Logging
import StadtbusAdapterKit
import StadtbusCore

/// `log`: a destination that only writes one log line per message — its identity, route and
/// size, never its content. Useful while commissioning a route before the receiving system
/// is connected, and the worked example of the README's "Write your own adapter".
///
/// ```yaml
/// endpoints:
///   probe:
///     type: log
///     level: notice
/// ```
public struct LogAdapter: Adapter {
    public init() {}

    public let type = AdapterType(
        name: "log",
        settings: SettingsSchema([
            .init("level", .oneOf(["debug", "info", "notice", "warning"]), default: .string("info"))
        ]),
        canReceive: false, canSend: true,
        summary: "writes one log line per message (identity, route, size; no content)")

    public func makeSink(context: AdapterContext) throws -> any MessageSink {
        LogSink(logger: context.logger)
    }
}

/// Logs each delivery; a log line is "durable" as soon as it is written.
struct LogSink: MessageSink {
    let logger: Logger

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let level = endpoint.settings["level"]?.string.flatMap(Logger.Level.init(rawValue:)) ?? .info
        logger.log(
            level: level, "message delivered to log endpoint",
            metadata: [
                "endpoint": "\(endpoint.name)", "route": "\(message.route)", "message_id": "\(message.messageID)",
                "bytes": "\(message.body.count)",
            ])
    }
}
