import CRabbitMQ
import Foundation
import Logging

/// A publish waiting for its confirm.
final class PendingPublish {
    let message: AMQPOutgoingMessage
    let exchange: String
    let routingKey: String
    let mandatory: Bool
    let continuation: CheckedContinuation<Void, any Error>
    var sentAt = ContinuousClock.now
    /// Set when a basic.return for this publish arrived; the following ack then fails the publish.
    var returned: AMQPError?

    init(
        message: AMQPOutgoingMessage, exchange: String, routingKey: String, mandatory: Bool,
        continuation: CheckedContinuation<Void, any Error>
    ) {
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.continuation = continuation
    }
}

/// Identifies a delivery on one incarnation of one channel.
struct DeliveryToken: Sendable {
    let channel: UInt16
    let epoch: UInt64
    let tag: UInt64
}

enum Settlement: Sendable {
    case ack
    case nack(requeue: Bool)
    case reject(requeue: Bool)
}

/// A registered consumer (owner-thread state).
final class ConsumerRegistration {
    let channel: UInt16
    let queue: String
    let prefetch: UInt16
    let continuation: AsyncStream<AMQPDelivery>.Continuation
    var active = false

    init(channel: UInt16, queue: String, prefetch: UInt16, continuation: AsyncStream<AMQPDelivery>.Continuation) {
        self.channel = channel
        self.queue = queue
        self.prefetch = prefetch
        self.continuation = continuation
    }
}

enum Command {
    case publish(PendingPublish)
    case settle(DeliveryToken, Settlement)
    case declare(AMQPTopology, CheckedContinuation<Void, any Error>)
    case delete(queues: [String], exchanges: [String], CheckedContinuation<Void, any Error>)
    case consume(ConsumerRegistration, CheckedContinuation<Void, any Error>)
    case cancel(UInt16, CheckedContinuation<Void, Never>)
}

/// Content (header + body frames) being assembled for a basic.deliver or basic.return.
struct Assembly {
    enum Kind {
        case deliver(tag: UInt64, redelivered: Bool)
        case returned(code: Int, text: String)
    }

    var kind: Kind
    var exchange: String
    var routingKey: String
    var properties = AMQPMessageProperties()
    var bodySize = 0
    var body: [UInt8] = []
}

/// Owns one rabbitmq-c connection on a dedicated thread (rabbitmq-c connections are not thread-safe).
/// Other threads talk to it only through the locked command queue; a pipe wakes the thread from `poll`.
final class ConnectionCore: @unchecked Sendable {
    static let publishChannel: UInt16 = 1
    static let controlChannel: UInt16 = 2

    let endpoint: AMQPEndpoint
    let publishWindow: Int
    let logger: Logger

    // MARK: shared state (guarded by `lock`)
    private let lock = NSLock()
    private var commands: [Command] = []
    private var sleeping = false
    private var closeRequested = false
    private var eventSinks: [UUID: AsyncStream<AMQPConnectionEvent>.Continuation] = [:]
    private var stats = AMQPConnectionStatistics()
    private var nextConsumerChannel: UInt16 = 3
    private var firstConnect: CheckedContinuation<Void, any Error>?
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var finished = false
    /// The current incarnation of each open consumer channel; a delivery from another one is stale.
    private var channelEpochs: [UInt16: UInt64] = [:]
    private let wakeRead: Int32
    private let wakeWrite: Int32

    // MARK: owner-thread state
    private var session: Session?
    private var password = ""
    private var topologies: [AMQPTopology] = []
    private var consumers: [UInt16: ConsumerRegistration] = [:]
    private var nextEpoch: UInt64 = 1
    private var assemblies: [UInt16: Assembly] = [:]
    private var outstanding: [UInt64: PendingPublish] = [:]
    private var lowestUnconfirmed: UInt64 = 1
    private var nextSeq: UInt64 = 1
    private var backlog: [PendingPublish] = []
    private var backlogHead = 0
    private var local = AMQPConnectionStatistics()
    private var nextConsumerRetry: ContinuousClock.Instant?

    init(endpoint: AMQPEndpoint, publishWindow: Int, logger: Logger) throws {
        self.endpoint = endpoint
        self.publishWindow = max(1, publishWindow)
        self.logger = logger
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw AMQPError.protocolError("pipe() failed: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: API used by the façade (any thread)

    func start() async throws {
        password = try endpoint.password.resolve()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            lock.withLock { firstConnect = continuation }
            let thread = Thread { [self] in run() }
            thread.name = "amqp \(endpoint.host):\(endpoint.port)"
            thread.start()
        }
    }

    func submit(_ command: Command) {
        enum Outcome { case queued, queuedAndWake, rejected }
        let outcome: Outcome = lock.withLock {
            if finished { return .rejected }
            commands.append(command)
            if sleeping {
                sleeping = false
                return .queuedAndWake
            }
            return .queued
        }
        switch outcome {
        case .queued: break
        case .queuedAndWake: signalOwner()
        case .rejected: fail(command, AMQPError.closed)
        }
    }

    /// Queues an ack/nack/reject unless the delivery is stale (one lock for check and queueing: this is the
    /// consumer's hot path).
    func settle(_ token: DeliveryToken, _ settlement: Settlement) throws {
        let wake: Bool = try lock.withLock {
            guard channelEpochs[token.channel] == token.epoch, !finished else { throw AMQPError.staleDelivery }
            commands.append(.settle(token, settlement))
            if sleeping {
                sleeping = false
                return true
            }
            return false
        }
        if wake { signalOwner() }
    }

    func allocateConsumerChannel() -> UInt16 {
        lock.withLock {
            defer { nextConsumerChannel &+= 1 }
            return nextConsumerChannel
        }
    }

    func requestClose() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if finished { return true }
                closeRequested = true
                closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wake() }
        }
    }

    func events() -> AsyncStream<AMQPConnectionEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<AMQPConnectionEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in
            self?.lock.withLock { _ = self?.eventSinks.removeValue(forKey: id) }
        }
        lock.withLock { eventSinks[id] = continuation }
        return stream
    }

    var statistics: AMQPConnectionStatistics { lock.withLock { stats } }

    /// Whether `token` belongs to the current incarnation of its channel.
    func isCurrent(_ token: DeliveryToken) -> Bool {
        lock.withLock { channelEpochs[token.channel] == token.epoch }
    }

    private func setEpoch(_ channel: UInt16, _ epoch: UInt64?) {
        lock.withLock { channelEpochs[channel] = epoch }
    }

    private func wake() {
        let mustWake: Bool = lock.withLock {
            if sleeping {
                sleeping = false
                return true
            }
            return false
        }
        if mustWake { signalOwner() }
    }

    private func signalOwner() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func emit(_ event: AMQPConnectionEvent) {
        let sinks = lock.withLock { Array(eventSinks.values) }
        for sink in sinks { sink.yield(event) }
    }

    private func fail(_ command: Command, _ error: AMQPError) {
        switch command {
        case .publish(let p): p.continuation.resume(throwing: error)
        case .settle: break
        case .declare(_, let c): c.resume(throwing: error)
        case .delete(_, _, let c): c.resume(throwing: error)
        case .consume(let registration, let c):
            registration.continuation.finish()
            c.resume(throwing: error)
        case .cancel(_, let c): c.resume()
        }
    }

    // MARK: owner thread

    private func run() {
        var attempt = 0
        var everConnected = false
        while !lock.withLock({ closeRequested }) {
            do {
                let session = try Session.open(endpoint, password: password)
                self.session = session
                try setUp(session)
                attempt = 0
                local.isConnected = true
                publishStats()
                if everConnected {
                    local.reconnects += 1
                    publishStats()
                    logger.info("AMQP reconnected", metadata: ["endpoint": "\(endpoint.redactedURL)"])
                }
                emit(.connected(endpoint: endpoint.redactedURL, reconnectCount: local.reconnects))
                if !everConnected {
                    everConnected = true
                    lock.withLock {
                        let c = firstConnect
                        firstConnect = nil
                        return c
                    }?.resume()
                }
                try serve(session)
                // serve returns only when a close was requested
                drainBeforeClose(session)
                session.close()
                self.session = nil
                break
            } catch {
                let amqpError = (error as? AMQPError) ?? .connectionLost("\(error)")
                tearDown()
                if !everConnected {
                    lock.withLock {
                        let c = firstConnect
                        firstConnect = nil
                        return c
                    }?.resume(throwing: amqpError)
                    break
                }
                attempt += 1
                local.reconnectAttempts += 1
                publishStats()
                let delay = endpoint.reconnect.delay(attempt: attempt)
                logger.warning(
                    "AMQP connection lost; reconnecting",
                    metadata: ["error": "\(amqpError)", "attempt": "\(attempt)", "delay": "\(delay)"])
                emit(.disconnected(amqpError))
                emit(.reconnecting(attempt: attempt, delay: delay))
                sleepInterruptibly(delay)
            }
        }
        finish()
    }

    /// Channels, confirm mode, topology, consumers, then re-send unconfirmed publishes (in order).
    private func setUp(_ session: Session) throws {
        try session.openConfirmChannel(Self.publishChannel)
        try session.openChannel(Self.controlChannel)
        for topology in topologies {
            do {
                try session.declare(topology, channel: Self.controlChannel)
            } catch let error as AMQPError {
                if case .declarationFailed = error {
                    logger.error("re-declaring topology after reconnect failed", metadata: ["error": "\(error)"])
                } else {
                    throw error
                }
            }
        }
        requeueOutstanding()
        for registration in consumers.values.sorted(by: { $0.channel < $1.channel }) {
            resumeConsumer(registration, session)
        }
    }

    private func startConsumer(_ registration: ConsumerRegistration, _ session: Session) throws {
        do {
            try session.startConsumer(
                channel: registration.channel, queue: registration.queue, prefetch: registration.prefetch)
            setEpoch(registration.channel, nextEpoch)
            nextEpoch += 1
            registration.active = true
        } catch let closed as ChannelClosed {
            registration.active = false
            logger.error(
                "cannot consume",
                metadata: ["queue": "\(registration.queue)", "error": "\(closed.code) \(closed.text)"])
            throw AMQPError.channelClosed(code: closed.code, text: closed.text)
        }
    }

    /// Restarts a consumer after a reconnect or a broker cancel. A consumer whose queue is gone must not take
    /// the whole connection down (publishes and other consumers go on): it stays registered and is retried.
    private func resumeConsumer(_ registration: ConsumerRegistration, _ session: Session) {
        do {
            try startConsumer(registration, session)
        } catch {
            if case AMQPError.channelClosed = error {
                emit(.consumerCancelled(queue: registration.queue))
            }
            nextConsumerRetry = .now + .seconds(5)
        }
    }

    /// Moves all unconfirmed publishes to the front of the backlog, in their original order.
    private func requeueOutstanding() {
        let unconfirmed = outstanding.sorted { $0.key < $1.key }.map(\.value)
        outstanding.removeAll()
        let rest = backlog[backlogHead...]
        backlog = unconfirmed + rest
        backlogHead = 0
        nextSeq = 1
        lowestUnconfirmed = 1
        for p in unconfirmed { p.returned = nil }
        if !unconfirmed.isEmpty {
            local.republished += unconfirmed.count
            logger.info("re-sending unconfirmed publishes", metadata: ["count": "\(unconfirmed.count)"])
        }
    }

    private func tearDown() {
        session = nil  // destroys the rabbitmq-c connection
        lock.withLock { channelEpochs.removeAll() }
        assemblies.removeAll()
        for registration in consumers.values { registration.active = false }
        local.isConnected = false
        publishStats()
    }

    private func sleepInterruptibly(_ delay: Duration) {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline, !lock.withLock({ closeRequested }) {
            // While disconnected, publishes wait in the backlog and settlements are stale (the broker
            // redelivers); declarations and consumer changes wait for the connection.
            lock.withLock {
                sleeping = true
                var keep: [Command] = []
                for command in commands {
                    switch command {
                    case .publish(let p): backlog.append(p)
                    case .settle: break  // stale: the broker redelivers
                    default: keep.append(command)
                    }
                }
                commands = keep
            }
            let remaining = deadline - ContinuousClock.now
            let ms = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, Int32(clamping: max(1, min(ms, 1000))))
            drainWakePipe()
            lock.withLock { sleeping = false }
        }
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    private func serve(_ session: Session) throws {
        let socket = session.socketFD
        while true {
            if lock.withLock({ closeRequested }) { return }
            try runCommands(session)
            try sendBacklog(session)
            try readFrames(session)
            publishStats()
            if let retry = nextConsumerRetry, retry < .now {
                nextConsumerRetry = nil
                for registration in consumers.values where !registration.active {
                    resumeConsumer(registration, session)
                }
            }
            if amqp_frames_enqueued(session.state) != 0 || amqp_data_in_buffer(session.state) != 0 { continue }
            let idle: Bool = lock.withLock {
                if commands.isEmpty && !closeRequested {
                    sleeping = true
                    return true
                }
                return false
            }
            if !idle { continue }
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, 250)  // bounded so heartbeats are sent and checked
            lock.withLock { sleeping = false }
            if fds[1].revents != 0 { drainWakePipe() }
        }
    }

    private func runCommands(_ session: Session) throws {
        let pending: [Command] = lock.withLock {
            defer { commands.removeAll(keepingCapacity: true) }
            return commands
        }
        for (index, command) in pending.enumerated() {
            do {
                try execute(command, session)
            } catch {
                // the connection broke: the rest runs after the reconnect
                let rest = Array(pending[(index + 1)...])
                lock.withLock { commands = rest + commands }
                throw error
            }
        }
    }

    private func execute(_ command: Command, _ session: Session) throws {
        switch command {
        case .publish(let p):
            backlog.append(p)
        case .settle(let token, let settlement):
            guard isCurrent(token) else {
                logger.debug("dropping settlement of a stale delivery", metadata: ["tag": "\(token.tag)"])
                return
            }
            let status: Int32
            switch settlement {
            case .ack: status = amqp_basic_ack(session.state, token.channel, token.tag, 0)
            case .nack(let requeue):
                status = amqp_basic_nack(session.state, token.channel, token.tag, 0, requeue ? 1 : 0)
            case .reject(let requeue):
                status = amqp_basic_reject(session.state, token.channel, token.tag, requeue ? 1 : 0)
            }
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionLost("sending ack: \(Session.statusText(status))")
            }
        case .declare(let topology, let continuation):
            do {
                try session.declare(topology, channel: Self.controlChannel)
                topologies.append(topology)
                continuation.resume()
            } catch let error as AMQPError {
                if case .declarationFailed = error {
                    continuation.resume(throwing: error)
                } else {
                    // connection lost mid-declaration: remember it, it is declared after the reconnect
                    topologies.append(topology)
                    continuation.resume(throwing: error)
                    throw error
                }
            }
        case .delete(let queues, let exchanges, let continuation):
            for index in topologies.indices {
                topologies[index].queues.removeAll { queues.contains($0.name) }
                topologies[index].exchanges.removeAll { exchanges.contains($0.name) }
                topologies[index].bindings.removeAll { queues.contains($0.queue) || exchanges.contains($0.exchange) }
            }
            do {
                try session.delete(queues: queues, exchanges: exchanges, channel: Self.controlChannel)
                continuation.resume()
            } catch let error as AMQPError {
                continuation.resume(throwing: error)
                if case .declarationFailed = error { return }
                throw error
            }
        case .consume(let registration, let continuation):
            do {
                try startConsumer(registration, session)
                consumers[registration.channel] = registration
                continuation.resume()
            } catch let error as AMQPError {
                registration.continuation.finish()
                continuation.resume(throwing: error)
                if case .channelClosed = error { return }
                throw error
            }
        case .cancel(let channel, let continuation):
            if let registration = consumers.removeValue(forKey: channel) {
                setEpoch(channel, nil)
                if registration.active { session.closeChannel(channel) }
                registration.continuation.finish()
            }
            continuation.resume()
        }
    }

    private func sendBacklog(_ session: Session) throws {
        while backlogHead < backlog.count, outstanding.count < publishWindow {
            let p = backlog[backlogHead]
            let seq = nextSeq
            nextSeq += 1
            outstanding[seq] = p
            backlogHead += 1
            p.sentAt = .now
            let arena = CArena()
            var properties = p.message.properties.encode(into: arena)
            let status = p.message.body.withUnsafeBytes { raw in
                amqp_basic_publish(
                    session.state, Self.publishChannel, arena.bytes(p.exchange), arena.bytes(p.routingKey),
                    p.mandatory ? 1 : 0, 0, &properties,
                    amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
            }
            local.published += 1
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionLost("publishing: \(Session.statusText(status))")
            }
        }
        if backlogHead > 4096, backlogHead * 2 > backlog.count {
            backlog.removeFirst(backlogHead)
            backlogHead = 0
        }
    }

    private func readFrames(_ session: Session) throws {
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        for _ in 0..<4096 {
            let status = amqp_simple_wait_frame_noblock(session.state, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionLost(Session.statusText(status))
            }
            try handle(frame, session)
            amqp_maybe_release_buffers_on_channel(session.state, frame.channel)
        }
    }

    private func handle(_ frame: amqp_frame_t, _ session: Session) throws {
        let channel = frame.channel
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            let method = frame.payload.method
            guard let decoded = method.decoded else { return }
            switch method.id {
            case MethodID.basicAck where channel == Self.publishChannel:
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                settlePublishes(upTo: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
            case MethodID.basicNack where channel == Self.publishChannel:
                let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                settlePublishes(upTo: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
            case MethodID.basicReturn:
                let m = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
                assemblies[channel] = Assembly(
                    kind: .returned(code: Int(m.reply_code), text: FieldTableDecoder.string(m.reply_text)),
                    exchange: FieldTableDecoder.string(m.exchange), routingKey: FieldTableDecoder.string(m.routing_key))
            case MethodID.basicDeliver:
                let m = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
                assemblies[channel] = Assembly(
                    kind: .deliver(tag: m.delivery_tag, redelivered: m.redelivered != 0),
                    exchange: FieldTableDecoder.string(m.exchange), routingKey: FieldTableDecoder.string(m.routing_key))
            case MethodID.channelClose:
                let m = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                session.sendChannelCloseOK(channel)
                try channelClosed(
                    channel, code: Int(m.reply_code), text: FieldTableDecoder.string(m.reply_text), session)
            case MethodID.connectionClose:
                let m = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                session.sendConnectionCloseOK()
                throw AMQPError.connectionLost(
                    "broker closed the connection: \(m.reply_code) \(FieldTableDecoder.string(m.reply_text))")
            case MethodID.basicCancel:
                if let registration = consumers[channel] {
                    registration.active = false
                    setEpoch(channel, nil)
                    logger.error(
                        "broker cancelled the consumer (queue deleted?)", metadata: ["queue": "\(registration.queue)"])
                    emit(.consumerCancelled(queue: registration.queue))
                    session.closeChannel(channel)
                    nextConsumerRetry = .now + .seconds(5)
                }
            case MethodID.connectionBlocked:
                let m = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
                emit(.blocked(reason: FieldTableDecoder.string(m.reason)))
            case MethodID.connectionUnblocked:
                emit(.unblocked)
            default:
                break
            }
        case AMQP_FRAME_HEADER:
            guard var assembly = assemblies[channel] else { return }
            let header = frame.payload.properties
            if let decoded = header.decoded {
                assembly.properties = AMQPMessageProperties(
                    decoding: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            assembly.bodySize = Int(header.body_size)
            assembly.body.reserveCapacity(assembly.bodySize)
            if assembly.bodySize == 0 {
                assemblies[channel] = nil
                complete(assembly, channel: channel)
            } else {
                assemblies[channel] = assembly
            }
        case AMQP_FRAME_BODY:
            guard assemblies[channel] != nil else { return }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let bytes = fragment.bytes {
                assemblies[channel]?.body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
            }
            if let assembly = assemblies[channel], assembly.body.count >= assembly.bodySize {
                assemblies[channel] = nil
                complete(assembly, channel: channel)
            }
        default:
            break
        }
    }

    private func complete(_ assembly: Assembly, channel: UInt16) {
        switch assembly.kind {
        case .deliver(let tag, let redelivered):
            guard let registration = consumers[channel], let epoch = lock.withLock({ channelEpochs[channel] }) else {
                return
            }
            local.delivered += 1
            registration.continuation.yield(
                AMQPDelivery(
                    body: assembly.body, properties: assembly.properties, redelivered: redelivered,
                    exchange: assembly.exchange, routingKey: assembly.routingKey, queue: registration.queue,
                    token: DeliveryToken(channel: channel, epoch: epoch, tag: tag), core: self))
        case .returned(let code, let text):
            // A return precedes the confirm of its publish; find that publish among the unconfirmed ones.
            local.returned += 1
            var seq = lowestUnconfirmed
            while seq < nextSeq {
                if let p = outstanding[seq], p.returned == nil, p.exchange == assembly.exchange,
                    p.routingKey == assembly.routingKey,
                    p.message.properties.messageID == assembly.properties.messageID,
                    p.message.body == assembly.body
                {
                    p.returned = .unroutable(
                        exchange: p.exchange, routingKey: p.routingKey, replyCode: code, replyText: text)
                    return
                }
                seq += 1
            }
            logger.warning(
                "basic.return for an unknown publish",
                metadata: ["exchange": "\(assembly.exchange)", "routingKey": "\(assembly.routingKey)"])
        }
    }

    private func settlePublishes(upTo tag: UInt64, multiple: Bool, acked: Bool) {
        let now = ContinuousClock.now
        func settle(_ p: PendingPublish) {
            let latency = now - p.sentAt
            local.confirmLatencyTotal += latency
            local.lastConfirmLatency = latency
            if latency > local.maxConfirmLatency { local.maxConfirmLatency = latency }
            if !acked {
                local.nacked += 1
                p.continuation.resume(
                    throwing: p.returned ?? AMQPError.nackedByBroker(exchange: p.exchange, routingKey: p.routingKey))
            } else if let returned = p.returned {
                p.continuation.resume(throwing: returned)
            } else {
                local.confirmed += 1
                p.continuation.resume()
            }
        }
        if multiple {
            var seq = lowestUnconfirmed
            while seq <= tag {
                if let p = outstanding.removeValue(forKey: seq) { settle(p) }
                seq += 1
            }
        } else if let p = outstanding.removeValue(forKey: tag) {
            settle(p)
        }
        while lowestUnconfirmed < nextSeq, outstanding[lowestUnconfirmed] == nil { lowestUnconfirmed += 1 }
    }

    private func channelClosed(_ channel: UInt16, code: Int, text: String, _ session: Session) throws {
        logger.error(
            "broker closed channel", metadata: ["channel": "\(channel)", "code": "\(code)", "text": "\(text)"])
        assemblies[channel] = nil
        if channel == Self.publishChannel {
            // The publish that caused it (typically 404 "no exchange 'x'") fails; the others are re-sent.
            let unconfirmed = outstanding.values
            let culprits = unconfirmed.filter { text.contains("'\($0.exchange)'") }
            for p in (culprits.isEmpty ? Array(unconfirmed) : culprits) {
                outstanding.removeValue(forKey: outstanding.first { $0.value === p }?.key ?? 0)
                p.continuation.resume(throwing: AMQPError.channelClosed(code: code, text: text))
            }
            requeueOutstanding()
            try session.openConfirmChannel(channel)
        } else if channel == Self.controlChannel {
            try session.openChannel(channel)
        } else if let registration = consumers[channel] {
            setEpoch(channel, nil)
            resumeConsumer(registration, session)
        }
    }

    private func drainBeforeClose(_ session: Session) {
        let deadline = ContinuousClock.now + .seconds(5)
        while !outstanding.isEmpty || backlogHead < backlog.count, ContinuousClock.now < deadline {
            do {
                try sendBacklog(session)
                try readFrames(session)
                var fd = pollfd(fd: session.socketFD, events: Int16(POLLIN), revents: 0)
                _ = poll(&fd, 1, 50)
            } catch {
                break
            }
        }
    }

    private func publishStats() {
        local.outstanding = outstanding.count + backlog.count - backlogHead
        let snapshot = local
        lock.withLock { stats = snapshot }
    }

    private func finish() {
        let (pending, waiters, first):
            ([Command], [CheckedContinuation<Void, Never>], CheckedContinuation<Void, any Error>?) =
                lock.withLock {
                    finished = true
                    defer {
                        commands.removeAll()
                        closeWaiters.removeAll()
                        firstConnect = nil
                    }
                    return (commands, closeWaiters, firstConnect)
                }
        first?.resume(throwing: AMQPError.closed)
        for command in pending { fail(command, .closed) }
        for p in outstanding.values { p.continuation.resume(throwing: AMQPError.closed) }
        outstanding.removeAll()
        for p in backlog[backlogHead...] { p.continuation.resume(throwing: AMQPError.closed) }
        backlog.removeAll()
        backlogHead = 0
        for registration in consumers.values { registration.continuation.finish() }
        consumers.removeAll()
        local.isConnected = false
        publishStats()
        emit(.closed)
        let sinks = lock.withLock { Array(eventSinks.values) }
        for sink in sinks { sink.finish() }
        for waiter in waiters { waiter.resume() }
    }
}
