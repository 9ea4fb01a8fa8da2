import Foundation
import StadtbusAMQP
import XCTest

/// A stream of messages through a relay process (consume → publish with confirm → ack) on the `chaos` node
/// while the broker or the relay is disrupted. Every message must arrive downstream; duplicates are counted
/// and reported (allowed at this layer: at-least-once).
final class ReliabilityTests: XCTestCase {
    static let port = 5692
    static let messageCount =
        Int(ProcessInfo.processInfo.environment["STADTBUS_AMQP_RELIABILITY_COUNT"] ?? "") ?? 20_000

    override func setUp() async throws {
        try Broker.start("chaos")
    }

    func testBrokerStopAppStartAppMidStream() async throws {
        try await runScenario("stop_app") {
            try Broker.ctl("chaos", "stop_app")
            try await Task.sleep(for: .seconds(2))
            try Broker.ctl("chaos", "start_app")
        }
    }

    func testFullNodeRestartMidStream() async throws {
        try await runScenario("node-restart") {
            try Broker.run("scripts/broker", "stop", "chaos")
            try Broker.run("scripts/broker", "start", "chaos")
        }
    }

    func testRelayProcessKilledMidStream() async throws {
        try await runScenario("sigkill") { relay in
            kill(relay.processIdentifier, SIGKILL)
            relay.waitUntilExit()
            XCTAssertEqual(relay.terminationReason, .uncaughtSignal)
        }
    }

    // MARK: scenario

    private func runScenario(_ name: String, disruption: @escaping @Sendable () async throws -> Void) async throws {
        try await runScenario(name) { (_: Process) in try await disruption() }
    }

    private func runScenario(_ name: String, disruption: @escaping @Sendable (Process) async throws -> Void)
        async throws
    {
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
        let producerTask = Task {
            for chunk in stride(from: 0, to: count, by: 500) {
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
            }
        }

        // disrupt once a quarter of the stream has arrived downstream
        let start = ContinuousClock.now
        while downstream.snapshot.unique < count / 4 {
            try await Task.sleep(for: .milliseconds(20))
            if ContinuousClock.now - start > .seconds(120) {
                throw TestFailure("stream did not start: \(downstream.snapshot)")
            }
        }
        let before = downstream.snapshot
        try await disruption(relays.current)
        if name == "sigkill" { try relays.start() }
        let after = downstream.snapshot

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
                + "missing \(missing.count) (disruption between \(before.unique) and \(after.unique) arrived) in \(elapsed); "
                + "producer re-sent \(producer.statistics.republished), reconnects \(producer.statistics.reconnectCount)"
        )
        XCTAssertEqual(missing.count, 0, "missing downstream, e.g. \(missing.prefix(5))")
        XCTAssertEqual(result.unique, count)
        await producer.close()
        await sink.close()
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
