import Foundation
import StadtbusAMQP
import StadtbusConcurrency

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
        // The confirm or the timeout, whichever comes first, sets the outcome.
        let outcome = AsyncPromise<Outcome>()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            outcome.fulfil(.timedOut)
        }
        // Unstructured: a publish cannot be taken back, so it is not awaited past the timeout.
        Task {
            do {
                try await publisher.publish(message, exchange: "", routingKey: queue, mandatory: true)
                outcome.fulfil(.confirmed)
            } catch let error as AMQPError {
                outcome.fulfil(.failed(error))
            } catch {
                outcome.fulfil(.failed(.protocolError("\(error)")))
            }
            timer.cancel()
        }
        return await outcome.waitIgnoringCancellation()
    }
}
