import Logging
import StadtbusCore
import StadtbusOperations

/// Runs one inbound message through the engine and settles it: the one place where the ack
/// rule (shared/design/message-lifecycle.md) is applied for a source.
///
/// - completed, duplicate, filtered → ``Settlement/complete()``;
/// - retry → ``Settlement/retry(_:)``, then ``Settlement/complete()``;
/// - dead letter → ``Settlement/deadLetter(_:)``, then the dead letter is recorded (so a
///   redelivery is a duplicate; a failure to record is logged, not fatal), then
///   ``Settlement/complete()``.
///
/// The message is counted (``IntakeResult/settled()``) only after settling succeeded. If any
/// settle step throws, the error is logged and counted, and after ``giveBackPause`` the
/// message is given back (``Settlement/giveBack()``) — never completed.
public struct SourcePump: Sendable {
    let intake: MessageIntake
    let engine: RoutingEngine
    let metrics: StadtbusMetrics
    let inFlight: InFlightCounter
    /// The adapter name counted in `countAdapterError` when settling fails (`amqp`, `file`, …).
    public let adapter: String
    /// How long to wait before giving a message back, so a failing publish does not spin.
    public let giveBackPause: Duration

    /// - Parameters:
    ///   - engine: the engine messages are processed by (and dead letters recorded in).
    ///   - metrics: per-message metrics and the adapter error counter.
    ///   - inFlight: the in-flight gauge, held for the whole of processing and settling.
    ///   - logger: the base logger (route and message identity are added per message).
    ///   - adapter: the adapter name for the error counter.
    ///   - giveBackPause: the pause before ``Settlement/giveBack()``.
    public init(
        engine: RoutingEngine, metrics: StadtbusMetrics, inFlight: InFlightCounter, logger: Logger, adapter: String,
        giveBackPause: Duration = .seconds(1)
    ) {
        self.intake = MessageIntake(engine: engine, metrics: metrics, logger: logger)
        self.engine = engine
        self.metrics = metrics
        self.inFlight = inFlight
        self.adapter = adapter
        self.giveBackPause = giveBackPause
    }

    /// A pump over the runtime's engine, metrics, in-flight counter and logger.
    public init(context: AdapterContext, adapter: String) {
        self.init(
            engine: context.engine, metrics: context.metrics, inFlight: context.inFlight, logger: context.logger,
            adapter: adapter)
    }

    /// Processes `message` and settles it through `settlement`; returns once it is settled or
    /// given back. `metadata` is added to this message's log lines (the file name, …).
    public func pump(_ message: Message, settlement: some Settlement, metadata: Logger.Metadata = [:]) async {
        inFlight.add(1, metrics: metrics)
        defer { inFlight.add(-1, metrics: metrics) }
        let result = await intake.process(message)
        var log = result.logger
        for (key, value) in metadata { log[metadataKey: key] = value }
        do {
            try await settle(message, result, settlement, log)
            result.settled()
        } catch {
            // The retry or dead-letter publish was not confirmed (or completing failed, e.g. the
            // connection went away, a reason file not written): the source keeps the message and reads
            // it again.
            log.error("could not settle message; giving it back to its source", metadata: ["error": "\(error)"])
            metrics.countAdapterError(adapter: adapter)
            try? await Task.sleep(for: giveBackPause)
            await settlement.giveBack()
        }
    }

    private func settle(_ message: Message, _ result: IntakeResult, _ settlement: some Settlement, _ log: Logger)
        async throws
    {
        switch result.disposition {
        case .retry(let next, let delay, let reason, let step):
            try await settlement.retry(
                RetryRequest(attempt: next, delay: delay, reason: reason, step: step, route: result.route))
            log.notice(
                "retry scheduled",
                metadata: ["attempt": "\(next)", "delay": "\(delay)", "step": "\(step)", "reason": "\(reason)"])
        case .deadLetter(let reason, let step, let failedRoute, let endpointName):
            let letter = DeadLetterRequest(
                reason: reason, step: step, route: result.failedRoute, attempt: message.attempt,
                endpoint: endpointName.flatMap { engine.table.endpoints[$0] })
            try await settlement.deadLetter(letter)
            // Confirmed: a redelivery of this input (a lost ack) is a duplicate, not a second dead letter.
            do {
                try await engine.recordDeadLettered(message, headerMessageID: result.messageID, route: failedRoute)
            } catch {
                log.warning(
                    "could not record the dead letter (a redelivery would dead-letter it again)",
                    metadata: ["error": "\(error)"])
            }
            log.warning(
                "dead-lettered",
                metadata: [
                    "step": "\(step)", "reason": "\(reason)",
                    "to": "\(settlement.destination(of: letter))",
                ])
        case .completed, .duplicate, .filtered:
            log.debug("processed", metadata: ["disposition": "\(result.disposition)"])
        }
        try await settlement.complete()
    }
}
