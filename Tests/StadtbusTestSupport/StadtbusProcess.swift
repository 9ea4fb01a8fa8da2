import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A Stadtbus process under test, with a configuration of its own in a temporary directory.
public final class StadtbusProcess {
    public let directory: URL
    /// The operations port (`/health`, `/ready`, `/metrics`). Generated configurations bind
    /// port 0, so it is known only after `start()`, which reads it from the log line
    /// "operations endpoint listening"; every start (a restart too) learns it anew.
    public private(set) var httpPort: Int
    public let inQueue: String
    public let outQueue: String
    public let deadLetterQueue: String
    private var process: Process?
    /// Where in the log the latest start began (its lines follow).
    private var logStart: UInt64 = 0
    public let logFile: URL
    /// The configuration file `stadtbus run` gets.
    public let configPath: String
    /// The SQLite file holding the idempotency records and the audit journal (generated configurations only).
    public var storePath: String { directory.appendingPathComponent("store.sqlite").path }
    /// Extra environment for the process (the example configuration reads ports and URLs from it).
    public var environment: [String: String] = [:]
    /// `--drain-timeout` in seconds.
    public var drainTimeout = 20

    /// - Parameters:
    ///   - routes: the `routes:` section (YAML, two-space list items); the default validates
    ///     XBeteiligung 0401 applications from `portal` to `eakte`.
    ///   - extraEndpoints: further endpoints (YAML, two-space indented).
    ///   - extraSettings: further top-level sections (YAML, unindented), e.g. `brokers:`.
    public init(routes: String? = nil, extraEndpoints: String = "", extraSettings: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        httpPort = 0
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
        \(extraSettings)
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
        http: { bind: 127.0.0.1, port: 0 }
        max-in-flight: 4
        defaults:
          on-error: { retry: { attempts: 3, backoff: 1s..2s }, dead-letter: dlq }
        trust-store: \(Paths.root.appendingPathComponent("certs/trust").path)
        routes:
        \(routes ?? Self.defaultRoutes)
        """.write(to: directory.appendingPathComponent("stadtbus.yaml"), atomically: true, encoding: .utf8)
    }

    /// Runs an existing configuration (e.g. `config/itzehoe.yaml`) with `environment`; the
    /// queue names are unused then. `start()` learns the operations port from the log, so the
    /// configuration may bind port 0 (the Itzehoe example: `STADTBUS_HTTP_PORT=0`).
    public init(configPath: String, environment: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.configPath = configPath
        httpPort = 0
        self.environment = environment
        inQueue = ""
        outQueue = ""
        deadLetterQueue = ""
        logFile = directory.appendingPathComponent("stadtbus.log")
    }

    public static let defaultRoutes = """
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

    /// Starts `stadtbus run`, learns the bound operations port from its log and waits until
    /// `/health` answers.
    public func start() async throws {
        if !FileManager.default.fileExists(atPath: logFile.path) {
            FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        logStart = log.seekToEndOfFile()
        let process = Process()
        process.executableURL = Paths.executable
        // --no-watch: reloads in these tests happen on SIGHUP only, so they are deterministic.
        process.arguments = [
            "run", "--config", configPath, "--log-format", "json", "--drain-timeout", "\(drainTimeout)", "--no-watch",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["STADTBUS_E2E_PASSWORD"] = "guest"
        environment.merge(self.environment) { $1 }
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        httpPort = try await waitForLogLine("operations endpoint listening", after: logStart, process: process) {
            ($0["port"] as? String).flatMap(Int.init)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await get("/health").status) == 200 { return }
            guard process.isRunning else { throw EndToEndFailure("stadtbus exited at start: \(self.log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EndToEndFailure("stadtbus did not answer /health on port \(httpPort): \(self.log)")
    }

    /// The port the `http-in` listener configured as `listen` (e.g. `127.0.0.1:0`) bound in
    /// the latest start, from its log line "http-in listening" (waits for it).
    public func httpInPort(listen: String = "127.0.0.1:0") async throws -> Int {
        try await waitForLogLine("http-in listening", after: logStart, process: process) {
            $0["listen"] as? String == listen ? ($0["port"] as? String).flatMap(Int.init) : nil
        }
    }

    /// Waits (up to `seconds`) for a JSON log line with `msg` == `message` written after byte
    /// `offset` of the log and returns what `extract` makes of it (it is asked until it
    /// answers). Fails as soon as `process` has exited.
    public func waitForLogLine<T>(
        _ message: String, after offset: UInt64 = 0, process: Process? = nil, seconds: Int = 60,
        _ extract: ([String: Any]) -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            // Read the exit state before the log, so the last lines of an exited process are seen.
            let exited = process.map { !$0.isRunning } ?? false
            if let found = logEvents(after: offset).lazy.filter({ $0["msg"] as? String == message }).compactMap(extract)
                .first
            {
                return found
            }
            if exited { throw EndToEndFailure("stadtbus exited before logging '\(message)': \(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw EndToEndFailure("stadtbus did not log '\(message)' within \(seconds) s: \(log)")
    }

    /// The JSON log events written after byte `offset` of the log (lines that are not
    /// complete JSON objects are skipped).
    private func logEvents(after offset: UInt64) -> [[String: Any]] {
        guard let handle = try? FileHandle(forReadingFrom: logFile) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
        }
    }

    /// Waits until `/ready` answers `status` (within `seconds`).
    public func waitReady(_ status: Int = 200, seconds: Double = 30) async throws -> String {
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
    public func terminate() async -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(40)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return -9
        }
        return process.terminationStatus
    }

    /// Sends SIGKILL (no drain, no acks, nothing flushed) and waits until the process is gone.
    public func kill() async throws {
        guard let process, process.isRunning else { throw EndToEndFailure("stadtbus is not running") }
        Glibc.kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Runs another `stadtbus` command against this instance's configuration.
    public func command(_ arguments: [String]) throws -> String {
        try shell(
            ["env", "STADTBUS_E2E_PASSWORD=guest", Paths.executable.path] + arguments + ["--config", configPath])
    }

    /// Appends route text (YAML, indented as a list item under `routes:`) to the configuration.
    public func appendRoute(_ yaml: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: configPath))
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + yaml + "\n").utf8))
        try handle.close()
    }

    public func signal(_ signal: Int32) throws {
        guard let process, process.isRunning else { throw EndToEndFailure("stadtbus is not running") }
        Glibc.kill(process.processIdentifier, signal)
    }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    public func get(_ path: String) async throws -> (status: Int, body: String) {
        guard let url = URL(string: "http://127.0.0.1:\(httpPort)\(path)") else {
            throw EndToEndFailure("bad path \(path)")
        }
        var request = URLRequest(url: url)
        request.timeoutInterval = 2
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of one sample in `/metrics`, e.g. `stadtbus_messages_delivered_total{route="antrag"}`.
    public func metric(_ sample: String) async throws -> Double {
        let text = try await get("/metrics").body
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1)) ?? .nan
        }
        return 0
    }
}

extension StadtbusProcess {
    /// Declares this instance's queues through `client`, starts it and waits for `/ready` = 200.
    public func startReady(with client: TestClient) async throws {
        try await client.declare(inQueue, outQueue, deadLetterQueue)
        try await start()
        _ = try await waitReady()
    }
}
