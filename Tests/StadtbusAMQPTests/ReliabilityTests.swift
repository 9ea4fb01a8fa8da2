import Foundation
import StadtbusAMQP
import XCTest

/// A stream of messages through a relay process (consume → publish with confirm → ack) on the `chaos` node
/// while the broker or the relay is disrupted. Every message must arrive downstream; duplicates are counted
/// and reported (allowed at this layer: at-least-once).
final class ReliabilityTests: XCTestCase {
    /// The chaos node's port; set by `setUp`.
    nonisolated(unsafe) static var port = 0
    static let messageCount =
        Int(ProcessInfo.processInfo.environment["STADTBUS_AMQP_RELIABILITY_COUNT"] ?? "") ?? 20_000

    override func setUp() async throws {
        try Broker.start("chaos")
        Self.port = try Broker.port("chaos")
    }

    func testBrokerStopAppStartAppMidStream() async throws {
        try await runScenario(
            "stop_app",
            down: { _ in try Broker.ctl("chaos", "stop_app") },
            up: { _ in
                try await Task.sleep(for: .seconds(1))
                try Broker.ctl("chaos", "start_app")
            })
    }

    func testFullNodeRestartMidStream() async throws {
        try await runScenario(
            "node-restart",
            down: { _ in try Broker.run("scripts/broker", "stop", "chaos") },
            up: { _ in try Broker.run("scripts/broker", "start", "chaos") })
    }

    func testRelayProcessKilledMidStream() async throws {
        try await runScenario(
            "sigkill",
            down: { relays in
                let relay = relays.current
                kill(relay.processIdentifier, SIGKILL)
                relay.waitUntilExit()
                XCTAssertEqual(relay.terminationReason, .uncaughtSignal)
            },
            up: { relays in try relays.start() })
    }

    // MARK: scenario

    /// Streams `messageCount` messages producer → input queue → relay process → output queue → sink.
    /// `down` runs once an eighth has arrived downstream; the producer publishes the second half only after
    /// `down` returned, so both the stream and the producer's publishes cross the outage; then `up` runs.
    private func runScenario(
        _ name: String, down: @escaping @Sendable (RelayProcesses) async throws -> Void,
        up: @escaping @Sendable (RelayProcesses) async throws -> Void
    ) async throws {
        let count = Self.messageCount
        let input = uniqueName("\(name).in")
        let output = uniqueName("\(name).out")
        let endpoint = Broker.endpoint(port: Self.port)
        let setup = try await AMQPConnection.connect(endpoint)
        try await setup.declare(AMQPTopology(queues: [AMQPQueue(input), AMQPQueue(output)]))
        await setup.close()

        let relays = RelayProcesses(input: input, output: output)
        try relays.start()
        defer { relays.stopAll() }

        let downstream = IDCounter()
        let sink = try await AMQPConnection.connect(endpoint)
        let consumer = try await sink.consume(queue: output, prefetch: 500)
        let sinkTask = Task {
            for await delivery in consumer.deliveries {
                downstream.record(delivery.messageID ?? "?")
                try? await delivery.ack()
            }
        }
        defer { sinkTask.cancel() }

        let ids = (0..<count).map { String(format: "\(name)-%06d", $0) }
        let producer = try await AMQPConnection.connect(endpoint, publishWindow: 500)
        let publisher = producer.publisher()
        // The producer publishes the first half, then the second half only once `down` returned:
        // so the stream surely spans the outage (and the producer's own publishes meet it too).
        let disrupted = Gate()
        let producerTask = Task {
            for chunk in stride(from: 0, to: count, by: 500) {
                if chunk == count / 2 { await disrupted.wait() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for id in ids[chunk..<min(chunk + 500, count)] {
                        group.addTask {
                            let body = Array(repeating: UInt8(ascii: "x"), count: 512)
                            try await publisher.publish(
                                AMQPOutgoingMessage(body: body, messageID: id, contentType: "application/xml"),
                                exchange: "", routingKey: input)
                        }
                    }
                    try await group.waitForAll()
                }
                // the first half flows at about 3,000 msg/s, so it is still flowing when the broker goes down
                if chunk < count / 2 { try await Task.sleep(for: .milliseconds(150)) }
            }
        }

        // disrupt once an eighth of the stream has arrived downstream
        let start = ContinuousClock.now
        while downstream.snapshot.unique < count / 8 {
            try await Task.sleep(for: .milliseconds(20))
            if ContinuousClock.now - start > .seconds(120) {
                throw TestFailure("stream did not start: \(downstream.snapshot)")
            }
        }
        let before = downstream.snapshot
        try await down(relays)
        let after = downstream.snapshot
        await disrupted.open()
        try await up(relays)

        try await producerTask.value
        let deadline = ContinuousClock.now + .seconds(180)
        while downstream.snapshot.unique < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let result = downstream.snapshot
        let missing = downstream.missing(of: ids)
        let elapsed = ContinuousClock.now - start
        print(
            "reliability \(name): in \(count) out-unique \(result.unique) duplicates \(result.duplicates) "
                + "missing \(missing.count) (\(before.unique) had arrived when the disruption began, \(after.unique) when it was complete) in \(elapsed); "
                + "producer re-sent \(producer.statistics.republished), reconnects \(producer.statistics.reconnects)"
        )
        XCTAssertEqual(missing.count, 0, "missing downstream, e.g. \(missing.prefix(5))")
        XCTAssertEqual(result.unique, count)
        await producer.close()
        await sink.close()
    }
}

/// Opens once; waiters continue from then on.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// The relay process(es) of one scenario.
final class RelayProcesses: @unchecked Sendable {
    let input: String
    let output: String
    private(set) var processes: [Process] = []
    private var lifelines: [Pipe] = []
    var current: Process { processes[processes.count - 1] }

    init(input: String, output: String) {
        self.input = input
        self.output = output
    }

    static func executable() throws -> URL {
        let name = "stadtbus-amqp-relay"
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
            Bundle.main.bundleURL.appendingPathComponent(name),
            Broker.root.appendingPathComponent(".build/debug/\(name)"),
        ]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) {
            return found
        }
        try Broker.run("swift", "build", "--product", name)
        let built = Broker.root.appendingPathComponent(".build/debug/\(name)")
        guard FileManager.default.isExecutableFile(atPath: built.path) else { throw TestFailure("\(name) not built") }
        return built
    }

    func start() throws {
        let process = Process()
        process.executableURL = try Self.executable()
        process.arguments = [
            "--port", String(ReliabilityTests.port), "--from", input, "--to", output, "--prefetch", "300",
            "--exit-on-stdin-eof",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["STADTBUS_AMQP_PASSWORD"] = "guest"
        process.environment = environment
        // the relay exits when this pipe closes, so a crashed test leaves no relay behind
        let lifeline = Pipe()
        process.standardInput = lifeline
        lifelines.append(lifeline)
        try process.run()
        processes.append(process)
    }

    func stopAll() {
        for process in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
