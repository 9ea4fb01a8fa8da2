import Foundation
import StadtbusAMQP
import StadtbusTestSupport

/// Publishes a known list of messages at a steady pace in the background, so that a fault
/// injected part-way lands in the middle of the stream.
///
/// A publish that fails (the broker is being restarted) is repeated until it is confirmed.
/// A repeated publish whose first try did reach the queue is an input duplicate; Stadtbus's
/// idempotency store must absorb it, so the downstream counts stay exact.
actor StreamPublisher {
    /// One message of the stream: its body and the UUID it is known by (also its AMQP message-id).
    struct Item: Sendable {
        let uuid: String
        let body: [UInt8]
    }

    private let client: TestClient
    private let queue: String
    private let items: [Item]
    private let interval: Duration
    private(set) var published = 0
    /// Publishes that had to be repeated (the broker was unreachable or did not confirm).
    private(set) var repeats = 0
    private var task: Task<Void, any Error>?

    /// - Parameter seconds: how long the whole stream should take (at least).
    init(client: TestClient, queue: String, items: [Item], seconds: Double) {
        self.client = client
        self.queue = queue
        self.items = items
        self.interval = .milliseconds(Int(seconds * 1000) / max(items.count, 1))
    }

    func start() {
        task = Task { try await self.run() }
    }

    private func run() async throws {
        let clock = ContinuousClock()
        var next = clock.now
        for item in items {
            try await publishUntilConfirmed(item)
            published += 1
            next = next.advanced(by: interval)
            if next > clock.now { try await Task.sleep(until: next, clock: clock) }
        }
    }

    private func publishUntilConfirmed(_ item: Item) async throws {
        let deadline = ContinuousClock.now + .seconds(180)
        while true {
            do {
                try await client.publish(item.body, to: queue, messageID: item.uuid)
                return
            } catch {
                repeats += 1
                guard ContinuousClock.now < deadline else {
                    throw EndToEndFailure("publish of \(item.uuid) failed: \(error)")
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Waits until at least `count` messages are published.
    func waitUntilPublished(_ count: Int) async throws {
        while published < count {
            if let task, task.isCancelled { throw EndToEndFailure("publisher cancelled") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits for the whole stream (rethrows a publish failure).
    func finish() async throws {
        try await task?.value
    }
}
