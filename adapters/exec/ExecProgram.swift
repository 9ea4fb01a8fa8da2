import Dispatch
import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusConcurrency
import StadtbusCore
import Synchronization

/// Supervises the program of one `exec` endpoint: starts it, matches answers to requests by
/// `seq`, enforces `timeout` and `max-in-flight`, and restarts it with exponential backoff
/// when it crashes, hangs or breaks the framing.
///
/// Any failure of the program fails the frames it still owed an answer for as transient, so
/// the engine retries them later; nothing waits forever.
final class ExecProgram: Sendable {
    let endpoint: String
    let settings: ExecSettings
    private let logger: Logger
    private let stderrLimiter: LogRateLimiter
    /// Called with `message` frames (source mode) and the generation of the process that sent them.
    private let onMessage: (@Sendable (Frame, Int) -> Void)?
    private let slots: AsyncSemaphore

    /// The running process and everything that changes with it.
    private struct State {
        var process: ChildProcess?
        /// Counts the processes started; answers and timeouts name the one they belong to.
        var generation = 0
        var nextSeq: UInt64 = 1
        /// Frames sent that await their answer, by seq.
        var pending: [UInt64: Pending] = [:]
        var consecutiveFailures = 0
        /// No start before this instant (restart backoff).
        var notBefore: ContinuousClock.Instant?
        var restartScheduled = false
        var stopped = false
    }
    private let state = Mutex(State())

    private struct Pending {
        let generation: Int
        let continuation: CheckedContinuation<Frame, any Error>
    }

    /// - Parameter onMessage: for a source: receives the program's `message` frames.
    init(endpoint: String, settings: ExecSettings, logger: Logger, onMessage: (@Sendable (Frame, Int) -> Void)? = nil) {
        self.endpoint = endpoint
        self.settings = settings
        var logger = logger
        logger[metadataKey: "endpoint"] = "\(endpoint)"
        self.logger = logger
        self.onMessage = onMessage
        stderrLimiter = LogRateLimiter(linesPerWindow: 20, window: .seconds(10))
        slots = AsyncSemaphore(limit: settings.maxInFlight)
    }

    deinit {
        // Replaced by a reload (sink settings changed, a step recompiled): end the program.
        if let process = state.withLock({ $0.stopped ? nil : $0.process }) {
            let grace = settings.shutdownGrace
            DispatchQueue.global().async { process.terminate(grace: grace) }
        }
    }

    // MARK: Requests (sink mode)

    /// Sends `frame` (its `seq` is assigned here) and waits for the answer with the same seq.
    ///
    /// Waits first for a free slot (`max-in-flight`) and for a running program (at most
    /// `timeout`, e.g. during a restart backoff).
    /// - Throws: a transient ``DeliveryError`` (`timeout`, `exec-crashed`, `exec-restarted`,
    ///   `exec-protocol`, `exec-unavailable`) when no answer can come.
    func request(_ frame: Frame) async throws -> Frame {
        // Not cancelled with the task: a frame that started waiting is sent, as before.
        await slots.acquireIgnoringCancellation()
        defer { slots.release() }
        let (process, generation) = try await running(deadline: .now + settings.timeout)
        var frame = frame
        return try await withCheckedThrowingContinuation { continuation in
            let seq: UInt64? = state.withLock { state in
                guard state.generation == generation, state.process != nil else { return nil }
                let seq = state.nextSeq
                state.nextSeq += 1
                state.pending[seq] = Pending(generation: generation, continuation: continuation)
                return seq
            }
            guard let seq else {
                return continuation.resume(
                    throwing: DeliveryError.transient("exec-restarted", "\(endpoint): the program was restarted"))
            }
            frame.header.seq = seq
            let timeout = settings.timeout
            DispatchQueue.global().asyncAfter(deadline: .now() + Self.dispatchInterval(timeout)) { [weak self] in
                self?.timedOut(seq: seq, generation: generation)
            }
            process.write(frame.encoded()) { [weak self] error in
                guard let self, let error else { return }
                self.fail(
                    seq: seq, with: .transient("exec-crashed", "\(self.endpoint): cannot send the message: \(error)"))
            }
        }
    }

    /// Writes a frame that expects no answer (a `settled`) to the process of `generation`;
    /// dropped if that process has been replaced (the program resends unsettled messages).
    func send(_ frame: Frame, generation: Int) {
        let process = state.withLock { $0.generation == generation ? $0.process : nil }
        guard let process else {
            logger.notice(
                "answer dropped: the program was restarted meanwhile", metadata: ["seq": "\(frame.header.seq ?? 0)"])
            return
        }
        process.write(frame.encoded()) { [logger] error in
            if let error { logger.warning("cannot send answer to the program", metadata: ["error": "\(error)"]) }
        }
    }

    private func fail(seq: UInt64, with error: DeliveryError) {
        let entry = state.withLock { $0.pending.removeValue(forKey: seq) }
        entry?.continuation.resume(throwing: error)
    }

    private func timedOut(seq: UInt64, generation: Int) {
        let entry: Pending? = state.withLock { state in
            guard let entry = state.pending[seq], entry.generation == generation else { return nil }
            state.pending[seq] = nil
            return entry
        }
        guard let entry else { return }
        logger.error(
            "program did not answer in time; restarting it",
            metadata: ["seq": "\(seq)", "timeout": "\(settings.timeout)"])
        // Replace the process before the caller hears of the timeout, so that its next message
        // cannot reach the hung program.
        restart(
            generation: generation, code: "exec-restarted",
            reason: "the program was restarted after it did not answer within \(settings.timeout)", terminate: true)
        entry.continuation.resume(
            throwing: DeliveryError.transient("timeout", "\(endpoint): no answer within \(settings.timeout)"))
    }

    // MARK: Lifecycle

    /// Starts the program now (a source's program runs from the start).
    func start() {
        guard (try? startIfDue()) == nil else { return }
        // Not due yet (a timer fired a little early) or the start failed: try again later.
        state.withLock { state in
            guard state.process == nil, !state.stopped else { return }
            let remaining = max((state.notBefore ?? .now) - .now, .milliseconds(10))
            scheduleRestart(&state, after: remaining)
        }
    }

    /// The running process, starting it when due; waits through a restart backoff until `deadline`.
    private func running(deadline: ContinuousClock.Instant) async throws -> (ChildProcess, Int) {
        while true {
            if let started = try startIfDue() { return started }
            let wakeUp = state.withLock { $0.notBefore } ?? (.now + .milliseconds(50))
            guard wakeUp < deadline, !state.withLock({ $0.stopped }) else {
                throw DeliveryError.transient(
                    "exec-unavailable",
                    "\(endpoint): the program is not running (restarting after failures; see the log)")
            }
            try? await Task.sleep(until: max(wakeUp, ContinuousClock.now + .milliseconds(10)), clock: .continuous)
        }
    }

    /// Returns the running process, or starts one if no restart delay is pending.
    private func startIfDue() throws -> (ChildProcess, Int)? {
        try state.withLock { (state) throws(DeliveryError) -> (ChildProcess, Int)? in
            if state.stopped { throw DeliveryError.transient("exec-unavailable", "\(endpoint): shutting down") }
            if let process = state.process { return (process, state.generation) }
            if let notBefore = state.notBefore, notBefore > .now + .milliseconds(5) { return nil }
            state.generation += 1
            let generation = state.generation
            do {
                let process = try ChildProcess.spawn(
                    command: settings.command, arguments: settings.arguments,
                    environment: settings.childEnvironment(endpoint: endpoint), directory: settings.workingDirectory,
                    endpoint: endpoint, handlers: handlers(generation: generation))
                state.process = process
                logger.info("program started", metadata: ["command": "\(settings.command)", "pid": "\(process.pid)"])
                return (process, generation)
            } catch {
                state.consecutiveFailures += 1
                let delay = settings.restartDelay(afterFailures: state.consecutiveFailures)
                state.notBefore = .now + delay
                logger.error("cannot start program", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                scheduleRestart(&state, after: delay)
                return nil
            }
        }
    }

    private func handlers(generation: Int) -> ChildProcess.Handlers {
        ChildProcess.Handlers(
            frame: { [weak self] frame in self?.received(frame, generation: generation) },
            protocolError: { [weak self] error in
                guard let self else { return }
                self.logger.error("program broke the framing; restarting it", metadata: ["error": "\(error.message)"])
                self.restart(generation: generation, code: "exec-protocol", reason: error.description, terminate: true)
            },
            stderrLine: { [weak self] line in self?.stderr(line) },
            exit: { [weak self] status in
                guard let self else { return }
                let wasCurrent = self.state.withLock {
                    $0.generation == generation && $0.process != nil && !$0.stopped
                }
                if wasCurrent {
                    self.logger.error("program exited; restarting it", metadata: ["status": "\(status)"])
                } else {
                    self.logger.debug("program exited", metadata: ["status": "\(status)"])
                }
                self.restart(
                    generation: generation, code: "exec-crashed", reason: "the program ended (\(status))",
                    terminate: false)
            })
    }

    private func received(_ frame: Frame, generation: Int) {
        switch frame.header.type {
        case "result" where onMessage == nil:
            guard let seq = frame.header.seq else {
                return restart(
                    generation: generation, code: "exec-protocol", reason: "a result without 'seq'", terminate: true)
            }
            let entry: Pending? = state.withLock { state in
                guard let entry = state.pending[seq], entry.generation == generation else { return nil }
                state.pending[seq] = nil
                state.consecutiveFailures = 0
                return entry
            }
            guard let entry else {
                logger.warning("answer for an unknown seq ignored", metadata: ["seq": "\(seq)"])
                return
            }
            entry.continuation.resume(returning: frame)
        case "message" where onMessage != nil:
            guard frame.header.seq != nil else {
                return restart(
                    generation: generation, code: "exec-protocol", reason: "a message without 'seq'", terminate: true)
            }
            state.withLock { $0.consecutiveFailures = 0 }
            onMessage?(frame, generation)
        default:
            logger.debug("frame of unknown type ignored", metadata: ["type": "\(frame.header.type)"])
        }
    }

    private func stderr(_ line: String) {
        switch stderrLimiter.admit() {
        case .log(let suppressed):
            var metadata: Logger.Metadata = ["line": "\(line)"]
            if suppressed > 0 { metadata["suppressed_before"] = "\(suppressed)" }
            logger.warning("program stderr", metadata: metadata)
        case .suppress:
            break
        }
    }

    /// Replaces the process of `generation` (if it is still the current one): its pending
    /// frames fail as transient, and a new process starts after the backoff delay.
    private func restart(generation: Int, code: String, reason: String, terminate: Bool) {
        let (old, failed): (ChildProcess?, [Pending]) = state.withLock { state in
            let failed = state.pending.values.filter { $0.generation == generation }
            state.pending = state.pending.filter { $0.value.generation != generation }
            guard state.generation == generation, let old = state.process else { return (nil, failed) }
            state.process = nil
            if !state.stopped {
                state.consecutiveFailures += 1
                let delay = settings.restartDelay(afterFailures: state.consecutiveFailures)
                state.notBefore = .now + delay
                scheduleRestart(&state, after: delay)
            }
            return (old, failed)
        }
        for entry in failed {
            entry.continuation.resume(throwing: DeliveryError.transient(code, "\(endpoint): \(reason)"))
        }
        if terminate, let old {
            let grace = settings.shutdownGrace
            DispatchQueue.global().async { old.terminate(grace: grace, closeInputFirst: false) }
        }
    }

    /// Starts the program again after `delay` (once, however often it is asked); called with
    /// the state locked.
    private func scheduleRestart(_ state: inout State, after delay: Duration) {
        guard !state.restartScheduled, !state.stopped else { return }
        state.restartScheduled = true
        logger.notice("program restarts after backoff", metadata: ["delay": "\(delay)"])
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.dispatchInterval(delay)) { [weak self] in
            guard let self else { return }
            self.state.withLock { $0.restartScheduled = false }
            self.start()
        }
    }

    /// Stops the program in order (stdin closed, SIGTERM, SIGKILL) and fails what is still pending.
    func shutdown() async {
        let (process, failed): (ChildProcess?, [Pending]) = state.withLock { state in
            state.stopped = true
            defer {
                state.process = nil
                state.pending = [:]
            }
            return (state.process, Array(state.pending.values))
        }
        for entry in failed {
            entry.continuation.resume(
                throwing: DeliveryError.transient("exec-unavailable", "\(endpoint): shutting down"))
        }
        guard let process else { return }
        let grace = settings.shutdownGrace
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                process.terminate(grace: grace)
                continuation.resume()
            }
        }
        logger.info("program stopped", metadata: ["pid": "\(process.pid)"])
    }

    /// The pid of the running program (tests and diagnostics).
    var pid: pid_t? { state.withLock { $0.process?.pid } }

    static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(
            Int(duration.components.seconds) * 1_000_000_000 + Int(duration.components.attoseconds / 1_000_000_000))
    }
}
