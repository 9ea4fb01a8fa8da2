import Dispatch
import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore

/// Takes messages from an `exec` endpoint's program (`message` frames) and answers each with
/// `settled` once the engine's disposition is durable:
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
final class ExecSource: MessageSource, @unchecked Sendable {
    let endpoint: Endpoint
    private let settings: ExecSettings
    private let context: AdapterContext
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var program: ExecProgram?
    private var stopped = false
    private var stopWaiter: CheckedContinuation<Void, Never>?
    private var running = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(endpoint: Endpoint, settings: ExecSettings, context: AdapterContext) {
        self.endpoint = endpoint
        self.settings = settings
        self.context = context
        slots = DispatchSemaphore(value: settings.maxInFlight)
    }

    /// Runs the program until ``stop()``, then finishes the messages in flight and stops it.
    func run() async throws {
        let program = ExecProgram(endpoint: endpoint.name, settings: settings, logger: context.logger) {
            [weak self] frame, generation in
            self?.received(frame, generation: generation)
        }
        let alreadyStopped = lock.withLock {
            self.program = program
            return stopped
        }
        if !alreadyStopped {
            program.start()
            context.readiness.satisfy("consumer:\(endpoint.name)")
            context.logger.info(
                "reading from program", metadata: ["endpoint": "\(endpoint.name)", "command": "\(settings.command)"])
            await withCheckedContinuation { continuation in
                let resumeNow = lock.withLock { () -> Bool in
                    if stopped { return true }
                    stopWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        await withCheckedContinuation { continuation in
            let idle = lock.withLock { () -> Bool in
                if running == 0 { return true }
                idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        await program.shutdown()
        context.logger.info("stopped reading from program", metadata: ["endpoint": "\(endpoint.name)"])
    }

    /// Stops taking messages (later ones stay unsettled with the program, which resends them).
    func stop() async {
        let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            stopped = true
            defer { stopWaiter = nil }
            return stopWaiter
        }
        waiter?.resume()
    }

    /// On the program's reader thread: blocks while `max-in-flight` messages are in process.
    private func received(_ frame: Frame, generation: Int) {
        guard !lock.withLock({ stopped }) else { return }
        slots.wait()
        let accepted = lock.withLock { () -> Bool in
            guard !stopped else { return false }
            running += 1
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
        let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            running -= 1
            guard running == 0 else { return [] }
            defer { idleWaiters = [] }
            return idleWaiters
        }
        waiters.forEach { $0.resume() }
    }

    private func process(_ frame: Frame, generation: Int) async {
        let metrics = context.metrics
        context.inFlight.add(1, metrics: metrics)
        defer { context.inFlight.add(-1, metrics: metrics) }
        let header = frame.header
        var attempt = max(1, header.attempt ?? 1)
        while true {
            let message = Message(
                body: frame.body, headers: header.headers ?? [:],
                properties: MessageProperties(
                    messageID: header.messageID, contentType: header.contentType ?? "application/xml"),
                source: endpoint.name, attempt: attempt)
            let result = await context.intake.process(message)
            var log = result.logger
            log[metadataKey: "endpoint"] = "\(endpoint.name)"
            switch result.disposition {
            case .completed, .duplicate, .filtered:
                answer(header, status: "accepted", reason: nil, generation: generation)
                result.settled()
                return
            case .deadLetter(let reason, let step, _, _):
                log.warning(
                    "rejected: handed back to the program", metadata: ["step": "\(step)", "reason": "\(reason)"])
                answer(header, status: "rejected", reason: "\(step): \(reason)", generation: generation)
                result.settled()
                return
            case .retry(let next, let delay, let reason, _):
                log.notice(
                    "retry scheduled (held in memory)",
                    metadata: ["attempt": "\(next)", "delay": "\(delay)", "reason": "\(reason)"])
                result.settled()
                guard await sleepUnlessStopped(delay) else {
                    log.notice(
                        "shutting down: message left unsettled with the program",
                        metadata: ["seq": "\(header.seq ?? 0)"])
                    return
                }
                attempt = next
            }
        }
    }

    private func answer(_ header: FrameHeader, status: String, reason: String?, generation: Int) {
        let settled = FrameHeader(
            type: "settled", seq: header.seq, messageID: header.messageID, status: status, reason: reason)
        lock.withLock { program }?.send(Frame(settled), generation: generation)
    }

    /// Sleeps `delay` in short steps; false if the source was stopped meanwhile.
    private func sleepUnlessStopped(_ delay: Duration) async -> Bool {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline {
            if lock.withLock({ stopped }) { return false }
            try? await Task.sleep(for: min(.milliseconds(100), deadline - .now))
        }
        return !lock.withLock({ stopped })
    }
}
