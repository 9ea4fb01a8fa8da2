/// How a source settles one inbound message once the engine has decided about it — the
/// transport-neutral half of Benthos' `Read() → (message, ackFunc)`.
///
/// A source hands each message to ``SourcePump`` together with its settlement; the pump
/// applies the ack rule (shared/design/message-lifecycle.md) and calls these in a fixed order:
/// - completed, duplicate, filtered → ``complete()``;
/// - retry → ``retry(_:)``, then ``complete()``;
/// - dead letter → ``deadLetter(_:)``, then ``complete()``.
///
/// ``complete()`` is never called before a retry or dead-letter publish has succeeded. When any
/// of them throws, the pump pauses and calls ``giveBack()``, so the message is neither lost
/// (completed without its effect) nor settled twice.
public protocol Settlement: Sendable {
    /// Settles the message for good: ack the delivery, move the file to `done/`, answer
    /// "accepted". Called last, and only after every durable effect is confirmed.
    func complete() async throws

    /// Makes the message come back later as another attempt (retry queue, kept file). Must not
    /// return before that is durable; ``complete()`` follows.
    func retry(_ request: RetryRequest) async throws

    /// Sets the message aside with why it failed (dead-letter publish confirmed, `failed/` with
    /// the reason, "rejected"). Must not return before that is durable; ``complete()`` follows.
    func deadLetter(_ letter: DeadLetterRequest) async throws

    /// Returns the message unsettled so it is read again (nack with requeue, leave the file).
    /// Called after a settle step failed; it cannot fail itself (a lost connection returns the
    /// message anyway).
    func giveBack() async

    /// How the log names where a dead letter without an endpoint goes.
    var defaultDeadLetterDestination: String { get }

    /// How the log names where `letter` went: by default its endpoint, else
    /// ``defaultDeadLetterDestination``. Sources that set dead letters aside in their own place
    /// (a folder, the sending program) say so here.
    func destination(of letter: DeadLetterRequest) -> String
}

extension Settlement {
    /// A generic name; transports with a fixed fallback (a queue, a directory) say which.
    public var defaultDeadLetterDestination: String { "default dead-letter destination" }

    public func destination(of letter: DeadLetterRequest) -> String {
        letter.endpoint?.name ?? defaultDeadLetterDestination
    }
}
