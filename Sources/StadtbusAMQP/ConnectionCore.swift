import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// Owns one rabbitmq-c connection on a dedicated thread (rabbitmq-c connections are not thread-safe).
/// Other threads talk to it only through the command queue in ``shared`` (a `Mutex`); a pipe wakes the
/// thread from `poll`. Members outside ``shared`` belong to the owner thread (also those used in
/// Publishing.swift, Frames.swift and Acknowledgements.swift); the functions that touch them or the
/// rabbitmq-c state check ``ownership`` first. That confinement is why the class is `@unchecked
/// Sendable`: the compiler cannot see a thread, the precondition checks it at run time.
final class ConnectionCore: @unchecked Sendable {
    static let publishChannel: UInt16 = 1
    static let controlChannel: UInt16 = 2

    let endpoint: AMQPEndpoint
    let publishWindow: Int
    let logger: Logger
    /// The connection thread, claimed when its loop starts.
    let ownership = ThreadOwnership()

    // MARK: shared state
    /// What other threads and the connection thread share (commands, wake-up, statistics, waiters).
    struct Shared {
        var commands: [Command] = []
        /// The connection thread is (about to be) asleep in `poll`: a new command must wake it.
        var sleeping = false
        var closeRequested = false
        var eventSinks: [UUID: AsyncStream<AMQPConnectionEvent>.Continuation] = [:]
        var stats = AMQPConnectionStatistics()
        var nextConsumerChannel: UInt16 = 3
        var firstConnect: CheckedContinuation<Void, any Error>?
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var finished = false
        /// The current incarnation of each open consumer channel; a delivery from another one is stale.
        var channelEpochs: [UInt16: UInt64] = [:]

        /// Marks the thread awake; returns whether it was asleep (and so must be woken).
        mutating func takeSleeping() -> Bool {
            defer { sleeping = false }
            return sleeping
        }
    }

    let shared = Mutex(Shared())
    let wakeRead: Int32
    let wakeWrite: Int32

    // MARK: owner-thread state
    var session: Session?
    var password = ""
    var topologies: [AMQPTopology] = []
    var consumers: [UInt16: ConsumerRegistration] = [:]
    var nextEpoch: UInt64 = 1
    var assemblies: [UInt16: Assembly] = [:]
    var outstanding: [UInt64: PendingPublish] = [:]
    var lowestUnconfirmed: UInt64 = 1
    var nextSeq: UInt64 = 1
    var backlog: [PendingPublish] = []
    var backlogHead = 0
    var local = AMQPConnectionStatistics()
    var nextConsumerRetry: ContinuousClock.Instant?
    /// Completion per delivery tag of each consumer channel's current incarnation (its epoch).
    var ackTrackers: [UInt16: AckTracker] = [:]
    /// Consumer channels with settlements recorded in this turn (flushed at its end).
    var unflushedChannels: Set<UInt16> = []
    /// `flush()` callers, resumed at the end of the turn.
    var flushWaiters: [CheckedContinuation<Void, Never>] = []
    /// Publish batches whose last confirm arrived in this turn, resumed together at its end.
    var completedBatches: [ConfirmBatch] = []

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
            shared.withLock { $0.firstConnect = continuation }
            let thread = Thread { [self] in run() }
            thread.name = "amqp \(endpoint.host):\(endpoint.port)"
            thread.start()
        }
    }

    func submit(_ command: Command) {
        enum Outcome { case queued, queuedAndWake, rejected }
        let outcome: Outcome = shared.withLock {
            if $0.finished { return .rejected }
            $0.commands.append(command)
            return $0.takeSleeping() ? .queuedAndWake : .queued
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
        let wake: Bool = try shared.withLock { (state) throws(AMQPError) -> Bool in
            guard state.channelEpochs[token.channel] == token.epoch, !state.finished else { throw .staleDelivery }
            state.commands.append(.settle(token, settlement))
            return state.takeSleeping()
        }
        if wake { signalOwner() }
    }

    func allocateConsumerChannel() -> UInt16 {
        shared.withLock { state in
            defer { state.nextConsumerChannel &+= 1 }
            return state.nextConsumerChannel
        }
    }

    func requestClose() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = shared.withLock {
                if $0.finished { return true }
                $0.closeRequested = true
                $0.closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wake() }
        }
    }

    func events() -> AsyncStream<AMQPConnectionEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<AMQPConnectionEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in
            _ = self?.shared.withLock { $0.eventSinks.removeValue(forKey: id) }
        }
        shared.withLock { $0.eventSinks[id] = continuation }
        return stream
    }

    var statistics: AMQPConnectionStatistics { shared.withLock { $0.stats } }

    func setEpoch(_ channel: UInt16, _ epoch: UInt64?) {
        shared.withLock { $0.channelEpochs[channel] = epoch }
    }

    func wake() {
        let mustWake = shared.withLock { $0.takeSleeping() }
        if mustWake { signalOwner() }
    }

    func signalOwner() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    func emit(_ event: AMQPConnectionEvent) {
        let sinks = shared.withLock { Array($0.eventSinks.values) }
        for sink in sinks { sink.yield(event) }
    }

    func fail(_ command: Command, _ error: AMQPError) {
        switch command {
        case .publish(let p): p.finishNow(.failure(error))
        case .publishBatch(let batch): for p in batch { p.finishNow(.failure(error)) }
        case .flush(let c): c.resume()
        case .settle: break
        case .declare(_, let c): c.resume(throwing: error)
        case .delete(_, _, let c): c.resume(throwing: error)
        case .consume(let registration, let c):
            registration.continuation.finish()
            c.resume(throwing: error)
        case .cancel(_, let c): c.resume()
        case .stopDeliveries(_, let c): c.resume()
        }
    }

    // MARK: owner thread

    func run() {
        ownership.claim()
        var attempt = 0
        var everConnected = false
        while !shared.withLock({ $0.closeRequested }) {
            do {
                let session = try Session.open(endpoint, password: password, ownership: ownership)
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
                    shared.withLock { state in
                        defer { state.firstConnect = nil }
                        return state.firstConnect
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
                    shared.withLock { state in
                        defer { state.firstConnect = nil }
                        return state.firstConnect
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
    func setUp(_ session: Session) throws {
        ownership.precondition()
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
        for registration in consumers.values.sorted(by: { $0.channel < $1.channel }) where !registration.stopped {
            resumeConsumer(registration, session)
        }
    }

    func startConsumer(_ registration: ConsumerRegistration, _ session: Session) throws {
        ownership.precondition()
        do {
            try session.startConsumer(
                channel: registration.channel, queue: registration.queue, prefetch: registration.prefetch)
            ackTrackers[registration.channel] = AckTracker(
                epoch: nextEpoch, holdLimit: max(1, Int(registration.prefetch) / 2))
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
    func resumeConsumer(_ registration: ConsumerRegistration, _ session: Session) {
        do {
            try startConsumer(registration, session)
        } catch {
            if case AMQPError.channelClosed = error {
                emit(.consumerCancelled(queue: registration.queue))
            }
            nextConsumerRetry = .now + .seconds(5)
        }
    }

    func tearDown() {
        ownership.precondition()
        session = nil  // destroys the rabbitmq-c connection
        shared.withLock { $0.channelEpochs.removeAll() }
        // Completed deliveries not acked yet go back to the queue with the connection (the broker
        // redelivers them; the idempotency store knows them). Nothing is left to send for flush().
        ackTrackers.removeAll()
        unflushedChannels.removeAll()
        resumeFlushWaiters()
        assemblies.removeAll()
        for registration in consumers.values { registration.active = false }
        local.isConnected = false
        publishStats()
    }

    func sleepInterruptibly(_ delay: Duration) {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline, !shared.withLock({ $0.closeRequested }) {
            // While disconnected, publishes wait in the backlog and settlements are stale (the broker
            // redelivers); declarations and consumer changes wait for the connection.
            let queued: [Command] = shared.withLock { state in
                state.sleeping = true
                defer { state.commands.removeAll() }
                return state.commands
            }
            var keep: [Command] = []
            for command in queued {
                switch command {
                case .publish(let p): backlog.append(p)
                case .publishBatch(let batch): backlog.append(contentsOf: batch)
                case .settle: break  // stale: the broker redelivers
                case .flush(let c): flushWaiters.append(c)
                default: keep.append(command)
                }
            }
            // Commands that came meanwhile (they woke the thread) stay behind the kept ones.
            if !keep.isEmpty { shared.withLock { $0.commands = keep + $0.commands } }
            resumeFlushWaiters()
            let remaining = deadline - ContinuousClock.now
            let ms = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, Int32(clamping: max(1, min(ms, 1000))))
            drainWakePipe()
            shared.withLock { $0.sleeping = false }
        }
    }

    func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    func serve(_ session: Session) throws {
        ownership.precondition()
        let socket = session.socketFD
        while true {
            if shared.withLock({ $0.closeRequested }) { return }
            try runCommands(session)
            try sendBacklog(session)
            try readFrames(session)
            publishStats()
            if let retry = nextConsumerRetry, retry < .now {
                nextConsumerRetry = nil
                for registration in consumers.values where !registration.active && !registration.stopped {
                    resumeConsumer(registration, session)
                }
            }
            if amqp_frames_enqueued(session.state) != 0 || amqp_data_in_buffer(session.state) != 0 { continue }
            let idle: Bool = shared.withLock {
                if $0.commands.isEmpty && !$0.closeRequested {
                    $0.sleeping = true
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
            shared.withLock { $0.sleeping = false }
            if fds[1].revents != 0 { drainWakePipe() }
        }
    }

    /// Runs the queued commands, then sends the acks they made possible (one cumulative ack per
    /// consumer channel for deliveries completed in order) and resumes `flush()` callers.
    func runCommands(_ session: Session) throws {
        ownership.precondition()
        let pending: [Command] = shared.withLock { state in
            defer { state.commands.removeAll(keepingCapacity: true) }
            return state.commands
        }
        for (index, command) in pending.enumerated() {
            do {
                try execute(command, session)
            } catch {
                // the connection broke: the rest runs after the reconnect
                let rest = Array(pending[(index + 1)...])
                shared.withLock { $0.commands = rest + $0.commands }
                throw error
            }
        }
        try flushAcks(session)
        resumeFlushWaiters()
    }

    func execute(_ command: Command, _ session: Session) throws {
        ownership.precondition()
        switch command {
        case .publish(let p):
            backlog.append(p)
        case .publishBatch(let batch):
            backlog.append(contentsOf: batch)
        case .flush(let continuation):
            flushWaiters.append(continuation)
        case .settle(let token, let settlement):
            try settle(token, settlement, session)
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
        case .stopDeliveries(let channel, let continuation):
            if let registration = consumers[channel], !registration.stopped {
                registration.stopped = true
                if registration.active {
                    do { try session.stopConsumer(channel: channel) } catch {
                        logger.warning(
                            "basic.cancel failed", metadata: ["queue": "\(registration.queue)", "error": "\(error)"])
                    }
                }
                registration.continuation.finish()
            }
            continuation.resume()
        case .cancel(let channel, let continuation):
            if let registration = consumers.removeValue(forKey: channel) {
                // Completed deliveries are acked before the channel closes (else they come back).
                try flushAcks(session, channel: channel, everything: true)
                ackTrackers[channel] = nil
                setEpoch(channel, nil)
                if registration.active { session.closeChannel(channel) }
                registration.continuation.finish()
            }
            continuation.resume()
        }
    }

    func drainBeforeClose(_ session: Session) {
        ownership.precondition()
        // Settlements and publishes submitted just before close() are sent first: an ack that
        // never left would make the broker deliver an already-handled message again. Completed
        // deliveries behind one still in progress are acked one by one.
        do {
            try runCommands(session)
            for channel in ackTrackers.keys { try flushAcks(session, channel: channel, everything: true) }
        } catch {
            logger.warning("commands before close failed", metadata: ["error": "\(error)"])
        }
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

    func publishStats() {
        local.outstanding = outstanding.count + backlog.count - backlogHead
        let snapshot = local
        shared.withLock { $0.stats = snapshot }
    }

    func finish() {
        ownership.precondition()
        let (pending, waiters, first):
            ([Command], [CheckedContinuation<Void, Never>], CheckedContinuation<Void, any Error>?) =
                shared.withLock { state in
                    state.finished = true
                    defer {
                        state.commands.removeAll()
                        state.closeWaiters.removeAll()
                        state.firstConnect = nil
                    }
                    return (state.commands, state.closeWaiters, state.firstConnect)
                }
        first?.resume(throwing: AMQPError.closed)
        for command in pending { fail(command, .closed) }
        for p in outstanding.values { p.finishNow(.failure(.closed)) }
        outstanding.removeAll()
        for p in backlog[backlogHead...] { p.finishNow(.failure(.closed)) }
        backlog.removeAll()
        backlogHead = 0
        for registration in consumers.values { registration.continuation.finish() }
        consumers.removeAll()
        ackTrackers.removeAll()
        resumeFlushWaiters()
        local.isConnected = false
        publishStats()
        emit(.closed)
        let sinks = shared.withLock { Array($0.eventSinks.values) }
        for sink in sinks { sink.finish() }
        for waiter in waiters { waiter.resume() }
    }
}
