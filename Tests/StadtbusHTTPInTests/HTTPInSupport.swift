import Foundation
import HTTPInAdapter
import Logging
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusCore
import StadtbusOperations
import StadtbusTestSupport
import StadtbusXML

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

    static var application: [UInt8] {
        let url = shared.appendingPathComponent("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        return (try? Array(Data(contentsOf: url))) ?? []
    }
}

/// This checkout's `chaos` broker node (stopped and started by the 503 test; never the shared main node).
enum ChaosBroker {
    static func shell(_ arguments: [String]) throws -> String { try Shell.run(arguments, in: Paths.root) }

    static let port: Int = {
        (try? shell(["scripts/broker", "port", "chaos"])).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        } ?? 5692
    }()

    static func start() throws { _ = try shell(["scripts/broker", "start", "chaos"]) }
    static func stopApp() throws { _ = try shell(["scripts/broker", "ctl", "chaos", "stop_app"]) }
    static func startApp() throws { _ = try shell(["scripts/broker", "ctl", "chaos", "start_app"]) }

    static var endpoint: AMQPEndpoint {
        AMQPEndpoint(
            host: "127.0.0.1", port: port, username: "guest", password: .literal("guest"), heartbeat: 10,
            reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(1)),
            timeout: .seconds(10), connectionName: "stadtbus-http-in-tests")
    }
}

/// What curl saw: status, headers (lower-cased names) and body.
struct HTTPAnswer {
    let status: Int
    let headers: [String: String]
    let body: String

    /// A string field of the JSON body.
    func json(_ key: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return nil
        }
        return object[key] as? String
    }
}

/// Sends requests with curl (through ``Shell``, on a thread of its own so the cooperative pool
/// stays free for the server under test).
enum Curl {
    static func request(
        _ url: String, method: String = "POST", body: [UInt8]? = nil, headers: [String: String] = [:],
        chunked: Bool = false
    ) async throws -> HTTPAnswer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "http-in-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bodyFile = directory.appendingPathComponent("request")
        let answerFile = directory.appendingPathComponent("answer")
        let headerFile = directory.appendingPathComponent("headers")
        var arguments = [
            "curl", "-sS", "--http1.1", "-X", method, "-o", answerFile.path, "-D", headerFile.path, "-w",
            "%{http_code}",
            "-H", "Expect:", "--max-time", "30",
        ]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        if let body {
            try Data(body).write(to: bodyFile)
            arguments += ["--data-binary", "@\(bodyFile.path)"]
            if chunked { arguments += ["-H", "Transfer-Encoding: chunked"] }
        }
        arguments.append(url)
        let command = arguments
        let output = try await onThread { try Shell.run(command, in: directory) }
        let status = Int(output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(3)) ?? 0
        var fields: [String: String] = [:]
        let headerText = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        for line in headerText.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let answer = (try? String(contentsOf: answerFile, encoding: .utf8)) ?? ""
        return HTTPAnswer(status: status, headers: fields, body: answer)
    }

    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }
}

/// A runtime in miniature: a broker connection watched for up/down like the runtime does, an
/// engine with no routes, readiness and metrics — what an adapter gets.
final class AdapterHarness: @unchecked Sendable {
    let connection: AMQPConnection
    let brokers: BrokerConnections
    let readiness = Readiness()
    let metrics = StadtbusMetrics()
    let context: AdapterContext
    private let watcher: Task<Void, Never>

    init() async throws {
        connection = try await AMQPConnection.connect(ChaosBroker.endpoint)
        brokers = BrokerConnections(names: ["main"])
        brokers.attach(connection, as: "main")
        let brokers = brokers
        let connection = connection
        watcher = Task {
            for await event in connection.events() {
                switch event {
                case .connected: brokers.setConnected("main", true)
                case .disconnected, .closed: brokers.setConnected("main", false)
                default: break
                }
            }
        }
        let table = try RoutingTable(routes: [], endpoints: [], headerExtractor: try HeaderExtractor())
        let engine = RoutingEngine(
            table: table, sink: NoSink(), idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        var logger = Logger(label: "http-in-tests")
        logger.logLevel = .warning
        context = AdapterContext(
            engine: engine, brokers: brokers, metrics: metrics, readiness: readiness, inFlight: InFlightCounter(),
            maxInFlight: 2,
            identity: nil, logger: logger)
    }

    func close() async {
        watcher.cancel()
        await connection.close()
    }

    /// Waits until the broker connection is (or is not) up.
    func waitConnected(_ up: Bool, seconds: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while brokers.isConnected("main") != up {
            guard Date() < deadline else {
                throw HarnessFailure("broker connection did not become \(up ? "up" : "down")")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The first message in `queue` (acked), or `nil` after `seconds`.
    func take(from queue: String, seconds: Double = 10) async throws -> AMQPDelivery? {
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        let delivery = await withTaskGroup(of: AMQPDelivery?.self) { group -> AMQPDelivery? in
            group.addTask {
                var iterator = consumer.deliveries.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let delivery { try await delivery.ack() }
        await consumer.cancel()
        return delivery
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The engine's sink in the harness: these tests never route.
struct NoSink: MessageSink {
    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {}
}
