import Dispatch
import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import Synchronization

/// Takes messages from an `exec` endpoint's program (`message` frames) and runs each through
/// ``SourcePump``, which applies the ack rule; an ``ExecSettlement`` answers with `settled` once
/// the engine's disposition is durable:
///
/// - delivered, duplicate or filtered → `accepted`;
/// - dead letter → `rejected` with the reason: the program keeps the message aside (like the
///   `file` source's `failed/` folder) — Stadtbus has no broker queue to put it in;
/// - retry → Stadtbus holds the message and runs it again after the route's backoff (attempt
///   + 1); the program hears nothing until a final outcome.
///
/// A message not yet settled when the program or Stadtbus restarts is resent by the program
/// (at-least-once); the engine's idempotency store drops the duplicate. At most
/// `max-in-flight` messages are processed at once; beyond that Stadtbus stops reading the
/// program's output, so the program blocks on its next write (back-pressure).
final class ExecSource: MessageSource, Sendable {
    let endpoint: Endpoint
    private let settings: ExecSettings
    private let context: AdapterContext
    private let pump: SourcePump
    private let slots: DispatchSemaphore

    private struct State {
        var program: ExecProgram?
        var stopped = false
        var stopWaiter: CheckedContinuation<Void, Never>?
        var running = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init(endpoint: Endpoint, settings: ExecSettings, context: AdapterContext) {
        self.endpoint = endpoint
        self.settings = settings
        self.context = context
        var logger = context.logger
        logger[metadataKey: "endpoint"] = "\(endpoint.name)"
        pump = SourcePump(
            engine: context.engine, metrics: context.metrics, inFlight: context.inFlight, logger: logger,
            adapter: "exec")
        slots = DispatchSemaphore(value: settings.maxInFlight)
    }

    /// Runs the program until ``stop()``, then finishes the messages in flight and stops it.
    func run() async throws {
        let program = ExecProgram(endpoint: endpoint.name, settings: settings, logger: context.logger) {
            [weak self] frame, generation in
            self?.received(frame, generation: generation)
        }
        let alreadyStopped = state.withLock {
            $0.program = program
            return $0.stopped
        }
        if !alreadyStopped {
            program.start()
            context.readiness.satisfy("consumer:\(endpoint.name)")
            context.logger.info(
                "reading from program", metadata: ["endpoint": "\(endpoint.name)", "command": "\(settings.command)"])
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.stopped { return true }
                    state.stopWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        await program.shutdown()
        context.logger.info("stopped reading from program", metadata: ["endpoint": "\(endpoint.name)"])
    }

    /// Stops taking messages (later ones stay unsettled with the program, which resends them).
    func stop() async {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.stopWaiter = nil }
            return state.stopWaiter
        }
        waiter?.resume()
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// On the program's reader thread: blocks while `max-in-flight` messages are in process.
    private func received(_ frame: Frame, generation: Int) {
        guard !isStopped else { return }
        slots.wait()
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.running += 1
            return true
        }
        guard accepted else {
            slots.signal()
            return
        }
        Task {
            await self.process(frame, generation: generation)
            self.finished()
        }
    }

    private func finished() {
        slots.signal()
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running -= 1
            guard state.running == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Pumps the message until it is accepted or rejected; a retry holds it here for its delay.
    private func process(_ frame: Frame, generation: Int) async {
        let header = frame.header
        let program = state.withLock { $0.program }
        var attempt = max(1, header.attempt ?? 1)
        while true {
            let message = Message(
                body: frame.body, headers: header.headers ?? [:],
                properties: MessageProperties(
                    messageID: header.messageID, contentType: header.contentType ?? "application/xml"),
                source: endpoint.name, attempt: attempt)
            let settlement = ExecSettlement(header: header) { program?.send($0, generation: generation) }
            await pump.pump(message, settlement: settlement, metadata: ["seq": "\(header.seq ?? 0)"])
            guard let retry = settlement.requestedRetry else { return }
            guard await sleepUnlessStopped(retry.delay) else {
                context.logger.notice(
                    "shutting down: message left unsettled with the program",
                    metadata: ["endpoint": "\(endpoint.name)", "seq": "\(header.seq ?? 0)"])
                return
            }
            attempt = retry.attempt
        }
    }

    /// Sleeps `delay` in short steps; false if the source was stopped meanwhile.
    private func sleepUnlessStopped(_ delay: Duration) async -> Bool {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline {
            if isStopped { return false }
            try? await Task.sleep(for: min(.milliseconds(100), deadline - .now))
        }
        return !isStopped
    }
}
