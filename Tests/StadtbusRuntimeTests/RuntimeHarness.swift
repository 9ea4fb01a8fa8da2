import Foundation
import Logging
import ServiceLifecycle
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusAdapters
import StadtbusConfig
import StadtbusOperations
import StadtbusRuntime
import StadtbusTestSupport
import Synchronization

/// Runs Stadtbus in this process: the configuration from a YAML string in a temporary
/// directory (loaded as `stadtbus run` loads it, with the standard adapters plus the test's
/// own), against the local RabbitMQ (`scripts/broker start main`: 127.0.0.1:5672, guest),
/// the operations server on a port the kernel chooses. Readiness is awaited through the
/// runtime's ``Readiness``, shutdown through the service group; every wait is bounded.
final class RuntimeHarness: Sendable {
    /// The local broker the harness and the tests use.
    static let broker = AMQPEndpoint(
        host: "127.0.0.1", port: 5672, username: "guest", password: .literal("guest"), heartbeat: 10,
        reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(2)),
        timeout: .seconds(10), connectionName: "stadtbus-runtime-tests")

    /// How long a start or a reload may take before the test fails.
    static let startLimit: Duration = .seconds(30)

    let directory: URL
    let configPath: String
    let events: EventLog
    let readiness: Readiness
    let runtime: StadtbusRuntime
    let options: RuntimeOptions
    private let group: ServiceGroup
    private let running: Task<Result<Void, any Error>, Never>

    /// Writes `yaml` as `stadtbus.yaml` in `directory` (see ``makeDirectory()``), loads it and starts the
    /// runtime's service group (without waiting for anything). With `watchInterval`, the
    /// runtime looks for changed configuration files that often (else it reloads when asked).
    init(
        directory: URL, yaml: String, adapters extra: [any Adapter] = [], events: EventLog = EventLog(),
        drainTimeout: Duration = .seconds(5), closeGrace: Duration = .seconds(3), watchInterval: Duration? = nil
    ) throws {
        self.directory = directory
        configPath = directory.appendingPathComponent("stadtbus.yaml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        self.events = events

        var registry = StandardAdapters.registry
        for adapter in extra { registry.register(adapter) }
        let loader = ConfigurationLoader(adapterTypes: registry.types, steps: registry.steps)
        let loaded = try loader.load(path: configPath)
        let logger = events.logger()
        let metrics = StadtbusMetrics()
        readiness = Readiness()
        options = RuntimeOptions(
            configPath: configPath, drainTimeout: drainTimeout, watchConfiguration: watchInterval != nil,
            watchInterval: watchInterval ?? .seconds(1), reloadOnHangup: false, closeGrace: closeGrace)
        runtime = try StadtbusRuntime(
            options: options, initial: loaded, loader: loader, adapters: registry, metrics: metrics,
            readiness: readiness, logLevel: LogLevelBox(.debug), logger: logger)
        let group = runtime.serviceGroup()
        self.group = group
        running = Task {
            do {
                try await group.run()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
    }

    /// A fresh temporary directory for one runtime's configuration and stores (removed with the harness).
    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-runtime-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    deinit {
        running.cancel()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The operations server's port, once it listens.
    func operationsPort() async throws -> Int {
        let events = self.events
        let entry = try await bounded(Self.startLimit, "the operations endpoint to listen") {
            await events.first("operations endpoint listening")
        }
        guard let port = entry.metadata["port"].flatMap(Int.init) else {
            throw WaitTimedOut(description: "no port in \(entry.metadata)")
        }
        return port
    }

    /// Waits until `/ready` would answer 200 (every condition holds).
    func waitUntilReady() async throws {
        try await waitFor("Stadtbus to be ready") { $0.ready }
    }

    /// Waits until the readiness condition `name` holds (e.g. `consumer:portal`).
    func waitFor(condition name: String) async throws {
        try await waitFor("readiness condition \(name)") { $0.conditions[name] == true }
    }

    /// Waits until `holds` is true of the readiness report (checked after every change).
    private func waitFor(_ what: String, _ holds: @escaping @Sendable (Readiness.Report) -> Bool) async throws {
        let readiness = self.readiness
        let flag = Flag()
        readiness.observe { _ in
            if holds(readiness.report) { flag.raise() }
        }
        if holds(readiness.report) { flag.raise() }
        do {
            try await bounded(Self.startLimit, what) { await flag.wait() }
        } catch {
            throw WaitTimedOut(description: "\(error); /ready: \(readiness.report.reasons)\n\(events.text)")
        }
    }

    /// Replaces the configuration file (a reload picks it up).
    func rewrite(_ yaml: String) throws {
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Reloads the configuration as SIGHUP does.
    func reload() async throws -> ReloadOutcome {
        let runtime = self.runtime
        return try await bounded(Self.startLimit, "the reload") { await runtime.reload() }
    }

    /// Starts a graceful shutdown and waits for the service group to end, at most `limit`.
    /// - Returns: how long the shutdown took.
    /// - Throws: ``WaitTimedOut`` if the group did not end within `limit`, or the group's error.
    @discardableResult
    func shutdown(within limit: Duration = .seconds(60)) async throws -> Duration {
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        let running = self.running
        let result = try await bounded(limit, "the service group to end") { await running.value }
        try result.get()
        return ContinuousClock.now - started
    }
}

/// A configuration for the harness: the local broker, stores in `directory`, the operations
/// server on port 0, and the given endpoints and routes (YAML, two-space indented).
func configuration(directory: URL, endpoints: String, routes: String) -> String {
    """
    identity: { kennung: "ags:01061046", name: Stadt Itzehoe }
    broker:
      host: 127.0.0.1
      port: 5672
      user: guest
    endpoints:
    \(endpoints)
    stores:
      idempotency: \(directory.path)/store.sqlite
      audit: \(directory.path)/store.sqlite
    http: { bind: 127.0.0.1, port: 0 }
    max-in-flight: 4
    routes:
    \(routes)
    """
}

/// Queue names of one test (unique, so tests do not see each other's messages).
struct TestQueues {
    let tag = UUID().uuidString.prefix(8).lowercased()

    func name(_ role: String) -> String { "runtime.\(tag).\(role)" }
}
