import CRabbitMQ
import Foundation

/// Who waits for the confirm of a publish.
enum ConfirmWaiter {
    /// One task waits for this publish alone.
    case single(CheckedContinuation<Void, any Error>)
    /// One task waits for a whole batch; this publish is entry `index` of it.
    case batch(ConfirmBatch, index: Int)
}

/// Publishes submitted together whose caller waits once for all of their outcomes (owner thread only):
/// confirms, however many of them a `multiple` ack settles, resume the caller once, not once per publish.
final class ConfirmBatch {
    private var results: [Result<Void, AMQPError>?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    /// Records the outcome of entry `index`; returns true when it was the last one outstanding (the
    /// caller then resumes the batch with ``resume()``).
    func record(_ index: Int, _ result: Result<Void, AMQPError>) -> Bool {
        guard results[index] == nil else { return false }
        results[index] = result
        remaining -= 1
        return remaining == 0
    }

    /// Resumes the waiting task with every outcome, in submission order.
    func resume() {
        continuation.resume(returning: results.map { $0 ?? .failure(.closed) })
    }
}

/// A publish waiting for its confirm.
final class PendingPublish {
    let message: AMQPOutgoingMessage
    let exchange: String
    let routingKey: String
    let mandatory: Bool
    let waiter: ConfirmWaiter
    var sentAt = ContinuousClock.now
    /// Set when a basic.return for this publish arrived; the following ack then fails the publish.
    var returned: AMQPError?

    init(message: AMQPOutgoingMessage, exchange: String, routingKey: String, mandatory: Bool, waiter: ConfirmWaiter) {
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.waiter = waiter
    }

    /// Hands the outcome to whoever waits. Returns the batch to resume when this outcome completed one
    /// (so that a turn of the loop resumes each batch once, after all its confirms are recorded).
    func finish(_ result: Result<Void, AMQPError>) -> ConfirmBatch? {
        switch waiter {
        case .single(let continuation):
            continuation.resume(with: result.mapError { $0 as any Error })
            return nil
        case .batch(let batch, let index):
            return batch.record(index, result) ? batch : nil
        }
    }

    /// Hands the outcome over at once (paths that settle one publish at a time: failures, close).
    func finishNow(_ result: Result<Void, AMQPError>) {
        finish(result)?.resume()
    }
}

/// Identifies a delivery on one incarnation of one channel.
struct DeliveryToken: Sendable {
    let channel: UInt16
    let epoch: UInt64
    let tag: UInt64
}

enum Settlement: Sendable {
    case ack
    case nack(requeue: Bool)
    case reject(requeue: Bool)
}

/// A registered consumer (owner-thread state).
final class ConsumerRegistration {
    let channel: UInt16
    let queue: String
    let prefetch: UInt16
    let continuation: AsyncStream<AMQPDelivery>.Continuation
    var active = false
    /// Deliveries were stopped (basic.cancel) while the channel stays open for settlements;
    /// a stopped consumer is not restarted after a reconnect.
    var stopped = false

    init(channel: UInt16, queue: String, prefetch: UInt16, continuation: AsyncStream<AMQPDelivery>.Continuation) {
        self.channel = channel
        self.queue = queue
        self.prefetch = prefetch
        self.continuation = continuation
    }
}

enum Command {
    case publish(PendingPublish)
    case settle(DeliveryToken, Settlement)
    case declare(AMQPTopology, CheckedContinuation<Void, any Error>)
    case delete(queues: [String], exchanges: [String], CheckedContinuation<Void, any Error>)
    case consume(ConsumerRegistration, CheckedContinuation<Void, any Error>)
    case cancel(UInt16, CheckedContinuation<Void, Never>)
    case stopDeliveries(UInt16, CheckedContinuation<Void, Never>)
    /// Resumed at the end of the turn that ran it, after the settlements queued before it were sent.
    case flush(CheckedContinuation<Void, Never>)
    /// A batch of publishes submitted together (one command, one wake-up).
    case publishBatch([PendingPublish])
}

/// Content (header + body frames) being assembled for a basic.deliver or basic.return.
struct Assembly {
    enum Kind {
        case deliver(tag: UInt64, redelivered: Bool)
        case returned(code: Int, text: String)
    }

    var kind: Kind
    var exchange: String
    var routingKey: String
    var properties = AMQPMessageProperties()
    var bodySize = 0
    var body: [UInt8] = []
}
