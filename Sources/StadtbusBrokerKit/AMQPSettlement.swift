import StadtbusAMQP
import StadtbusAdapterKit

/// Settles one AMQP delivery: complete = ack; retry and dead letter = a confirmed publish by
/// the ``FailurePublisher`` (to the retry queue, or the dead-letter endpoint or fallback
/// queue); give back = nack with requeue.
public struct AMQPSettlement: Settlement {
    public let delivery: AMQPDelivery
    public let failures: FailurePublisher

    public init(delivery: AMQPDelivery, failures: FailurePublisher) {
        self.delivery = delivery
        self.failures = failures
    }

    public func complete() async throws {
        try await delivery.ack()
    }

    public func retry(_ request: RetryRequest) async throws {
        try await failures.retry(
            delivery, attempt: request.attempt, delay: request.delay, reason: request.reason, step: request.step,
            route: request.route)
    }

    public func deadLetter(_ letter: DeadLetterRequest) async throws {
        try await failures.deadLetter(
            delivery, endpoint: letter.endpoint, reason: letter.reason, step: letter.step, route: letter.route,
            attempt: letter.attempt)
    }

    public func giveBack() async {
        try? await delivery.nack(requeue: true)
    }

    /// The queue on the message's own broker that takes dead letters without an endpoint.
    public var defaultDeadLetterDestination: String { FailurePublisher.fallbackDeadLetterQueue }
}
