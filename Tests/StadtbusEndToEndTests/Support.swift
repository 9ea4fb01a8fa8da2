import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The package root and the shared XÖV material.
enum Paths {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let shared: URL = {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return root.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// The `stadtbus` executable built next to this test bundle (`swift build --build-tests`).
    static var executable: URL {
        // Linux: the bundle URL is the build folder holding the .xctest executable;
        // macOS: it is the .xctest bundle inside that folder.
        let folder = Bundle.main.bundleURL
        let candidates = [folder.appendingPathComponent("stadtbus"), folder.deletingLastPathComponent().appendingPathComponent("stadtbus")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }
}

struct EndToEndFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command from the package root (see ``Shell``: daemons started by it must not hang the test).
@discardableResult
func shell(_ arguments: [String]) throws -> String {
    try Shell.run(arguments, in: Paths.root)
}

/// The broker node these tests stop and start: this checkout's `chaos` node, never the shared
/// main node (`scripts/broker port chaos` tells its port).
enum ChaosBroker {
    static let port: Int = {
        (try? shell(["scripts/broker", "port", "chaos"])).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 5692
    }()

    static func start() throws { try shell(["scripts/broker", "start", "chaos"]) }
    static func stopApp() throws { try shell(["scripts/broker", "ctl", "chaos", "stop_app"]) }
    static func startApp() throws { try shell(["scripts/broker", "ctl", "chaos", "start_app"]) }

    static var endpoint: AMQPEndpoint {
        AMQPEndpoint(
            host: "127.0.0.1", port: port, username: "guest", password: .literal("guest"), heartbeat: 10,
            reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(2)),
            timeout: .seconds(10), connectionName: "stadtbus-e2e-tests")
    }
}

/// A Stadtbus process under test, with a configuration of its own in a temporary directory.
final class StadtbusProcess {
    let directory: URL
    let httpPort: Int
    let inQueue: String
    let outQueue: String
    let deadLetterQueue: String
    private var process: Process?
    let logFile: URL
    /// The configuration file `stadtbus run` gets.
    let configPath: String
    /// Extra environment for the process (the example configuration reads ports and URLs from it).
    var environment: [String: String] = [:]

    /// - Parameter routes: the `routes:` section (YAML, two-space list items); the default
    ///   validates XBeteiligung 0401 applications from `portal` to `eakte`.
    init(routes: String? = nil, extraEndpoints: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        httpPort = freeLoopbackPort()
        let tag = UUID().uuidString.prefix(8).lowercased()
        inQueue = "e2e.\(tag).in"
        outQueue = "e2e.\(tag).out"
        deadLetterQueue = "e2e.\(tag).dlq"
        logFile = directory.appendingPathComponent("stadtbus.log")
        configPath = directory.appendingPathComponent("stadtbus.yaml").path
        let schema = Paths.shared.appendingPathComponent("xoev/xbeteiligung-1.2/schemas/xbeteiligung.xsd").path
        try """
            identity: { kennung: "ags:01061046", name: Stadt Itzehoe }
            broker:
              host: 127.0.0.1
              port: \(ChaosBroker.port)
              user: guest
              password-env: STADTBUS_E2E_PASSWORD
            schemas:
              xbeteiligung: \(schema)
            endpoints:
              portal: { type: amqp, queue: \(inQueue) }
              eakte: { type: amqp, queue: \(outQueue) }
              dlq: { type: amqp, queue: \(deadLetterQueue) }
            \(extraEndpoints)
            stores:
              idempotency: \(directory.path)/store.sqlite
              audit: \(directory.path)/store.sqlite
            http: { bind: 127.0.0.1, port: \(httpPort) }
            workers: 4
            defaults:
              on-error: { retry: { attempts: 3, backoff: 1s..2s }, dead-letter: dlq }
            trust-store: \(Paths.root.appendingPathComponent("certs/trust").path)
            routes:
            \(routes ?? Self.defaultRoutes)
            """.write(to: directory.appendingPathComponent("stadtbus.yaml"), atomically: true, encoding: .utf8)
    }

    /// Runs an existing configuration (e.g. `config/itzehoe.yaml`) with `environment`; the
    /// queue names are unused then.
    init(configPath: String, httpPort: Int, environment: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.configPath = configPath
        self.httpPort = httpPort
        self.environment = environment
        inQueue = ""
        outQueue = ""
        deadLetterQueue = ""
        logFile = directory.appendingPathComponent("stadtbus.log")
    }

    static let defaultRoutes = """
          - name: antrag
            from: portal
            when: { message-type: "0401" }
            steps:
              - validate: { schema: xbeteiligung }
            to: [eakte]
        """

    deinit {
        if let process, process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts `stadtbus run` and waits until `/health` answers.
    func start() async throws {
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = Paths.executable
        // --no-watch: reloads in these tests happen on SIGHUP only, so they are deterministic.
        process.arguments = ["run", "--config", configPath, "--log-format", "json", "--drain-timeout", "20", "--no-watch"]
        var environment = ProcessInfo.processInfo.environment
        environment["STADTBUS_E2E_PASSWORD"] = "guest"
        environment.merge(self.environment) { $1 }
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if (try? await get("/health").status) == 200 { return }
            guard process.isRunning else { throw EndToEndFailure("stadtbus exited at start: \(self.log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EndToEndFailure("stadtbus did not answer /health: \(self.log)")
    }

    /// Waits until `/ready` answers `status` (within `seconds`).
    func waitReady(_ status: Int = 200, seconds: Double = 30) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            if let response = try? await get("/ready") {
                last = response.body
                if response.status == status { return response.body }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EndToEndFailure("/ready did not become \(status); last answer: \(last)")
    }

    /// Sends SIGTERM and returns the exit status.
    /// A graceful stop may take the drain timeout (20 s here); past 40 s the process is
    /// killed and the test sees -9, so a hanging shutdown fails instead of stalling CI.
    func terminate() async -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(40)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return -9
        }
        return process.terminationStatus
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// Runs another `stadtbus` command against this instance's configuration.
    func command(_ arguments: [String]) throws -> String {
        try shell(["env", "STADTBUS_E2E_PASSWORD=guest", Paths.executable.path] + arguments + ["--config", configPath])
    }

    /// Appends route text (YAML, indented as a list item under `routes:`) to the configuration.
    func appendRoute(_ yaml: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: configPath))
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + yaml + "\n").utf8))
        try handle.close()
    }

    func signal(_ signal: Int32) throws {
        guard let process, process.isRunning else { throw EndToEndFailure("stadtbus is not running") }
        kill(process.processIdentifier, signal)
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let url = URL(string: "http://127.0.0.1:\(httpPort)\(path)")!
        var request = URLRequest(url: url)
        request.timeoutInterval = 2
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of one sample in `/metrics`, e.g. `stadtbus_messages_delivered_total{route="antrag"}`.
    func metric(_ sample: String) async throws -> Double {
        let text = try await get("/metrics").body
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1)) ?? .nan
        }
        return 0
    }
}

/// Real XBeteiligung applications with fresh UUIDs.
enum Applications {
    static let template: String = {
        let url = Paths.shared.appendingPathComponent("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    static func make(uuid: String) -> [UInt8] {
        Array(template.replacingOccurrences(of: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb", with: uuid).utf8)
    }

    /// Schema-invalid: the plan's name is removed.
    static func invalid(uuid: String) -> [UInt8] {
        let text = String(decoding: make(uuid: uuid), as: UTF8.self)
        guard let range = text.range(of: #"<ns5:planname>[^<]*</ns5:planname>"#, options: .regularExpression) else {
            return Array(text.utf8)
        }
        return Array(text.replacingCharacters(in: range, with: "").utf8)
    }
}

/// Publishes with confirms and drains queues through the project's own transport.
struct TestClient {
    let connection: AMQPConnection

    static func connect(_ endpoint: AMQPEndpoint = ChaosBroker.endpoint) async throws -> TestClient {
        TestClient(connection: try await AMQPConnection.connect(endpoint))
    }

    /// Empties `queue` (deletes and declares it again; only while no one consumes it).
    func purge(_ queue: String) async throws {
        try await connection.delete(queues: [queue])
        try await declare(queue)
    }

    func declare(_ queues: String...) async throws {
        try await connection.declare(AMQPTopology(queues: queues.map { AMQPQueue($0) }))
    }

    func publish(_ body: [UInt8], to queue: String) async throws {
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: body, properties: AMQPMessageProperties(contentType: "application/xml")),
            exchange: "", routingKey: queue)
    }

    /// Consumes `queue` until `expected` messages arrived or `idle` passes without one;
    /// returns the XÖV UUIDs (from the body) in arrival order, and the headers of each.
    func drain(_ queue: String, expected: Int, idle: Duration = .seconds(5)) async throws -> [(uuid: String, headers: [String: AMQPHeaderValue])] {
        let consumer = try await connection.consume(queue: queue, prefetch: 500)
        var received: [(String, [String: AMQPHeaderValue])] = []
        var iterator = consumer.deliveries.makeAsyncIterator()
        while received.count < expected {
            let next = await withTaskGroup(of: AMQPDelivery?.self) { group -> AMQPDelivery? in
                group.addTask { await iterator.next() }
                group.addTask {
                    try? await Task.sleep(for: idle)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let delivery = next else { break }
            let text = String(decoding: delivery.body, as: UTF8.self)
            let uuid = text.range(of: #"(?<=nachrichtenUUID>)[0-9a-f-]{36}"#, options: .regularExpression).map { String(text[$0]) } ?? "?"
            received.append((uuid, delivery.headers))
            try await delivery.ack()
        }
        await consumer.cancel()
        return received
    }
}

/// Base of the end-to-end tests: each test runs against this checkout's `chaos` broker node,
/// started (or reused) and running.
class EndToEndTestCase: XCTestCase {
    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
    }
}

extension StadtbusProcess {
    /// Declares this instance's queues through `client`, starts it and waits for `/ready` = 200.
    func startReady(with client: TestClient) async throws {
        try await client.declare(inQueue, outQueue, deadLetterQueue)
        try await start()
        _ = try await waitReady()
    }
}
