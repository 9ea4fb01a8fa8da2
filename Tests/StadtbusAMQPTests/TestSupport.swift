import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Helpers for tests against real RabbitMQ nodes started by scripts/broker.
enum Broker {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    nonisolated(unsafe) private static var started: Set<String> = []
    private static let lock = NSLock()

    /// Starts (or reuses) a node via scripts/broker; once per test process.
    static func start(_ node: String) throws {
        let already = lock.withLock { started.contains(node) }
        if already { return }
        try run("scripts/broker", "start", node)
        lock.withLock { _ = started.insert(node) }
    }

    /// The AMQP port of a node (chaos and tls have one per checkout).
    static func port(_ node: String) throws -> Int {
        let text = try run(["scripts/broker", "port", node]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(text) else { throw TestFailure("scripts/broker port \(node) printed '\(text)'") }
        return port
    }

    /// Runs `rabbitmqctl` against a node.
    static func ctl(_ node: String, _ args: String...) throws {
        try run(["scripts/broker", "ctl", node] + args)
    }

    @discardableResult
    static func run(_ args: String...) throws -> String { try run(args) }

    /// Runs a command in the project root (see ``Shell`` for why not Foundation's `Process`).
    @discardableResult
    static func run(_ args: [String]) throws -> String {
        do { return try Shell.run(args, in: root) } catch let failure as Shell.Failure {
            throw TestFailure(failure.description)
        }
    }

    static func endpoint(port: Int = 5672, password: AMQPSecret = .literal("guest"), heartbeat: Int = 10)
        -> AMQPEndpoint
    {
        AMQPEndpoint(
            host: "127.0.0.1", port: port, username: "guest", password: password, heartbeat: heartbeat,
            reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(2)),
            timeout: .seconds(10), connectionName: "stadtbus-amqp-tests")
    }

    static var certs: URL { root.appendingPathComponent("certs/out") }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A unique name for queues/exchanges of one test run.
func uniqueName(_ prefix: String) -> String {
    "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
}

/// Runs `body` and fails if it takes longer than `seconds`.
func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestFailure("timed out after \(seconds) s")
        }
        guard let result = try await group.next() else { throw TestFailure("no result") }
        group.cancelAll()
        return result
    }
}

/// Receives the next delivery of a consumer, with a timeout.
func next(_ consumer: AMQPConsumer, timeout: Double = 10) async throws -> AMQPDelivery {
    try await withTimeout(timeout) {
        var iterator = consumer.deliveries.makeAsyncIterator()
        guard let delivery = await iterator.next() else { throw TestFailure("consumer stream ended") }
        return delivery
    }
}

/// Thread-safe counter of message IDs (for reliability tests).
final class IDCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    private var duplicates = 0
    private var total = 0

    func record(_ id: String) {
        lock.withLock {
            total += 1
            if !seen.insert(id).inserted { duplicates += 1 }
        }
    }

    var snapshot: (unique: Int, duplicates: Int, total: Int) { lock.withLock { (seen.count, duplicates, total) } }
    func missing(of expected: [String]) -> [String] { lock.withLock { expected.filter { !seen.contains($0) } } }
}
