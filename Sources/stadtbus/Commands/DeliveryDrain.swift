import StadtbusAMQP
import Synchronization

/// Takes what a consumer has to give right now: every delivery until none arrived for a while
/// (the dead-letter browser reads a queue's current contents this way).
final class DeliveryDrain: Sendable {
    private struct State {
        var deliveries: [AMQPDelivery] = []
        var lastArrival = ContinuousClock.now
    }

    private let state = Mutex(State())

    private init() {}

    /// The deliveries from `consumer` until none arrived for `idle`; the consumer's stream ends
    /// then. Deliveries stay unacknowledged (the caller settles them).
    static func take(from consumer: AMQPConsumer, idle: Duration) async -> [AMQPDelivery] {
        let drain = DeliveryDrain()
        let reader = Task {
            for await delivery in consumer.deliveries {
                drain.state.withLock {
                    $0.deliveries.append(delivery)
                    $0.lastArrival = .now
                }
            }
        }
        while drain.state.withLock({ ContinuousClock.now - $0.lastArrival }) < idle {
            try? await Task.sleep(for: idle / 5)
        }
        reader.cancel()
        await reader.value
        return drain.state.withLock { $0.deliveries }
    }
}
