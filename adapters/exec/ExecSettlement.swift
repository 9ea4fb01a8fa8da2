import StadtbusAdapterKit
import Synchronization

/// Settles one message an `exec` program sent, for ``SourcePump``, by answering it with a
/// `settled` frame:
/// - complete → `accepted` (unless a retry or a rejection came first);
/// - dead letter → `rejected` with `step: reason`: the program keeps the message aside — Stadtbus
///   has no queue to put it in, so the route's `on-error` endpoint is not used;
/// - retry → nothing is sent; the source holds the message and runs it again after the delay
///   (``requestedRetry``), so the program hears only the final outcome;
/// - give back → nothing is sent: the message stays unsettled with the program, which resends
///   it after a restart.
final class ExecSettlement: Settlement {
    /// What was answered so far.
    enum Answer: Equatable, Sendable {
        case none
        case accepted
        case rejected
        case heldForRetry(RetryRequest)
    }

    private let header: FrameHeader
    private let send: @Sendable (Frame) -> Void
    private let answer = Mutex(Answer.none)

    /// - Parameters:
    ///   - header: the header of the program's `message` frame (its `seq` and id are echoed).
    ///   - send: writes a frame to the program that sent the message.
    init(header: FrameHeader, send: @escaping @Sendable (Frame) -> Void) {
        self.header = header
        self.send = send
    }

    /// The retry the pump asked for, if any: the source runs the message again after its delay.
    var requestedRetry: RetryRequest? {
        answer.withLock { answer in
            if case .heldForRetry(let request) = answer { return request }
            return nil
        }
    }

    /// What was answered.
    var current: Answer { answer.withLock { $0 } }

    func complete() async throws {
        let answered = answer.withLock { answer -> Bool in
            guard answer == .none else { return true }
            answer = .accepted
            return false
        }
        if !answered { reply(status: "accepted", reason: nil) }
    }

    func retry(_ request: RetryRequest) async throws {
        answer.withLock { $0 = .heldForRetry(request) }
    }

    func deadLetter(_ letter: DeadLetterRequest) async throws {
        answer.withLock { $0 = .rejected }
        reply(status: "rejected", reason: "\(letter.step): \(letter.reason)")
    }

    func giveBack() async {}

    var defaultDeadLetterDestination: String { "the program (rejected)" }

    func destination(of letter: DeadLetterRequest) -> String { defaultDeadLetterDestination }

    private func reply(status: String, reason: String?) {
        send(
            Frame(
                FrameHeader(
                    type: "settled", seq: header.seq, messageID: header.messageID, status: status, reason: reason)))
    }
}
