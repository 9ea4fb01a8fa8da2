import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel with the listener's connection limit and timeouts.
///
/// A connection beyond `max-connections` is closed in the child channel's set-up, before the
/// HTTP codec is even added, so no byte of it is read. (Hummingbird's own
/// `MaximumAvailableConnections` only stops accepting, which leaves callers waiting in the
/// kernel's backlog.) Each admitted connection gets ``RequestBytesObserver`` in front of the
/// decoder and ``RequestTimeoutHandler`` after it.
struct HTTPInChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    private let http1: HTTP1Channel
    private let gate: ConnectionGate

    init(
        responder: @escaping HTTPChannelHandler.Responder, limits: HTTPInConnectionLimits, gate: ConnectionGate,
        logger: Logger
    ) {
        self.gate = gate
        http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [RequestTimeoutHandler(limits: limits, logger: logger)]))
    }

    /// Why a connection was closed right after it was accepted.
    struct ListenerFull: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "the listener already has max-connections (\(limit)) connections open" }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard gate.admit() else {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ListenerFull(limit: gate.limit))
        }
        let gate = gate
        channel.closeFuture.whenComplete { _ in gate.release() }
        do {
            try channel.pipeline.syncOperations.addHandler(RequestBytesObserver())
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
