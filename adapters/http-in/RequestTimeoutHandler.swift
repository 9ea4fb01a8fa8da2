import Logging
import NIOCore
import NIOHTTPTypes

/// Closes an `http-in` connection whose caller is too slow or idle too long (slowloris, slow
/// body, forgotten keep-alive connections), after the HTTP decoder in the channel pipeline.
///
/// At most one timer runs, for the phase the connection is in:
/// - before a request's head is complete: `header-timeout`, counted from the connection's
///   opening, or from the first byte of a request on a kept-alive connection
///   (``RequestBytesObserver`` in front of the decoder reports bytes);
/// - from the head to the end of the body: `body-timeout`;
/// - while Stadtbus works on the answer: none (`confirm-timeout` bounds that);
/// - between requests (keep-alive): `idle-timeout`.
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Sent by ``RequestBytesObserver`` when bytes arrive from the caller.
    struct BytesArrived {}

    private let limits: HTTPInConnectionLimits
    private let logger: Logger
    /// A head was read and its body is not complete yet.
    private var readingBody = false
    /// Requests whose answer is not completely written yet.
    private var unanswered = 0
    /// When the head timeout started (the connection opened, or a request's first byte came).
    private var headStarted: NIODeadline?
    private var bodyDeadline: NIODeadline?
    /// When the connection last became idle (the last answer was written).
    private var idleSince = NIODeadline.now()
    private var timer: (deadline: NIODeadline, task: Scheduled<Void>)?

    init(limits: HTTPInConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        headStarted = .now()
        rearm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is BytesArrived else { return context.fireUserInboundEventTriggered(event) }
        if !readingBody, unanswered == 0, headStarted == nil {
            headStarted = .now()
            rearm(context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            unanswered += 1
            headStarted = nil
            bodyDeadline = .now() + TimeAmount(limits.bodyTimeout)
            rearm(context)
        case .body:
            break
        case .end:
            readingBody = false
            bodyDeadline = nil
            if unanswered == 0 { idleSince = .now() }
            rearm(context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0, !readingBody {
                idleSince = .now()
                headStarted = nil
            }
            rearm(context)
        }
        context.write(data, promise: promise)
    }

    /// The deadline of the phase the connection is in, and its setting's name.
    private var current: (deadline: NIODeadline, setting: String)? {
        if readingBody { return bodyDeadline.map { ($0, "body-timeout") } }
        if unanswered > 0 { return nil }
        if let headStarted { return (headStarted + TimeAmount(limits.headerTimeout), "header-timeout") }
        return (idleSince + TimeAmount(limits.idleTimeout), "idle-timeout")
    }

    private func rearm(_ context: ChannelHandlerContext) {
        let wanted = current?.deadline
        guard wanted != timer?.deadline else { return }
        timer?.task.cancel()
        timer = nil
        guard let wanted else { return }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: wanted) { [self] in
            timer = nil
            expire(context)
        }
        timer = (wanted, task)
    }

    private func expire(_ context: ChannelHandlerContext) {
        guard let (deadline, setting) = current else { return }
        guard deadline <= .now() else { return rearm(context) }
        logger.debug(
            "http-in connection closed: \(setting) passed",
            metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "unknown")"])
        context.close(promise: nil)
    }
}

/// Sits in front of the HTTP decoder and tells ``RequestTimeoutHandler`` when bytes arrive,
/// so the head timeout of a request on a kept-alive connection starts with its first byte.
final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestTimeoutHandler.BytesArrived())
        context.fireChannelRead(data)
    }
}
