import Foundation
import StadtbusAMQP

/// A publish that waits for the broker's confirm at most `timeout`.
///
/// The transport keeps an unconfirmed publish and re-sends it after a reconnect, so a publish
/// that timed out here may still reach the queue later; the caller was answered 503 and
/// retries, and the engine's idempotency store (keyed by the XÖV message identity) stops the
/// second copy from being delivered twice.
enum ConfirmedPublish {
    enum Outcome: Sendable {
        case confirmed
        case failed(AMQPError)
        case timedOut
    }

    static func publish(
        _ message: AMQPOutgoingMessage, to queue: String, with publisher: AMQPPublisher, timeout: Duration
    ) async -> Outcome {
        let gate = Gate()
        return await withCheckedContinuation { continuation in
            gate.install(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                gate.resume(.timedOut)
            }
            Task {
                do {
                    try await publisher.publish(message, exchange: "", routingKey: queue, mandatory: true)
                    gate.resume(.confirmed)
                } catch let error as AMQPError {
                    gate.resume(.failed(error))
                } catch {
                    gate.resume(.failed(.protocolError("\(error)")))
                }
                timer.cancel()
            }
        }
    }

    /// Resumes the continuation once: with the confirm, or with the timeout, whichever is first.
    private final class Gate: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<Outcome, Never>?

        func install(_ continuation: CheckedContinuation<Outcome, Never>) {
            lock.withLock { self.continuation = continuation }
        }

        func resume(_ outcome: Outcome) {
            let waiting = lock.withLock {
                defer { continuation = nil }
                return continuation
            }
            waiting?.resume(returning: outcome)
        }
    }
}
